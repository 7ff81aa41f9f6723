"""``dynpose100k subset``: write a quality subset of a dataset folder (with its own card)."""

from __future__ import annotations

from pathlib import Path

HELP = "write a quality subset of a dataset (reprojection error, registration, confidence)"
EXAMPLES = """
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-hq --max-reproj-px 1.18 --min-registered 0.8
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-reg90 --min-registered 0.9
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-conf --min-confidence 0.5 --min-registered 0.8

The same selection on a loaded dataset (printed at the end of a run):
  ds.filter(lambda m: m["reproj_error_px_720p"] is not None and m["reproj_error_px_720p"] < 1.18
            and m["registered_fraction"] >= 0.8, input_columns="meta.json")
"""


def add_arguments(p):
    p.add_argument("src", type=Path, help="source dataset folder (with manifest.jsonl)")
    p.add_argument("dst", type=Path, help="new dataset folder (must not exist or be empty)")
    p.add_argument("--max-reproj-px", type=float, help="keep videos with reprojection error (px @720p) below this")
    p.add_argument("--min-registered", type=float, help="keep videos with at least this registered fraction")
    p.add_argument("--min-confidence", type=float,
                   help="keep videos with calibrated pose confidence at least this (0.5: probably ATE < 2%% of the path)")
    p.add_argument("--maxcount", type=int, default=1000, help="most videos per shard (default 1000)")


def run(args) -> int:
    from builder.card import quality_filter_expression

    from ..shards import ShardConfig
    from ..shards.subset import make_subset

    r = make_subset(args.src, args.dst, max_reproj_px=args.max_reproj_px, min_registered=args.min_registered,
                    min_confidence=args.min_confidence, config=ShardConfig(maxcount=args.maxcount))
    pct = 100.0 * r.kept / r.total if r.total else 0.0
    print(f"{r.out_dir}: kept {r.kept} of {r.total} videos ({pct:.1f}%) in {len(r.shards)} shard(s)")
    print("same selection with datasets: " + quality_filter_expression(args.max_reproj_px, args.min_registered,
                                                                     args.min_confidence))
    return 0
