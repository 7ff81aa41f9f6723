"""``dynpose100k filter``: score clips for pose-estimation suitability and write one row per clip (parquet, CSV
or JSON lines)."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

HELP = "score clips for pose-estimation suitability (keep/reject + reasons)"
EXAMPLES = """
  dynpose100k filter data/synth/*.mp4 --out outputs/scores.parquet
  dynpose100k filter videos/ --out scores.parquet --workers 2 --threshold 0.6
  dynpose100k filter clip.mp4 --out scores.parquet --model my_model.json --vlm-path models/llava-tiny
  dynpose100k filter videos/ --out scores.parquet --vlm-url http://127.0.0.1:8000 --vlm-model qwen2-vl
"""


def add_arguments(p):
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="video files, frame folders or folders of clips (subfolders included)")
    p.add_argument("--out", type=Path, required=True,
                   help="file to write, one row per clip: .parquet, .csv or .jsonl (by its suffix)")
    p.add_argument("--model", type=Path, help="fusion-model JSON (default: the packaged model)")
    p.add_argument("--threshold", type=float, help="operating threshold on the score (default: the model's)")
    p.add_argument("--no-rules", action="store_true", help="judge by the score only")
    p.add_argument("--fps", type=float, default=5.0, help="analysis frame rate (default 5)")
    p.add_argument("--short-side", type=int, default=144, help="analysis resolution, short side px (default 144)")
    p.add_argument("--workers", type=int, default=1, help="processes (not with a VLM)")
    vlm = p.add_mutually_exclusive_group()
    vlm.add_argument("--vlm-path", type=Path, help="local folder of a transformers vision-language model")
    vlm.add_argument("--vlm-url", help="OpenAI-compatible server root, e.g. http://127.0.0.1:8000")
    p.add_argument("--vlm-model", default="default", help="model name sent to --vlm-url")
    p.add_argument("--vlm-device", default="cpu", help="torch device of the --vlm-path model, e.g. cuda")


#: table writers by ``--out`` suffix (a CSV cell holds a clip's reasons as a JSON list)
WRITERS = {
    ".parquet": lambda df, path: df.to_parquet(path, index=False),
    ".csv": lambda df, path: df.assign(reasons=df["reasons"].map(json.dumps)).to_csv(path, index=False),
    ".jsonl": lambda df, path: df.to_json(path, orient="records", lines=True),
}


def _columns(path: Path) -> set[str]:
    """The column names of an existing table of a ``WRITERS`` format (none if it cannot be read as one)."""
    import pandas as pd

    try:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return set(pq.read_schema(path).names)
        if suffix == ".csv":
            return set(pd.read_csv(path, nrows=0).columns)
        with open(path) as f:
            return set(json.loads(f.readline() or "{}"))
    except (OSError, ValueError, TypeError, pd.errors.ParserError, ImportError) as e:
        log.debug("%s: not readable as a table (%s)", path, e)
        return set()


def _judge(item):
    from ..filtering import filter_video

    path, config, vlm = item
    return filter_video(path, config, vlm=vlm)


def run(args) -> int:
    import pandas as pd
    from tqdm import tqdm

    from ..errors import DynPoseError
    from ..filtering import FilterConfig, load_model
    from ..ids import unique_ids
    from ..models.vlm import VLMError
    from . import check_out_file, check_out_not_input, collect_videos

    check_out_file(args.out, "scores.parquet")  # before any work
    config = FilterConfig(fps=args.fps, short_side=args.short_side, threshold=args.threshold,
                          use_rules=not args.no_rules, model=str(args.model) if args.model else None)
    load_model(config.model)  # fail early on a bad model file
    paths = collect_videos(args.inputs)  # a missing path becomes an error row like any unreadable clip
    check_out_not_input(args.out, paths)  # before any work
    if args.out.suffix.lower() not in WRITERS:
        raise DynPoseError(f"--out {args.out}: unknown table format; name a {', '.join(WRITERS)} file")
    if args.out.exists() and not {"video_path", "status"} <= _columns(args.out):  # e.g. synth's labels.csv
        raise DynPoseError(f"--out {args.out}: exists and is not a filter table; give another name (it would be "
                           "overwritten)")
    vlm = None
    if args.vlm_path:
        from ..models.vlm import TransformersVLM

        vlm = TransformersVLM(args.vlm_path, device=args.vlm_device)
    elif args.vlm_url:
        from ..models.vlm import OpenAIVLM

        vlm = OpenAIVLM(args.vlm_url, model=args.vlm_model)
    from ..filtering.decide import pose_checkable
    from ..workers import clip_map

    rows, checkable = [], 0
    # one clip per process, each single-threaded; a VLM stays in this process
    stopped = None
    with clip_map(_judge, [(p, config, vlm) for p in paths], 1 if vlm is not None else args.workers) as it:
        try:
            for path, vid, d in tqdm(zip(paths, unique_ids(paths), it), total=len(paths), desc="filter",
                                     unit="clip"):
                rows.append({"video_path": str(path), "video_id": vid, "status": d.status,
                             "score": d.score if math.isfinite(d.score) else None, "reasons": list(d.reasons),
                             "looks_like": d.detector, **{f"sig_{k}": v for k, v in d.signals.items()}})
                checkable += pose_checkable(d)
        except VLMError as e:  # the VLM or its server failed: the clips judged so far are kept
            if not rows:
                raise
            stopped = e
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.attrs["filter_config"] = json.dumps(config.__dict__)
    WRITERS[args.out.suffix.lower()](df, args.out)
    counts = Counter(df["status"])
    reasons = Counter(k for rs in df["reasons"] for k in {r.split(":")[0] for r in rs})  # clips per reason
    print(f"{len(df)} clips: {counts.get('keep', 0)} keep, {counts.get('reject', 0)} reject, "
          f"{counts.get('error', 0)} error -> {args.out}")
    if reasons:
        print("reasons: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    if checkable:
        print(f"{checkable} rejected clip(s) look like a slow zoom or a crop: `dynpose100k curate` poses them and "
              "keeps those the pose confidence vouches for (its pose check)")
    # unreadable clips are recorded in the table (status "error") and are a user error: one line each, exit 1
    errors = df[df["status"] == "error"]
    for path, rs in zip(errors["video_path"], errors["reasons"]):
        print(f"dynpose100k filter: error: {path}: {'; '.join(rs)}", file=sys.stderr)
    if stopped is not None:
        print(f"dynpose100k filter: error: {stopped}; stopped after {len(rows)} of {len(paths)} clips (those are "
              f"in {args.out})", file=sys.stderr)
    return 1 if len(errors) or stopped is not None else 0
