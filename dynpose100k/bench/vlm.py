"""VLM cost benchmark: seconds per clip of the filter with its seven VLM questions, against the filter
without a VLM (decode + signals in one process, the baseline) measured in the same run.

The VLMs are randomly initialised (:func:`dynpose100k.models.vlm.random_llava`): their answers are noise,
their cost is that of a real model of the same shape. On CPU the tiny model shows the mechanics only; with
CUDA the LLaVA-1.5-7B shape runs in bf16 (4 frames x 576 image tokens per question, 7 questions; the frames
are decoded again at ``FilterConfig.vlm_short_side``), and its peak GPU memory is reported. The clip is a
rendered 5 s 640x360 ``good`` clip.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _seconds_per_clip(path, vlm, runs: int) -> float:
    from ..filtering import filter_video

    d = filter_video(path, vlm=vlm)  # warm-up (caches, CUDA kernels)
    if d.status == "error":
        raise RuntimeError(f"benchmark clip not judged: {d.reasons}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        filter_video(path, vlm=vlm)
        if vlm is not None and vlm.device == "cuda":
            vlm.torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(out: Path, quick: bool = False) -> dict:
    import torch

    from ..models.vlm import TransformersVLM, random_llava
    from ..synth import render
    from ..video import write_video

    runs = 2 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        v = render("good", 0, height=360, width=640, fps=12.0, duration=5.0)
        path = write_video(Path(tmp) / "clip.mp4", v.frames, 12.0)
        rows = [("no VLM (baseline)", "cpu", _seconds_per_clip(path, None, runs), None)]
        cases = [("tiny", "cpu", None)]
        if torch.cuda.is_available():
            cases.append(("7b", "cuda", torch.bfloat16))
        for preset, device, dtype in cases:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            vlm = TransformersVLM.from_model(*random_llava(preset, device=device, dtype=dtype), device=device)
            sec = _seconds_per_clip(path, vlm, runs)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
            rows.append((f"{preset} VLM, {device}" + (" bf16" if dtype is not None else ""), device, sec, peak))
            del vlm
    base = rows[0][2]
    print(f"{'case':<24}{'s/clip':>9}{'clips/s':>9}{'x baseline':>11}{'peak GiB':>10}")
    for name, _, sec, peak in rows:
        print(f"{name:<24}{sec:>9.3f}{1 / sec:>9.2f}{sec / base:>10.1f}x{'-' if peak is None else f'{peak:.1f}':>10}")
    if len(cases) == 1:
        print("7b VLM on CUDA: not measured (no GPU)")
    res = {"clip": "good seed 0, 640x360, 5 s, 12 fps", "runs": runs,
           "rows": [{"case": n, "device": d, "sec_per_clip": s, "peak_gpu_gib": p} for n, d, s, p in rows]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vlm.json").write_text(json.dumps(res, indent=1))
    return res
