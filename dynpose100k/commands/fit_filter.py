"""``dynpose100k fit-filter``: fit the clip filter's fusion model on a labelled pool and write it as JSON."""

from __future__ import annotations

from pathlib import Path

HELP = "fit the clip filter's fusion model on a labelled pool (labels.csv + videos)"
EXAMPLES = """
  dynpose100k synth --out data/pool --num 200 --kind mixed --seed 0
  dynpose100k fit-filter data/pool --out my_model.json --prevalence 0.1 --workers 2
  dynpose100k filter videos/ --out scores.parquet --model my_model.json
"""


def add_arguments(p):
    from ..filtering import FilterConfig, FitConfig

    f, c = FitConfig(), FilterConfig()
    p.add_argument("pool", type=Path, help="folder with labels.csv (video_id, suitable[, kind]) and <video_id>.mp4")
    p.add_argument("--out", type=Path, required=True, help="model JSON to write")
    p.add_argument("--prevalence", type=float, help="suitable fraction where the filter will run "
                   "(default: the pool's; the packaged model used 0.1)")
    p.add_argument("--target-precision", type=float, default=f.target_precision,
                   help=f"precision the threshold must reach (default {f.target_precision:g})")
    p.add_argument("--seed", type=int, default=f.seed, help=f"cross-validation fold seed (default {f.seed})")
    p.add_argument("--fps", type=float, default=c.fps, help=f"analysis frame rate (default {c.fps:g})")
    p.add_argument("--short-side", type=int, default=c.short_side,
                   help=f"analysis resolution, short side px (default {c.short_side})")
    p.add_argument("--workers", type=int, default=1, help="processes measuring the signals (default 1)")


def run(args) -> int:
    from ..errors import DynPoseError, check_range
    from ..filtering import FilterConfig, FitConfig, fit_filter_model
    from . import check_out_file

    check_out_file(args.out, "model.json")  # before any work
    if not (args.pool / "labels.csv").is_file():
        raise DynPoseError(f"{args.pool}: no labels.csv (columns video_id, suitable[, kind])")
    check_range("--prevalence", args.prevalence, 0, 1, low_open=True, high_open=True)
    check_range("--target-precision", args.target_precision, 0, 1, low_open=True)
    fit = FitConfig(target_precision=args.target_precision, prevalence=args.prevalence, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    m = fit_filter_model(args.pool, FilterConfig(fps=args.fps, short_side=args.short_side), fit, out=args.out,
                         workers=args.workers, progress=True)
    print(f"wrote {args.out}: threshold {m.threshold:.3f}, {m.info['num_clips']} clips "
          f"({m.info['num_suitable']} suitable), cv precision {m.info['cv_precision']:.2f} "
          f"recall {m.info['cv_recall']:.2f}")
    return 0
