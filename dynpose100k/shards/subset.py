"""Selections of a dataset directory, copied byte for byte into new dataset directories: quality subsets
(the quality rule) and a deterministic train/val split.

:class:`QualityRule` is the one implementation of the quality selection: ``dynpose100k subset`` applies it to
the manifest's per-sample summaries, and the same object filters a loaded dataset
(``ds.filter(rule, input_columns="meta.json")``), as the README and the dataset card show. Shards only: the
callers write the cards (``builder.card.write_card``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import ShardError, check_range
from .reader import MANIFEST, iter_raw, read_manifest, shard_paths
from .writer import DatasetWriter, ShardConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityRule:
    """Keep a video when its reprojection error is below ``max_reproj_px``, its registered fraction is at
    least ``min_registered``, its pose confidence is at least ``min_confidence`` and its ``focal_pin`` at least
    ``min_focal_pin`` (for uses that need the intrinsics). A threshold left at ``None`` is
    not applied; a missing value (``None``, e.g. the reprojection error of an imported release clip) fails a threshold
    that is set.

    Called on a ``meta.json`` dict or a manifest sample summary; picklable, so ``ds.filter(rule,
    input_columns="meta.json", num_proc=8)`` works.
    """

    max_reproj_px: float | None = None
    """Keep ``reproj_error_px_720p < max_reproj_px`` (pixels at 720p)."""
    min_registered: float | None = None
    """Keep ``registered_fraction >= min_registered`` (0..1)."""
    min_confidence: float | None = None
    """Keep ``confidence >= min_confidence`` (the pose engine's calibrated confidence, 0..1; 0.5: probably
    ATE below 2 % of the path length)."""
    min_focal_pin: float | None = None
    """Keep ``focal_pin >= min_focal_pin``: the focal (``K``) is pinned down by the tracks. The confidence judges
    the trajectory, not the intrinsics; at 1.3 or more the focal of dev, held-out and style-b maps was off by
    more than 10% on 1 of 159, under 1.1 on 9 of 18 (docs/pose-engine.md, "Confidence")."""

    def __post_init__(self):
        check_range("min_registered", self.min_registered, 0, 1)
        check_range("min_confidence", self.min_confidence, 0, 1)
        check_range("max_reproj_px", self.max_reproj_px, 0, low_open=True)
        check_range("min_focal_pin", self.min_focal_pin, 1)  # a ratio of errors

    def __call__(self, meta: dict) -> bool:
        r, f = meta.get("reproj_error_px_720p"), meta.get("registered_fraction")
        if self.max_reproj_px is not None and (r is None or not r < self.max_reproj_px):
            return False
        c = meta.get("confidence")
        if self.min_confidence is not None and (c is None or not c >= self.min_confidence):
            return False
        p = meta.get("focal_pin")
        if self.min_focal_pin is not None and (p is None or not p >= self.min_focal_pin):
            return False
        return self.min_registered is None or (f is not None and f >= self.min_registered)

    def describe(self) -> str:
        """The rule in words, e.g. ``reproj_error_px_720p < 1.2 and registered_fraction >= 0.8``."""
        conds = []
        if self.max_reproj_px is not None:
            conds.append(f"reproj_error_px_720p < {self.max_reproj_px:g}")
        if self.min_registered is not None:
            conds.append(f"registered_fraction >= {self.min_registered:g}")
        if self.min_confidence is not None:
            conds.append(f"confidence >= {self.min_confidence:g}")
        if self.min_focal_pin is not None:
            conds.append(f"focal_pin >= {self.min_focal_pin:g}")
        return " and ".join(conds) or "all videos"

    def snippet(self, ds: str = "ds") -> str:
        """The ``datasets`` call that applies this rule to a loaded dataset ``ds``."""
        args = ", ".join(f"{k}={v:g}" for k, v in self.thresholds().items() if v is not None)
        return f'{ds}.filter(QualityRule({args}), input_columns="meta.json")'

    @classmethod
    def from_thresholds(cls, record: dict) -> QualityRule:
        """The rule whose :meth:`thresholds` a record holds (other keys ignored; a missing one: not applied)."""
        return cls(**{f.name: record.get(f.name) for f in fields(cls)})

    def thresholds(self) -> dict:
        """``{"max_reproj_px": ..., "min_registered": ...}``."""
        return {"max_reproj_px": self.max_reproj_px, "min_registered": self.min_registered,
                "min_confidence": self.min_confidence, "min_focal_pin": self.min_focal_pin}


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
    rule: QualityRule | None = None
    """The rule that selected them (``None`` for a split)."""


def _require_empty(dst: Path) -> None:
    if dst.exists() and any(dst.iterdir()):
        raise ShardError(f"{dst}: exists and is not empty; refusing to overwrite")


def _entries(src: Path) -> list[dict]:
    """The manifest of the dataset directory ``src``; a clear error for anything else (a shard or another
    file, a folder that is not a dataset, a shard listed but missing)."""
    if not src.is_dir():
        raise ShardError(f"{src}: not a dataset directory (a folder with its {MANIFEST}); give that folder")
    shard_paths(src)
    return read_manifest(src)


def copy_samples(src: Path, dst: Path, keep: set[str], config: ShardConfig, entries: list[dict] | None = None):
    """Copy the samples of ``src`` whose key is in ``keep`` into the new dataset directory ``dst`` (byte for
    byte, in the source's order); returns the writer's result. ``dst`` must not exist or be empty.
    ``entries``: ``src``'s manifest when the caller has already read it."""
    _require_empty(dst)
    if src.resolve() == dst.resolve():
        raise ShardError(f"{dst}: destination equals the source")
    if entries is None:
        entries = _entries(src)
    with DatasetWriter(dst, config) as w:
        for entry in entries:
            tar = src / entry["shard"]
            if not keep.intersection(s["key"] for s in entry["samples"]):
                continue
            for raw in iter_raw(tar):
                if raw["__key__"] in keep:
                    w.add(raw)
    return w.close()


def make_subset(src, dst, rule: QualityRule, *, config: ShardConfig = ShardConfig()) -> SubsetResult:
    """Write the shards of a new dataset directory ``dst`` with the samples of ``src`` passing ``rule``.

    Samples are copied byte for byte (no re-encoding). ``dst`` must not exist or be empty. Shards only:
    the caller writes the card (``builder.card.write_card``, which records the rule).
    """
    src, dst = Path(src), Path(dst)
    entries = _entries(src)
    total = sum(e["num_samples"] for e in entries)
    keep = {s["key"] for e in entries for s in e["samples"] if rule(s)}
    _require_empty(dst)  # (the destination's own error first)
    if not keep:  # a folder without shards would be no dataset at all
        raise ShardError(f"{src}: none of its {total} videos passes {rule.describe()}; nothing written")
    result = copy_samples(src, dst, keep, config, entries)
    logger.info("subset %s -> %s: kept %d of %d videos", src, dst, result.written, total)
    return SubsetResult(dst, result.written, total, result.shards, rule)


@dataclass(frozen=True)
class SplitResult:
    """Outcome of :func:`split_dataset`."""

    train: SubsetResult
    """The training dataset directory (``<dst>/train``)."""
    val: SubsetResult | None
    """The held-out dataset directory (``<dst>/val``); None with ``val_fraction`` 0 (none written)."""


def split_order(keys, seed: int = 0) -> list[str]:
    """``keys`` in a pseudo-random order fixed by ``seed`` and each key alone (sha256 of ``"seed:key"``), so a
    video's side of a split does not depend on shard order or on which other videos are present."""
    return sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())


