"""Two-view geometry as pure functions on arrays: Sampson error, robust fundamental and essential matrices,
focal length from a fundamental matrix, relative pose from an essential matrix, an image carried along a dense
flow; and the multi-view triangulation of tracks seen by known cameras.

Conventions (see :mod:`dynpose100k.camera`):

* Pixels ``(M, 2)`` float, pixel centres at integer coordinates (OpenCV).
* ``F`` ``(3, 3)`` satisfies ``x_j^T F x_i = 0`` for homogeneous pixels ``x_i`` of view i and ``x_j`` of view j.
* ``E`` ``(3, 3)`` is the same constraint for normalised camera coordinates ``K^-1 x`` (``(M, 2)``, distortion
  removed); thresholds for ``E`` are in those units (pixels divided by the focal).
* A relative pose ``(R, t)`` takes camera-i coordinates to camera-j coordinates, ``X_j = R X_i + t``; from an
  essential matrix ``|t| = 1`` (the scale is unknown).

Projecting world points is :func:`dynpose100k.camera.project`; the fundamental matrix of two known cameras is
:func:`dynpose100k.camera.fundamental_from`.

The robust fits wrap OpenCV's MAGSAC (deterministic: OpenCV seeds its sampler). Their settings are explicit
parameters; the defaults are those of the pose engine, and the clip filter passes cheaper ones (see
:mod:`dynpose100k.signals.geometry`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "sampson_error",
    "fundamental_ransac",
    "static_fundamental",
    "essential_ransac",
    "pose_from_essential",
    "essential_singular_ratio",
    "focal_from_fundamental",
    "warp_back",
    "triangulate_tracks",
]


def sampson_error(F: np.ndarray, x_i: np.ndarray, x_j: np.ndarray) -> np.ndarray:
    """Sampson distance ``(M,)`` of correspondences ``x_i`` ``(M, 2)`` -> ``x_j`` ``(M, 2)`` under ``F``.

    ``|x_j^T F x_i|`` over the norm of the first two components of ``F x_i`` and ``F^T x_j`` together: the
    first-order distance (in the units of the points, pixels for ``F``) of the correspondence to the
    epipolar constraint, 0 for an exact one. No input checks (see :func:`dynpose100k.metrics.sampson_errors`).
    """
    hi, hj = np.ones((len(x_i), 3)), np.ones((len(x_j), 3))  # homogeneous float64 (np.c_ is slow on float32)
    hi[:, :2], hj[:, :2] = x_i, x_j
    Fxi, Ftxj = hi @ F.T, hj @ F
    num = np.abs(np.einsum("mi,mi->m", hj, Fxi))
    den = np.sqrt(Fxi[:, 0] ** 2 + Fxi[:, 1] ** 2 + Ftxj[:, 0] ** 2 + Ftxj[:, 1] ** 2)
    return num / np.maximum(den, np.finfo(float).tiny)


def fundamental_ransac(x_i: np.ndarray, x_j: np.ndarray, threshold_px: float, *, max_iters: int = 2000,
                       min_points: int = 15, min_inliers: int = 12, confidence: float = 0.999
                       ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Robust (MAGSAC) fundamental matrix of pixel matches ``x_i`` -> ``x_j`` ``(M, 2)``.

    Returns ``(F (3, 3), inliers (M,) bool)``, or ``(None, None)`` with fewer than ``min_points`` matches,
    degenerate samples (OpenCV raises on them), no model, or fewer than ``min_inliers`` inliers.
    ``threshold_px``: MAGSAC's inlier threshold (pixels); ``max_iters``: its iteration cap; ``confidence``: its
    stopping confidence. The points are passed to OpenCV as given (float32 or float64).
    """
    if len(x_i) < min_points:
        return None, None
    try:
        F, mask = cv2.findFundamentalMat(x_i, x_j, cv2.USAC_MAGSAC, threshold_px, confidence, max_iters)
    except cv2.error:  # degenerate sample sets (e.g. all points on a line) trip an internal assertion
        return None, None
    if F is None or F.shape != (3, 3) or mask is None or mask.sum() < min_inliers:
        return None, None
    return F, mask.ravel().astype(bool)


def static_fundamental(x_i: np.ndarray, x_j: np.ndarray, image_hw: tuple[int, int], threshold_px: float
                       ) -> np.ndarray | None:
    """The background's fundamental matrix ``(3, 3)`` of pixel matches ``x_i`` -> ``x_j`` ``(M, 2)`` in frames
    of ``image_hw``, or None: MAGSAC (:func:`fundamental_ransac` at half ``threshold_px``) on all matches,
    then on those it leaves farther than ``threshold_px``; of the two rigid motions, the one whose inliers
    cover more cells of an 8 x 8 image grid wins (a background spreads, a mover is compact, even when the
    mover holds most matches)."""
    F, _ = fundamental_ransac(x_i, x_j, 0.5 * threshold_px)
    if F is None:
        return None
    inl = sampson_error(F, x_i, x_j) <= threshold_px
    if (~inl).sum() < 15:
        return F
    F2, _ = fundamental_ransac(x_i[~inl], x_j[~inl], 0.5 * threshold_px)
    if F2 is None:
        return F
    inl2 = sampson_error(F2, x_i, x_j) <= threshold_px
    return F2 if _grid_cells(x_i[inl2], image_hw) > _grid_cells(x_i[inl], image_hw) else F


