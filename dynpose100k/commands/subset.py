"""``dynpose100k subset``: write a quality subset of a dataset folder (with its own card)."""

from __future__ import annotations

from pathlib import Path

HELP = "write a quality subset of a dataset (confidence by default; reprojection error, registration)"
EXAMPLES = """
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-conf        # confidence >= 0.5 (the default)
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-c90 --min-confidence 0.9 --min-registered 0.8
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-hq --min-confidence off --max-reproj-px 1.18
  dynpose100k subset outputs/dynpose-100k outputs/dynpose-100k-k --min-focal-pin 1.3   # also a reliable focal

The default keeps the videos whose calibrated pose confidence is at least 0.5 (probably ATE below 2% of the
path length and >= 80% of frames registered); on the synthetic benchmarks it separates good from wrong
trajectories where the reprojection error does not. `--min-confidence off` drops it (clips imported from
the official release carry no confidence, so they need it off). The confidence judges the trajectory, not
the intrinsics: `--min-focal-pin 1.3` also asks for a focal the tracks pin down (`focal_pin`: how much worse a
focal 1.5 times off explains them; a walk that hardly turns leaves the focal a guess).

The same selection on a loaded dataset (printed at the end of a run):
  from dynpose100k.shards import QualityRule
  ds.filter(QualityRule(min_confidence=0.5, min_registered=0.8), input_columns="meta.json")

A video without a value (e.g. the reprojection error of an imported release clip) fails a set threshold.
The new card records the thresholds and keeps the source's licence, name and description unless the card
options below are given.
"""


#: the default quality filter: ``confidence >= 0.5`` means "probably right" by the confidence's calibration
#: (:data:`dynpose100k.pose.confidence.TRUSTED`; not imported here, where every CLI verb would pay for numpy's
#: import to build its help; a test holds the two equal).
DEFAULT_MIN_CONFIDENCE = 0.5


def _confidence(text: str) -> float | None:
    """``--min-confidence`` value: a number in [0, 1], or ``off`` (no confidence rule)."""
    import argparse

    if text.strip().lower() in ("off", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] or 'off', got {text!r}") from None


def add_arguments(p):
    p.add_argument("src", type=Path, help="source dataset folder (with manifest.jsonl)")
    p.add_argument("dst", type=Path, help="new dataset folder (must not exist or be empty)")
    p.add_argument("--max-reproj-px", type=float, help="keep videos with reprojection error (px @720p) below this")
    p.add_argument("--min-registered", type=float, help="keep videos with at least this registered fraction")
    p.add_argument("--min-confidence", type=_confidence, default=DEFAULT_MIN_CONFIDENCE, metavar="C|off",
                   help="keep videos with calibrated pose confidence at least this "
                        f"(default {DEFAULT_MIN_CONFIDENCE:g}: probably ATE < 2%% of the path); 'off' drops the rule")
    p.add_argument("--min-focal-pin", type=float, metavar="P",
                   help="keep videos whose focal the tracks pin down at least this firmly (focal_pin, a ratio "
                        ">= 1; 1.3: the focal was within 10%% on all but 1 of 159 synthetic maps)")
    p.add_argument("--maxcount", type=int, default=1000, help="most videos per shard (default 1000)")
    from builder.card import add_card_arguments

    add_card_arguments(p)


def run(args) -> int:
    import dataclasses

    from builder.card import card_options, check_card_options, read_settings, write_card

    from ..shards import QualityRule, ShardConfig, make_subset
    from . import check_out_dir

    check_out_dir(args.dst, option="the destination")

    rule = QualityRule(args.max_reproj_px, args.min_registered, args.min_confidence, args.min_focal_pin)
    given = {k: v for k, v in card_options(args).items() if v is not None}
    drop = {"subset"} | ({"license_name", "license_link"} if "license" in given else set())
    inherited = {k: v for k, v in dataclasses.asdict(read_settings(args.src)).items() if k not in drop}
    card = {**inherited, **given}
    check_card_options(args.dst, card)
    r = make_subset(args.src, args.dst, rule, config=ShardConfig(maxcount=args.maxcount))
    write_card(args.dst, **card, subset={"source": args.src.resolve().name, **rule.thresholds(),
                                         "kept": r.kept, "total": r.total})
    pct = 100.0 * r.kept / r.total if r.total else 0.0
    print(f"{r.out_dir}: kept {r.kept} of {r.total} videos ({pct:.1f}%) in {len(r.shards)} shard(s)")
    print("same selection with datasets: from dynpose100k.shards import QualityRule; " + rule.snippet())
    return 0
