"""Quality subsets vs pose error: the paper's last table, on videos whose true poses are known.

For every video with ground truth: the selection signal (``flag``) is the bundle-adjustment reprojection
error (``reproj_error_px_720p`` of its pose result; keep below a threshold) or the calibrated ``confidence``
(keep at or above a threshold, :mod:`dynpose100k.pose.confidence`); the pose error is scored by
:func:`dynpose100k.evaluate.video.score_result` (failed frames filled as in the paper; a video without a pose
result is a failed video and keeps its row). Thresholds are quantiles of the flag chosen to keep about
70 / 40 / 25 % of the videos that pass the dataset's registration filter (>= 80 % of frames registered), like
the paper's 1.37 / 1.18 / 1.00 px. Per-video statistic = mean Sampson error of the video's correspondences;
columns ``%<5`` / ``%<10`` are the share of videos whose mean is below 5 / 10 px (the paper's "mean per-video
reprojection error" protocol), ``Mean`` their mean; ``ATE`` is the mean per-video Sim(3)-aligned RMSE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DynPoseError
from .video import score_result, score_video

__all__ = ["DATA_FRACTIONS", "FLAGS", "VideoQuality", "SubsetRow", "video_quality", "score_videos", "table_from_videos",
           "quality_subset_table", "format_table"]

logger = logging.getLogger(__name__)

DATA_FRACTIONS = (0.70, 0.40, 0.25)


@dataclass(frozen=True)
class VideoQuality:
    """One video's selection signal and true pose error."""

    video_id: str
    reproj_px_720p: float | None
    """Bundle-adjustment reprojection error (None when pose estimation failed)."""
    sampson_px_720p: float
    """Mean Sampson error of the ground-truth correspondences under the estimated cameras."""
    ate_m: float
    """Sim(3)-aligned ATE RMSE of the filled trajectory (:mod:`dynpose100k.evaluate.video`); NaN for a still
    ground-truth camera (left out of the ATE column's mean)."""
    registered_fraction: float
    confidence: float | None = None
    """Calibrated confidence from ``result.json`` (None when failed or not computed)."""
    path_m: float = float("nan")
    """Ground-truth path length (sum of camera-centre steps), for ATE / path-length labels."""


@dataclass(frozen=True)
class SubsetRow:
    """One row of the table."""

    name: str
    """``Full set``, ``Registered >= X``, ``Reproj. err. < X`` or ``Confidence >= X``."""
    threshold_px: float | None
    pct_data: float
    pct_lt_5: float
    pct_lt_10: float
    mean_px: float
    ate_m: float
    num_videos: int


def video_quality(pose_dir, gt) -> VideoQuality:
    """Score one pose result folder against a ``synth.GroundTruth``; a folder without a result scores as a
    failed video (nothing registered)."""
    from ..pose.result import is_pose_result, load_pose_result

    if not is_pose_result(pose_dir):
        logger.warning("%s: no pose result; counted as failed", gt.video_id)
        n = gt.num_frames
        s = score_video(np.tile(np.eye(4), (n, 1, 1)), np.tile(np.eye(3), (n, 1, 1)), np.zeros(n, bool), gt)
        return VideoQuality(gt.video_id, None, s.sampson_mean, s.ate, s.registration_rate, None, s.path_length)
    res = load_pose_result(pose_dir)
    s = score_result(res, gt)
    failed = bool(res.failure_reason) or not res.registered.any()
    ok = lambda x: None if failed or not np.isfinite(x) else float(x)  # noqa: E731
    return VideoQuality(gt.video_id, ok(res.reproj_error_px_720p), s.sampson_mean, s.ate, s.registration_rate,
                        ok(res.confidence), s.path_length)


def _row(name: str, thr, sel: list[VideoQuality], total: int) -> SubsetRow:
    m = np.array([v.sampson_px_720p for v in sel])
    return SubsetRow(name, thr, 100.0 * len(sel) / total, float(100 * np.mean(m < 5)), float(100 * np.mean(m < 10)),
                     float(m.mean()), float(np.nanmean([v.ate_m for v in sel])), len(sel))


FLAGS = ("reproj", "confidence")
"""Selection signals of :func:`table_from_videos`."""


