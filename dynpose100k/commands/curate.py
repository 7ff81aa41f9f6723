"""``dynpose100k curate``: a video pool -> filter -> pose -> registration rule -> loadable shards."""

from __future__ import annotations

from pathlib import Path

HELP = "run a video pool end to end: filter -> pose -> shards (resumable)"
EXAMPLES = """
  dynpose100k curate data/synth --out outputs/curated --workers 2
  dynpose100k curate 'videos/**/*.mp4' --out outputs/curated --min-registered 0.8
  dynpose100k curate panda70m_test.csv --csv-video-root downloads/ --out outputs/panda
  dynpose100k curate data/synth --out outputs/curated --retry-failed      # rerun failed items only
  dynpose100k curate data/synth --out outputs/curated --filter-threshold 0.5 --reprocess  # new settings
  dynpose100k curate pool.txt --out /shared/curated --engine ray --address auto

Clips the filter rejects only because they look like a slow zoom or a stabilised crop (what its small
frames confuse with walking straight ahead) are posed anyway and kept when the pose confidence is at least
0.5: the pose engine measures the focal over the clip (--pose-check sets the kinds; off: none).

A killed run continues where it stopped when started again with the same --out. The dataset lands in
<out>/dynpose-100k/ (from <out>: datasets.load_dataset("dynpose-100k")); per-item status is in
<out>/ledger.sqlite and the funnel in <out>/summary.json. Every item records the hash of the settings
that decided it; a rerun with other decision settings (filter model/threshold, --pose-check,
--min-registered, --pose-preset, --fps, --dense-fps, --short-side, --hfov) refuses to start unless --reprocess
is given, which processes those items again (withdrawing their published samples). <out>/config.json keeps
the history of runs.
"""


def add_arguments(p):
    from ..pose.config import DEFAULT_PRESET, PRESETS
    from . import add_dense_fps_argument, add_hfov_argument

    p.add_argument("input", help="video file, folder, glob pattern, .txt list of paths, or Panda-70M style .csv")
    p.add_argument("--out", type=Path, required=True, help="output folder (ledger, poses, dataset, summary)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, or CPUs of a local Ray (default 2)")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="local processes or Ray Data")
    p.add_argument("--address", default=None, help="Ray cluster address (auto, ray://host:10001); default: local Ray")
    p.add_argument("--min-registered", type=float, default=0.8,
                   help="keep a clip only if this fraction of frames is registered (default 0.8)")
    p.add_argument("--retry-failed", action="store_true", help="process items that failed before again")
    p.add_argument("--reprocess", action="store_true",
                   help="process again the items decided under other settings (default: refuse to run)")
    p.add_argument("--csv-video-root", type=Path, default=None,
                   help="folder of the CSV's videos in video2dataset layout (default: the CSV's folder)")
    p.add_argument("--filter-model", default=None, help="filter fusion-model JSON (default: the packaged model)")
    p.add_argument("--filter-threshold", type=float, default=None,
                   help="keep clips whose filter score is at least this (default: the model's operating point)")
    p.add_argument("--pose-check", default=None, metavar="KINDS|off",
                   help="comma-separated failure kinds whose filter rejections are posed and kept at pose "
                        "confidence >= 0.5 (default: slowzoom,stabilised); off: none")
    p.add_argument("--pose-preset", default=DEFAULT_PRESET, choices=sorted(PRESETS), help="pose engine preset")
    p.add_argument("--tracker-model", default=None, metavar="PATH",
                   help="weights of the preset's learned tracker (preset cotracker3-own-12fps)")
    p.add_argument("--confidence-model", default=None, metavar="JSON",
                   help="a confidence calibration of one's own (default: the packaged one)")
    p.add_argument("--device", default="auto", help="torch device of learned models (default auto: the GPU if any)")
    p.add_argument("--fps", type=float, default=12.0, help="frame sampling rate (default 12)")
    add_dense_fps_argument(p)  # kept clips doubted at --fps; the shard then holds the denser frames
    p.add_argument("--short-side", type=int, default=None, help="resize frames to this short side (default: keep)")
    add_hfov_argument(p)  # the same lens for every clip of the pool
    p.add_argument("--shard-size", type=int, default=32, help="kept clips per published shard (default 32)")
    p.add_argument("--item-timeout", type=float, default=None, help="fail an item after this many seconds")
    p.add_argument("--dataset-name", default="dynpose-100k", help="dataset folder name inside --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or summary printout")
    from builder.card import add_card_arguments

    add_card_arguments(p)


def run(args) -> int:
    from ..curate import CurateConfig, curate
    from . import check_out_dir

    check_out_dir(args.out)
    pose_check = None  # the kinds are checked against the filter model with the other stage settings
    if args.pose_check is not None:
        names = [] if args.pose_check == "off" else args.pose_check.split(",")
        pose_check = tuple(k.strip() for k in names if k.strip())
    config = CurateConfig(
        out=args.out, workers=args.workers, engine=args.engine, address=args.address,
        min_registered=args.min_registered, retry_failed=args.retry_failed, reprocess=args.reprocess,
        csv_video_root=args.csv_video_root,
        filter_model=args.filter_model, filter_threshold=args.filter_threshold, pose_check=pose_check,
        pose_preset=args.pose_preset, tracker_model=args.tracker_model, confidence_model=args.confidence_model,
        device=args.device,
        fps=args.fps, dense_fps=args.dense_fps or 0.0, short_side=args.short_side, hfov_deg=args.hfov,
        shard_size=args.shard_size,
        item_timeout=args.item_timeout, dataset_name=args.dataset_name,
    )
    from builder.card import card_options, check_card_options, update_settings

    card = card_options(args)
    check_card_options(args.out / args.dataset_name, card)
    if any(v is not None for v in card.values()):  # stored now; the run's card step reads them
        (args.out / args.dataset_name).mkdir(parents=True, exist_ok=True)
        update_settings(args.out / args.dataset_name, **card)
    curate(args.input, config, progress=not args.no_progress)
    print(f"ledger: {args.out / 'ledger.sqlite'}\nsummary: {args.out / 'summary.json'}\n"
          f"dataset: {args.out / args.dataset_name}")
    return 0
