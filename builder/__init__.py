"""Hugging Face side of dynpose100k: dataset card generation, loading helpers, release importer, Hub upload.

``builder.card.write_card(dir)`` makes a dataset directory loadable with ``datasets.load_dataset(dir)``;
``builder.load.load(dir)`` loads it with bare column names; ``builder.release_import`` converts the
official DynPose-100K release layout into shards.
"""