def split_dataset(src, dst, *, val_fraction: float = 0.05, max_videos: int | None = None, seed: int = 0,
                  config: ShardConfig = ShardConfig()) -> SplitResult:
    """Split the dataset directory ``src`` into two new ones, ``<dst>/train`` and ``<dst>/val`` (the layout
    the fine-tuning configs read as ``train_shards`` / ``val_shards``).

    Videos are taken in :func:`split_order`; the first ``max_videos`` (all when ``None``) are used, and of
    those the first ``round(val_fraction * n)`` (at least one when ``val_fraction > 0``; with 0 no ``val`` is
    written) go to ``val``.
    Samples are copied byte for byte; neither output folder may hold anything yet. Shards only: the caller
    writes the cards.
    """
    check_range("val_fraction", val_fraction, 0, 1, high_open=True)
    check_range("max_videos", max_videos, 1)
    src, dst = Path(src), Path(dst)
    entries = _entries(src)
    keys = split_order((s["key"] for e in entries for s in e["samples"]), seed)
    total = len(keys)
    keys = keys[:max_videos] if max_videos is not None else keys
    n_val = max(1, round(val_fraction * len(keys))) if val_fraction > 0 else 0
    if len(keys) - n_val < 1:
        raise ShardError(f"{src}: {len(keys)} videos leave none for training with val_fraction={val_fraction}")
    for part in ("train", "val"):
        _require_empty(dst / part)
    out = {"val": None}
    for part, sel in (("val", keys[:n_val]), ("train", keys[n_val:])):
        if sel:
            r = copy_samples(src, dst / part, set(sel), config, entries)
            out[part] = SubsetResult(dst / part, r.written, total, r.shards)
    logger.info("split %s -> %s: %d train, %d val of %d videos", src, dst, out["train"].kept, n_val, total)
    return SplitResult(out["train"], out["val"])