def _grid_cells(x: np.ndarray, image_hw: tuple[int, int], cells: int = 8) -> int:
    """Number of cells of a ``cells x cells`` grid over the image holding at least one of the points ``x``."""
    cx = np.clip((x[:, 0] * cells / image_hw[1]).astype(int), 0, cells - 1)
    cy = np.clip((x[:, 1] * cells / image_hw[0]).astype(int), 0, cells - 1)
    return len(np.unique(cy * cells + cx))


def essential_ransac(x_i: np.ndarray, x_j: np.ndarray, threshold: float, *, confidence: float = 0.999
                     ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Robust (MAGSAC, OpenCV's default 1000 iterations) essential matrix of normalised matches ``x_i`` ->
    ``x_j`` ``(M, 2)``; ``threshold`` in normalised units (a pixel threshold divided by the focal).

    Returns ``(E (3, 3), inliers (M,) bool)``, or ``(None, None)`` when OpenCV fails or finds no single model.
    """
    try:
        E, mask = cv2.findEssentialMat(x_i, x_j, np.eye(3), cv2.USAC_MAGSAC, confidence, threshold)
    except cv2.error:
        return None, None
    if E is None or E.shape != (3, 3) or mask is None:
        return None, None
    return E, mask.ravel().astype(bool)


def pose_from_essential(E: np.ndarray, x_i: np.ndarray, x_j: np.ndarray, inliers: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative pose ``(R (3, 3), t (3,), in_front (M,) bool)`` of an essential matrix ``E`` and its normalised
    matches ``x_i`` -> ``x_j`` ``(M, 2)`` (``X_j = R X_i + t``, ``|t| = 1``).

    Of the four decompositions, the one that puts the most ``inliers`` ``(M,)`` in front of both cameras
    (``cv2.recoverPose``); ``in_front`` marks those inliers, leaving out points triangulated farther than
    50 baselines (so at very small baselines it may mark almost none although the pose is right).
    """
    mask = np.asarray(inliers, np.uint8).reshape(-1, 1).copy()
    _, R, t, mask = cv2.recoverPose(E, x_i, x_j, np.eye(3), mask=mask)
    return R, t.ravel(), mask.ravel() > 0


def essential_singular_ratio(F: np.ndarray, focals: np.ndarray, principal_point: tuple[float, float]) -> np.ndarray:
    """For each candidate focal ``f`` (pixels, ``(C,)``), the ratio ``s2 / s1`` in ``[0, 1]`` of the two
    non-zero singular values of ``E = K^T F K``, ``K = [[f, 0, cx], [0, f, cy], [0, 0, 1]]``.

    An essential matrix has two equal singular values, so the ratio is 1 at the true focal of an exact ``F``
    (self-calibration with square pixels and a known principal point). Returns ``(C,)``.
    """
    f = np.asarray(focals, np.float64)
    K = np.zeros((len(f), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2] = principal_point
    K[:, 2, 2] = 1.0
    s = np.linalg.svd(K.transpose(0, 2, 1) @ F @ K, compute_uv=False)
    return s[:, 1] / np.maximum(s[:, 0], np.finfo(float).tiny)


def focal_from_fundamental(F: np.ndarray, focals: np.ndarray, principal_point: tuple[float, float]
                           ) -> tuple[float, float]:
    """The candidate focal (pixels) of ``focals`` ``(C,)`` whose ``K^T F K`` is closest to an essential matrix,
    and its gap ``1 - s2 / s1`` in ``[0, 1]`` (small only for a consistent ``F``); see
    :func:`essential_singular_ratio`."""
    gap = 1.0 - essential_singular_ratio(F, focals, principal_point)
    i = int(np.argmin(gap))
    return float(focals[i]), float(gap[i])


def warp_back(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """``image`` of view j ``(h, w[, C])`` seen from view i: each pixel x of view i takes the (bilinear) value of
    ``image`` at x + ``flow``(x), the dense flow ``(h, w, 2)`` float32 (dx, dy) from view i to view j. Outside
    ``image``: 0 (``cv2.BORDER_CONSTANT``) or another OpenCV border mode."""
    h, w = flow.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    return cv2.remap(image, grid + flow, None, cv2.INTER_LINEAR, borderMode=border)


def triangulate_tracks(uv: np.ndarray, K: np.ndarray, w2c: np.ndarray, k1: float = 0.0, *,
                       frames: np.ndarray | None = None, iters: int = 2,
                       robust_px: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate every track from all its observations with known cameras; ``(X, err)``.

    ``uv`` ``(N, M, 2)``: pixels of M tracks in N frames, NaN where a track is not observed; ``K`` ``(3, 3)`` and
    ``k1`` (SIMPLE_RADIAL) shared by the cameras ``w2c`` ``(N, 4, 4)``; ``frames`` ``(N,)`` bool (optional): the
    frames whose observations count (e.g. the registered ones; default all). Each point is the linear (DLT) solution
    on the undistorted normalised observations, reweighted ``iters`` times so that observations off by more than
    ``robust_px`` count less. The work is proportional to the number of observations, not to N x M.

    A track whose best point at infinity (the mean direction of its rays) has a lower median error than the
    linear solution is placed there instead: a distant static point seen with little parallax, which the linear
    solution can put behind a camera, then shows its tracking noise rather than a spurious large error.

    Returns ``X`` ``(M, 3)`` (NaN for tracks seen fewer than twice; far away for points near infinity) and ``err``
    ``(N, M)``, the reprojection error of each observation in pixels (pinhole, focal ``K[0, 0]``): NaN where
    unobserved or the frame does not count, ``inf`` where the point lies behind that camera. A static point's errors
    are the tracking noise; a moving one's are large whenever its motion is not the motion of a fixed point, also
    when it moves along the epipolar lines of every frame pair.
    """
    uv = np.asarray(uv)
    N, M = uv.shape[:2]
    X = np.full((M, 3), np.nan)
    err = np.full((N, M), np.nan)
    seen = ~np.isnan(uv[..., 0])
    if frames is not None:
        seen &= np.asarray(frames, bool)[:, None]
    m, n = np.nonzero(seen.T)  # observations grouped by track
    if not len(m):
        return X, err
    f = np.array([K[0, 0], K[1, 1]], np.float64)
    y = (uv[n, m].astype(np.float64) - K[:2, 2]) / f  # (O, 2) for the O observations: normalised, distorted
    x = y
    for _ in range(5 if k1 else 0):  # invert x_d = x (1 + k1 |x|^2) by fixed-point iteration
        x = y / (1.0 + k1 * (x**2).sum(-1, keepdims=True))
    P = np.asarray(w2c, np.float64)[:, :3, :]
    Pn = P[n]  # (O, 3, 4): each observation's camera
    rows = [x[:, k:k + 1] * Pn[:, 2] - Pn[:, k] for k in (0, 1)]  # (O, 4) each
    rows = [r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12) for r in rows]
    outer = sum(r[:, :, None] * r[:, None, :] for r in rows).reshape(-1, 16)
    tracks, start, count = np.unique(m, return_index=True, return_counts=True)
    used = np.unique(n)  # the cameras that see something (an unregistered frame's pose means nothing)
    centres = -np.einsum("nji,nj->ni", P[used, :, :3], P[used, :, 3])
    far = 1e3 * max(float(np.linalg.norm(centres - centres.mean(0), axis=1).max()), 1e-9)
    w = np.ones(len(m))
    for _ in range(iters + 1):
        A = np.add.reduceat(outer * w[:, None], start, axis=0).reshape(-1, 4, 4)
        Xh = np.linalg.eigh(A)[1][..., 0]  # (T, 4): the direction of least algebraic error
        Xo = np.repeat(Xh, count, axis=0)  # (O, 4), each observation's point
        p = np.einsum("kij,kj->ki", Pn, Xo)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.linalg.norm(p[:, :2] / p[:, 2:] - x, axis=1) * f.mean()
        # a point behind a camera that sees it (depth p_z / w <= 0) explains nothing; one farther than
        # 1000x the cameras' spread is as good as at infinity, where front and back project alike
        near = np.linalg.norm(Xo[:, :3], axis=1) < far * np.abs(Xo[:, 3])
        e = np.where(near & (p[:, 2] * Xo[:, 3] <= 0) | ~np.isfinite(e), np.inf, e)
        w = 1.0 / np.maximum(1.0, e / robust_px)
    # a distant static point seen with little parallax can end up behind a camera, or far off, in the linear
    # solution; its best point at infinity (a direction: the mean of its world rays) may explain it better
    rays = np.einsum("kji,kj->ki", Pn[:, :, :3], np.concatenate([x, np.ones((len(x), 1))], 1))
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    d = np.add.reduceat(rays, start, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    q = np.einsum("kij,kj->ki", Pn[:, :, :3], np.repeat(d, count, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        e_inf = np.where(q[:, 2] > 0, np.linalg.norm(q[:, :2] / q[:, 2:] - x, axis=1) * f.mean(), np.inf)
    at_inf = _group_median(e_inf, m, start, count) < _group_median(e, m, start, count)
    Xh[at_inf] = np.concatenate([d[at_inf] * far, np.ones((int(at_inf.sum()), 1))], 1)
    e = np.where(np.repeat(at_inf, count), e_inf, e)
    ok = count >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        X[tracks[ok]] = Xh[ok, :3] / Xh[ok, 3:]
    keep = np.repeat(ok, count)
    err[n[keep], m[keep]] = e[keep]
    return X, err


def _group_median(values: np.ndarray, group: np.ndarray, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median (the lower one for even counts) of ``values`` ``(O,)`` per group, for ``group`` ``(O,)`` sorted
    into contiguous runs that begin at ``start`` and hold ``count`` values; ``inf`` counts as the largest."""
    order = np.lexsort((values, group))
    return values[order][start + (count - 1) // 2]
