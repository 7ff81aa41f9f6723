"""``dynpose100k view``: trajectory with camera frusta and a strip of frames, as PNG (and .rrd)."""

from __future__ import annotations

from pathlib import Path

HELP = "plot a trajectory with frusta and a frame strip to PNG"
EXAMPLES = """
  dynpose100k view outputs/poses/good_0004_s4 --video data/synth/good_0004_s4.mp4 --out outputs/view.png
  dynpose100k view outputs/dynpose-100k --key good_0016_s16 --out outputs/view.png --rrd outputs/view.rrd
  dynpose100k view data/synth/good_0004_s4.mp4 --poses outputs/poses/good_0004_s4 --out outputs/view.png

SOURCE is a pose result folder, a .tar shard, a dataset folder, or a video with --poses. The .rrd is
written to a file (no viewer is started); open it later with `rerun outputs/view.rrd`.
"""


def add_arguments(p):
    p.add_argument("source", type=Path, help="pose result folder, .tar shard, dataset folder or video")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--key", help="sample key inside a shard or dataset folder")
    p.add_argument("--video", type=Path, help="for a pose folder: its video, to show frames")
    p.add_argument("--poses", type=Path, help="for a video: its pose result folder")
    p.add_argument("--rrd", type=Path, help="also write a rerun recording here (needs rerun-sdk)")
    p.add_argument("--num-frames", type=int, default=6, help="frames in the strip (default 6)")


def run(args) -> int:
    from matplotlib.backend_bases import FigureCanvasBase

    from ..errors import DynPoseError, ShardError, check_range
    from ..shards.build import open_sample
    from ..shards.view import log_rerun, plot_sample
    from . import check_out_file

    check_out_file(args.out, "view.png")
    check_range("--num-frames", args.num_frames, 1)
    formats = FigureCanvasBase.get_supported_filetypes()
    if args.out.suffix.lstrip(".").lower() not in formats:
        raise DynPoseError(f"--out {args.out}: not an image format matplotlib writes ({', '.join(sorted(formats))})")
    if args.rrd:
        check_out_file(args.rrd, "view.rrd", option="--rrd")

    if args.source.is_file() and args.source.suffix != ".tar":
        if args.poses is None:
            raise ShardError(f"{args.source}: a video needs --poses POSE_FOLDER to be viewed")
        sample = open_sample(args.poses, video=args.source)
    else:
        sample = open_sample(args.source, key=args.key, video=args.video)
    print(f"{plot_sample(sample, args.out, num_frames=args.num_frames)}: trajectory + frames of {sample.key}")
    if args.rrd:
        print(f"{log_rerun(sample, args.rrd)}: rerun recording")
    return 0
