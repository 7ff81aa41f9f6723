"""Tables and plots of a curated synthetic pool against its labels and ground truth (the ``demo`` verb's).

Inputs are what a curation run leaves (:func:`dynpose100k.curate.read_items`: the ledger's rows, and the
pose results under :attr:`dynpose100k.curate.RunLayout.poses`) plus the pool's ``labels.csv`` and
``<id>.gt.npz`` files. Pose figures follow :mod:`dynpose100k.evaluate.video`; the pose table shows the
registered-frame figures next to the registered share, as the paper's COLMAP-style tables do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .summary import summarise
from .video import VideoScore, score_video

__all__ = ["PoseRow", "dataset_poses", "pose_table", "format_pose_table", "pose_summary", "format_pose_summary",
           "filter_pr", "end_to_end", "format_filter_pr", "quality_table", "plot_trajectories", "plot_filter_pr"]


def _fmt(x, spec=".3f"):
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _kept(status) -> bool:
    from ..curate.stages import ItemStatus

    return ItemStatus(status) in (ItemStatus.KEPT, ItemStatus.SHARDED)


def _shown(status) -> str:
    """The status as the tables show it: a published (sharded) clip is simply kept."""
    from ..curate.stages import ItemStatus

    return str(ItemStatus.KEPT if _kept(status) else ItemStatus(status))


def dataset_poses(dataset_dir, cache_dir) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Load a dataset folder with ``datasets.load_dataset`` (cache in ``cache_dir``): lines describing it and
    ``{video_id: (w2c, registered)}`` as stored in its shards (empty when the folder has no card)."""
    ds_dir = Path(dataset_dir)
    if not (ds_dir / "README.md").exists():
        return ["no clip was kept: nothing to load"], {}
    from datasets import load_dataset

    ds = load_dataset(str(ds_dir), split="train", cache_dir=str(cache_dir))
    lines = [f"{ds_dir}: {len(ds)} videos, columns {ds.column_names}"]
    poses = {}
    for row in ds.select_columns(["w2c.npy", "registered.npy", "meta.json"]):
        poses[row["meta.json"]["video_id"]] = (np.asarray(row["w2c.npy"], np.float64),
                                               np.asarray(row["registered.npy"], bool))
    if len(ds):
        first = ds[0]
        w, h = first["frames.mp"][0].size
        lines.append(f"first sample {first['meta.json']['video_id']}: {len(first['frames.mp'])} frames of {w}x{h} px, "
                     f"w2c {np.asarray(first['w2c.npy']).shape}, "
                     f"{first['meta.json']['registered_fraction']:.0%} registered")
    return lines, poses


@dataclass(frozen=True)
class PoseRow:
    """One posed clip of the pose table."""

    video: str
    kind: str
    """Synthetic kind from ``labels.csv``."""
    status: str
    """Ledger status (:class:`dynpose100k.curate.ItemStatus` value)."""
    confidence: float
    """The engine's calibrated confidence (no ground truth)."""
    score: VideoScore
    w2c: np.ndarray
    """The scored poses: the dataset's for a published clip, else the pose result's."""
    registered: np.ndarray

    @property
    def kept(self) -> bool:
        return _kept(self.status)

    def to_json(self) -> dict:
        s = self.score
        return {"video": self.video, "kind": self.kind, "status": self.status, "confidence": self.confidence,
                "registered": s.registration_rate,
                **{k: math.nan if v is None else v for k, v in (
                    ("ate", s.ate_registered), ("rpe_t", s.rpe_trans_registered),
                    ("rpe_r", s.rpe_rot_deg_registered))}}


def pose_table(items: dict[str, dict], gts: dict[str, Path], labels: dict,
               dataset: dict | None = None) -> list[PoseRow]:
    """A :class:`PoseRow` per item with a pose result and ground truth, by id. Poses come from ``dataset``
    (``{id: (w2c, registered)}``, :func:`dataset_poses`) when it has the clip, else from its pose result;
    intrinsics always from the pose result."""
    from ..pose.result import load_pose_result
    from ..synth import load_gt

    dataset = dataset or {}
    rows = []
    for vid, r in sorted(items.items()):
        if not r["pose_dir"] or vid not in gts:
            continue
        gt = load_gt(gts[vid])
        res = load_pose_result(r["pose_dir"])
        w2c, reg = dataset[vid] if vid in dataset else (res.w2c, res.registered)
        score = score_video(w2c, res.K, reg, gt, image_size=res.image_size)
        rows.append(PoseRow(vid, labels[vid][0], r["status"], float(res.confidence), score, w2c, reg))
    return rows


