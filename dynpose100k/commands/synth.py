"""``dynpose100k synth``: render a pool of labelled synthetic clips with exact ground truth."""

from __future__ import annotations

from pathlib import Path

from ..errors import DynPoseError, check_range
from ..synth.kinds import DESCRIPTIONS

HELP = "render synthetic dynamic videos with exact ground truth"
EXAMPLES = """
  dynpose100k synth --out data/synth --num 20 --kind mixed --seed 0
  dynpose100k synth --out data/good --num 5 --kind good --size 320x180 --duration 3
  dynpose100k synth --out data/hard --num 10 --kind good --hard      # night, fast pans, big fast objects
  dynpose100k synth --out data/b --num 20 --kind mixed --style b --split heldout --size mixed
  dynpose100k synth --contact-sheet docs/synth_kinds.png             # one frame per kind and style

writes <out>/<video_id>.mp4, <out>/<video_id>.gt.npz (load with dynpose100k.synth.load_gt) and
<out>/labels.csv (video_id,kind,suitable,style,split,width,height). Clip ids are <kind>_<index>_s<render
seed> (render seed = 10000 * seed + index): the pool of the first example holds good_0004_s4 and good_0016_s16.
Re-running skips clips already written; another pool written into the same folder adds its rows to labels.csv.
Splits: dev seeds are [0, 1e9), heldout seeds [1e9, 2e9) (held-out style-a clips also get wider lenses,
other camera mixes, non-repeating textures and camera effects). Style b (other textures, light, objects,
cameras, movers) is never used for tuning. A mixed dev style-a pool draws from the first nine kinds; held-out
and style-b pools (or --all-kinds) from all of them.
Ground truth: w2c (N,4,4) world-to-camera (OpenCV axes), K (N,3,3), exact depth, dynamic masks, static
correspondences. Kinds (only "good" is suitable for pose estimation; tripod, incar, lowres and compressed, which the
pose engine must refuse, come in pools of their own, style a only, never in mixed):
""" + "\n".join(f"  {k:<10} {d}" for k, d in DESCRIPTIONS.items()) + "\n"

KIND_CHOICES = (*DESCRIPTIONS, "mixed")


def _size(text: str) -> tuple[int, int]:
    if text.lower() == "mixed":
        return 0, 0
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise DynPoseError(f"--size must look like 640x360, got {text!r}") from None
    if w < 16 or h < 16:
        raise DynPoseError(f"--size {text} is too small (at least 16x16)")
    return w, h


def add_arguments(p):
    p.add_argument("--out", type=Path, help="output folder (required unless --contact-sheet)")
    p.add_argument("--num", type=int, default=20, help="number of clips (default 20)")
    p.add_argument("--kind", choices=KIND_CHOICES, default="mixed",
                   help="clip kind; mixed = ~10%% good, the rest spread over the failure kinds")
    p.add_argument("--seed", type=int, default=0, help="pool seed (clips are deterministic from it)")
    p.add_argument("--size", default=None,
                   help="frame size WIDTHxHEIGHT (default 640x360; 320x180 tiles for --contact-sheet), or mixed: "
                        "360p-1080p, 16:9 and portrait")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second (default 12)")
    p.add_argument("--duration", type=float, default=5.0, help="clip length in seconds (default 5)")
    p.add_argument("--hard", action="store_true", help="larger/faster objects, fast pans, night clips")
    p.add_argument("--style", choices=("a", "b"), default="a",
                   help="scene family: a (default, what the toolkit is tuned on) or b (never used for tuning)")
    p.add_argument("--split", choices=("dev", "heldout"), default="dev",
                   help="seed range: dev (default) or heldout (disjoint seeds, varied scene parameters)")
    p.add_argument("--all-kinds", action="store_true", help="mixed pools draw from all sixteen kinds a filter "
                   "judges (default for heldout and style b)")
    p.add_argument("--rolling-shutter", type=float, default=0.0, metavar="FRACTION",
                   help="rolling-shutter readout time as a fraction of a frame (default 0: global shutter)")
    p.add_argument("--clutter", action="store_true",
                   help="style a: add thin structures (poles, fences, railings) beside the path and a crowd of small "
                        "walkers to each clip's scene")
    p.add_argument("--contact-sheet", type=Path, metavar="PNG",
                   help="instead of a pool: save one labelled frame per kind and style to this PNG")


def run(args) -> int:
    from ..synth import contact_sheet, write_pool

    if args.contact_sheet is not None:
        w, h = _size(args.size or "320x180")
        if w == 0:
            raise DynPoseError("--contact-sheet needs one --size WIDTHxHEIGHT")
        path = contact_sheet(args.contact_sheet, seed=args.seed, size=(w, h))
        print(f"saved {path}")
        return 0
    if args.out is None:
        raise DynPoseError("--out is required (or use --contact-sheet PNG)")
    from . import check_out_dir

    check_out_dir(args.out)
    check_range("--num", args.num, 1)
    check_range("--rolling-shutter", args.rolling_shutter, 0, 1)
    if args.clutter and args.style != "a":
        raise DynPoseError("--clutter adds style-a structures; style b has its own")
    w, h = _size(args.size or "640x360")
    sizes = "mixed" if w == 0 else None
    w, h = (640, 360) if w == 0 else (w, h)
    ids = write_pool(args.out, args.num, args.kind, args.seed, progress=True, height=h, width=w, fps=args.fps,
                     duration=args.duration, hard=args.hard, split=args.split, style=args.style,
                     all_kinds=True if args.all_kinds else None, sizes=sizes, rolling_shutter=args.rolling_shutter,
                     clutter=args.clutter)
    print(f"wrote {len(ids)} clip(s) + labels.csv to {args.out} (style {args.style}, {args.split} split)")
    return 0
