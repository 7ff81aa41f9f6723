"""Sparse point tracks (pyramidal Lucas-Kanade with a forward-backward check) and their signals.

Tracks that vanish all at once mean a shot cut; tracks that barely move mean a static camera; tracks (and
a central patch) that stay in view all clip long mean the camera keeps seeing the same surface. The same
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
            ok = (st[:, 0] == 1) & (nxt[:, 0] >= 0) & (nxt[:, 0] < w) & (nxt[:, 1] >= 0) & (nxt[:, 1] < h)
            if ok.any():  # track back only what survived (LK treats every point on its own)
                back, st2, _ = cv2.calcOpticalFlowPyrLK(gray[t], gray[t - 1], nxt[ok], None, **_LK)
                ok[ok] = (st2[:, 0] == 1) & (np.linalg.norm(back - pts[ok], axis=1) < fb_thresh)
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
    - ``track_persist``: fraction of the first frame's tracks still alive in the last frame (the camera keeps
      looking at the same surface: a still camera, or an object that travels with it and fills the view).
    """
    step = np.linalg.norm(np.diff(tracks.uv, axis=0), axis=-1)  # (N-1, P), NaN if not alive at both
    first = np.isfinite(tracks.uv[0, :, 0])
    med = np.array([np.nanmedian(s) if np.isfinite(s).any() else np.nan for s in step])
    med_speed = med / dt
    valid = np.isfinite(med_speed)
    return {
        "track_drop_max": float(1.0 - tracks.survival.min()),
        "track_survival": float(tracks.survival.mean()),
        "track_motion": float(np.median(med_speed[valid])) if valid.any() else 0.0,
        "track_still_frac": float((med[valid] < 0.2).mean()) if valid.any() else 1.0,
        "track_persist": float((first & np.isfinite(tracks.uv[-1, :, 0])).sum() / max(first.sum(), 1)),
    }


def cut_track_loss(tracks: Tracks, size: tuple[int, int], border: float = 0.15) -> float:
    """Peak over steps of the fraction of interior tracks lost, over (median fraction + 0.05).

    Only tracks at least ``border`` of the frame size away from every edge at frame t count, so a fast pan
    that carries tracks out of view loses none of them; a cut loses nearly all of them in one step, while
    blur, noise and darkness lose a similar share at every step (the median absorbs it). 0 when fewer than
    three steps have ten interior tracks.
    """
    h, w = size
    loss = []
    for a, b in zip(tracks.uv[:-1], tracks.uv[1:]):
        inner = (np.isfinite(a[:, 0]) & (a[:, 0] > border * w) & (a[:, 0] < (1 - border) * w)
                 & (a[:, 1] > border * h) & (a[:, 1] < (1 - border) * h))
        if inner.sum() >= 10:
            loss.append(float((~np.isfinite(b[inner, 0])).mean()))
    if len(loss) < 3:
        return 0.0
    return float(max(loss) / (np.median(loss) + 0.05))


def persistence_signals(gray: np.ndarray) -> dict[str, float]:
    """Does the middle of the first frame stay in view? Grey stack (N, H, W) uint8.

    - ``center_persist``: the lower of the best normalised cross-correlations of the first frame's central
      patch (half the width and height) anywhere in the middle and in the last frame. Near 1 when the
      centre keeps showing the same surface (a still camera, or a big object that travels with the camera);
      low once the camera has moved on.
    """
    n, h, w = gray.shape
    patch = gray[0, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    if patch.std() < 1.0:  # a flat patch matches anything: no evidence either way
        return {"center_persist": 0.0}
    ncc = [float(cv2.matchTemplate(gray[t], patch, cv2.TM_CCOEFF_NORMED).max()) for t in (n // 2, n - 1)]
    return {"center_persist": min(ncc)}
