"""Minimum evidence before a reconstruction counts: enough static points, enough parallax, enough redundancy.

A bundle adjustment can fit almost anything with a low reprojection error: five tracks fit exactly, and the
tracks of a fixed camera fit a "trajectory" whose centres slide along the optical axis with points pushed
out to great depth. Neither is evidence of camera motion. :func:`measure` summarises what a reconstruction
rests on; :func:`verdict` compares it with the thresholds of :class:`~dynpose100k.pose.PoseConfig` and
returns None or the one-line reason why no frame may count as registered.

Figures (all on the points and observations kept by the final bundle adjustment):

* ``points``: number of triangulated static points.
* ``median_angle_deg``: median over points of the angle between the rays from the first and the last frame
  observing the point (the widest baseline of a video track); gauge- and scale-free. A fixed or purely
  rotating camera gives about 0 whatever the reprojection error.
* ``baseline_over_depth``: spread of the camera centres (largest distance from their median) over the
  median point depth; reported, not used by the verdict (the angle already combines the two).
* ``median_obs_per_point``: median number of frames observing a point.
* ``median_points_per_frame``: median number of points observed by a registered frame.
* ``focal_change`` (added by the pipeline, see :func:`dynpose100k.pose.sfm.focal_change`): log ratio of the
  focal length at the end of the clip over the start under one focal per frame; a zoom, which a shared
  focal hides by bending the trajectory. Not part of the verdict (a correct map can show one where focal
  and motion along the optical axis trade off); beyond ``PoseConfig.max_focal_change`` it caps the
  confidence instead.
"""

from __future__ import annotations

import numpy as np

from ..camera import camera_centers
from .config import PoseConfig

__all__ = ["measure", "verdict", "EVIDENCE_KEYS", "NO_PARALLAX"]

#: the verdict's category for a clip whose rays do not part: a camera that stays put or turns in place, or a scene
#: far beyond its travel (a long lens, a landscape); a property of the clip, which no other mapping changes
NO_PARALLAX = "no parallax (camera still or turning in place, or scene far away)"

EVIDENCE_KEYS = ("points", "median_angle_deg", "baseline_over_depth", "median_obs_per_point", "median_points_per_frame")


def measure(w2c: np.ndarray, registered: np.ndarray, points3d: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Evidence figures of a reconstruction: poses ``w2c`` ``(N, 4, 4)``, ``registered`` ``(N,)``, points
    ``(P, 3)`` and their used observations ``obs`` ``(N, P)`` bool."""
    P = len(points3d)
    out = dict.fromkeys(EVIDENCE_KEYS, 0.0)
    out["points"] = float(P)
    reg = np.flatnonzero(registered)
    if P == 0 or len(reg) == 0:
        return out
    obs = obs & registered[:, None]
    R, t = w2c[:, :3, :3], w2c[:, :3, 3]
    C = camera_centers(w2c)
    X = np.asarray(points3d, np.float64)
    seen = obs.any(0)
    first = np.argmax(obs, axis=0)
    last = len(obs) - 1 - np.argmax(obs[::-1], axis=0)
    da, db = X - C[first], X - C[last]
    cos = (da * db).sum(1) / np.maximum(np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1), 1e-300)
    ang = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))[seen]
    out["median_angle_deg"] = float(np.median(ang)) if len(ang) else 0.0
    depth = np.einsum("nij,pj->npi", R[reg], X)[..., 2] + t[reg, 2][:, None]  # (F, P)
    dm = depth[obs[reg]]
    cr = C[reg]
    spread = float(np.linalg.norm(cr - np.median(cr, axis=0), axis=1).max()) if len(cr) else 0.0
    med_depth = float(np.median(np.abs(dm))) if len(dm) else 0.0
    out["baseline_over_depth"] = spread / med_depth if med_depth > 0 else 0.0
    out["median_obs_per_point"] = float(np.median(obs.sum(0)[seen])) if seen.any() else 0.0
    out["median_points_per_frame"] = float(np.median(obs[reg].sum(1)))
    return out


def verdict(ev: dict[str, float], config: PoseConfig) -> str | None:
    """None when ``ev`` (from :func:`measure`) meets every minimum of ``config``, else the first reason it
    fails, ``"<category>: <details>"`` (the category is what curation statistics count)."""
    if ev["points"] < config.min_static_points:
        return f"too few static tracks: {int(ev['points'])} 3D points < {config.min_static_points}"
    if ev["median_angle_deg"] < config.min_median_angle_deg:
        return (f"{NO_PARALLAX}: median triangulation angle {ev['median_angle_deg']:.3g} deg "
                f"< {config.min_median_angle_deg:g}")
    if ev["median_points_per_frame"] < config.min_points_per_frame:
        return (f"too few static tracks: median {ev['median_points_per_frame']:.3g} points per registered frame "
                f"< {config.min_points_per_frame:g}")
    if ev["median_obs_per_point"] < config.min_obs_per_point:
        return (f"too little redundancy: median {ev['median_obs_per_point']:.3g} observations per point "
                f"< {config.min_obs_per_point:g}")
    return None
