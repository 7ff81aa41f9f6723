"""Subsets of a dataset directory: the samples passing reprojection/registration thresholds, and a
deterministic train/val split (both copy samples byte for byte into new dataset directories)."""

from __future__ import annotations

import hashlib
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


def passes(summary: dict, max_reproj_px: float | None, min_registered: float | None) -> bool:
    """Whether a manifest sample summary passes the thresholds (missing values fail a set threshold)."""
    r, f = summary.get("reproj_error_px_720p"), summary.get("registered_fraction")
    if max_reproj_px is not None and (r is None or not r < max_reproj_px):
        return False
    return min_registered is None or (f is not None and f >= min_registered)


def _copy_samples(src: Path, dst: Path, keep: set[str], config: ShardConfig, card: bool):
    """Copy the samples of ``src`` whose key is in ``keep`` into the new dataset directory ``dst`` (byte for
    byte, in the source's order) and write its card; returns the writer's result."""
    if dst.exists() and any(dst.iterdir()):
        raise ShardError(f"{dst}: exists and is not empty; refusing to overwrite")
    if src.resolve() == dst.resolve():
        raise ShardError(f"{dst}: destination equals the source")
    with DatasetWriter(dst, config) as w:
        for entry, tar in zip(read_manifest(src), shard_paths(src)):
            if not keep.intersection(s["key"] for s in entry["samples"]):
                continue
            for raw in iter_raw(tar):
                if raw["__key__"] in keep:
                    w.add(raw)
    result = w.close()
    if card:
        from builder.card import write_card

        write_card(dst)
    return result


def make_subset(src, dst, *, max_reproj_px: float | None = None, min_registered: float | None = None,
                config: ShardConfig = ShardConfig(), card: bool = True) -> SubsetResult:
    """Write a new dataset directory ``dst`` with the samples of ``src`` passing the thresholds.

    Samples are copied byte for byte (no re-encoding). ``dst`` must not exist or be empty.
    """
    src, dst = Path(src), Path(dst)
    entries = read_manifest(src)
    shard_paths(src)  # a clear error for a folder that is not a dataset
    total = sum(e["num_samples"] for e in entries)
    keep = {s["key"] for e in entries for s in e["samples"] if passes(s, max_reproj_px, min_registered)}
    result = _copy_samples(src, dst, keep, config, card)
    logger.info("subset %s -> %s: kept %d of %d videos", src, dst, result.written, total)
    return SubsetResult(dst, result.written, total, result.shards)


@dataclass(frozen=True)
class SplitResult:
    """Outcome of :func:`split_dataset`."""

    train: SubsetResult
    """The training dataset directory (``<dst>/train``)."""
    val: SubsetResult
    """The held-out dataset directory (``<dst>/val``)."""


def split_order(keys, seed: int = 0) -> list[str]:
    """``keys`` in a pseudo-random order fixed by ``seed`` and each key alone (sha256 of ``"seed:key"``), so a
    video's side of a split does not depend on shard order or on which other videos are present."""
    return sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())


def split_dataset(src, dst, *, val_fraction: float = 0.05, max_videos: int | None = None, seed: int = 0,
                  config: ShardConfig = ShardConfig(), card: bool = True) -> SplitResult:
    """Split the dataset directory ``src`` into two new ones, ``<dst>/train`` and ``<dst>/val`` (the layout
    the fine-tuning configs read as ``train_shards`` / ``val_shards``).

    Videos are taken in :func:`split_order`; the first ``max_videos`` (all when ``None``) are used, and of
    those the first ``round(val_fraction * n)`` (at least one when ``val_fraction > 0``) go to ``val``.
    Samples are copied byte for byte; neither output folder may hold anything yet.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ShardError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if max_videos is not None and max_videos < 1:
        raise ShardError(f"max_videos must be at least 1, got {max_videos}")
    src, dst = Path(src), Path(dst)
    shard_paths(src)
    keys = split_order((s["key"] for e in read_manifest(src) for s in e["samples"]), seed)
    total = len(keys)
    keys = keys[:max_videos] if max_videos is not None else keys
    n_val = max(1, round(val_fraction * len(keys))) if val_fraction > 0 else 0
    if len(keys) - n_val < 1:
        raise ShardError(f"{src}: {len(keys)} videos leave none for training with val_fraction={val_fraction}")
    for part in ("train", "val"):
        if (dst / part).exists() and any((dst / part).iterdir()):
            raise ShardError(f"{dst / part}: exists and is not empty; refusing to overwrite")
    out = {}
    for part, sel in (("val", keys[:n_val]), ("train", keys[n_val:])):
        r = _copy_samples(src, dst / part, set(sel), config, card)
        out[part] = SubsetResult(dst / part, r.written, total, r.shards)
    logger.info("split %s -> %s: %d train, %d val of %d videos", src, dst, out["train"].kept, out["val"].kept, total)
    return SplitResult(out["train"], out["val"])
