"""``dynpose100k bench``: run one benchmark (or all) and save its figures as JSON."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..bench import BENCHES

HELP = ("benchmarks: decode, pose, pose-speed, pose-robustness, pose-dense, tracks, filter, shots, curate, train, vlm "
        "(figures vs baselines)")
EXAMPLES = """
  dynpose100k bench decode
  dynpose100k bench pose --out outputs/bench
  dynpose100k bench pose --sets heldout,style_b --seed 500 --no-speed
  dynpose100k bench pose-robustness --clips 12
  dynpose100k bench pose-robustness --conditions camera,clutter
  dynpose100k bench pose-dense --sets heldout,style_b --clips 24 --seed 1300   # the second look at 24 fps
  dynpose100k bench tracks --sets dev,heldout,style_b --clips 12   # Lucas-Kanade's tracks against the truth
  dynpose100k bench tracks --preset cotracker3-own-12fps --tracker-model W   # a learned tracker beside it
  dynpose100k bench all --quick
  dynpose100k bench filter --seed 1 --out outputs/bench-seed1
  dynpose100k bench shots --out outputs/bench   # shot boundaries on long videos, against fixed windows
"""


def add_arguments(p):
    from ..pose.config import DEFAULT_PRESET

    p.add_argument("name", choices=[*BENCHES, "all"], help="which benchmark")
    p.add_argument("--out", type=Path, default=Path("outputs/bench"), help="folder for JSON results and plots")
    p.add_argument("--quick", action="store_true", help="a smaller set, for a smoke run")
    p.add_argument("--no-baselines", action="store_true",
                   help="pose: leave COLMAP and COLMAP+Mask out (ours and the floor only; minutes instead of hours)")
    p.add_argument("--sets", default="dev,heldout,style_b",
                   help="pose, pose-dense, tracks: comma-separated benchmark sets (default dev,heldout,style_b)")
    p.add_argument("--clips", type=int, default=None,
                   help="pose, pose-dense, tracks: clips per set, half of them hard (default 6; 24 for steadier "
                        "rates, ~4x the time); pose-robustness: clips per condition (default 12); shots: long "
                        "videos per set (default 16)")
    p.add_argument("--seed", type=int, default=0,
                   help="filter: pool seed (test pools from it, training pools from seed + 1000 on); pose, pose-dense, "
                        "tracks: added to every clip's seed; another seed draws other clips, e.g. to judge a change on "
                        "clips nobody has looked at (default 0)")
    p.add_argument("--conditions", default=None,
                   help="pose-robustness: comma-separated conditions to run (default: all; clean, the baseline, "
                        "always runs), e.g. camera,clutter")
    p.add_argument("--known-lens", action="store_true",
                   help="pose: give our engine each clip's true field of view (PoseConfig.hfov_deg) instead of "
                        "estimating the focal; the baselines still estimate theirs")
    p.add_argument("--preset", default=None,
                   help=f"pose: the pose engine's preset for ours (default {DEFAULT_PRESET}), e.g. klt-own-12fps; "
                        "tracks: the tracker measured beside Lucas-Kanade, e.g. dis-own-12fps")
    p.add_argument("--tracker-model", default=None, metavar="PATH",
                   help="pose, tracks: local weights of the preset's learned tracker")
    p.add_argument("--device", default=None, help="pose, tracks: torch device of learned models (default auto)")
    p.add_argument("--confidence-model", default=None, metavar="JSON",
                   help="pose: a confidence calibration of one's own (default: the packaged one)")
    p.add_argument("--no-speed", action="store_true",
                   help="pose: leave out the cost by input size and clip length (360p/720p/1080p 10 s and 720p "
                        "60 s clips, about 5 minutes; `bench pose-speed` runs it alone)")


def run(args) -> int:
    # "pose" includes "pose-speed" unless --no-speed, so "all" does not run it twice
    names = [n for n in BENCHES if n != "pose-speed"] if args.name == "all" else [args.name]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        extra = {}
        if name == "pose":
            extra = {"baselines": not args.no_baselines, "sets": tuple(x for x in args.sets.split(",") if x),
                     "clips": 6 if args.clips is None else args.clips, "seed": args.seed,
                     "known_lens": args.known_lens, "tracker_model": args.tracker_model, "device": args.device,
                     "confidence_model": args.confidence_model}
        elif name == "pose-robustness":
            extra = {"clips": 12 if args.clips is None else args.clips}
            if args.conditions:
                extra["conditions"] = tuple(x for x in args.conditions.split(",") if x)
        elif name == "pose-dense":
            extra = {"sets": tuple(x for x in args.sets.split(",") if x),
                     "clips": 6 if args.clips is None else args.clips, "seed": args.seed}
        elif name == "tracks":
            extra = {"sets": tuple(x for x in args.sets.split(",") if x),
                     "clips": 6 if args.clips is None else args.clips, "seed": args.seed,
                     "tracker_model": args.tracker_model, "device": args.device}
        elif name == "filter":
            extra = {"seed": args.seed}
        elif name == "shots" and args.clips is not None:
            extra = {"videos": args.clips}
        if name in ("pose", "tracks") and args.preset:
            extra["preset"] = args.preset  # (otherwise the bench's own default)
        importlib.import_module(BENCHES[name]).run(args.out, quick=args.quick, **extra)
        if name == "pose" and not args.no_speed:
            print("\ncost by input size and clip length (bench pose-speed)")
            importlib.import_module(BENCHES["pose-speed"]).run(args.out, quick=args.quick)
    return 0
