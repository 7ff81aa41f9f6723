"""Optional learned backends (segmentation, VLM, ...), imported lazily.

Weights always come from a local path or the local Hugging Face cache; nothing is downloaded at import
time or at run time by this package.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import DynPoseError, MissingExtraError


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` (an ImportError, and a one-line CLI error) that
    names the pip extra providing it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{module} is needed for this feature: pip install 'dynpose100k[{extra}]'"
        ) from e


DEVICE_NAMES = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")
"""The device names a learned backend takes."""


def check_device(name: str) -> str:
    """``name`` if it is a device name a learned backend takes (:data:`DEVICE_NAMES`), else a one-line error."""
    if not DEVICE_NAMES.fullmatch(str(name)):
        raise DynPoseError(f"unknown device {name!r}: give auto, cpu, cuda, cuda:N or mps")
    return name


def torch_device(name: str) -> str:
    """The torch device ``name`` names: ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``; any other
    name (``cpu``, ``cuda``, ``cuda:1``, ``mps``) is itself; anything else is a one-line error."""
    if check_device(name) != "auto":
        return name
    torch = require("torch", "models")
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class LoadReport:
    """How the keys of a state dict ``sd`` fit a model's own ``own`` (both ``name -> tensor``): the one check
    every learned backend loads its weights through (DUSt3R, CoTracker3)."""

    missing: tuple[str, ...]
    """Model keys absent from the file."""
    unexpected: tuple[str, ...]
    """File keys the model does not have."""
    mismatched: tuple[str, ...]
    """Keys present on both sides with different shapes (``key: file_shape != model_shape``)."""

    @classmethod
    def compare(cls, own: Mapping, sd: Mapping) -> LoadReport:
        return cls(tuple(k for k in own if k not in sd), tuple(k for k in sd if k not in own),
                   tuple(f"{k}: {tuple(sd[k].shape)} != {tuple(own[k].shape)}" for k in own
                         if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)))

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, source: str, n: int = 8) -> str:
        """One line: ``source`` and how many keys are missing, unexpected and mis-shaped, the first ``n`` each."""
        def fmt(keys):
            return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")

        return (f"{source}: {len(self.missing)} missing [{fmt(self.missing)}], {len(self.unexpected)} unexpected "
                f"[{fmt(self.unexpected)}], {len(self.mismatched)} shape mismatches [{fmt(self.mismatched)}]")
