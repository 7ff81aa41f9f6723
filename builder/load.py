"""Loading helpers around ``datasets.load_dataset`` for dataset directories made by dynpose100k."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynpose100k.errors import ShardError

# WebDataset column -> bare name
COLUMNS = {
    "frames.mp": "frames", "w2c.npy": "w2c", "k.npy": "K", "registered.npy": "registered",
    "timestamps.npy": "timestamps", "track_points.npy": "track_points", "track_obs.npy": "track_obs",
    "masks.mp": "masks", "meta.json": "meta",
}


def load(path="dynpose-100k", *, split: str = "train", streaming: bool = False, bare_names: bool = True, **kwargs):
    """``datasets.load_dataset(path, split=...)`` with the card's declared features.

    ``path``: a dataset directory (with ``README.md``), a name resolved by ``datasets`` (a local directory
    of that name first, then the Hub), or a Hub repo id. ``bare_names`` renames ``w2c.npy`` -> ``w2c``,
    ``k.npy`` -> ``K``, ... Extra ``kwargs`` go to ``load_dataset`` (``cache_dir``, ``revision``, ...).
    """
    from datasets import load_dataset

    p = Path(path)
    if p.is_dir() and not (p / "README.md").is_file():
        raise ShardError(f"{p}: no README.md dataset card (run `dynpose100k shard` or builder.card.write_card)")
    ds = load_dataset(str(path), split=split, streaming=streaming, **kwargs)
    if bare_names:
        ds = ds.rename_columns({k: v for k, v in COLUMNS.items() if k in (ds.column_names or COLUMNS)})
    return ds


def quality_predicate(max_reproj_px: float | None = None, min_registered: float | None = None):
    """A predicate on ``meta`` dicts for ``ds.filter(pred, input_columns="meta")`` (or ``"meta.json"``)."""

    def keep(meta: dict) -> bool:
        r, f = meta.get("reproj_error_px_720p"), meta.get("registered_fraction")
        if max_reproj_px is not None and (r is None or not r < max_reproj_px):
            return False
        return min_registered is None or (f is not None and f >= min_registered)

    return keep


def to_arrays(example: dict) -> dict:
    """A row (bare names, default format) -> float64 ``w2c`` ``(N,4,4)``, ``K`` ``(N,3,3)``, bool
    ``registered``, float64 ``timestamps`` and uint8 ``frames`` ``(N,H,W,3)`` (when present)."""
    out = dict(example)
    out["w2c"] = np.asarray(example["w2c"], np.float64)
    out["K"] = np.asarray(example["K"], np.float64)
    out["registered"] = np.asarray(example["registered"], bool)
    out["timestamps"] = np.asarray(example["timestamps"], np.float64)
    if example.get("frames"):
        out["frames"] = np.stack([np.asarray(im.convert("RGB")) for im in example["frames"]])
    return out
