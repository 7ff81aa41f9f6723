"""Metrics as pure functions on arrays: trajectory errors (ATE/RPE), Sampson error, precision/recall.

Conventions: poses are ``w2c`` ``(N, 4, 4)`` (world-to-camera, OpenCV axes, see :mod:`dynpose100k.camera`),
pixels follow the pixel-centre convention of the frames they were measured on.

Trajectory errors use the same definitions as evo, so numbers agree with ``evo_ape``/``evo_rpe``:

* Alignment (``"sim3"``, ``"se3"``, ``"none"``): Umeyama's least-squares fit of the estimated camera centres
  ``c_i`` onto the ground-truth ones, ``c_i -> s R c_i + t`` (``s = 1`` for se3). Camera-to-world rotations
  become ``R R_i``; the scale acts on positions only (as ``evo_ape -as``).
* ATE: per-frame ``|| s R c_i + t - c_i^gt ||`` in ground-truth units and its RMSE
  (``evo_ape tum gt est -as``, translation part).
* RPE: with camera-to-world poses ``P`` (aligned estimate) and ``Q`` (ground truth), for each pair
  ``(i, i + delta)`` the error pose ``E = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j)``; translation error ``||t(E)||``,
  rotation error the angle of ``R(E)`` in degrees; RMSE over pairs
  (``evo_rpe ... -as --delta 1 --delta_unit f``, ``trans_part`` and ``angle_deg``).

Degenerate input (a ``ValueError`` unless stated): NaN or inf anywhere in the frames used; fewer than 3
frames for an alignment; ground-truth centres all equal under ``"sim3"`` (the scale would collapse to 0).
Estimated centres all equal (a static or failed estimate) are aligned with ``R = I``, ``s = 1`` and
``t`` moving them onto the ground-truth centroid, which is a least-squares optimum, so the ATE equals the
ground-truth spread. Collinear trajectories leave the rotation about their line undetermined (evo refuses
them); ATE and RPE do not depend on that rotation, so they are computed.

Unregistered frames (``registered`` ``(N,)`` bool, as in ``poses.npz``):

* Default rule: metrics over registered frames only (alignment fitted on them, RPE pairs whose two frames
  are registered, ``delta`` counted in original frame indices), and every result carries the
  ``registration_rate`` to be reported next to it.
* Paper protocol, :func:`fill_failed`: a video with fewer than 3 registered frames (a failed video) gets
  identity rotations and random camera centres for all frames; in a partially registered video each
  unregistered frame takes the pose of the nearest registered frame (the earlier one on ties). Evaluate
  the filled trajectory with all frames to count failures instead of hiding them.

Sampson error: first-order geometric distance of a correspondence to its epipolar constraint, in pixels;
:func:`sampson_from_poses` builds ``F`` from poses and intrinsics and rescales errors to 720p. The paper's
real-video table is :func:`sampson_summary` over per-video mean errors (one value per video).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .camera import camera_centers, fundamental_from, invert, make_w2c, relative_pose
from .geometry import sampson_error

__all__ = [
    "wilson_interval",
    "path_length",
    "ATEResult",
    "RPEResult",
    "umeyama",
    "align",
    "ate",
    "rpe",
    "trajectory_summary",
    "fill_failed",
    "registration_rate",
    "rotation_angle_deg",
    "sampson_errors",
    "sampson_from_poses",
    "sampson_summary",
    "pr_counts",
    "precision_recall",
    "pr_at",
    "average_precision",
    "threshold_for_precision",
]

logger = logging.getLogger(__name__)

AlignMode = Literal["sim3", "se3", "none"]
MIN_ALIGN_FRAMES = 3
"""Frames needed to fit an alignment; fewer registered frames make a video count as failed."""


# ----------------------------------------------------------------------------------------- helpers
def _finite(name: str, a, shape_tail: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if shape_tail is not None and (a.ndim != len(shape_tail) + 1 or a.shape[1:] != shape_tail):
        raise ValueError(f"{name}: expected shape (N, {', '.join(map(str, shape_tail))}), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return a


def _poses(est_w2c, gt_w2c, registered) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (est, gt, used-frame indices) for the frames the metric is computed on."""
    est = np.asarray(est_w2c, dtype=np.float64)
    gt = np.asarray(gt_w2c, dtype=np.float64)
    if est.ndim != 3 or est.shape[1:] != (4, 4) or est.shape != gt.shape:
        raise ValueError(f"poses: expected two (N, 4, 4) arrays of equal N, got {est.shape} and {gt.shape}")
    used = np.arange(len(est)) if registered is None else np.flatnonzero(_mask(registered, len(est)))
    _finite("estimated poses", est[used])
    _finite("ground-truth poses", gt[used])
    return est, gt, used


