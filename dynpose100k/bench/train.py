"""Training benchmark: seconds per optimiser step of DUSt3R fine-tuning.

Cases measured in the same run: a full fine-tune step (baseline) against the frozen-encoder step of the
recipe (encoder run without autograd), on CPU for the model of ``train/configs/tiny_cpu.yaml``
(``tiny_linear``, 64x96) and for a small linear model with the large models' encoder/decoder proportions
(128x160), a batch of 4 pairs symmetrised to 8; plus the pair data pipeline (pairs/s prepared at 288x512
from 360x640 frames). With CUDA, the full-size 512 DPT architecture (random init, bf16 autocast, 288x512
crops) is also timed: training pairs/s and peak GPU memory, at the recipe's 4 pairs per step and at 16.
Wall time and process CPU time are both reported (CPU time is steadier on a busy machine); the speed-up
column is the ratio of training pairs/s to the first case of the same config.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _small():
    from ..dust3r.model import DUSt3RConfig

    # the large models' proportions (encoder 2x the decoder's depth, wider), scaled down to run on a CPU
    return DUSt3RConfig(img_size=(128, 160), enc_embed_dim=256, enc_depth=8, enc_num_heads=4, dec_embed_dim=192,
                        dec_depth=4, dec_num_heads=4, head_type="linear")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _batch(size, n_pairs, device):
    import torch

    from ..dust3r.data import symmetrize

    g = torch.Generator().manual_seed(0)
    H, W = size
    valid = torch.rand(n_pairs, H, W, generator=g) < 0.05
    img = lambda: torch.rand(n_pairs, 3, H, W, generator=g) * 2 - 1  # noqa: E731
    b = {"img1": img(), "img2": img(),
         "pts1": torch.randn(n_pairs, H, W, 3, generator=g) + torch.tensor([0, 0, 4.0]),
         "pts2": torch.randn(n_pairs, H, W, 3, generator=g) + torch.tensor([0, 0, 4.0]),
         "valid1": valid, "valid2": valid.flip(1), "T21": torch.eye(4).repeat(n_pairs, 1, 1),
         "true_shape1": torch.tensor([H, W]).repeat(n_pairs, 1), "true_shape2": torch.tensor([H, W]).repeat(n_pairs, 1),
         "K1": torch.eye(3).repeat(n_pairs, 1, 1), "K2": torch.eye(3).repeat(n_pairs, 1, 1),
         "frames": torch.zeros(n_pairs, 2, dtype=torch.long)}
    return {k: v.to(device) for k, v in symmetrize(b).items()}


def _time_steps(preset, frozen: bool, size, n_pairs: int, steps: int, device: str, bf16: bool) -> dict:
    import torch

    from ..dust3r.model import build_model
    from ..dust3r.training import TrainConfig, compute_loss, param_groups

    torch.manual_seed(0)
    model = build_model(preset).to(device).train()
    model.freeze_encoder(frozen)
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-4, betas=(0.9, 0.95))
    cfg = TrainConfig(pose_weight=0.1)
    batch = _batch(size, n_pairs, device)
    times, cpus = [], []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for k in range(steps + 1):  # the first step warms up
        if device == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), _cpu()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = compute_loss(model, batch, cfg).total
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if k:
            times.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
    out = {"sec_per_step": float(np.median(times)), "cpu_sec_per_step": float(np.median(cpus)),
           "pairs_per_s": n_pairs / float(np.median(times)), "steps": steps}
    if device == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def _data_rate(n: int) -> dict:
    import cv2

    from .. import camera
    from ..dust3r.data import PairConfig, record_from_synth, sample_pair
    from ..synth import render

    rec = record_from_synth(render("good", 0, height=90, width=160, duration=1.5))  # upscaled to 360x640
    rec["frames"] = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_LINEAR) for f in rec["frames"]]
    rec["K"] = camera.resize_K(rec["K"], (90, 160), (360, 640))
    cfg, rng = PairConfig(size=(288, 512)), np.random.default_rng(0)
    sample_pair(rec, cfg, rng)
    t0 = time.perf_counter()
    for _ in range(n):
        sample_pair(rec, cfg, rng)
    dt = time.perf_counter() - t0
    return {"pairs_per_s": n / dt, "pairs": n, "note": "one process, frames already decoded"}


def run(out: Path, quick: bool = False) -> dict:
    import torch

    steps = 3 if quick else 8
    res = {"cpu": {}, "gpu_512_dpt": None}
    rows = []
    for label, preset, size in (("tiny_cpu.yaml", "tiny_linear", (64, 96)), ("small_linear", _small(), (128, 160))):
        for name, frozen in (("full fine-tune", False), ("frozen encoder", True)):
            r = _time_steps(preset, frozen, size, 4, steps, "cpu", False)
            res["cpu"][f"{label} {name}"] = r
            rows.append((f"{label} CPU", name, r))
    res["data_pipeline"] = _data_rate(10 if quick else 30)
    if torch.cuda.is_available():
        res["gpu_512_dpt"] = {}
        # the recipe's batch of 4 pairs, and 16 pairs (batch_size 16, grad_accum 2 keeps the effective 32)
        for name, frozen, n in (("full fine-tune", False, 4), ("frozen encoder", True, 4),
                                ("frozen, 16 pairs", True, 16)):
            r = _time_steps("512_dpt", frozen, (288, 512), n, steps, "cuda", True)
            res["gpu_512_dpt"][name] = r
            rows.append(("512_dpt GPU bf16", name, r))
    base = {}
    print(f"{'config':<18}{'case':<16}{'s/step':>9}{'cpu s':>8}{'pairs/s':>9}{'peak GiB':>9}{'speed-up':>9}")
    for cfg, name, r in rows:
        base.setdefault(cfg, r["pairs_per_s"])
        peak = f"{r['peak_gpu_gib']:.1f}" if "peak_gpu_gib" in r else "-"
        print(f"{cfg:<18}{name:<16}{r['sec_per_step']:>9.3f}{r['cpu_sec_per_step']:>8.3f}{r['pairs_per_s']:>9.2f}"
              f"{peak:>9}{r['pairs_per_s'] / base[cfg]:>8.2f}x")
    if res["gpu_512_dpt"] is None:
        print("512_dpt GPU bf16: not measured (no GPU)")
    print(f"pair data pipeline (288x512 crops from 360x640 frames): {res['data_pipeline']['pairs_per_s']:.1f} pairs/s "
          "per worker process")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps(res, indent=1))
    return res
