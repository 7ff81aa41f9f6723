"""``dynpose100k import-release``: convert the official DynPose-100K release layout into shards."""

from __future__ import annotations

from pathlib import Path

HELP = "convert the official DynPose-100K release layout to shards"
EXAMPLES = """
  dynpose100k import-release data/dynpose-100k-release --out outputs/dynpose-100k
  dynpose100k import-release data/dynpose-100k-release --out outputs/dynpose-100k --frame-short-side 360 --limit 100

The release folder holds metadata.csv, uid_mapping.csv, cameras/<uid>.pkl and (after running the
release's frame extraction) frames/<uid>/*.jpg. Pickles are opened with an allow-list that only rebuilds
numpy arrays; any other content is refused and nothing in it is executed. Clips without frames are
imported with poses only.
"""


def add_arguments(p):
    p.add_argument("release", type=Path, help="release folder (metadata.csv, uid_mapping.csv, cameras/, frames/)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create or append to")
    p.add_argument("--frame-short-side", type=int, help="store frames resized to this short side (K follows)")
    p.add_argument("--limit", type=int, help="import at most this many clips (in uid_mapping order)")
    p.add_argument("--maxcount", type=int, default=1000, help="most videos per shard (default 1000)")
    from builder.card import add_card_arguments

    add_card_arguments(p)


def run(args) -> int:
    from builder.card import card_options, check_card_options, write_card

    from ..errors import check_range
    from ..shards import ShardConfig
    from ..shards.release import import_release
    from . import check_out_dir

    check_out_dir(args.out)
    check_range("--frame-short-side", args.frame_short_side, 16)
    check_range("--limit", args.limit, 1)

    card = card_options(args)
    check_card_options(args.out, card)
    r = import_release(args.release, args.out, frame_short_side=args.frame_short_side, limit=args.limit,
                       config=ShardConfig(maxcount=args.maxcount))
    write_card(args.out, **card)
    print(f"{args.out}: imported {r.write.written} clip(s) in {len(r.write.shards)} new shard(s); "
          f"{len(r.write.skipped)} already present; {len(r.failed)} failed")
    for uid, why in r.failed:
        print(f"  failed {uid}: {why}")
    return 0 if r.write.written or not r.failed else 1
