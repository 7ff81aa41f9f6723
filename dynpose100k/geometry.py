"""Two-view geometry as pure functions on arrays: Sampson error, robust fundamental and essential matrices,
focal length from a fundamental matrix, relative pose from an essential matrix.

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
    "essential_ransac",
    "pose_from_essential",
    "essential_singular_ratio",
    "focal_from_fundamental",
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
