"""Sparse point tracks (pyramidal Lucas-Kanade with a forward-backward check) and their signals.

Tracks that vanish all at once mean a shot cut; tracks that barely move mean a static camera. The same
tracks feed the two-view geometry signals (:mod:`.geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_LK = dict(winSize=(11, 11), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


@dataclass(frozen=True)
class Tracks:
    """Point tracks over a clip."""

    uv: np.ndarray
    """(N, P, 2) float32 pixel positions per frame and track; NaN where the track is not alive."""
    survival: np.ndarray
    """(N-1,) fraction of the tracks alive at frame t that are still alive at t+1."""


def track_points(gray: np.ndarray, max_points: int = 200, fb_thresh: float = 1.0) -> Tracks:
    """Track corners through a grey stack (N, H, W) uint8; re-detect when fewer than half are alive."""
    n, h, w = gray.shape
    uv = np.full((n, 0, 2), np.nan, np.float32)
    alive = np.zeros(0, int)  # column of each alive point
    pts = np.zeros((0, 2), np.float32)
    survival = np.ones(n - 1)
    for t in range(n):
        if t > 0 and len(pts):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(gray[t - 1], gray[t], pts, None, **_LK)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray[t], gray[t - 1], nxt, None, **_LK)
            ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - pts, axis=1) < fb_thresh)
            ok &= (nxt[:, 0] >= 0) & (nxt[:, 0] < w) & (nxt[:, 1] >= 0) & (nxt[:, 1] < h)
            survival[t - 1] = ok.mean()
            pts, alive = nxt[ok], alive[ok]
            uv[t, alive] = pts
        if len(pts) < max_points // 2:
            mask = np.full((h, w), 255, np.uint8)
            for x, y in pts.astype(int):
                cv2.circle(mask, (int(x), int(y)), 5, 0, -1)
            c = cv2.goodFeaturesToTrack(gray[t], max_points - len(pts), 0.01, 5, mask=mask, blockSize=5)
            new = np.zeros((0, 2), np.float32) if c is None else c.reshape(-1, 2).astype(np.float32)
            cols = np.full((n, len(new), 2), np.nan, np.float32)
            cols[t] = new
            alive = np.concatenate([alive, uv.shape[1] + np.arange(len(new))])
            uv = np.concatenate([uv, cols], axis=1)
            pts = np.concatenate([pts, new])
    return Tracks(uv=uv, survival=survival)


def track_signals(tracks: Tracks, dt: np.ndarray) -> dict[str, float]:
    """Signals from tracks; speeds in analysis px per second.

    - ``track_drop_max``: largest fraction of alive tracks lost in one step (a cut loses nearly all).
    - ``track_survival``: mean per-step survival.
    - ``track_motion``: median over steps of the median track displacement (near zero: static camera).
    - ``track_still_frac``: fraction of steps whose median displacement is under 0.2 px (a locked-off shot).
    """
    step = np.linalg.norm(np.diff(tracks.uv, axis=0), axis=-1)  # (N-1, P), NaN if not alive at both
    med = np.array([np.nanmedian(s) if np.isfinite(s).any() else np.nan for s in step])
    med_speed = med / dt
    valid = np.isfinite(med_speed)
    return {
        "track_drop_max": float(1.0 - tracks.survival.min()),
        "track_survival": float(tracks.survival.mean()),
        "track_motion": float(np.median(med_speed[valid])) if valid.any() else 0.0,
        "track_still_frac": float((med[valid] < 0.2).mean()) if valid.any() else 1.0,
    }
