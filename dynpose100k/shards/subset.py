"""Quality subsets: the quality rule, and copying the samples of a dataset directory that pass it.

:class:`QualityRule` is the one implementation of the selection: ``dynpose100k subset`` applies it to the
manifest's per-sample summaries, and the same object filters a loaded dataset
(``ds.filter(rule, input_columns="meta.json")``), as the README and the dataset card show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import DynPoseError, ShardError
from .reader import iter_raw, read_manifest, shard_paths
from .writer import DatasetWriter, ShardConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityRule:
    """Keep a video when its reprojection error is below ``max_reproj_px`` and its registered fraction is at
    least ``min_registered``. A threshold left at ``None`` is not applied; a missing value (``None``, e.g.
    the reprojection error of an imported release clip) fails a threshold that is set.

    Called on a ``meta.json`` dict or a manifest sample summary; picklable, so ``ds.filter(rule,
    input_columns="meta.json", num_proc=8)`` works.
    """

    max_reproj_px: float | None = None
    """Keep ``reproj_error_px_720p < max_reproj_px`` (pixels at 720p)."""
    min_registered: float | None = None
    """Keep ``registered_fraction >= min_registered`` (0..1)."""

    def __post_init__(self):
        if self.min_registered is not None and not 0.0 <= self.min_registered <= 1.0:
            raise DynPoseError(f"min_registered must be in [0, 1], got {self.min_registered}")
        if self.max_reproj_px is not None and not self.max_reproj_px > 0:
            raise DynPoseError(f"max_reproj_px must be positive, got {self.max_reproj_px}")

    def __call__(self, meta: dict) -> bool:
        r, f = meta.get("reproj_error_px_720p"), meta.get("registered_fraction")
        if self.max_reproj_px is not None and (r is None or not r < self.max_reproj_px):
            return False
        return self.min_registered is None or (f is not None and f >= self.min_registered)

    def describe(self) -> str:
        """The rule in words, e.g. ``reproj_error_px_720p < 1.2 and registered_fraction >= 0.8``."""
        conds = []
        if self.max_reproj_px is not None:
            conds.append(f"reproj_error_px_720p < {self.max_reproj_px:g}")
        if self.min_registered is not None:
            conds.append(f"registered_fraction >= {self.min_registered:g}")
        return " and ".join(conds) or "all videos"

    def snippet(self, ds: str = "ds") -> str:
        """The ``datasets`` call that applies this rule to a loaded dataset ``ds``."""
        args = ", ".join(f"{k}={v:g}" for k, v in self.thresholds().items() if v is not None)
        return f'{ds}.filter(QualityRule({args}), input_columns="meta.json")'

    def thresholds(self) -> dict:
        """``{"max_reproj_px": ..., "min_registered": ...}``."""
        return {"max_reproj_px": self.max_reproj_px, "min_registered": self.min_registered}


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
    rule: QualityRule
    """The rule that selected them."""


def make_subset(src, dst, rule: QualityRule, *, config: ShardConfig = ShardConfig()) -> SubsetResult:
    """Write the shards of a new dataset directory ``dst`` with the samples of ``src`` passing ``rule``.

    Samples are copied byte for byte (no re-encoding). ``dst`` must not exist or be empty. Shards only:
    the caller writes the card (``builder.card.write_card``, which records the rule).
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
            keep = {s["key"] for s in entry["samples"] if rule(s)}
            if not keep:
                continue
            for raw in iter_raw(tar):
                if raw["__key__"] in keep:
                    w.add(raw)
    result = w.close()
    logger.info("subset %s -> %s: kept %d of %d videos", src, dst, result.written, total)
    return SubsetResult(dst, result.written, total, result.shards, rule)
