"""Writing a dataset directory: atomic shards, a manifest, appends without overwriting.

Layout of a dataset directory::

    <dir>/data/train-000000.tar     WebDataset shards (one video per sample)
    <dir>/manifest.jsonl            one line per published shard: file, bytes, sha256, per-sample summary
                                    (key, video_id, num_frames, quality flags, payload bytes)
    <dir>/README.md                 dataset card (YAML configs + features), written by ``builder.card``
    <dir>/card.json                 the card's settings (license, name, description), kept on appends

Each shard is written to a hidden temporary name and hard-linked to its final name only when complete
(the link fails instead of overwriting), then recorded in the manifest. A crash therefore never publishes
a partial shard; a shard published but not yet recorded is recovered into the manifest on the next open.
Sample keys already in the manifest are skipped, so incremental appends are exactly-once.
Shards are plain tar files with ``<key>.<field>`` members, as ``webdataset.TarWriter`` writes them; the
standard library writes them here so that writing does not import webdataset (which imports torch).
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ShardError
from .reader import DATA_DIR, MANIFEST, iter_raw, read_manifest, sha256_file
from .schema import QUALITY_FIELDS, VideoSample, decode_sample, encode_sample

logger = logging.getLogger(__name__)

SHARD_RE = re.compile(r"^train-(\d{6})\.tar$")
TMP_RE = re.compile(r"^\.train-\d{6}\.tar\.tmp$")


@dataclass(frozen=True)
class ShardConfig:
    """How samples are split into shards."""

    maxcount: int = 1000
    """Most samples per shard."""
    maxsize: int = 1_000_000_000
    """Most bytes per shard (a single larger sample still gets its own shard)."""

    def __post_init__(self):
        from ..errors import check_range

        check_range("maxcount", self.maxcount, 1)
        check_range("maxsize", self.maxsize, 1)


@dataclass(frozen=True)
class WriteResult:
    """What one writing session published."""

    out_dir: Path
    """The dataset directory."""
    shards: tuple[str, ...]
    """Shard files published in this session, relative to ``out_dir``."""
    written: int
    """Samples written."""
    skipped: tuple[str, ...]
    """Keys skipped because they were already in the manifest (or repeated in the input)."""


def _summary(raw: dict) -> dict:
    meta = json.loads(raw["meta.json"])
    n = len(np.load(io.BytesIO(raw["timestamps.npy"]), allow_pickle=False))
    return {
        "key": raw["__key__"],
        "video_id": meta.get("video_id"),
        "num_frames": n,
        "bytes": sum(len(v) for k, v in raw.items() if not k.startswith("__")),
        **{k: meta.get(k) for k in QUALITY_FIELDS},
    }


class DatasetWriter:
    """Append samples to a dataset directory (context manager). One writer per directory at a time."""

    def __init__(self, out_dir, config: ShardConfig = ShardConfig()):
        self.out = Path(out_dir)
        self.config = config
        (self.out / DATA_DIR).mkdir(parents=True, exist_ok=True)
        self._lock = open(self.out / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ShardError(f"{self.out}: another writer holds this dataset directory") from None
        self._recover()
        self.keys = {s["key"] for e in read_manifest(self.out) for s in e["samples"]}
        self._tar = None
        self._published: list[str] = []
        self._skipped: list[str] = []
        self._written = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def _recover(self) -> None:
        data = self.out / DATA_DIR
        for p in data.iterdir():
            if TMP_RE.match(p.name):
                logger.warning("%s: removing an unfinished shard from an interrupted run", p)
                p.unlink()
        man = self.out / MANIFEST
        if man.exists():
            text = man.read_bytes()
            if text and not text.endswith(b"\n"):  # a line cut by a crash: its shard is re-recorded below
                logger.warning("%s: dropping an incomplete last line", man)
                man.write_bytes(text[: text.rfind(b"\n") + 1])
        listed = {e["shard"] for e in read_manifest(self.out)}
        for p in sorted(data.iterdir()):
            rel = f"{DATA_DIR}/{p.name}"
            if SHARD_RE.match(p.name) and rel not in listed:
                logger.warning("%s: published but not in the manifest; recording it", p)
                samples = [_summary(decode_and_keep(raw, p)) for raw in iter_raw(p)]
                self._record(rel, p, samples)

    def _next_index(self) -> int:
        idx = [int(m.group(1)) for p in (self.out / DATA_DIR).iterdir() if (m := SHARD_RE.match(p.name))]
        return max(idx, default=-1) + 1

    def _record(self, rel: str, path: Path, samples: list[dict]) -> None:
        entry = {"shard": rel, "num_samples": len(samples), "bytes": path.stat().st_size,
                 "sha256": sha256_file(path), "samples": samples}
        with open(self.out / MANIFEST, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _open_shard(self) -> None:
        idx = self._next_index()
        self._final = self.out / DATA_DIR / f"train-{idx:06d}.tar"
        self._tmp = self.out / DATA_DIR / f".train-{idx:06d}.tar.tmp"
        self._stream = open(self._tmp, "xb")
        self._tar = _open_tar(self._stream)
        self._count, self._bytes, self._samples = 0, 0, []

    def _close_shard(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._tar = None
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        try:
            os.link(self._tmp, self._final)  # atomic and never replaces an existing file
            self._tmp.unlink()
        except FileExistsError:
            self._tmp.unlink()
            raise ShardError(f"{self._final}: exists already; refusing to overwrite") from None
        except OSError:  # no hard links on this filesystem: rename under the directory lock
            if self._final.exists():
                self._tmp.unlink()
                raise ShardError(f"{self._final}: exists already; refusing to overwrite") from None
            os.rename(self._tmp, self._final)
        rel = f"{DATA_DIR}/{self._final.name}"
        self._record(rel, self._final, self._samples)
        self._published.append(rel)
        logger.info("published %s (%d samples, %.1f MB)", rel, self._count, self._bytes / 1e6)

    def close(self) -> WriteResult:
        """Publish the current shard and release the directory (idempotent)."""
        if not self._lock.closed:
            try:
                self._close_shard()
            finally:
                self._discard()
                self._lock.close()
        return WriteResult(self.out, tuple(self._published), self._written, tuple(self._skipped))

    def _discard(self) -> None:
        if self._tar is not None:  # failed mid-way: drop the temporary file, publish nothing
            self._tar = None
            self._stream.close()
            self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._discard()
        self.close()

    # -- writing ---------------------------------------------------------------------------------
    def add(self, sample: VideoSample | dict) -> bool:
        """Write one sample (a ``VideoSample`` or a raw WebDataset dict); ``False`` if its key is present."""
        raw = encode_sample(sample) if isinstance(sample, VideoSample) else decode_and_keep(sample, "<input>")
        key = raw["__key__"]
        if key in self.keys:
            logger.info("%s: already in %s, skipped", key, self.out)
            self._skipped.append(key)
            return False
        size = sum(len(v) + 1024 for k, v in raw.items() if not k.startswith("__"))
        if self._tar is not None and (
            self._count >= self.config.maxcount or self._bytes + size > self.config.maxsize
        ):
            self._close_shard()
        if self._tar is None:
            self._open_shard()
        _write_members(self._tar, raw)
        self._count += 1
        self._bytes += size
        self._samples.append(_summary(raw))
        self.keys.add(key)
        self._written += 1
        return True


def _open_tar(stream) -> tarfile.TarFile:
    return tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT)


def _write_members(tar: tarfile.TarFile, raw: dict) -> None:
    """Members ``<key>.<field>`` in sorted field order (what ``webdataset.TarWriter`` writes), read-only,
    with a fixed mtime so equal inputs give equal tars."""
    for field in sorted(k for k in raw if not k.startswith("__")):
        data = raw[field]
        data = data.encode() if isinstance(data, str) else data
        ti = tarfile.TarInfo(f"{raw['__key__']}.{field}")
        ti.size, ti.mode, ti.mtime = len(data), 0o444, 0
        tar.addfile(ti, io.BytesIO(data))


def write_sample_tar(raw: dict, path) -> Path:
    """Write one raw sample as a one-sample tar at ``path``, atomically (temporary file, fsync, rename),
    with the same members a shard holds for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            with _open_tar(f) as tar:
                _write_members(tar, raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def decode_and_keep(raw: dict, source) -> dict:
    """Validate a raw sample (raises ``ShardError`` naming ``source``) and return it unchanged."""
    decode_sample(raw, source=str(source))
    return raw


def write_shards(samples, out_dir, config: ShardConfig = ShardConfig()) -> WriteResult:
    """Append ``samples`` (``VideoSample`` or raw dicts) to the dataset directory ``out_dir``.

    New shards get new indices; keys already published are skipped (exactly-once). Shards only: the
    dataset card that makes the folder loadable with ``load_dataset`` is written by
    ``builder.card.write_card`` (or ``builder.write_dataset``, which does both).
    """
    with DatasetWriter(out_dir, config) as w:
        for s in samples:
            w.add(s)
    return w.close()
