"""Summaries of a dataset directory or a single shard: counts, fields, quality statistics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..pose.confidence import TRUSTED
from .reader import iter_raw, read_manifest, shard_paths
from .schema import QUALITY_FIELDS, decode_sample


def summarize(path, *, deep: bool = False) -> dict:
    """Counts, field presence and quality statistics of a dataset directory or a ``.tar`` shard.

    A directory is summarised from its manifest; ``deep`` (always on for a single tar) also reads and
    validates every sample and, for a directory, checks each shard's sha256 against the manifest.
    """
    path = Path(path)
    tars = shard_paths(path, verify=deep and path.is_dir())
    fields: Counter = Counter()
    if path.is_dir() and not deep:
        samples = [s for e in read_manifest(path) for s in e["samples"]]
    else:
        samples = []
        for tar in tars:
            for raw in iter_raw(tar):
                s = decode_sample(raw, source=str(tar))
                fields.update(k for k in raw if not k.startswith("__"))
                samples.append({"key": s.key, "num_frames": len(s.w2c), "video_id": s.meta.get("video_id"),
                                **{k: s.meta.get(k) for k in QUALITY_FIELDS}})

    def stats(name):
        a = np.array([s[name] for s in samples if s.get(name) is not None], float)
        if not len(a):
            return None, a
        return {"n": int(len(a)), "min": float(a.min()), "p25": float(np.quantile(a, 0.25)),
                "median": float(np.median(a)), "p75": float(np.quantile(a, 0.75)), "max": float(a.max())}, a

    quality = {k: stats(k) for k in QUALITY_FIELDS}
    confidence = quality["confidence"][1]
    return {
        "path": str(path),
        "shards": len(tars),
        "bytes": int(sum(t.stat().st_size for t in tars)),
        "videos": len(samples),
        "frames": int(sum(s["num_frames"] for s in samples)),
        "fields": dict(fields) if fields else None,
        **{k: table for k, (table, _) in quality.items()},
        "trusted": int((confidence >= TRUSTED).sum()) if len(confidence) else None,
        "verified": bool(deep) or not path.is_dir(),  # a single tar is always read sample by sample
    }


def format_summary(s: dict) -> str:
    """Human-readable lines for :func:`summarize`'s result."""
    lines = [f"{s['path']}: {s['videos']} videos, {s['frames']} frames, {s['shards']} shard(s), "
             f"{s['bytes'] / 1e6:.1f} MB" + (" (all samples read and checked)" if s["verified"] else "")]
    if s["fields"]:
        lines.append("fields: " + ", ".join(f"{k} ({v})" for k, v in sorted(s["fields"].items())))
    if s.get("trusted") is not None:
        lines.append(f"trusted (confidence >= {TRUSTED:g}, the default rule of `subset`): {s['trusted']} of "
                     f"{s['confidence']['n']} videos with a confidence")
    for name in QUALITY_FIELDS:
        st = s.get(name)
        if st:
            lines.append(f"{name}: min {st['min']:.3f}  p25 {st['p25']:.3f}  median {st['median']:.3f}  "
                         f"p75 {st['p75']:.3f}  max {st['max']:.3f}  (n={st['n']})")
    return "\n".join(lines)
