"""Reproduce the paper's last table (data kept vs pose error at reprojection-error thresholds) on
synthetic videos with known poses, and the same table for the calibrated ``confidence`` flag.

    python eval/quality_subsets.py POSE_DIR GT_DIR [--flag reproj|confidence|both] [--json out.json]

POSE_DIR holds ``<id>/poses.npz + result.json`` (from ``dynpose100k pose``), GT_DIR the ``<id>.gt.npz``
files of ``dynpose100k synth``. See :mod:`dynpose100k.evaluate.quality` for the protocol.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from dynpose100k.errors import DynPoseError
from dynpose100k.evaluate.quality import DATA_FRACTIONS, FLAG_TITLES, format_table, score_videos, table_from_videos

__all__ = ["main"]

CONFIDENCE_THRESHOLDS = (0.5,)
"""Fixed confidence thresholds added to the confidence table (0.5: the calibrated "probably good" cut)."""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pose_dir")
    p.add_argument("gt_dir")
    p.add_argument("--flag", choices=("reproj", "confidence", "both"), default="both",
                   help="selection signal of the thresholds (default: both tables)")
    p.add_argument("--json", help="also save the rows as JSON here ({flag: rows})")
    args = p.parse_args(argv)
    flags = ("reproj", "confidence") if args.flag == "both" else (args.flag,)
    try:
        videos = score_videos(args.pose_dir, args.gt_dir)
        tables = {f: table_from_videos(videos, DATA_FRACTIONS, 0.8, f,
                                       CONFIDENCE_THRESHOLDS if f == "confidence" else ())
                  for f in flags}
    except DynPoseError as e:
        print(f"quality_subsets: error: {e}", file=sys.stderr)
        return 1
    print("\n\n".join(format_table(rows, FLAG_TITLES[f]) for f, rows in tables.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: [dataclasses.asdict(r) for r in rows] for k, rows in tables.items()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
