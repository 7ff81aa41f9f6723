"""``dynpose100k demo``: render a labelled synthetic pool, curate it end to end, load the dataset with
``datasets.load_dataset`` and print the paper-style tables (funnel, pose accuracy, filter precision/recall,
quality subsets). Everything runs on CPU with nothing to download."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

HELP = "render a synthetic pool, curate it, load it, print the paper-style tables"
EXAMPLES = """
  dynpose100k demo --out outputs/demo
  dynpose100k demo --out outputs/demo --num 60 --workers 4
  dynpose100k demo --out outputs/demo_small --num 12 --easy 3 --height 240 --width 432
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default outputs/demo)")
    p.add_argument("--num", type=int, default=24,
                   help="clips in the mixed pool (two halves, each ~10%% suitable; default 24)")
    p.add_argument("--easy", type=int, default=6, help="extra suitable clips added to the pool (default 6)")
    p.add_argument("--workers", type=int, default=2, help="curation worker processes (default 2)")
    p.add_argument("--height", type=int, default=360, help="rendered height (default 360)")
    p.add_argument("--width", type=int, default=640, help="rendered width (default 640)")
    p.add_argument("--duration", type=float, default=4.0, help="clip length in seconds (default 4)")
    p.add_argument("--seed", type=int, default=0, help="pool seed (default 0)")
    p.add_argument("--filter-threshold", type=float, default=None,
                   help="filter score threshold (default: the packaged model's own operating point; the demo "
                        "reports precision/recall at both)")


def run(args) -> int:
    import dataclasses
    import shutil
    import warnings

    from ..curate import CurateConfig, RunLayout, curate, read_items
    from ..errors import DynPoseError, check_range
    from ..evaluate import report
    from ..synth import write_pools

    warnings.filterwarnings("ignore")
    t0 = time.time()
    out: Path = args.out
    for option, value, low in (("--num", args.num, 1), ("--easy", args.easy, 0), ("--workers", args.workers, 1),
                               ("--height", args.height, 16), ("--width", args.width, 16)):
        check_range(option, value, low)
    check_range("--duration", args.duration, 0, low_open=True)
    check_range("--filter-threshold", args.filter_threshold, 0, 1)
    print(f"[1/5] rendering {args.num} mixed + {args.easy} easy synthetic clips "
          f"({args.width}x{args.height}, {args.duration:g} s, 12 fps) into {out / 'pool'}")
    half = args.num // 2  # two mixed halves + the easy clips balance the rendering over two processes
    pool = out / "pool"
    # the rendered pool is reused by a run of the same settings; another run's clips would join this one's
    settings = {k: getattr(args, k) for k in ("num", "easy", "seed", "height", "width", "duration")}
    if pool.exists() and _pool_settings(pool) != settings:
        shutil.rmtree(pool)
    pool.mkdir(parents=True, exist_ok=True)
    (pool / "settings.json").write_text(json.dumps(settings))
    labels, gts = write_pools([(pool / "mixed_a", args.num - half, "mixed", args.seed),
                               (pool / "mixed_b", half, "mixed", args.seed + 100),
                               (pool / "easy", args.easy, "good", args.seed + 200)], args.workers,
                              height=args.height, width=args.width, fps=12.0, duration=args.duration)
    t_render = time.time() - t0

    print(f"[2/5] curating the pool with {args.workers} workers -> {out / 'curated'}")
    shutil.rmtree(out / "curated", ignore_errors=True)  # the rendered pool is reused, the curation is redone
    cfg = CurateConfig(out=out / "curated", workers=args.workers, fps=12.0, shard_size=8,
                       filter_threshold=args.filter_threshold)
    layout = RunLayout.of(cfg)
    summary = curate(pool, cfg, progress=True)
    t_curate = time.time() - t0 - t_render

    print("\n[3/5] loading the dataset with datasets.load_dataset")
    # a cache inside the output: two outputs with the same dataset name never share cached tables
    lines, loaded = report.dataset_poses(layout.dataset, layout.out / "hf_cache")
    _print(lines)

    print("\n[4/5] pose accuracy against ground truth (Sim(3)-aligned, registered frames; failures counted)")
    items = read_items(cfg)
    table = report.pose_table(items, gts, labels, loaded)
    pose_summary = report.pose_summary(table, cfg.min_registered)
    _print(report.format_pose_table(table), report.format_pose_summary(pose_summary, cfg.min_registered))

    print(f"\n[5/5] filter precision/recall on the pool (labels.csv: suitable = kind good; "
          f"threshold {args.filter_threshold if args.filter_threshold is not None else 'of the model'} + rules)")
    pr = report.filter_pr(items, labels)
    _print(report.format_filter_pr(pr))

    print("\nquality subsets (selection by BA reprojection error, then by pose confidence; error = Sampson of GT "
          "correspondences, 720p px)")
    try:
        quality, text = report.quality_table(layout.poses, items, gts)
        _print(text)
    except DynPoseError as e:
        quality = {}
        print(f"  not available: {e}")
    plots = []
    if report.plot_trajectories(out / "trajectories.png", table, gts):
        plots.append(str(out / "trajectories.png"))
    if report.plot_filter_pr(out / "filter_pr.png", pr):
        plots.append(str(out / "filter_pr.png"))
    total = time.time() - t0
    doc = {"funnel": summary["funnel"], "rejections": summary["rejections"], "pose": [t.to_json() for t in table],
           "pose_summary": pose_summary, "filter": {k: v for k, v in pr.items() if k not in ("curve",)},
           "quality_subsets": {flag: [dataclasses.asdict(r) for r in rows] for flag, rows in quality.items()},
           "plots": plots,
           "timing_s": {"render": round(t_render, 1), "curate": round(t_curate, 1), "total": round(total, 1)}}
    (out / "report.json").write_text(json.dumps(doc, indent=2, default=float))
    print(f"\nplots: {', '.join(plots)}\nreport: {out / 'report.json'}")
    print(f"total time {total:.0f} s (render {t_render:.0f} s, curate {t_curate:.0f} s)")
    return 0


def _print(*blocks) -> None:
    """Print text blocks (strings or lists of lines) indented under the current step."""
    for b in blocks:
        for line in (b.splitlines() if isinstance(b, str) else b):
            print("  " + line)


def _pool_settings(pool: Path) -> dict | None:
    """The settings a demo pool was rendered with (None: unknown, e.g. rendered before they were recorded)."""
    try:
        return json.loads((pool / "settings.json").read_text())
    except (OSError, ValueError):
        return None