def format_pose_table(rows: list[PoseRow]) -> str:
    lines = [f"{'video':<22}{'kind':<10}{'status':<23}{'reg %':>6}{'conf':>6}{'ATE m':>8}{'RPE m':>8}{'RPE deg':>8}"]
    for t in rows:
        j = t.to_json()
        lines.append(f"{t.video:<22}{t.kind:<10}{_shown(t.status):<23}{100 * j['registered']:>6.0f}"
                     f"{_fmt(t.confidence, '.2f'):>6}{_fmt(j['ate']):>8}{_fmt(j['rpe_t'], '.4f'):>8}"
                     f"{_fmt(j['rpe_r'], '.2f'):>8}")
    lines.append("(conf: the engine's own calibrated confidence, no ground truth; >= 0.5 means probably ATE < 2% of "
                 "the path)")
    return "\n".join(lines)


def pose_summary(rows: list[PoseRow], min_registered: float) -> dict[str, dict]:
    """Means over the kept clips and over all posed clips (registered-frame ATE/RPE,
    :func:`~dynpose100k.evaluate.summary.summarise`); groups without a clip are left out."""
    out = {}
    for name, group in (("kept", [t for t in rows if t.kept]), ("all posed", rows)):
        if group:
            s = summarise([t.score for t in group], min_registered)
            out[name] = {"videos": s["videos"], "pct_videos_registered_ge_min": s["videos_min_registered_pct"],
                         "mean_registered": s["frames_registered_pct"] / 100, "ate_m": s["ate_registered"],
                         "rpe_trans_m": s["rpe_trans_registered"], "rpe_rot_deg": s["rpe_rot_deg_registered"]}
    return out


def format_pose_summary(summary: dict[str, dict], min_registered: float) -> str:
    return "\n".join(
        f"mean over {name} ({s['videos']} videos, {s['pct_videos_registered_ge_min']:.0f}% with >= "
        f"{min_registered:.0%} frames registered): ATE {_fmt(s['ate_m'])} m, RPE "
        f"{_fmt(s['rpe_trans_m'], '.4f')} m / {_fmt(s['rpe_rot_deg'], '.2f')} deg" for name, s in summary.items())


