"""Reproduce the paper's last table (data kept vs pose error at reprojection-error thresholds) on
synthetic videos with known poses.

    python eval/quality_subsets.py POSE_DIR GT_DIR [--json out.json]

POSE_DIR holds ``<id>/poses.npz + result.json`` (from ``dynpose100k pose``), GT_DIR the ``<id>.gt.npz``
files of ``dynpose100k synth``. See :mod:`dynpose100k.shards.quality` for the protocol.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from dynpose100k.errors import DynPoseError
from dynpose100k.shards.quality import format_table, quality_subset_table

__all__ = ["quality_subset_table", "format_table"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pose_dir")
    p.add_argument("gt_dir")
    p.add_argument("--json", help="also save the rows as JSON here")
    args = p.parse_args(argv)
    try:
        rows = quality_subset_table(args.pose_dir, args.gt_dir)
    except DynPoseError as e:
        print(f"quality_subsets: error: {e}", file=sys.stderr)
        return 1
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dataclasses.asdict(r) for r in rows], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
