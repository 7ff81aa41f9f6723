"""``dynpose100k demo``: render a labelled synthetic pool, curate it end to end, load the dataset with
``datasets.load_dataset`` and print the paper-style tables (funnel, pose accuracy, filter precision/recall,
quality subsets). Everything runs on CPU with nothing to download."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ..curate.stages import ItemStatus

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
    p.add_argument("--filter-threshold", type=float, default=0.5,
                   help="filter score threshold for this small pool (default 0.5). The packaged model's own "
                        "operating point is chosen for precision on a large pool and keeps only about 1 in 4 "
                        "good clips; the demo reports precision/recall at both")


def _render(out: Path, args) -> tuple[dict, dict]:
    """Render the mixed pool and the easy positives; returns ``{id: (kind, suitable)}`` and ``{id: gt path}``."""
    from concurrent.futures import ProcessPoolExecutor

    from ..synth import read_labels

    kw = dict(height=args.height, width=args.width, fps=12.0, duration=args.duration)
    half = args.num // 2  # two mixed halves + the easy clips balance the rendering over two processes
    jobs = [(out / "mixed_a", args.num - half, "mixed", args.seed), (out / "mixed_b", half, "mixed", args.seed + 100),
            (out / "easy", args.easy, "good", args.seed + 200)]
    jobs = [j for j in jobs if j[1] > 0]
    with ProcessPoolExecutor(min(len(jobs), max(1, args.workers))) as ex:
        list(ex.map(_write_pool_job, [(j, kw) for j in jobs]))
    labels, gts = {}, {}
    for d, *_ in jobs:
        labels.update(read_labels(d))
        gts.update({p.name[: -len(".gt.npz")]: p for p in d.glob("*.gt.npz")})
    return labels, gts


def _write_pool_job(job):
    (d, n, kind, seed), kw = job
    from ..synth import write_pool

    return write_pool(d, n, kind, seed, **kw)


def _pose_row(est_w2c, registered, gt) -> dict:
    from ..metrics import ate, rpe

    reg = np.asarray(registered, bool)
    row = {"registered": float(reg.mean()) if reg.size else 0.0, "ate": math.nan, "rpe_t": math.nan, "rpe_r": math.nan}
    if reg.sum() >= 3 and len(est_w2c) == len(gt.w2c):
        a = ate(est_w2c, gt.w2c, "sim3", registered=reg)
        r = rpe(est_w2c, gt.w2c, "sim3", registered=reg)
        row.update(ate=a.rmse, rpe_t=r.trans_rmse, rpe_r=r.rot_rmse_deg)
    return row


def _fmt(x, spec=".3f"):
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def run(args) -> int:
    import shutil
    import warnings

    from ..curate import CurateConfig, curate
    from ..curate.ledger import Ledger
    from ..errors import DynPoseError
    from ..pose import load_pose_result
    from ..synth import load_gt

    warnings.filterwarnings("ignore")
    t0 = time.time()
    out: Path = args.out
    if args.num < 1 or args.workers < 1:
        raise DynPoseError("--num and --workers must be at least 1")
    print(f"[1/5] rendering {args.num} mixed + {args.easy} easy synthetic clips "
          f"({args.width}x{args.height}, {args.duration:g} s, 12 fps) into {out / 'pool'}")
    labels, gts = _render(out / "pool", args)
    t_render = time.time() - t0

    print(f"[2/5] curating the pool with {args.workers} workers -> {out / 'curated'}")
    shutil.rmtree(out / "curated", ignore_errors=True)  # the rendered pool is reused, the curation is redone
    cfg = CurateConfig(out=out / "curated", workers=args.workers, fps=12.0, shard_size=8,
                       filter_threshold=args.filter_threshold)
    summary = curate(out / "pool", cfg, progress=True)
    t_curate = time.time() - t0 - t_render

    print("\n[3/5] loading the dataset with datasets.load_dataset")
    from datasets import load_dataset

    ds_dir = out / "curated" / cfg.dataset_name
    loaded = {}
    if (ds_dir / "README.md").exists():
        # a cache inside the output: two outputs with the same dataset name never share cached tables
        ds = load_dataset(str(ds_dir), split="train", cache_dir=str(out / "curated" / "hf_cache"))
        print(f"  {ds_dir}: {len(ds)} videos, columns {ds.column_names}")
        for row in ds.select_columns(["w2c.npy", "registered.npy", "meta.json"]):
            loaded[row["meta.json"]["video_id"]] = (np.asarray(row["w2c.npy"], np.float64),
                                                    np.asarray(row["registered.npy"], bool))
        if len(ds):
            first = ds[0]
            print(f"  first sample {first['meta.json']['video_id']}: {len(first['frames.mp'])} frames of "
                  f"{first['frames.mp'][0].size[0]}x{first['frames.mp'][0].size[1]} px, w2c "
                  f"{np.asarray(first['w2c.npy']).shape}, {first['meta.json']['registered_fraction']:.0%} registered")
    else:
        print("  no clip was kept: nothing to load")

    print("\n[4/5] pose accuracy against ground truth (Sim(3)-aligned, registered frames; failures counted)")
    ledger = Ledger(out / "curated" / "ledger.sqlite")
    rows = {r["item_id"]: r for r in ledger.items()}
    ledger.close()
    table = []
    for vid, r in sorted(rows.items()):
        if not r["pose_dir"] or vid not in gts:
            continue
        gt = load_gt(gts[vid])
        res = load_pose_result(r["pose_dir"])
        w2c, reg = loaded[vid] if vid in loaded else (res.w2c, res.registered)
        table.append({"video": vid, "kind": labels[vid][0], "status": ItemStatus(r["status"]),
                      "confidence": float(res.confidence), **_pose_row(w2c, reg, gt)})
    print(f"  {'video':<22}{'kind':<10}{'status':<23}{'reg %':>6}{'conf':>6}{'ATE m':>8}{'RPE m':>8}{'RPE deg':>8}")
    for t in table:
        shown_status = ItemStatus.KEPT if t["status"] is ItemStatus.SHARDED else t["status"]
        print(f"  {t['video']:<22}{t['kind']:<10}{shown_status:<23}{100 * t['registered']:>6.0f}"
              f"{_fmt(t['confidence'], '.2f'):>6}{_fmt(t['ate']):>8}{_fmt(t['rpe_t'], '.4f'):>8}"
              f"{_fmt(t['rpe_r'], '.2f'):>8}")
    print("  (conf: the engine's own calibrated confidence, no ground truth; >= 0.5 means probably ATE < 2% of "
          "the path)")
    kept = [t for t in table if t["status"] in (ItemStatus.KEPT, ItemStatus.SHARDED)]
    pose_summary = {}
    for name, group in (("kept", kept), ("all posed", table)):
        if group:
            ok = [t for t in group if not math.isnan(t["ate"])]
            pose_summary[name] = {
                "videos": len(group),
                "pct_videos_registered_ge_min": 100 * np.mean([t["registered"] >= cfg.min_registered for t in group]),
                "mean_registered": float(np.mean([t["registered"] for t in group])),
                "ate_m": float(np.mean([t["ate"] for t in ok])) if ok else math.nan,
                "rpe_trans_m": float(np.mean([t["rpe_t"] for t in ok])) if ok else math.nan,
                "rpe_rot_deg": float(np.mean([t["rpe_r"] for t in ok])) if ok else math.nan,
            }
            s = pose_summary[name]
            print(f"  mean over {name} ({s['videos']} videos, {s['pct_videos_registered_ge_min']:.0f}% with >= "
                  f"{cfg.min_registered:.0%} frames registered): ATE {_fmt(s['ate_m'])} m, RPE "
                  f"{_fmt(s['rpe_trans_m'], '.4f')} m / {_fmt(s['rpe_rot_deg'], '.2f')} deg")

    print(f"\n[5/5] filter precision/recall on the pool (labels.csv: suitable = kind good; "
          f"threshold {args.filter_threshold if args.filter_threshold is not None else 'of the model'} + rules)")
    pr = _filter_pr(rows, labels, out)
    print(f"  passed filter: {pr['predicted']} of {pr['pool']} clips; suitable in pool: {pr['positives']} "
          f"({100 * pr['positives'] / max(pr['pool'], 1):.0f}%)")
    print(f"  precision {_fmt(pr['precision'], '.2f')}  recall {_fmt(pr['recall'], '.2f')}  "
          f"average precision (filter score) {_fmt(pr['average_precision'], '.2f')}")
    if "model_threshold" in pr:
        print(f"  at the model's own operating point (score >= {pr['model_threshold']:.4f}, rules ignored): precision "
              f"{_fmt(pr['model_precision'], '.2f')}  recall {_fmt(pr['model_recall'], '.2f')}")
    print("  per kind (passed filter / clips): " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in pr["per_kind"].items()))

    quality = _quality_table(out, rows, gts, cfg)
    plots = _plots(out, table, rows, gts, loaded, pr)
    total = time.time() - t0
    report = {"funnel": summary["funnel"], "rejections": summary["rejections"], "pose": table,
              "pose_summary": pose_summary, "filter": {k: v for k, v in pr.items() if k not in ("curve",)},
              "quality_subsets": quality, "plots": plots,
              "timing_s": {"render": round(t_render, 1), "curate": round(t_curate, 1), "total": round(total, 1)}}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"\nplots: {', '.join(plots)}\nreport: {out / 'report.json'}")
    print(f"total time {total:.0f} s (render {t_render:.0f} s, curate {t_curate:.0f} s)")
    return 0


def _filter_pr(rows, labels, out: Path) -> dict:
    from ..filtering import load_model
    from ..metrics import average_precision, pr_at, precision_recall

    ids = [i for i in rows if i in labels]
    y = np.array([labels[i][1] for i in ids], bool)
    passed = np.array([ItemStatus(rows[i]["status"]) not in (ItemStatus.FILTERED_OUT, ItemStatus.ERROR) for i in ids],
                      bool)
    scores = np.array([rows[i]["filter_score"] if rows[i]["filter_score"] is not None else -1.0 for i in ids], float)
    scores = np.where(np.isnan(scores), -1.0, scores)
    per_kind: dict[str, list[int]] = {}
    for i, p in zip(ids, passed):
        k = labels[i][0]
        per_kind.setdefault(k, [0, 0])
        per_kind[k][0] += int(p)
        per_kind[k][1] += 1
    res = {"pool": len(ids), "positives": int(y.sum()), "predicted": int(passed.sum()),
           "precision": float(y[passed].mean()) if passed.any() else math.nan,
           "recall": float(passed[y].mean()) if y.any() else math.nan,
           "average_precision": average_precision(scores, y) if y.any() else math.nan,
           "per_kind": {k: tuple(v) for k, v in sorted(per_kind.items())}}
    if y.any():
        p, r, _ = precision_recall(scores, y)
        res["curve"] = (p, r)
        thr = load_model().threshold
        res["model_threshold"] = thr
        res["model_precision"], res["model_recall"] = pr_at(scores, y, thr)
    return res


def _quality_table(out: Path, rows, gts, cfg) -> list:
    """The paper's last table (data kept vs pose error at reprojection-error thresholds) over every posed clip."""
    import dataclasses
    import shutil

    from ..errors import DynPoseError
    from ..shards.quality import format_table, quality_subset_table

    gt_dir = out / "pool" / "gt_posed"  # the table is over the clips that reached the pose engine
    shutil.rmtree(gt_dir, ignore_errors=True)
    gt_dir.mkdir(parents=True)
    for vid, p in gts.items():
        if rows.get(vid) is not None and rows[vid]["pose_dir"]:
            (gt_dir / p.name).symlink_to(p.resolve())
    pose_dir = out / "curated" / "poses" / cfg.pose_preset
    print("\nquality subsets (selection by BA reprojection error; error = Sampson of GT correspondences, 720p px)")
    try:
        table = quality_subset_table(pose_dir, gt_dir)
    except DynPoseError as e:
        print(f"  not available: {e}")
        return []
    print("\n".join("  " + ln for ln in format_table(table).splitlines()))
    return [dataclasses.asdict(r) for r in table]


