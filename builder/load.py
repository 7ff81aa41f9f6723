"""Loading helpers around ``datasets.load_dataset`` for dataset directories made by dynpose100k.

``features()`` is the schema the card declares. A whole dataset folder (or Hub repo) is typed by its card;
loading a few shard files directly needs it passed explicitly, or ``datasets`` infers frames as bytes,
poses as nested lists and never-filled ``meta.json`` keys as ``null``::

    load_dataset("webdataset", data_files=["data/train-000000.tar"], split="train", features=features())
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynpose100k.errors import ShardError
from dynpose100k.shards.schema import META_FIELDS

# WebDataset column -> bare name
COLUMNS = {
    "frames.mp": "frames", "w2c.npy": "w2c", "k.npy": "K", "registered.npy": "registered",
    "timestamps.npy": "timestamps", "track_points.npy": "track_points", "track_obs.npy": "track_obs",
    "masks.mp": "masks", "meta.json": "meta",
}


def features():
    """The ``datasets.Features`` of a dynpose100k dataset (column names keep the WebDataset extensions):
    frames and masks as lists of images, poses and intrinsics as float64 arrays, ``meta.json`` typed."""
    from datasets import Array2D, Array3D, Features, Image, List, Value

    def meta_type(t: str):
        return List(Value(t.split(":")[1])) if t.startswith("list:") else Value(t)

    return Features(
        {
            "__key__": Value("string"),
            "frames.mp": List(Image()),
            "w2c.npy": Array3D(shape=(None, 4, 4), dtype="float64"),
            "k.npy": Array3D(shape=(None, 3, 3), dtype="float64"),
            "registered.npy": List(Value("bool")),
            "timestamps.npy": List(Value("float64")),
            "track_points.npy": Array2D(shape=(None, 3), dtype="float32"),
            "track_obs.npy": Array2D(shape=(None, 4), dtype="float32"),
            "masks.mp": List(Image()),
            "meta.json": {k: meta_type(t) for k, (t, _, _) in META_FIELDS.items()},
        }
    )


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