def _labelled(items: dict[str, dict], labels: dict) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ids of ``items`` that have a label, their suitability ``(n,)`` bool and whether the pose check ran
    on each ``(n,)`` bool."""
    from ..curate.stages import was_pose_checked

    ids = [i for i in items if i in labels]
    return (ids, np.array([labels[i][1] for i in ids], bool),
            np.array([was_pose_checked(items[i].get("timings")) for i in ids], bool))


def filter_pr(items: dict[str, dict], labels: dict) -> dict:
    """Precision/recall of the curation's filter decisions on a labelled pool (suitable = label), average
    precision of the filter score, the same at the filter model's own threshold, and passed / clips per kind.
    ``with_pose_check``: precision/recall counting the rejections the pose check rescued as passed, and how many
    it checked and rescued. ``curve``: the (precision, recall) arrays, for :func:`plot_filter_pr`."""
    from ..curate.stages import ItemStatus
    from ..filtering import load_model
    from ..metrics import average_precision, pr_at, precision_recall

    ids, y, checked = _labelled(items, labels)
    through = np.array([ItemStatus(items[i]["status"]) not in (ItemStatus.FILTERED_OUT, ItemStatus.ERROR)
                        for i in ids], bool)
    passed = through & ~checked
    scores = np.array([items[i]["filter_score"] if items[i]["filter_score"] is not None else -1.0 for i in ids],
                      float)
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
           "per_kind": {k: tuple(v) for k, v in sorted(per_kind.items())},
           "with_pose_check": {"checked": int(checked.sum()), "rescued": int((through & checked).sum()),
                               "rescued_suitable": int((through & checked & y).sum()),
                               "precision": float(y[through].mean()) if through.any() else math.nan,
                               "recall": float(through[y].mean()) if y.any() else math.nan}}
    if y.any():
        p, r, _ = precision_recall(scores, y)
        res["curve"] = (p, r)
        thr = load_model().threshold
        res["model_threshold"] = thr
        res["model_precision"], res["model_recall"] = pr_at(scores, y, thr)
    return res


def end_to_end(items: dict[str, dict], labels: dict, min_confidence: float | None = None) -> dict:
    """What a curation run on a labelled pool leaves in the dataset's default quality subset (kept, i.e.
    registration rule passed, and pose ``confidence >= min_confidence``, default
    :data:`dynpose100k.pose.confidence.TRUSTED`), in two arms from the same ledger: ``filter_alone`` counts
    the clips the pose check rescued as filtered out, ``with_pose_check`` keeps them. Each arm:
    ``{"kept", "suitable_kept", "precision", "recall"}``; plus ``suitable`` (in the pool) and ``min_confidence``."""
    from ..curate.stages import ItemStatus
    from ..pose.confidence import TRUSTED
    from ..pose.result import read_summary

    cut = TRUSTED if min_confidence is None else min_confidence
    ids, y, checked = _labelled(items, labels)
    kept = np.zeros(len(ids), bool)
    for n, i in enumerate(ids):
        r = items[i]
        if ItemStatus(r["status"]) in (ItemStatus.KEPT, ItemStatus.SHARDED) and r.get("pose_dir"):
            c = read_summary(r["pose_dir"]).get("confidence")
            kept[n] = c is not None and c >= cut
    res = {"suitable": int(y.sum()), "min_confidence": cut}
    for arm, sel in (("filter_alone", kept & ~checked), ("with_pose_check", kept)):
        res[arm] = {"kept": int(sel.sum()), "suitable_kept": int((sel & y).sum()),
                    "precision": float(y[sel].mean()) if sel.any() else math.nan,
                    "recall": float(sel[y].mean()) if y.any() else math.nan}
    return res


def format_filter_pr(pr: dict) -> str:
    lines = [f"passed filter: {pr['predicted']} of {pr['pool']} clips; suitable in pool: {pr['positives']} "
             f"({100 * pr['positives'] / max(pr['pool'], 1):.0f}%)",
             f"precision {_fmt(pr['precision'], '.2f')}  recall {_fmt(pr['recall'], '.2f')}  "
             f"average precision (filter score) {_fmt(pr['average_precision'], '.2f')}"]
    if "model_threshold" in pr:
        lines.append(f"at the model's own operating point (score >= {pr['model_threshold']:.4f}, rules ignored): "
                     f"precision {_fmt(pr['model_precision'], '.2f')}  recall {_fmt(pr['model_recall'], '.2f')}")
    c = pr.get("with_pose_check")
    if c and c["checked"]:
        lines.append(f"pose check: posed {c['checked']} of the rejections, kept {c['rescued']} "
                     f"({c['rescued_suitable']} suitable); filter + pose check: precision "
                     f"{_fmt(c['precision'], '.2f')}  recall {_fmt(c['recall'], '.2f')}")
    lines.append("per kind (passed filter / clips): "
                 + ", ".join(f"{k} {a}/{n}" for k, (a, n) in pr["per_kind"].items()))
    return "\n".join(lines)


def quality_table(pose_dir, items: dict[str, dict], gts: dict[str, Path]) -> tuple[dict[str, list], str]:
    """The paper's last table (:mod:`dynpose100k.evaluate.quality`) over the clips that passed the filter
    (or its pose check) and reached the pose engine, for both quality flags (``reproj``: reprojection error
    below; ``confidence``: confidence at or above, with :data:`~dynpose100k.pose.confidence.TRUSTED`, the
    cut ``subset`` uses by default); ``({flag: rows}, text)``. The clips are scored once. Raises
    :class:`~dynpose100k.errors.DynPoseError` when no clip was posed."""
    from ..curate.stages import ItemStatus
    from ..pose.confidence import TRUSTED
    from .quality import FLAG_TITLES, format_table, score_videos, table_from_videos

    posed = [p for vid, p in sorted(gts.items()) if items.get(vid) is not None and items[vid]["pose_dir"]
             and items[vid]["status"] != ItemStatus.FILTERED_OUT]  # (the rejections the pose check declined)
    videos = score_videos(pose_dir, posed)
    rows = {"reproj": table_from_videos(videos, flag="reproj"),
            "confidence": table_from_videos(videos, flag="confidence", thresholds=(TRUSTED,))}
    return rows, "\n\n".join(format_table(r, FLAG_TITLES[flag]) for flag, r in rows.items())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_trajectories(path, rows: list[PoseRow], gts: dict[str, Path], most: int = 6) -> bool:
    """Top view (x, z) of true and Sim(3)-aligned estimated camera centres of up to ``most`` scored clips
    (published and suitable ones first); False when there is none to draw."""
    from ..curate.stages import ItemStatus

    shown = sorted((t for t in rows if not math.isnan(t.to_json()["ate"])),
                   key=lambda t: (ItemStatus(t.status) is not ItemStatus.SHARDED, t.kind != "good", t.video))[:most]
    if not shown:
        return False
    plt = _pyplot()

    from ..camera import camera_centers
    from ..metrics import align
    from ..synth import load_gt

    cols = min(3, len(shown))
    n_rows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.4 * cols, 3.3 * n_rows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax, t in zip(axes.flat, shown):
        gt = load_gt(gts[t.video])
        est = camera_centers(align(t.w2c, gt.w2c, "sim3", registered=t.registered))[t.registered]
        g = camera_centers(gt.w2c)
        ax.plot(g[:, 0], g[:, 2], "k-", lw=2, label="ground truth")
        ax.plot(est[:, 0], est[:, 2], "r.", ms=3, label="estimate (Sim3)")
        ax.set_title(f"{t.video}\nATE {t.to_json()['ate']:.3f} m, {_shown(t.status)}", fontsize=8)
        ax.set_aspect("equal", adjustable="datalim")
        ax.tick_params(labelsize=6)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("camera centres, top view (x, z)", fontsize=9)
    _save(plt, fig, path)
    return True


def plot_filter_pr(path, pr: dict) -> bool:
    """The filter score's precision/recall curve with the operating point of :func:`filter_pr`; False
    without a curve (no suitable clip in the pool)."""
    if "curve" not in pr:
        return False
    plt = _pyplot()

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
    _save(plt, fig, path)
    return True
