"""Score a pose result against synthetic ground truth: trajectory, Sampson, masks, static tracks.

Protocol (the paper's): poses of unregistered frames are filled with :func:`dynpose100k.metrics.fill_failed`
(a failed video: identity rotations + random camera centres) and ATE/RPE are computed on all frames after
Sim(3) alignment; ``*_registered`` figures use registered frames only. Sampson errors of the ground-truth
static correspondences under the estimated (filled) poses and intrinsics are normalised to 720p.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import metrics

__all__ = ["evaluate", "mask_iou", "static_track_precision"]


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of predicted ``(N, h, w)`` and ground-truth ``(N, H, W)`` dynamic masks (GT resized to the
    prediction's grid, nearest); NaN when both are empty."""
    h, w = pred.shape[1:]
    g = np.stack([cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for m in gt]).astype(bool)
    union = (g | pred).sum()
    return float((g & pred).sum() / union) if union else float("nan")


def static_track_precision(obs_track: np.ndarray, obs_frame: np.ndarray, obs_uv: np.ndarray, num_tracks: int,
                           gt_dynamic: np.ndarray, max_dynamic_fraction: float = 0.1) -> tuple[float, float]:
    """(track precision, observation precision) of the static tracks kept for bundle adjustment.

    An observation is truly static when its pixel is off the ground-truth dynamic mask ``(N, H, W)``; a
    track is truly static when at most ``max_dynamic_fraction`` of its observations are dynamic.
    """
    if num_tracks == 0:
        return float("nan"), float("nan")
    H, W = gt_dynamic.shape[1:]
    u = np.clip(np.round(obs_uv).astype(int), 0, [W - 1, H - 1])
    dyn = gt_dynamic[obs_frame, u[:, 1], u[:, 0]]
    frac = np.bincount(obs_track, dyn, num_tracks) / np.maximum(np.bincount(obs_track, None, num_tracks), 1)
    return float(np.mean(frac <= max_dynamic_fraction)), float(1.0 - dyn.mean())


def evaluate(w2c: np.ndarray, K: np.ndarray, registered: np.ndarray, gt, seed: int = 0) -> dict:
    """Trajectory and Sampson figures of poses ``w2c`` ``(N, 4, 4)``, ``K`` ``(N, 3, 3)``, ``registered``
    ``(N,)`` against a :class:`dynpose100k.synth.GroundTruth`."""
    filled = metrics.fill_failed(w2c, registered, seed=seed)
    Kf = K.copy()
    if not registered.any():  # a failed video has no intrinsics: use a 60-degree-ish guess
        H, W = gt.image_size
        Kf[:] = np.array([[max(H, W), 0, (W - 1) / 2], [0, max(H, W), (H - 1) / 2], [0, 0, 1]])
    out = {"registration_rate": metrics.registration_rate(registered), "success": bool(registered.any())}
    s = metrics.trajectory_summary(filled, gt.w2c)
    out.update(ate=s["ate"], rpe_trans=s["rpe_trans"], rpe_rot_deg=s["rpe_rot_deg"])
    if registered.sum() >= 3:
        s = metrics.trajectory_summary(w2c, gt.w2c, registered=registered)
        out.update(ate_registered=s["ate"], rpe_trans_registered=s["rpe_trans"],
                   rpe_rot_deg_registered=s["rpe_rot_deg"])
    errs = []
    for i, j in set(zip(gt.corr_i.tolist(), gt.corr_j.tolist())):
        sel = (gt.corr_i == i) & (gt.corr_j == j)
        errs.append(metrics.sampson_from_poses(Kf[i], Kf[j], filled[i], filled[j], gt.corr_uv_i[sel], gt.corr_uv_j[sel],
                                               gt.image_size))
    if errs:
        e = np.concatenate(errs)
        out["sampson"] = metrics.sampson_summary(e)
    out["focal_rel_error"] = float(abs(K[0, 0, 0] / gt.K[0, 0, 0] - 1)) if registered.any() else float("nan")
    return out
