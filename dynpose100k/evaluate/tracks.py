"""Point tracks against the renderer's truth: how far a tracker's positions drift from the points they follow.

The pose engine maps what its tracker gives it; how precise that must be was measured with an oracle
(docs/pose-engine.md, "Known limits"): below about 0.6 px the engine finds the maps, at 1 px it stops. This
measures a tracker on the same scale, so that a learned one can be set against Lucas-Kanade (and its
motion-evidence threshold chosen) before any pose is judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import camera

__all__ = ["TrackErrors", "track_errors"]

AGES = (1, 5, 10, 20)
"""Frames since a track's first observation at which :meth:`TrackErrors.summary` reports the error."""


@dataclass(frozen=True)
class TrackErrors:
    """Errors of one clip's tracks (:func:`track_errors`)."""

    age: np.ndarray
    """``(K,)`` int: frames since its track's first observation, per scored observation."""
    error: np.ndarray
    """``(K,)`` float: distance (px) from the true position of the point the track started on."""
    length: np.ndarray
    """``(S,)`` int: frames from the first to the last observation of each static track."""
    mover_tracks: int
    """Tracks that start on a moving object (not scored; the engine's masks must remove them)."""
    hidden: int
    """Observations of static tracks at frames where the truth has their point hidden or out of view."""

    def summary(self) -> dict:
        """Median error at each of :data:`AGES` frames (NaN when no observation is that old), the 90th
        percentile at 5 frames, the number of static tracks and their median length (frames), and the
        share of tracks that start on movers and of static observations the truth has hidden."""
        out = {f"median_px_{a}": float(np.median(self.error[self.age == a])) if (self.age == a).any()
               else float("nan") for a in AGES}
        at5 = self.error[self.age == 5]
        out["p90_px_5"] = float(np.percentile(at5, 90)) if len(at5) else float("nan")
        n = len(self.length)
        out.update(static_tracks=n, median_length=float(np.median(self.length)) if n else 0.0,
                   mover_track_share=self.mover_tracks / max(1, n + self.mover_tracks),
                   hidden_share=self.hidden / max(1, self.hidden + len(self.age)))
        return out


def track_errors(uv: np.ndarray, gt, depth_tol: float = 0.02) -> TrackErrors:
    """Tracks ``uv`` ``(N, M, 2)`` (NaN = unobserved) of the frames of ``gt``
    (:class:`~dynpose100k.synth.GroundTruth`, same size) against the truth.

    Each track's first observation is the point it follows. When that pixel lies on the static scene (not in
    ``gt.dynamic_mask``, and the depth of its 3x3 neighbourhood within ``depth_tol`` of itself, so not on an
    edge between surfaces), it is lifted with the true depth and projected into every later frame the track
    is observed in. Where the truth sees it there (in view, its depth within ``depth_tol`` of the rendered
    depth), the distance between the track and the projection is the error; elsewhere the observation counts
    as hidden."""
    uv = np.asarray(uv, np.float64)
    N, M = uv.shape[:2]
    H, W = gt.depth.shape[1:]
    obs = ~np.isnan(uv[..., 0])
    tid = np.flatnonzero(obs.any(0))
    first = np.argmax(obs[:, tid], 0)
    last = N - 1 - np.argmax(obs[::-1, tid], 0)
    p0 = uv[first, tid]
    ij = np.clip(np.round(p0).astype(int), 0, [W - 1, H - 1])
    z0 = gt.depth[first, ij[:, 1], ij[:, 0]].astype(np.float64)
    around = np.stack([gt.depth[first, np.clip(ij[:, 1] + dy, 0, H - 1), np.clip(ij[:, 0] + dx, 0, W - 1)]
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    mover = gt.dynamic_mask[first, ij[:, 1], ij[:, 0]]
    static = ~mover & (z0 > 0) & (around.min(0) > 0) & (around.max(0) <= (1 + depth_tol) * around.min(0))
    X = np.full((len(tid), 3), np.nan)
    for s in np.unique(first[static]):
        k = static & (first == s)
        X[k] = camera.unproject(gt.K[s], gt.w2c[s], p0[k], z0[k])
    ages, errors, hidden = [np.zeros(0, int)], [np.zeros(0)], 0
    for t in range(1, N):
        k = np.flatnonzero(static & (first < t) & obs[t, tid])
        if not len(k):
            continue
        p, z = camera.project(gt.K[t], gt.w2c[t], X[k])
        q = np.clip(np.round(np.nan_to_num(p)).astype(int), 0, [W - 1, H - 1])
        inside = (p[:, 0] >= -0.5) & (p[:, 0] <= W - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= H - 0.5) & (z > 0)
        seen = inside & (np.abs(gt.depth[t, q[:, 1], q[:, 0]] - z) <= depth_tol * z)
        hidden += int((~seen).sum())
        ages.append(t - first[k[seen]])
        errors.append(np.linalg.norm(uv[t, tid[k[seen]]] - p[seen], axis=1))
    return TrackErrors(age=np.concatenate(ages), error=np.concatenate(errors), length=(last - first + 1)[static],
                       mover_tracks=int(mover.sum()), hidden=hidden)
