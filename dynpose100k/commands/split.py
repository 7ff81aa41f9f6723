"""``dynpose100k split``: split a dataset folder into ``train/`` and ``val/`` dataset folders for fine-tuning."""

from __future__ import annotations

from pathlib import Path

HELP = "split a dataset into train/ and val/ dataset folders for fine-tuning"
EXAMPLES = """
  dynpose100k split outputs/curated/dynpose-100k data/dynpose-100k-2k --max-videos 2000 --val-fraction 0.05
  dynpose100k subset outputs/curated/dynpose-100k outputs/hq --max-reproj-px 1.18 --min-registered 0.8
  dynpose100k split outputs/hq data/dynpose-100k-hq

Then point train_shards / val_shards of a fine-tuning config at <dst>/train and <dst>/val, e.g.
  accelerate launch train/finetune.py --config train/configs/finetune_dynpose_512_dpt.yaml
(train/configs/finetune_dynpose_512_dpt.yaml reads data/dynpose-100k-2k/train and data/dynpose-100k-2k/val).
A video's side of the split depends only on its key and --seed, not on shard order.
"""


def add_arguments(p):
    p.add_argument("src", type=Path,
                   help="source dataset folder (with manifest.jsonl), e.g. <curate --out>/dynpose-100k")
    p.add_argument("dst", type=Path, help="output folder; <dst>/train and <dst>/val must not exist or be empty")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of the used videos held out for validation (default 0.05, at least one video; "
                        "0: no validation set)")
    p.add_argument("--max-videos", type=int, help="use at most this many videos (a seeded random choice)")
    p.add_argument("--seed", type=int, default=0, help="seed of the video order (default 0)")
    p.add_argument("--maxcount", type=int, default=1000, help="most videos per shard (default 1000)")


def run(args) -> int:
    import dataclasses

    from builder.card import read_settings, write_card

    from ..shards import ShardConfig
    from ..shards.subset import split_dataset

    r = split_dataset(args.src, args.dst, val_fraction=args.val_fraction, max_videos=args.max_videos,
                      seed=args.seed, config=ShardConfig(maxcount=args.maxcount))
    # each side keeps the source's licence, name and description (not its subset counts, which were the source's)
    inherited = {k: v for k, v in dataclasses.asdict(read_settings(args.src)).items() if k != "subset"}
    sides = [s for s in (r.train, r.val) if s is not None]
    for side in sides:
        write_card(side.out_dir, **inherited)
        print(f"{side.out_dir}: {side.kept} videos in {len(side.shards)} shard(s)")
    print(f"(of {r.train.total} videos in {args.src}; fine-tuning configs: train_shards: {r.train.out_dir}"
          + (f", val_shards: {r.val.out_dir})" if r.val else "; no val_shards with --val-fraction 0)"))
    return 0
