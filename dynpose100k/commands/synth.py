"""``dynpose100k synth``: render a pool of labelled synthetic clips with exact ground truth."""

from __future__ import annotations

from pathlib import Path

from ..errors import DynPoseError
from ..synth.kinds import DESCRIPTIONS

HELP = "render synthetic dynamic videos with exact ground truth"
EXAMPLES = """
  dynpose100k synth --out data/synth --num 20 --kind mixed --seed 0
  dynpose100k synth --out data/good --num 5 --kind good --size 320x180 --duration 3
  dynpose100k synth --out data/hard --num 10 --kind good --hard      # night, fast pans, big fast objects

writes <out>/<video_id>.mp4, <out>/<video_id>.gt.npz (load with dynpose100k.synth.load_gt) and
<out>/labels.csv (video_id,kind,suitable). Clip ids are <kind>_<index>_s<render seed> (render seed =
10000 * seed + index): the pool of the first example holds good_0004_s4 and good_0016_s16. Re-running
skips clips already written; another pool written into the same folder adds its rows to labels.csv.
Ground truth: w2c (N,4,4) world-to-camera (OpenCV axes), K (N,3,3), exact depth, dynamic masks, static
correspondences. Kinds (only "good" is suitable for pose estimation):
""" + "\n".join(f"  {k:<10} {d}" for k, d in DESCRIPTIONS.items()) + "\n"

KIND_CHOICES = (*DESCRIPTIONS, "mixed")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise DynPoseError(f"--size must look like 640x360, got {text!r}") from None
    if w < 16 or h < 16:
        raise DynPoseError(f"--size {text} is too small (at least 16x16)")
    return w, h


def add_arguments(p):
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--num", type=int, default=20, help="number of clips (default 20)")
    p.add_argument("--kind", choices=KIND_CHOICES, default="mixed",
                   help="clip kind; mixed = ~10%% good, the rest spread over the failure kinds")
    p.add_argument("--seed", type=int, default=0, help="pool seed (clips are deterministic from it)")
    p.add_argument("--size", default="640x360", help="frame size WIDTHxHEIGHT (default 640x360)")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second (default 12)")
    p.add_argument("--duration", type=float, default=5.0, help="clip length in seconds (default 5)")
    p.add_argument("--hard", action="store_true", help="larger/faster objects, fast pans, night clips")


def run(args) -> int:
    from ..synth import write_pool
    from . import check_out_dir

    check_out_dir(args.out)
    if args.num < 1:
        raise DynPoseError(f"--num must be at least 1, got {args.num}")
    w, h = _size(args.size)
    ids = write_pool(args.out, args.num, args.kind, args.seed, progress=True, height=h, width=w, fps=args.fps,
                     duration=args.duration, hard=args.hard)
    print(f"wrote {len(ids)} clips + labels.csv to {args.out}")
    return 0
