"""Quality subsets: copy the samples of a dataset directory that pass reprojection/registration thresholds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import ShardError
from .reader import iter_raw, read_manifest, shard_paths
from .writer import DatasetWriter, ShardConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubsetResult:
    """Outcome of :func:`make_subset`."""

    out_dir: Path
    """The new dataset directory."""
    kept: int
    """Videos copied."""
    total: int
    """Videos in the source."""
    shards: tuple[str, ...]
    """Shards written, relative to ``out_dir``."""


def passes(summary: dict, max_reproj_px: float | None, min_registered: float | None,
           min_confidence: float | None = None) -> bool:
    """Whether a manifest sample summary passes the thresholds (missing values fail a set threshold)."""
    r, f = summary.get("reproj_error_px_720p"), summary.get("registered_fraction")
    if max_reproj_px is not None and (r is None or not r < max_reproj_px):
        return False
    c = summary.get("confidence")
    if min_confidence is not None and (c is None or not c >= min_confidence):
        return False
    return min_registered is None or (f is not None and f >= min_registered)


def make_subset(src, dst, *, max_reproj_px: float | None = None, min_registered: float | None = None,
                min_confidence: float | None = None, config: ShardConfig = ShardConfig(),
                card: bool = True) -> SubsetResult:
    """Write a new dataset directory ``dst`` with the samples of ``src`` passing the thresholds.

    Samples are copied byte for byte (no re-encoding). ``dst`` must not exist or be empty.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise ShardError(f"{dst}: exists and is not empty; refusing to overwrite")
    if src.resolve() == dst.resolve():
        raise ShardError(f"{dst}: subset destination equals the source")
    paths = shard_paths(src)
    entries = read_manifest(src)
    total = sum(e["num_samples"] for e in entries)
    with DatasetWriter(dst, config) as w:
        for entry, tar in zip(entries, paths):
            keep = {s["key"] for s in entry["samples"] if passes(s, max_reproj_px, min_registered, min_confidence)}
            if not keep:
                continue
            for raw in iter_raw(tar):
                if raw["__key__"] in keep:
                    w.add(raw)
    result = w.close()
    if card:
        from builder.card import write_card

        write_card(dst)
    logger.info("subset %s -> %s: kept %d of %d videos", src, dst, result.written, total)
    return SubsetResult(dst, result.written, total, result.shards)
