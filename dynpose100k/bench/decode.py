"""Decode benchmark: sample a 1280x720 30 fps clip at 12 fps (full size and short side 360).

Ours (:func:`dynpose100k.video.iter_frames`, and :func:`~dynpose100k.video.load_clip` which keeps the
frames) against the plain approach measured in the same run: decode every frame to RGB with an OpenCV
``VideoCapture.read`` loop (baseline) or PyAV, keeping the frames nearest to the 12 fps times. Every case
runs in a fresh child process that reports wall time, CPU time (all threads; steadier than wall time on
a busy machine) and its peak resident memory above its own post-import level (``VmHWM`` reset through
``/proc/self/clear_refs`` where Linux allows it).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FPS = 12.0
SRC_FPS = 30


def _make_clip(path: Path, seconds: float) -> Path:
    import cv2

    from ..video import write_video

    rng = np.random.default_rng(0)
    n = int(seconds * SRC_FPS)
    tex = cv2.resize(rng.integers(0, 255, (36, 64 + n // 4, 3), dtype=np.uint8), (1280 + 4 * n, 720))

    def gen():
        for i in range(n):
            yield tex[:, 4 * i : 4 * i + 1280]

    return write_video(path, gen(), SRC_FPS, preset="veryfast")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (decoders are multi-threaded)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _select(n_src: int) -> set[int]:
    """Source frame indices nearest to the 12 fps times (what the baselines keep)."""
    return {int(np.floor(k * SRC_FPS / FPS + 0.5 - 1e-9)) for k in range(int(np.ceil(n_src * FPS / SRC_FPS)))}


def _case(method: str, path: str, short_side: int | None) -> dict:
    """Runs in a child process: decode once, return seconds, frames, peak RSS increase."""
    import cv2

    from ..video import iter_frames, load_clip, probe

    info = probe(path)
    n_src = info.num_frames

    def resize(rgb):
        if short_side is None:
            return rgb
        scale = short_side / min(info.height, info.width)
        size = (round(info.width * scale), round(info.height * scale))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)

    keep = _select(n_src)
    base = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    except OSError:
        pass
    t0, c0 = time.perf_counter(), _cpu_seconds()
    out = 0
    if method == "cv2 read loop":
        cap = cv2.VideoCapture(path)
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if i in keep:
                out += resize(rgb)[0, 0, 0] >= 0
            i += 1
        cap.release()
    elif method == "PyAV decode":
        import av

        with av.open(path) as c:
            c.streams.video[0].thread_type = "AUTO"
            for i, frame in enumerate(c.decode(video=0)):
                rgb = frame.to_ndarray(format="rgb24")
                if i in keep:
                    out += resize(rgb)[0, 0, 0] >= 0
    elif method == "iter_frames":
        for _, rgb in iter_frames(path, fps=FPS, short_side=short_side):
            out += rgb[0, 0, 0] >= 0
    elif method == "load_clip":
        out = len(load_clip(path, fps=FPS, short_side=short_side))
    else:
        raise ValueError(method)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    peak = _status_kib("VmHWM")
    return {"seconds": seconds, "cpu_seconds": cpu, "frames": int(out), "peak_rss_mb": max(0, peak - base) / 1024}


def _summarise(runs: list[dict]) -> dict:
    """Best wall time and best CPU time over repeats (least disturbed), worst peak memory."""
    best = min(runs, key=lambda r: r["seconds"])
    return {
        **best,
        "cpu_seconds": min(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "repeats": len(runs),
    }


def run(out: Path, quick: bool = False) -> dict:
    """Measure, print a table with ratios against the OpenCV read loop, save ``<out>/decode.json``."""
    seconds = 3.0 if quick else 10.0
    repeats = 1 if quick else 5
    methods = ["cv2 read loop", "PyAV decode", "iter_frames", "load_clip"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        clip = _make_clip(Path(tmp) / "bench_720p30.mp4", seconds)
        encode_s = time.perf_counter() - t0
        logger.info("encoded the %.0f s test clip in %.1f s", seconds, encode_s)
        cases = [(m, short_side) for short_side in (None, 360) for m in methods]
        runs: dict[tuple, list[dict]] = {c: [] for c in cases}
        ctx = mp.get_context("spawn")
        for _ in range(repeats):  # round robin, so that load from other processes hits every case alike
            for m, short_side in cases:
                with ctx.Pool(1) as pool:  # a fresh process per run: clean memory peak
                    runs[(m, short_side)].append(pool.apply(_case, (m, str(clip), short_side)))
        rows = [{"method": m, "short_side": ss, **_summarise(runs[(m, ss)])} for m, ss in cases]
    for r in rows:
        ref = next(b for b in rows if b["method"] == "cv2 read loop" and b["short_side"] == r["short_side"])
        r["speedup_vs_cv2_loop"] = ref["seconds"] / r["seconds"]
        r["cpu_ratio_vs_cv2_loop"] = r["cpu_seconds"] / ref["cpu_seconds"]
    result = {
        "clip": {"width": 1280, "height": 720, "fps": SRC_FPS, "seconds": seconds, "encode_seconds": encode_s},
        "target_fps": FPS,
        "baseline": "cv2 read loop: VideoCapture.read + BGR->RGB on every frame, keep nearest 12 fps frames",
        "rows": rows,
    }
    print(f"decode: {seconds:.0f} s 1280x720 {SRC_FPS} fps clip -> {FPS:g} fps (best of {repeats})")
    print(f"{'method':<15} {'size':>6} {'seconds':>8} {'cpu s':>7} {'frames':>7} {'peak RSS MB':>12} "
          f"{'speedup':>8} {'cpu ratio':>10}")
    for r in rows:
        size = "full" if r["short_side"] is None else f"{r['short_side']}p"
        print(
            f"{r['method']:<15} {size:>6} {r['seconds']:>8.3f} {r['cpu_seconds']:>7.2f} {r['frames']:>7d} "
            f"{r['peak_rss_mb']:>12.1f} {r['speedup_vs_cv2_loop']:>7.2f}x {r['cpu_ratio_vs_cv2_loop']:>9.2f}x"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decode.json").write_text(json.dumps(result, indent=2))
    return result
