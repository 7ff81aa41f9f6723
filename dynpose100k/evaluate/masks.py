"""Ground-truth figures of the pose engine's intermediate outputs: dynamic masks and static tracks."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["mask_iou", "static_track_precision"]


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