def _mask(registered, n: int) -> np.ndarray:
    m = np.asarray(registered)
    if m.shape != (n,) or m.dtype != bool:
        raise ValueError(f"registered: expected a bool array of shape ({n},), got {m.dtype} {m.shape}")
    return m


def _spread(x: np.ndarray) -> float:
    """Mean squared distance of points ``(N, 3)`` to their centroid."""
    return float(((x - x.mean(0)) ** 2).sum(1).mean())


def _is_static(x: np.ndarray) -> bool:
    return _spread(x) <= 1e-24 * max(1.0, float((x**2).sum(1).mean()))


# --------------------------------------------------------------------------------------- alignment
def path_length(centres: np.ndarray) -> float:
    """Length of the polyline through camera centres ``centres`` ``(N, 3)`` (0 for fewer than two)."""
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum()) if len(centres) > 1 else 0.0


def umeyama(src, dst, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` between point sets ``(N, 3)`` (Umeyama 1991).

    Returns ``(s, R (3, 3), t (3,))``; ``s = 1`` when ``with_scale`` is False. ``src`` all equal gives
    ``s = 1, R = I`` (see the module docstring); ``dst`` all equal with ``with_scale`` raises ValueError.
    """
    src = _finite("umeyama src", src, (3,))
    dst = _finite("umeyama dst", dst, (3,))
    if len(src) != len(dst):
        raise ValueError(f"umeyama: {len(src)} source points but {len(dst)} target points")
    if len(src) < MIN_ALIGN_FRAMES:
        raise ValueError(f"umeyama: needs at least {MIN_ALIGN_FRAMES} points, got {len(src)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    if _is_static(src):
        return 1.0, np.eye(3), mu_d - mu_s
    if with_scale and _is_static(dst):
        raise ValueError("umeyama: target points are all equal, the similarity scale is undefined")
    cov = (dst - mu_d).T @ (src - mu_s) / len(src)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1.0
    R = U @ S @ Vt
    s = float(np.trace(np.diag(D) @ S) / _spread(src)) if with_scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def _fit(est: np.ndarray, gt: np.ndarray, used: np.ndarray, mode: str) -> tuple[float, np.ndarray, np.ndarray]:
    if mode == "none":
        return 1.0, np.eye(3), np.zeros(3)
    if mode not in ("sim3", "se3"):
        raise ValueError(f"align mode must be 'sim3', 'se3' or 'none', got {mode!r}")
    return umeyama(camera_centers(est[used]), camera_centers(gt[used]), with_scale=mode == "sim3")


def _apply(est: np.ndarray, s: float, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    c2w = invert(est)
    return invert(make_w2c(R @ c2w[:, :3, :3], (s * c2w[:, :3, 3]) @ R.T + t))


def align(est_w2c, gt_w2c, mode: AlignMode = "sim3", registered=None) -> np.ndarray:
    """Estimated poses ``(N, 4, 4)`` w2c aligned to ground truth ``(N, 4, 4)`` w2c.

    The fit uses camera centres of the ``registered`` frames (all if None) and is applied to all frames:
    centres ``s R c + t``, camera-to-world rotations ``R R_i``.
    """
    est, gt, used = _poses(est_w2c, gt_w2c, registered)
    return _apply(est, *_fit(est, gt, used, mode))


# ----------------------------------------------------------------------------------- trajectories
class _Summarised:
    """``summary()``: the scalar fields of a result dataclass (per-frame or per-pair arrays left out), for JSON
    tables."""

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not isinstance(v, np.ndarray)}


@dataclass(frozen=True)
class ATEResult(_Summarised):
    """Absolute trajectory error of camera centres after alignment."""

    errors: np.ndarray
    """``(M,)`` position error per used frame, ground-truth units."""
    frames: np.ndarray
    """``(M,)`` int indices of the used (registered) frames."""
    rmse: float
    """Root mean square of ``errors``."""
    mean: float
    """Mean of ``errors``."""
    median: float
    """Median of ``errors``."""
    max: float
    """Largest error."""
    align: str
    """Alignment mode: sim3, se3 or none."""
    scale: float
    """Scale applied to the estimate (1 unless sim3)."""
    registration_rate: float
    """Fraction of the video's frames that are registered (1 when no mask was given)."""


@dataclass(frozen=True)
class RPEResult(_Summarised):
    """Relative pose error over frame pairs ``(i, i + delta)`` after alignment."""

    trans_errors: np.ndarray
    """``(P,)`` translation error per pair, ground-truth units."""
    rot_errors_deg: np.ndarray
    """``(P,)`` rotation error per pair, degrees."""
    pairs: np.ndarray
    """``(P, 2)`` int frame indices ``(i, i + delta)``."""
    trans_rmse: float
    """RMSE of ``trans_errors``."""
    rot_rmse_deg: float
    """RMSE of ``rot_errors_deg``."""
    trans_mean: float
    """Mean of ``trans_errors``."""
    rot_mean_deg: float
    """Mean of ``rot_errors_deg``."""
    delta: int
    """Frame offset of each pair."""
    align: str
    """Alignment mode: sim3, se3 or none."""
    registration_rate: float
    """Fraction of the video's frames that are registered (1 when no mask was given)."""


def ate(est_w2c, gt_w2c, align: AlignMode = "sim3", registered=None) -> ATEResult:
    """Absolute trajectory error of estimated ``(N, 4, 4)`` w2c against ground truth ``(N, 4, 4)`` w2c.

    With ``registered`` ``(N,)`` bool, only registered frames are aligned and scored.
    """
    est, gt, used = _poses(est_w2c, gt_w2c, registered)
    if len(used) == 0:
        raise ValueError("ate: no frame to evaluate")
    s, R, t = _fit(est, gt, used, align)
    e = np.linalg.norm(camera_centers(est[used]) @ (s * R).T + t - camera_centers(gt[used]), axis=1)
    return ATEResult(
        errors=e,
        frames=used,
        rmse=float(np.sqrt(np.mean(e**2))),
        mean=float(e.mean()),
        median=float(np.median(e)),
        max=float(e.max()),
        align=align,
        scale=float(s),
        registration_rate=len(used) / len(est),
    )


def rotation_angle_deg(R) -> np.ndarray:
    """Rotation angle in degrees of rotation matrices ``(..., 3, 3)`` (accurate near 0 and 180 degrees)."""
    R = np.asarray(R, np.float64)
    axis = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arctan2(np.linalg.norm(axis, axis=-1) / 2.0, cos))


def rpe(est_w2c, gt_w2c, align: AlignMode = "sim3", delta: int = 1, registered=None) -> RPEResult:
    """Relative pose error over pairs ``(i, i + delta)`` of estimated vs ground-truth ``(N, 4, 4)`` w2c.

    With ``registered`` ``(N,)`` bool, alignment uses registered frames and only pairs whose two frames
    are registered are scored (``delta`` in original frame indices).
    """
    if int(delta) != delta or delta < 1:
        raise ValueError(f"rpe: delta must be a positive integer, got {delta}")
    est, gt, used = _poses(est_w2c, gt_w2c, registered)
    ok = np.zeros(len(est), bool)
    ok[used] = True
    i = np.flatnonzero(ok[:-delta] & ok[delta:]) if delta < len(est) else np.zeros(0, int)
    if len(i) == 0:
        raise ValueError(f"rpe: no frame pair (i, i + {delta}) to evaluate")
    P = invert(_apply(est, *_fit(est, gt, used, align)))  # camera-to-world
    Q = invert(gt)
    E = invert(invert(Q[i]) @ Q[i + delta]) @ (invert(P[i]) @ P[i + delta])
    te = np.linalg.norm(E[:, :3, 3], axis=1)
    re = rotation_angle_deg(E[:, :3, :3])
    return RPEResult(
        trans_errors=te,
        rot_errors_deg=re,
        pairs=np.stack([i, i + delta], 1),
        trans_rmse=float(np.sqrt(np.mean(te**2))),
        rot_rmse_deg=float(np.sqrt(np.mean(re**2))),
        trans_mean=float(te.mean()),
        rot_mean_deg=float(re.mean()),
        delta=int(delta),
        align=align,
        registration_rate=len(used) / len(est),
    )


def trajectory_summary(est_w2c, gt_w2c, align: AlignMode = "sim3", delta: int = 1, registered=None) -> dict:
    """ATE RMSE, RPE translation/rotation RMSE and registration rate of one video, as a flat dict."""
    a = ate(est_w2c, gt_w2c, align, registered)
    r = rpe(est_w2c, gt_w2c, align, delta, registered)
    return {
        "ate": a.rmse,
        "rpe_trans": r.trans_rmse,
        "rpe_rot_deg": r.rot_rmse_deg,
        "registration_rate": a.registration_rate,
        "align": align,
        "delta": int(delta),
        "num_frames": len(a.errors),
    }


def registration_rate(registered) -> float:
    """Fraction of registered frames (``registered`` ``(N,)`` bool); 0 for an empty video."""
    m = np.asarray(registered, dtype=bool)
    return float(m.mean()) if m.size else 0.0


def fill_failed(w2c, registered, seed: int = 0) -> np.ndarray:
    """Poses ``(N, 4, 4)`` w2c with unregistered frames filled by the protocol in the module docstring.

    Fewer than 3 registered frames: every frame gets identity rotation and a camera centre drawn from a
    standard normal (``seed``). Otherwise unregistered frames copy the nearest registered frame's pose.
    """
    w2c = np.array(w2c, dtype=np.float64, copy=True)
    if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
        raise ValueError(f"fill_failed: expected (N, 4, 4) poses, got {w2c.shape}")
    reg = np.flatnonzero(_mask(registered, len(w2c)))
    if len(reg) < MIN_ALIGN_FRAMES:
        centres = np.random.default_rng(seed).standard_normal((len(w2c), 3))
        return make_w2c(np.broadcast_to(np.eye(3), (len(w2c), 3, 3)), -centres)
    _finite("registered poses", w2c[reg])
    pos = np.clip(np.searchsorted(reg, np.arange(len(w2c))), 1, len(reg) - 1)
    before, after = reg[pos - 1], reg[pos]
    idx = np.arange(len(w2c))
    nearest = np.where(idx - before <= after - idx, before, after)
    return w2c[nearest]


# --------------------------------------------------------------------------------------- Sampson
def sampson_errors(F, uv_i, uv_j) -> np.ndarray:
    """Sampson distance in pixels ``(M,)`` of correspondences ``uv_i`` ``(M, 2)`` -> ``uv_j`` ``(M, 2)``.

    ``F`` ``(3, 3)`` satisfies ``x_j^T F x_i = 0``. The value is ``|x_j^T F x_i|`` divided by the norm of the
    first two components of ``F x_i`` and ``F^T x_j`` together (square root of the usual squared form):
    :func:`dynpose100k.geometry.sampson_error` after checking the inputs (finite, matching shapes, ``F`` not 0).
    """
    F = _finite("F", F)
    if F.shape != (3, 3) or not np.any(F):
        raise ValueError(f"F: expected a non-zero (3, 3) matrix, got shape {F.shape}")
    xi, xj = _finite("uv_i", uv_i, (2,)), _finite("uv_j", uv_j, (2,))
    if len(xi) != len(xj):
        raise ValueError(f"sampson_errors: {len(xi)} points in i but {len(xj)} in j")
    return sampson_error(F, xi, xj)


def sampson_from_poses(K_i, K_j, w2c_i, w2c_j, uv_i, uv_j, image_size: tuple[int, int]) -> np.ndarray:
    """Sampson errors ``(M,)`` of correspondences under poses and intrinsics, normalised to 720p.

    ``K`` ``(3, 3)`` and pixels ``uv`` ``(M, 2)`` are at ``image_size`` ``(H, W)``; errors are multiplied by
    ``720 / H``. With no baseline (identical camera centres, e.g. identity poses of a failed video) the
    epipolar geometry is undefined, so the error is the transfer distance ``|| x_j - H x_i ||`` under the
    rotation homography ``H = K_j R K_i^-1``, also normalised to 720p.
    """
    K_i, K_j = _finite("K_i", K_i), _finite("K_j", K_j)
    w2c_i, w2c_j = _finite("w2c_i", w2c_i), _finite("w2c_j", w2c_j)
    scale = 720.0 / float(image_size[0])
    T = relative_pose(w2c_i, w2c_j)
    size = max(1.0, np.linalg.norm(w2c_i[:3, 3]), np.linalg.norm(w2c_j[:3, 3]))
    if np.linalg.norm(T[:3, 3]) > 1e-12 * size:
        return sampson_errors(fundamental_from(K_i, K_j, w2c_i, w2c_j), uv_i, uv_j) * scale
    uv_i, uv_j = _finite("uv_i", uv_i, (2,)), _finite("uv_j", uv_j, (2,))
    H = K_j @ T[:3, :3] @ np.linalg.inv(K_i)
    x = np.c_[uv_i, np.ones(len(uv_i))] @ H.T
    return np.linalg.norm(x[:, :2] / x[:, 2:] - uv_j, axis=1) * scale


def sampson_summary(errors) -> dict:
    """Share (percent) of values below 5, 10 and 30 px, and their mean, from ``errors`` ``(M,)``.

    Per video: pass the video's correspondence errors. Paper table: pass one mean error per video.
    """
    e = _finite("errors", np.ravel(errors))
    if e.size == 0:
        raise ValueError("sampson_summary: no errors")
    return {
        "pct_lt_5": float(100 * np.mean(e < 5)),
        "pct_lt_10": float(100 * np.mean(e < 10)),
        "pct_lt_30": float(100 * np.mean(e < 30)),
        "mean": float(e.mean()),
        "count": int(e.size),
    }


# ------------------------------------------------------------------------------ precision/recall
def _scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = _finite("scores", np.ravel(scores))
    y = np.ravel(np.asarray(labels))
    if y.shape != s.shape:
        raise ValueError(f"precision/recall: {s.size} scores but {y.size} labels")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ValueError("precision/recall: labels must be bool or 0/1")
    y = y.astype(bool)
    if not y.any():
        raise ValueError("precision/recall: no positive label, recall is undefined")
    return s, y


def pr_counts(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and thresholds ``(T,)`` for keeping items with ``score >= threshold``.

    Thresholds are the distinct scores in decreasing order (the counts are cumulative, so the last entry
    counts every item)."""
    s, y = _scores_labels(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # last item of each run of equal scores
    return np.cumsum(y)[last], np.cumsum(~y)[last], s[last]


def precision_recall(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds ``(T,)`` for keeping items with ``score >= threshold``.

    ``scores`` ``(N,)`` (higher = keep), ``labels`` ``(N,)`` bool (True = suitable). Thresholds are the
    distinct scores in decreasing order, so recall is non-decreasing.
    """
    tp, fp, t = pr_counts(scores, labels)
    return tp / (tp + fp), tp / tp[-1], t


def pr_at(scores, labels, threshold: float) -> tuple[float, float]:
    """(precision, recall) when keeping ``score >= threshold``; precision is NaN if nothing is kept."""
    s, y = _scores_labels(scores, labels)
    keep = s >= threshold
    return (float(y[keep].mean()) if keep.any() else float("nan")), float(y[keep].sum() / y.sum())


def average_precision(scores, labels) -> float:
    """Average precision ``sum_k (R_k - R_{k-1}) P_k`` over the thresholds (no interpolation)."""
    p, r, _ = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, r]) * p))


def wilson_interval(k, n: int, z: float = 1.96):
    """Wilson score interval ``(low, high)`` of a binomial proportion ``k / n`` at ``z`` standard errors
    (1.96: 95%); ``k`` a count or an array of counts (then two arrays). ``(nan, nan)`` when ``n`` is 0."""
    k = np.asarray(k, np.float64)
    if n <= 0:
        nan = np.full(k.shape, np.nan)
        return (float("nan"), float("nan")) if k.ndim == 0 else (nan, nan.copy())
    q = k / n
    mid = (q + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(q * (1 - q) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = np.clip(mid - half, 0.0, 1.0), np.clip(mid + half, 0.0, 1.0)
    return (float(low), float(high)) if k.ndim == 0 else (low, high)


def threshold_for_precision(scores, labels, precision: float) -> tuple[float, float, float] | None:
    """The threshold with the highest recall among those whose precision is at least ``precision``.

    Returns ``(threshold, precision, recall)``, or None if no threshold reaches it.
    """
    p, r, t = precision_recall(scores, labels)
    ok = np.flatnonzero(p >= precision)
    if len(ok) == 0:
        return None
    k = ok[np.argmax(r[ok])]
    return float(t[k]), float(p[k]), float(r[k])


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 100,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised, optionally weighted logistic regression (Newton's method) on standardised ``X``
    ``(n, d)``; ``y`` ``(n,)``: bool labels or soft targets in [0, 1]. Returns ``(weights, bias)``; the bias
    is not penalised."""
    n, d = X.shape
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    A = np.c_[X, np.ones(n)]
    w = np.zeros(d + 1)
    P = np.eye(d + 1) * l2
    P[-1, -1] = 0.0
    y = y.astype(float)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -30, 30)))
        g = A.T @ (sw * (p - y)) + P @ w
        Hs = (A * (sw * p * (1 - p))[:, None]).T @ A + P + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(Hs, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])