def table_from_videos(videos: list[VideoQuality], fractions=DATA_FRACTIONS,
                      min_registered: float | None = 0.8, flag: str = "reproj",
                      thresholds: tuple[float, ...] = ()) -> list[SubsetRow]:
    """Rows: the full set (failures included); with ``min_registered``, the videos passing that
    registration filter (the dataset's own, 0.8 in the paper); then thresholds of ``flag`` (``reproj``:
    reprojection error below; ``confidence``: confidence at or above) keeping about ``fractions`` of
    those, then the fixed ``thresholds`` of the flag. ``%Data`` is always relative to the full set."""
    if flag not in FLAGS:
        raise DynPoseError(f"quality table: flag must be one of {FLAGS}, got {flag!r}")
    if not videos:
        raise DynPoseError("quality table: no video to score")
    rows = [_row("Full set", None, videos, len(videos))]
    ok = [v for v in videos if v.reproj_px_720p is not None]
    if min_registered is not None:
        ok = [v for v in ok if v.registered_fraction >= min_registered]
        if ok:
            rows.append(_row(f"Registered >= {min_registered:.0%}", None, ok, len(videos)))
    if flag == "confidence":
        ok = [v for v in ok if v.confidence is not None]
        sign, name, op = -1.0, "Confidence", ">="
    else:
        sign, name, op = 1.0, "Reproj. err.", "<"
    # sorted best first: increasing error, or decreasing confidence
    ok.sort(key=lambda v: sign * (v.confidence if flag == "confidence" else v.reproj_px_720p))
    vals = np.array([v.confidence if flag == "confidence" else v.reproj_px_720p for v in ok])
    used = {len(ok)}
    for frac in fractions:
        k = int(round(frac * len(ok)))
        if k < 1 or k in used:
            continue
        used.add(k)
        # midway between the k-th and (k+1)-th value, so that the threshold keeps exactly k videos
        thr = float((vals[k - 1] + vals[k]) / 2)
        rows.append(_row(f"{name} {op} {thr:.{3 if flag == 'confidence' else 2}f}", thr, ok[:k], len(videos)))
    for thr in thresholds:
        sel = [v for v, x in zip(ok, vals) if (x >= thr if flag == "confidence" else x < thr)]
        if sel:
            rows.append(_row(f"{name} {op} {thr:g}", float(thr), sel, len(videos)))
    return rows


def quality_subset_table(pose_dir, gt, fractions=DATA_FRACTIONS, min_registered: float | None = 0.8,
                         flag: str = "reproj", thresholds: tuple[float, ...] = ()) -> list[SubsetRow]:
    """The table of :func:`score_videos` ``(pose_dir, gt)`` (see :func:`table_from_videos` for ``flag`` and
    ``thresholds``). Ground truth without a pose result counts as a failed video, never dropped."""
    return table_from_videos(score_videos(pose_dir, gt), fractions, min_registered, flag, thresholds)


def score_videos(pose_dir, gt) -> list[VideoQuality]:
    """:func:`video_quality` of every ground truth against ``<pose_dir>/<id>`` (a video without a result there
    counts as failed); ``gt`` is a folder of ``<id>.gt.npz`` files or a list of such files. A ``pose_dir``
    without any result is an error (:func:`~dynpose100k.pose.result.find_pose_results`), not a table of
    failures."""
    from ..pose.result import find_pose_results
    from ..synth import load_gt

    find_pose_results(pose_dir, required=True)

    if isinstance(gt, (str, Path)):
        paths = sorted(Path(gt).glob("*.gt.npz"))
        if not paths:
            raise DynPoseError(f"{gt}: no <id>.gt.npz ground-truth files")
    else:
        paths = sorted(Path(p) for p in gt)
    return [video_quality(Path(pose_dir) / g.video_id, g) for g in map(load_gt, paths)]


FLAG_TITLES = {"reproj": "Reprojection error", "confidence": "Confidence"}
"""The table title of each selection flag."""


def format_table(rows: list[SubsetRow], title: str | None = None) -> str:
    """The table as text (paper's columns + ATE and the number of videos) under ``title`` (default: the flag
    its rows name)."""
    if title is None:
        title = "Confidence" if any(r.name.startswith("Confidence") for r in rows) else "Reprojection error"
    lines = [f"{title:<24}{'%Data':>7}{'%<5':>7}{'%<10':>7}{'Mean':>8}{'ATE':>8}{'videos':>8}"]
    for r in rows:
        lines.append(f"{r.name:<24}{r.pct_data:7.1f}{r.pct_lt_5:7.1f}{r.pct_lt_10:7.1f}{r.mean_px:8.2f}"
                     f"{r.ate_m:8.3f}{r.num_videos:8d}")
    return "\n".join(lines)
