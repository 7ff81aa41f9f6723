"""``dynpose100k shard``: pack pose result folders (+ their videos) into WebDataset shards and a card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import DynPoseError, ShardError

HELP = "pack pose results into WebDataset shards + a loadable dataset card"
EXAMPLES = """
  dynpose100k shard outputs/poses --videos data/synth --out outputs/dynpose-100k
  dynpose100k shard outputs/poses --videos data/synth --out outputs/dynpose-100k --frame-short-side 360 --maxcount 500
  dynpose100k shard outputs/poses --out outputs/poses-only            # poses, tracks, masks; no frames
  dynpose100k shard outputs/poses --videos data/synth --out outputs/dynpose-100k --license cc-by-4.0 \
      --pretty-name "My DynPose build" --description-file about.md
  python -c "from datasets import load_dataset; print(load_dataset('outputs/dynpose-100k', split='train'))"

Appends to an existing dataset folder with new shard numbers; videos already in its manifest are skipped.
Card options are stored in <out>/card.json and kept by later appends; hand edits of the card's text outside
its generated blocks survive appends.
"""

logger = logging.getLogger(__name__)

def add_arguments(p):
    p.add_argument("poses", type=Path, help="folder of pose results (<poses>/<video_id>/result.json ...)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create or append to")
    p.add_argument("--videos", type=Path, help="folder of the clips that were posed (videos or frames folders, also in "
                   "subfolders), each found by its content, else by its id")
    p.add_argument("--meta", type=Path, help="JSONL with one object per video: video_id + meta fields "
                   "(source_url, caption, filter_score, filter_reasons, ...)")
    p.add_argument("--frame-short-side", type=int, help="store frames resized to this short side (K follows)")
    p.add_argument("--maxcount", type=int, default=1000, help="most videos per shard (default 1000)")
    p.add_argument("--maxsize", type=float, default=1e9, help="most bytes per shard (default 1e9)")
    from builder.card import add_card_arguments

    add_card_arguments(p)


class _Videos:
    """The clips of ``--videos`` (a folder, searched as ``pose`` searches one), found for a pose result by the
    content it was posed from (``result.json``'s ``source``: a renamed or copied clip is still found), else by
    its id (the ids ``pose`` gives that folder's clips), which must then hold the same content."""

    def __init__(self, folder: Path):
        from ..ids import unique_ids
        from ..video import expand_inputs, source_of

        if not folder.is_dir():
            raise DynPoseError(f"--videos {folder}: no such folder")
        paths = expand_inputs([folder])
        if not paths:
            raise DynPoseError(f"--videos {folder}: no videos or frames folders in it")
        self.folder = folder
        self.by_id = dict(zip(unique_ids(paths), paths))
        self.by_content = {}
        for path in paths:
            src = source_of(path)
            if src["digest"] is not None:
                self.by_content.setdefault((src["bytes"], src["digest"]), path)

    def find(self, video_id: str, held: dict) -> Path:
        """The clip of the result ``video_id`` whose ``source`` record is ``held``, else the clip of its id (which
        :func:`~dynpose100k.shards.build_sample` refuses when its content differs); ShardError if there is none."""
        path = self.by_content.get((held.get("bytes"), held.get("digest"))) or self.by_id.get(video_id)
        if path is None:
            raise ShardError(f"--videos {self.folder}: no video or frames folder for {video_id}")
        return path


def _read_meta(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    out = {}
    try:
        for line in path.read_text().splitlines():
            if line.strip():
                m = json.loads(line)
                out[str(m.pop("video_id"))] = m
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise ShardError(f"{path}: unreadable meta JSONL ({e})") from None
    return out


def run(args) -> int:
    from tqdm import tqdm

    from builder.card import card_options, check_card_options, write_card

    from ..errors import check_range
    from ..ids import safe_id
    from ..pose.result import find_pose_results, read_summary
    from ..shards import DatasetWriter, ShardConfig, build_sample
    from . import check_out_dir

    check_out_dir(args.out)
    check_range("--frame-short-side", args.frame_short_side, 16)
    check_range("--maxsize", args.maxsize, 1, 1e15)
    config = ShardConfig(args.maxcount, int(args.maxsize))
    if not args.poses.is_dir():
        raise ShardError(f"{args.poses}: no such folder of pose results")
    dirs = find_pose_results(args.poses, required=True)
    meta = _read_meta(args.meta)
    card = card_options(args)
    check_card_options(args.out, card)
    videos = None if args.videos is None else _Videos(args.videos)
    failed: list[tuple[str, str]] = []
    present = 0
    with DatasetWriter(args.out, config) as w:
        for d in tqdm(dirs, desc="shard", unit="video"):
            if safe_id(d.name) in w.keys:
                present += 1
                continue
            try:
                summary = read_summary(d)
                if summary["failure_reason"]:
                    raise ShardError(f"pose estimation failed: {summary['failure_reason']}")
                video = None if videos is None else videos.find(d.name, summary["source"])
                w.add(build_sample(d, video, meta.get(d.name), frame_short_side=args.frame_short_side))
            except DynPoseError as e:
                failed.append((d.name, str(e)))
                logger.warning("%s: skipped (%s)", d, e)
    res = w.close()
    present += len(res.skipped)
    write_card(args.out, **card)
    print(f"{args.out}: wrote {res.written} video(s) in {len(res.shards)} new shard(s); "
          f"{present} already present; {len(failed)} failed")
    for vid, why in failed:
        print(f"  failed {vid}: {why}")
    return 0 if res.written or present or not failed else 1
