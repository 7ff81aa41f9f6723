"""Reading shards: a checked tar iterator (for tools) and a WebDataset pipeline factory (for training).

The checked iterator refuses anything a dynpose100k writer would not produce (links, directories,
nested or absolute or ``..`` member names, keys with dots, truncated archives, missing fields) with a
:class:`ShardError` naming the file; it never extracts to disk.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import ShardError
from ..ids import ID_RE
from .schema import VideoSample, decode_jpeg, decode_sample

logger = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
DATA_DIR = "data"


def iter_raw(tar_path) -> Iterator[dict[str, bytes | str]]:
    """Yield raw samples ``{"__key__": key, "<field>": bytes, ...}`` from one shard, checking every member."""
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise ShardError(f"{tar_path}: no such shard file")
    try:
        with tarfile.open(tar_path, "r:") as tf:
            current: dict[str, bytes | str] = {}
            seen: set[str] = set()
            for m in tf:
                name = m.name
                if not m.isreg():
                    raise ShardError(f"{tar_path}: member {name!r} is not a regular file (links/dirs refused)")
                if name.startswith("/") or "/" in name or "\\" in name or ".." in name.split("."):
                    raise ShardError(f"{tar_path}: unsafe member name {name!r} (path traversal or nested path)")
                key, dot, fld = name.partition(".")
                if not dot or not ID_RE.match(key):
                    raise ShardError(f"{tar_path}: member {name!r} is not '<key>.<field>' with a key without dots")
                if current and current["__key__"] != key:
                    yield current
                    current = {}
                if not current:
                    if key in seen:
                        raise ShardError(f"{tar_path}: sample {key!r} appears twice")
                    seen.add(key)
                    current = {"__key__": key}
                if fld in current:
                    raise ShardError(f"{tar_path}: duplicate field {fld!r} in sample {key!r}")
                f = tf.extractfile(m)
                data = f.read() if f is not None else b""
                if len(data) != m.size:
                    raise ShardError(f"{tar_path}: member {name!r} is truncated")
                current[fld] = data
            if current:
                yield current
    except (tarfile.TarError, EOFError) as e:
        raise ShardError(f"{tar_path}: not a readable tar archive ({e})") from None


def iter_samples(path, *, verify: bool = False) -> Iterator[VideoSample]:
    """Decoded samples from a shard ``.tar`` or a dataset directory (all shards of its manifest, in order).

    ``verify``: check each shard's sha256 and size against the manifest first (dataset directories only).
    """
    for tar in shard_paths(path, verify=verify):
        for raw in iter_raw(tar):
            yield decode_sample(raw, source=str(tar))


def read_manifest(dataset_dir) -> list[dict]:
    """Manifest entries of a dataset directory (one per shard, in write order); ``[]`` when absent."""
    path = Path(dataset_dir) / MANIFEST
    if not path.exists():
        return []
    entries = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ShardError(f"{path}:{i}: malformed manifest line ({e.msg})") from None
    return entries


def existing_keys(dataset_dir) -> set[str]:
    """Sample keys already published in a dataset directory's manifest (for exactly-once appends)."""
    return {s["key"] for e in read_manifest(dataset_dir) for s in e["samples"]}


def sha256_file(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shard_paths(path, *, verify: bool = False) -> list[Path]:
    """Shard files of a dataset directory (from its manifest) or ``[path]`` for a single ``.tar``. A shard whose
    size is not the manifest's (truncated, modified) is an error; ``verify`` also checks its sha256."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ShardError(f"{path}: no such dataset directory or shard")
    entries = read_manifest(path)
    if not entries:
        raise ShardError(f"{path}: no {MANIFEST} (not a dynpose100k dataset directory)")
    out = []
    for e in entries:
        tar = path / e["shard"]
        if not tar.is_file():
            raise ShardError(f"{tar}: listed in the manifest but missing")
        size = tar.stat().st_size
        if size != e["bytes"]:  # a stat per shard: cheap enough for every reader
            raise ShardError(f"{tar}: {size} bytes where the manifest says {e['bytes']} (truncated or modified)")
        if verify and sha256_file(tar) != e["sha256"]:
            raise ShardError(f"{tar}: sha256 differs from the manifest (modified)")
        out.append(tar)
    return out


def decode_for_training(raw: dict, *, decode_frames: bool = True) -> dict:
    """Raw WebDataset sample -> dict of arrays: ``key, w2c (N,4,4), K (N,3,3), registered, timestamps,
    frames (N,H,W,3) uint8 or list of JPEG bytes, track_points, track_obs, masks (N,h,w) bool, meta``;
    ``frames`` and ``masks`` are None where the dataset has none (a poses-only one), as ``load_dataset`` gives."""
    import numpy as np

    s = decode_sample(raw, source=str(raw.get("__url__", "<stream>")))
    frames = s.frames or None
    if decode_frames and frames:
        frames = np.stack([decode_jpeg(b) for b in frames])
    masks = np.stack([s.mask(i) for i in range(len(s.masks))]) if s.masks else None
    return {
        "key": s.key,
        "w2c": s.w2c,
        "K": s.K,
        "registered": s.registered,
        "timestamps": s.timestamps,
        "frames": frames,
        "track_points": s.track_points,
        "track_obs": s.track_obs,
        "masks": masks,
        "meta": s.meta,
    }


def make_pipeline(
    source,
    *,
    shuffle: int = 100,
    seed: int = 0,
    resampled: bool = False,
    epoch_samples: int | None = None,
    decode_frames: bool = True,
):
    """A ``webdataset.WebDataset`` over a dataset directory, a shard, or a list of shard paths/URLs.

    Shards are split across nodes (``wds.split_by_node``) and data-loader workers
    (``wds.split_by_worker``); shard order is shuffled with ``seed`` and samples through a buffer of
    ``shuffle`` (0 disables both). ``resampled=True`` draws shards with replacement forever and then needs
    ``epoch_samples`` (samples per epoch). Unreadable shards or samples are skipped with a warning. Each item
    is a dict from :func:`decode_for_training`.
    Use with ``torch.utils.data.DataLoader(pipeline, batch_size=None, num_workers=...)``.
    """
    import webdataset as wds

    urls = [str(p) for p in shard_paths(source)] if isinstance(source, (str, Path)) else [str(u) for u in source]
    if resampled and not epoch_samples:
        raise ValueError("resampled=True needs epoch_samples")
    ds = wds.WebDataset(
        urls,
        resampled=resampled,
        shardshuffle=len(urls) if shuffle > 0 and not resampled else False,
        nodesplitter=None if resampled else wds.split_by_node,
        workersplitter=None if resampled else wds.split_by_worker,
        seed=seed,
        empty_check=False,
        handler=wds.warn_and_continue,
    )
    if shuffle > 0:
        ds = ds.shuffle(shuffle, seed=seed)
    # a broken sample is logged and skipped: one bad video must not end a training run
    ds = ds.map(lambda raw: decode_for_training(raw, decode_frames=decode_frames), handler=wds.warn_and_continue)
    if resampled:
        ds = ds.with_epoch(epoch_samples)
    return ds