def _plots(out: Path, table, rows, gts, loaded, pr) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..camera import camera_centers
    from ..metrics import align
    from ..pose import load_pose_result
    from ..synth import load_gt

    paths = []
    shown = sorted((t for t in table if not math.isnan(t["ate"])),
                   key=lambda t: (t["status"] is not ItemStatus.SHARDED, t["kind"] != "good", t["video"]))[:6]
    if shown:
        cols = min(3, len(shown))
        rows_ = (len(shown) + cols - 1) // cols
        fig, axes = plt.subplots(rows_, cols, figsize=(3.4 * cols, 3.3 * rows_), squeeze=False)
        for ax in axes.flat[len(shown):]:
            ax.axis("off")
        for ax, t in zip(axes.flat, shown):
            gt = load_gt(gts[t["video"]])
            if t["video"] in loaded:
                w2c, reg = loaded[t["video"]]
            else:
                res = load_pose_result(rows[t["video"]]["pose_dir"])
                w2c, reg = res.w2c, res.registered
            est = camera_centers(align(w2c, gt.w2c, "sim3", registered=reg))[reg]
            g = camera_centers(gt.w2c)
            ax.plot(g[:, 0], g[:, 2], "k-", lw=2, label="ground truth")
            ax.plot(est[:, 0], est[:, 2], "r.", ms=3, label="estimate (Sim3)")
            status = ItemStatus.KEPT if t["status"] is ItemStatus.SHARDED else t["status"]
            ax.set_title(f"{t['video']}\nATE {t['ate']:.3f} m, {status}", fontsize=8)
            ax.set_aspect("equal", adjustable="datalim")
            ax.tick_params(labelsize=6)
        axes.flat[0].legend(fontsize=6)
        fig.suptitle("camera centres, top view (x, z)", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "trajectories.png", dpi=110)
        plt.close(fig)
        paths.append(str(out / "trajectories.png"))
    if "curve" in pr:
        p, r = pr["curve"]
        fig, ax = plt.subplots(figsize=(4, 3.2))
        ax.step(r, p, where="post", label=f"filter score (AP {pr['average_precision']:.2f})")
        if pr["predicted"]:
            ax.plot([pr["recall"]], [pr["precision"]], "ro", label="threshold + rules")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "filter_pr.png", dpi=110)
        plt.close(fig)
        paths.append(str(out / "filter_pr.png"))
    return paths
