"""CLI verbs, one module each (see :mod:`dynpose100k.cli`)."""
