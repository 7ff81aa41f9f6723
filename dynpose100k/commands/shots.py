"""``dynpose100k shots``: cut long videos into candidate clips at shot boundaries and write them as a
Panda-70M style CSV that ``curate`` takes as its pool."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "cut long videos into clip windows at shot boundaries (a Panda-70M style CSV for curate)"
EXAMPLES = """
  dynpose100k shots raw_videos/ --out clips.csv --workers 2
  dynpose100k curate clips.csv --out outputs/curated --workers 2
  dynpose100k shots vlog.mp4 --out clips.csv --min-length 3 --max-length 8
"""


def add_arguments(p):
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="video files, frame folders or folders of videos (subfolders included)")
    p.add_argument("--out", type=Path, required=True,
                   help="CSV to write (videoID,url,timestamp,caption; url relative to the CSV's folder)")
    p.add_argument("--min-length", type=float, default=4.0, metavar="S",
                   help="shortest window, seconds; shorter shots give none (default 4)")
    p.add_argument("--max-length", type=float, default=10.0, metavar="S",
                   help="longest window, seconds; longer shots are cut into equal parts (default 10)")
    p.add_argument("--workers", type=int, default=1, help="processes, one video each (default 1)")


def _detect(item):
    from ..errors import DynPoseError
    from ..shots import detect_shots

    path, config = item
    try:
        return detect_shots(path, config)
    except (DynPoseError, ValueError) as e:
        return str(e)


def run(args) -> int:
    from tqdm import tqdm

    from ..errors import DynPoseError, check_range
    from ..ids import unique_ids
    from ..shots import ShotConfig, write_clips_csv
    from ..workers import clip_map
    from . import check_out_file, check_out_not_input, collect_videos

    check_out_file(args.out, "clips.csv")
    if args.out.suffix.lower() != ".csv":
        raise DynPoseError(f"--out {args.out}: name a .csv file (curate reads it as a Panda-70M style CSV)")
    check_range("--workers", args.workers, 1)
    check_range("--min-length", args.min_length, 0)
    check_range("--max-length", args.max_length, max(args.min_length, 0), low_open=args.min_length <= 0)
    config = ShotConfig(min_length=args.min_length, max_length=args.max_length)
    paths = collect_videos(args.inputs)
    check_out_not_input(args.out, paths)
    found, errors = [], []
    with clip_map(_detect, [(p, config) for p in paths], args.workers) as it:
        for vid, res in tqdm(zip(unique_ids(paths), it), total=len(paths), desc="shots", unit="video"):
            if isinstance(res, str):
                errors.append(res)
            else:
                found.append((vid, res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    windows = write_clips_csv(args.out, found)
    seconds = sum(s.duration for _, s in found)
    kept = sum(e - s for _, r in found for s, e in r.windows)
    print(f"{len(found)} video(s), {seconds / 60:.1f} min: {sum(len(r.cuts) for _, r in found)} cut(s), "
          f"{sum(len(r.dark) for _, r in found)} black run(s), {sum(len(r.shots) for _, r in found)} shot(s) -> "
          f"{windows} window(s) of {args.min_length:g}-{args.max_length:g} s ({kept / 60:.1f} min) -> {args.out}")
    if windows:
        print(f"next: dynpose100k curate {args.out} --out DIR")
    for e in errors:
        print(f"dynpose100k shots: error: {e}", file=sys.stderr)
    return 1 if errors else 0
