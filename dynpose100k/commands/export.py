"""``dynpose100k export``: one video's cameras as a COLMAP text model or a TUM trajectory."""

from __future__ import annotations

from pathlib import Path

HELP = "export one video's poses as COLMAP text model or TUM trajectory"
EXAMPLES = """
  dynpose100k export outputs/poses/good_0004_s4 --format colmap --out outputs/colmap/good_0004_s4
  dynpose100k export outputs/dynpose-100k --key good_0016_s16 --format tum --out outputs/tum
  evo_traj tum outputs/tum/good_0016_s16.txt --plot          # evo reads the TUM file (camera-to-world)
  colmap gui --import_path outputs/colmap/good_0004_s4 --image_path outputs/colmap/good_0004_s4/images

SOURCE is a pose result folder, a .tar shard or a dataset folder (--key picks the video; default first).
"""


def add_arguments(p):
    p.add_argument("source", type=Path, help="pose result folder, .tar shard or dataset folder")
    p.add_argument("--format", choices=["colmap", "tum"], required=True, help="output format")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--key", help="sample key inside a shard or dataset folder")
    p.add_argument("--video", type=Path, help="for a pose folder: its video, to export frames too")


def run(args) -> int:
    from ..shards.build import open_sample
    from ..shards.export import export_colmap, export_tum
    from . import check_out_dir

    check_out_dir(args.out)

    s = open_sample(args.source, key=args.key, video=args.video)
    if args.format == "colmap":
        out = export_colmap(s, args.out)
        print(f"{out}: COLMAP text model (cameras.txt, images.txt, points3D.txt, ...) of {s.key}")
    else:
        out = export_tum(s, args.out / f"{s.key}.txt")
        print(f"{out}: TUM trajectory (timestamp tx ty tz qx qy qz qw, camera-to-world) of {s.key}")
    return 0
