"""``dynpose100k inspect``: summarise a dataset folder or a shard."""

from __future__ import annotations

import json
from pathlib import Path

HELP = "summarise a dataset directory or shard (counts, fields, quality)"
EXAMPLES = """
  dynpose100k inspect outputs/dynpose-100k
  dynpose100k inspect outputs/dynpose-100k --deep          # read every sample, check sha256s
  dynpose100k inspect outputs/dynpose-100k/data/train-000000.tar --json
"""


def add_arguments(p):
    p.add_argument("path", type=Path, help="dataset folder (with manifest.jsonl) or a .tar shard")
    p.add_argument("--deep", action="store_true", help="read and validate every sample; verify sha256s")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args) -> int:
    from ..shards.summary import format_summary, summarize

    s = summarize(args.path, deep=args.deep)
    print(json.dumps(s, indent=2) if args.json else format_summary(s))
    return 0
