"""Optional learned backends (segmentation, VLM, ...), imported lazily.

Weights always come from a local path or the local Hugging Face cache; nothing is downloaded at import
time or at run time by this package.
"""

from __future__ import annotations

import importlib

from ..errors import MissingExtraError


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` (an ImportError, and a one-line CLI error) that
    names the pip extra providing it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{module} is needed for this feature: pip install 'dynpose100k[{extra}]'"
        ) from e


def torch_device(name: str) -> str:
    """The torch device ``name`` names: ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``; any other
    name (``cpu``, ``cuda``, ``cuda:1``, ``mps``) is itself."""
    if name != "auto":
        return name
    torch = require("torch", "models")
    return "cuda" if torch.cuda.is_available() else "cpu"
