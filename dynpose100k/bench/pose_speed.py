"""Pose engine cost by input resolution and clip length: ``dynpose100k pose``'s own stage (streaming decode
of an mp4, analysis at the working resolution, result written) on 10 s clips at 360p, 720p and 1080p and
on a 60 s 720p clip; each clip rendered, encoded and posed in fresh processes, so peak RSS is the
engine's alone; and the accuracy by input size on the held-out clips of ``bench pose``
(:func:`accuracy_by_size`). Saves ``<out>/pose_speed.json``.

The renderer holds a whole clip (frames, surfaces, depth) in memory, so every clip is rendered at 640x360
and upscaled to its file size while encoding (bilinear): all sizes show the same scene, and the figures
compare the cost of the size. ATE (Sim(3), registered frames, scale-free) is against the rendered poses.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CASES = (  # (label, height, width, duration s, seed)
    ("10 s 360p", 360, 640, 10.0, 100),
    ("10 s 720p", 720, 1280, 10.0, 100),
    ("10 s 1080p", 1080, 1920, 10.0, 100),
    ("60 s 720p", 720, 1280, 60.0, 110),
)
QUICK_CASES = (("3 s 360p", 360, 640, 3.0, 100), ("3 s 720p", 720, 1280, 3.0, 100))

_RENDER = """
import sys, numpy as np, cv2
from dynpose100k.synth import render
from dynpose100k.video import write_video
h, w, dur, seed, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
v = render("good", seed, height=360, width=640, fps=12.0, duration=dur)
np.savez(out + ".gt.npz", w2c=v.gt.w2c)
up = (cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) if (h, w) != f.shape[:2] else f for f in v.frames)
write_video(out + ".mp4", up, 12.0)
"""

_POSE = """
import json, resource, sys, time
from dynpose100k.pose import PoseConfig, load_pose_result, pose_video
t, c = time.perf_counter(), time.process_time()
d = pose_video(sys.argv[1], sys.argv[2], PoseConfig(threads=int(sys.argv[3])), overwrite=True)
s, c = time.perf_counter() - t, time.process_time() - c
r = load_pose_result(d)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": s, "cpu_seconds": c, "peak_rss_gib": rss,
                  "registered_fraction": r.registered_fraction, "frames": r.num_frames, "timings": r.timings,
                  "failure_reason": r.failure_reason}))
"""


def _py(code: str, *args) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]),
                                                                   os.environ.get("PYTHONPATH", "")] if p)}
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return out.stdout


def measure(label: str, h: int, w: int, duration: float, seed: int, threads: int = 2) -> dict:
    """Render, encode and pose one clip (fresh processes); wall time, peak RSS, registered fraction, ATE."""
    from ..evaluate import registered_ate
    from ..pose import load_pose_result

    with tempfile.TemporaryDirectory() as tmp:
        base = str(Path(tmp) / f"clip_{h}p_{int(duration)}s")
        _py(_RENDER, h, w, duration, seed, base)
        row = json.loads(_py(_POSE, base + ".mp4", Path(tmp) / "out", threads).strip().splitlines()[-1])
        res = load_pose_result(Path(tmp) / "out" / Path(base).name)
        gt = np.load(base + ".gt.npz")["w2c"]
        n = min(len(gt), res.num_frames)
        ate = registered_ate(res.w2c[:n], gt[:n], res.registered[:n])
    row.update(label=label, size=f"{w}x{h}", duration_s=duration, seed=seed, ate_registered=ate)
    return row


SIZES = ((360, 640), (720, 1280), (1080, 1920))
"""Input sizes of the accuracy comparison (the analysis runs at the working short side for all of them)."""


def accuracy_by_size(quick: bool = False, set_name: str = "heldout") -> list[dict]:
    """ATE of the pose engine on the ``set_name`` clips of ``bench pose`` given at each of :data:`SIZES`
    (rendered at 640x360, upscaled bilinearly in memory): the working resolution must make a 720p or 1080p
    input no less accurate than 360p. One row per size: mean ATE (Sim(3), registered frames), mean
    registered fraction, the clips."""
    import cv2

    from ..evaluate import registered_ate
    from ..pose import PoseConfig, estimate_poses
    from ..synth import render
    from .pose import _clips

    sizes = SIZES[:2] if quick else SIZES
    per: dict = {hw: [] for hw in sizes}
    for spec in _clips(quick, (set_name,)):
        v = render("good", spec["seed"], height=360, width=640, fps=12.0, duration=spec["duration"],
                   hard=spec["hard"], style=spec["style"])
        for h, w in sizes:
            frames = v.frames if (h, w) == (360, 640) else np.stack(
                [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in v.frames])
            r = estimate_poses(frames, v.gt.timestamps, PoseConfig(), video_id=v.gt.video_id)
            ate = registered_ate(r.w2c, v.gt.w2c, r.registered)
            per[(h, w)].append({"video_id": v.gt.video_id, "ate": ate, "registered": r.registered_fraction})
    return [{"size": f"{w}x{h}", "set": set_name, "clips": rows,
             "ate_mean": float(np.mean([c["ate"] for c in rows])),
             "registered_mean": float(np.mean([c["registered"] for c in rows]))} for (h, w), rows in per.items()]


def run(out: Path, quick: bool = False) -> dict:
    rows = []
    for case in QUICK_CASES if quick else CASES:
        rows.append(measure(*case))
        r = rows[-1]
        print(f"  {r['label']:<12} {r['size']:>10} {r['frames']:>5} frames  {r['seconds']:7.1f} s "
              f"(CPU {r['cpu_seconds']:.1f} s)  "
              f"peak RSS {r['peak_rss_gib']:.2f} GiB  {100 * r['registered_fraction']:3.0f}% registered  "
              f"ATE {r['ate_registered']:.3f}  stages {json.dumps({k: round(v, 1) for k, v in r['timings'].items()})}",
              flush=True)
    acc = accuracy_by_size(quick)
    print("  ATE by input size, heldout clips of bench pose (analysis at the working short side):")
    for r in acc:
        print(f"  {r['size']:>10}  mean ATE {r['ate_mean']:.4f}  registered {100 * r['registered_mean']:.1f}%  "
              "per clip " + " ".join(f"{c['ate']:.3f}" for c in r["clips"]), flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {"protocol": "pose_video on an mp4 (streaming decode at 12 fps, default PoseConfig: two-view fits "
                          "and flows on 2 threads, bundle adjustment on 1), each clip in a fresh process; "
                          "rendered at 640x360 and upscaled to the file size",
              "cpu_count": os.cpu_count(), "loadavg_after": load, "rows": rows, "accuracy_by_size": acc}
    (Path(out) / "pose_speed.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {Path(out) / 'pose_speed.json'}")
    return result
