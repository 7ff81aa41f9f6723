"""Dataset utility: does fine-tuning DUSt3R on our shards improve its poses on held-out dynamic videos?

    python eval/dataset_utility.py --out outputs/utility                      # tiny CPU run (mechanics)
    python eval/dataset_utility.py --base ckpt/DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth \\
        --finetuned outputs/finetune-dynpose-512-dpt/checkpoint-last.pth --size 288 512 \\
        --hw 360 640 --eval-videos 20 --out outputs/utility-512                # full scale, on a GPU

Both models estimate poses of the same held-out rendered videos (seeds never used for training) with the
windowed pair graph of :mod:`dynpose100k.dust3r.poses`; the table gives, per model, the paper's Sampson
protocol over per-video mean errors (% of videos < 5/10/30 px at 720p, mean px), the mean ATE (Sim(3),
RMSE) and the registered share. Without ``--finetuned``, the base model is fine-tuned here on shards written
from rendered training videos (or on ``--train-shards``) for ``--steps`` steps with the tiny recipe.
Without ``--base``, the base is a tiny randomly initialised model: then the numbers only show that the
pipeline runs end to end, not the paper's result (the script says so in its output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from dynpose100k.errors import DynPoseError

log = logging.getLogger("dataset_utility")

TINY_NOTE = ("NOTE: tiny randomly initialised model, a few CPU steps on a few rendered videos: these numbers "
             "show the mechanics only and are not comparable to the paper's (full scale: official checkpoint, "
             "2K DynPose-100K videos, GPU).")


def utility_table(models: dict, videos: list, pose_cfg, device: str = "cpu") -> list[dict]:
    """One row per model: Sampson summary over per-video mean errors, mean ATE/RPE, registered share
    (:mod:`dynpose100k.evaluate`)."""
    from dynpose100k.dust3r.poses import poses_from_model
    from dynpose100k.evaluate import score_video, summarise

    rows = []
    for name, model in models.items():
        scores = []
        for v in videos:
            res = poses_from_model(model, v.frames, pose_cfg, device)
            scores.append(score_video(res.w2c, res.K, res.registered, v.gt))
        s = summarise(scores)
        nan = float("nan")
        rows.append({"model": name,
                     **(s["sampson"] or dict(pct_lt_5=nan, pct_lt_10=nan, pct_lt_30=nan, mean=nan, count=0)),
                     "ate_mean": s["ate"], "rpe_rot_deg_mean": s["rpe_rot_deg"],
                     "registered_pct": s["frames_registered_pct"], "videos": s["videos"]})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'model':<12}{'%<5px':>8}{'%<10px':>8}{'%<30px':>8}{'mean px':>10}{'ATE':>9}{'RPE deg':>9}{'reg %':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<12}{r['pct_lt_5']:>8.1f}{r['pct_lt_10']:>8.1f}{r['pct_lt_30']:>8.1f}"
                     f"{r['mean']:>10.2f}{r['ate_mean']:>9.4f}{r['rpe_rot_deg_mean']:>9.2f}{r['registered_pct']:>7.1f}")
    return "\n".join(lines)


def _render(n: int, seed0: int, hw, duration: float) -> list:
    from dynpose100k.synth import render

    return [render("good", seed0 + k, height=hw[0], width=hw[1], duration=duration) for k in range(n)]


def run(args) -> dict:
    from dynpose100k.dust3r.checkpoint import load_checkpoint, save_checkpoint
    from dynpose100k.dust3r.data import record_from_synth, shard_sample_from_record
    from dynpose100k.dust3r.model import build_model
    from dynpose100k.dust3r.poses import ModelPoseConfig
    from dynpose100k.dust3r.training import load_config, train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tiny = args.base is None
    base_path = Path(args.base) if args.base else out / "base-tiny.pth"
    if tiny:
        import torch

        torch.manual_seed(args.seed)
        save_checkpoint(base_path, build_model("tiny_linear"))
    ft_path = Path(args.finetuned) if args.finetuned else None
    if ft_path is None:
        shards = args.train_shards
        if shards is None:
            from dynpose100k.shards.writer import write_shards

            shards = out / "train-shards"
            recs = [record_from_synth(v) for v in _render(args.train_videos, 1000 + args.seed, args.hw, args.duration)]
            write_shards([shard_sample_from_record(r) for r in recs], shards)
        cfg = load_config(args.train_config, init=str(base_path), data_source="shards", train_shards=str(shards),
                          output_dir=str(out / "finetune"), max_steps=args.steps, size=tuple(args.size),
                          eval_every=0, save_every=args.steps, log_every=max(1, args.steps // 5),
                          warmup_steps=max(1, args.steps // 10), resume=False, seed=args.seed)
        train(cfg)
        ft_path = out / "finetune" / "checkpoint-last.pth"
    models = {"base": load_checkpoint(base_path)[0], "fine-tuned": load_checkpoint(ft_path)[0]}
    videos = _render(args.eval_videos, 9000 + args.seed, args.hw, args.duration)
    pose_cfg = ModelPoseConfig(size=tuple(args.size), window=args.window)
    rows = utility_table(models, videos, pose_cfg, args.device)
    result = {"rows": rows, "tiny": tiny, "base": str(base_path), "finetuned": str(ft_path),
              "pose_config": dataclasses.asdict(pose_cfg),
              "eval_seeds": [9000 + args.seed + k for k in range(args.eval_videos)],
              "protocol": "Sampson: % of videos whose mean error (720p px) is below 5/10/30, and the mean; "
                          "ATE: Sim(3)-aligned RMSE of camera centres, mean over videos; failed frames filled"}
    (out / "dataset_utility.json").write_text(json.dumps(result, indent=1))
    print(format_table(rows))
    if tiny:
        print(TINY_NOTE)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="official DUSt3R checkpoint (default: a tiny random init, mechanics only)")
    p.add_argument("--finetuned", help="fine-tuned checkpoint (default: fine-tune the base here)")
    p.add_argument("--train-shards", help="shards to fine-tune on (default: rendered videos written as shards)")
    p.add_argument("--train-config", default=str(Path(__file__).resolve().parents[1] / "train/configs/tiny_cpu.yaml"))
    p.add_argument("--steps", type=int, default=30, help="fine-tuning steps when fine-tuning here")
    p.add_argument("--train-videos", type=int, default=3)
    p.add_argument("--eval-videos", type=int, default=2)
    p.add_argument("--hw", type=int, nargs=2, default=[96, 160], help="rendered frame size H W")
    p.add_argument("--duration", type=float, default=2.0, help="rendered clip seconds (12 fps)")
    p.add_argument("--size", type=int, nargs=2, default=[64, 96], help="model input H W")
    p.add_argument("--window", type=int, default=2, help="pair-graph window")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs/dataset_utility")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        run(args)
    except DynPoseError as e:
        print(f"dataset_utility: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
