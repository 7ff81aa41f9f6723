"""Camera conventions, in one place.

The project's convention everywhere (arrays, files, docs):

* ``w2c``: world-to-camera rigid transform, ``(4, 4)`` or ``(N, 4, 4)`` float64, so that
  ``x_cam = w2c @ x_world`` (homogeneous). Camera axes follow OpenCV: x right, y down, z forward.
* ``K``: intrinsics ``(3, 3)`` or ``(N, 3, 3)`` in pixels of the *stored* frames, pixel centres at
  integer coordinates (the top-left pixel's centre is ``(0, 0)``), as in OpenCV.

Other conventions appear only at import/export boundaries and are named: ``c2w`` (camera-to-world),
``tum`` (``timestamp tx ty tz qx qy qz qw``, camera-to-world), ``colmap`` (``cam_from_world`` = our
``w2c``, but COLMAP puts the top-left pixel's *corner* at ``(0, 0)``, so principal points differ by 0.5).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "make_K",
    "focal_from_hfov",
    "hfov_from_focal",
    "make_w2c",
    "invert",
    "w2c_to_c2w",
    "c2w_to_w2c",
    "camera_centers",
    "project",
    "unproject",
    "transform_points",
    "relative_pose",
    "fundamental_from",
    "rotmat_to_quat",
    "quat_to_rotmat",
    "to_tum",
    "from_tum",
    "write_tum",
    "read_tum",
    "COLMAP_PIXEL_SHIFT",
    "pixels_to_colmap",
    "K_to_colmap",
    "K_from_colmap",
    "resize_K",
    "resize_pixels",
    "crop_K",
    "look_at",
]


def make_K(fx: float, fy: float | None = None, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """Intrinsics ``(3, 3)`` from focal lengths and principal point, all in pixels."""
    fy = fx if fy is None else fy
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def focal_from_hfov(hfov_deg, width):
    """Focal length (px) of a pinhole whose horizontal field of view across ``width`` px is ``hfov_deg``."""
    return (np.asarray(width, np.float64) / 2) / np.tan(np.radians(hfov_deg) / 2)


def hfov_from_focal(focal, width):
    """Horizontal field of view (degrees) across ``width`` px of a pinhole of focal length ``focal`` (px)."""
    return np.degrees(2 * np.arctan(np.asarray(width, np.float64) / 2 / focal))


def make_w2c(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stack rotations ``(..., 3, 3)`` and translations ``(..., 3)`` into ``w2c`` ``(..., 4, 4)``."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(R.shape[:-2] + (4, 4), dtype=np.float64)
    out[..., :3, :3] = R
    out[..., :3, 3] = t
    out[..., 3, 3] = 1.0
    return out


def invert(T: np.ndarray) -> np.ndarray:
    """Invert rigid transforms ``(..., 4, 4)`` exactly (R^T, -R^T t)."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = np.swapaxes(R, -1, -2)
    return make_w2c(Rt, -np.einsum("...ij,...j->...i", Rt, t))


def w2c_to_c2w(w2c: np.ndarray) -> np.ndarray:
    """World-to-camera ``(..., 4, 4)`` -> camera-to-world ``(..., 4, 4)``."""
    return invert(w2c)


def c2w_to_w2c(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world ``(..., 4, 4)`` -> world-to-camera ``(..., 4, 4)``."""
    return invert(c2w)


def camera_centers(w2c: np.ndarray) -> np.ndarray:
    """Camera centres in world coordinates ``(..., 3)`` from ``w2c`` ``(..., 4, 4)``: ``-R^T t``."""
    return invert(w2c)[..., :3, 3]


def transform_points(T: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Apply a ``(4, 4)`` transform (or a stack ``(..., 4, 4)``) to points ``(M, 3)`` -> ``(..., M, 3)``."""
    T = np.asarray(T, dtype=np.float64)
    return np.asarray(X, dtype=np.float64) @ np.swapaxes(T[..., :3, :3], -1, -2) + T[..., None, :3, 3]


def project(K: np.ndarray, w2c: np.ndarray, X: np.ndarray, k1: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Project world points ``(M, 3)`` with one camera ``w2c`` ``(4, 4)``, or with each of ``(..., 4, 4)``.

    Returns pixel coordinates ``(..., M, 2)`` (OpenCV pixel-centre convention) and depths ``(..., M)`` (z in
    the camera frame; points with ``z <= 0`` are behind the camera and their pixels are meaningless).
    ``k1``: one-coefficient radial distortion of the normalised coordinates, ``x_d = x (1 + k1 |x|^2)``
    (COLMAP's SIMPLE_RADIAL), applied before ``K``.
    """
    K = np.asarray(K, dtype=np.float64)
    Xc = transform_points(w2c, X)
    z = Xc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = Xc[..., :2] / z[..., None]
        if k1:
            xy = xy * (1 + k1 * (xy**2).sum(-1, keepdims=True))
        uv = xy @ K[:2, :2].T + K[:2, 2]
    return uv, z


def unproject(K: np.ndarray, w2c: np.ndarray, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Lift pixels ``(M, 2)`` with z-depths ``(M,)`` to world points ``(M, 3)``."""
    uv = np.asarray(uv, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    rays = np.linalg.solve(np.asarray(K, np.float64), np.c_[uv, np.ones(len(uv))].T).T
    Xc = rays * depth[:, None]
    return transform_points(invert(w2c), Xc)


def relative_pose(w2c_i: np.ndarray, w2c_j: np.ndarray) -> np.ndarray:
    """Transform ``(4, 4)`` taking camera-i coordinates to camera-j coordinates: ``w2c_j @ inv(w2c_i)``."""
    return np.asarray(w2c_j, np.float64) @ invert(w2c_i)


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]], dtype=np.float64)


def fundamental_from(K_i: np.ndarray, K_j: np.ndarray, w2c_i: np.ndarray, w2c_j: np.ndarray) -> np.ndarray:
    """Fundamental matrix ``(3, 3)`` with ``x_j^T F x_i = 0`` for pixels ``x_i`` in i and ``x_j`` in j."""
    T = relative_pose(w2c_i, w2c_j)
    E = _skew(T[:3, 3]) @ T[:3, :3]
    return np.linalg.inv(K_j).T @ E @ np.linalg.inv(K_i)


def rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` as ``(qx, qy, qz, qw)``, qw >= 0."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
    q[q[:, 3] < 0] *= -1
    return q.reshape(R.shape[:-2] + (4,))


def quat_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` as ``(qx, qy, qz, qw)`` -> rotation matrices ``(..., 3, 3)``."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(q.shape[:-1] + (3, 3))


def to_tum(w2c: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """``w2c`` ``(N, 4, 4)`` -> TUM rows ``(N, 8)``: ``timestamp tx ty tz qx qy qz qw`` (camera-to-world)."""
    c2w = w2c_to_c2w(w2c)
    return np.c_[np.asarray(timestamps, np.float64), c2w[:, :3, 3], rotmat_to_quat(c2w[:, :3, :3])]


def from_tum(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TUM rows ``(N, 8)`` -> (``w2c`` ``(N, 4, 4)``, timestamps ``(N,)``)."""
    rows = np.atleast_2d(np.asarray(rows, np.float64))
    c2w = make_w2c(quat_to_rotmat(rows[:, 4:8]), rows[:, 1:4])
    return c2w_to_w2c(c2w), rows[:, 0]


def write_tum(path, w2c: np.ndarray, timestamps: np.ndarray) -> None:
    """Write a TUM trajectory file (camera-to-world), readable by evo."""
    rows = to_tum(w2c, timestamps)
    with open(path, "w") as f:
        f.write("# timestamp tx ty tz qx qy qz qw (camera-to-world)\n")
        for r in rows:
            f.write(" ".join(f"{v:.9f}" for v in r) + "\n")


def read_tum(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory file -> (``w2c`` ``(N, 4, 4)``, timestamps ``(N,)``)."""
    return from_tum(np.loadtxt(path, comments="#", ndmin=2))


COLMAP_PIXEL_SHIFT = 0.5
"""COLMAP pixel coordinate minus ours for the same point: COLMAP puts the top-left pixel's corner at ``(0, 0)``."""


def pixels_to_colmap(uv: np.ndarray) -> np.ndarray:
    """Our pixel coordinates ``(..., 2)`` -> COLMAP's (keypoints of a ``pycolmap.Image``)."""
    return np.asarray(uv, np.float64) + COLMAP_PIXEL_SHIFT


def K_to_colmap(K: np.ndarray) -> np.ndarray:
    """Our ``K`` -> COLMAP PINHOLE params ``(fx, fy, cx, cy)`` (COLMAP's pixel-corner origin: +0.5)."""
    K = np.asarray(K, np.float64)
    return np.array([K[0, 0], K[1, 1], K[0, 2] + COLMAP_PIXEL_SHIFT, K[1, 2] + COLMAP_PIXEL_SHIFT])


def K_from_colmap(model: str, params) -> np.ndarray:
    """COLMAP camera ``model`` name and ``params`` -> our ``K`` ``(3, 3)`` (distortion terms ignored).

    Single-focal models (SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL, ...) start with ``f, cx, cy``; the others
    (PINHOLE, OPENCV, ...) with ``fx, fy, cx, cy``.
    """
    p = np.asarray(params, np.float64)
    d = COLMAP_PIXEL_SHIFT
    if model.startswith("SIMPLE") or model.startswith("RADIAL"):
        return make_K(p[0], p[0], p[1] - d, p[2] - d)
    return make_K(p[0], p[1], p[2] - d, p[3] - d)


def resize_pixels(uv: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """Pixel positions ``(..., 2)`` (x, y) in an image of ``src_hw=(H, W)`` moved to the same scene points in
    the image resized to ``dst_hw``; float64, NaN stays NaN.

    Pixel-centre convention (pixel ``i`` covers ``[i - 0.5, i + 0.5]``): ``u' = (u + 0.5) * s - 0.5``, the
    map :func:`resize_K` applies to the principal point.
    """
    s = np.array([dst_hw[1] / src_hw[1], dst_hw[0] / src_hw[0]])
    return (np.asarray(uv, np.float64) + 0.5) * s - 0.5


def resize_K(K: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics after resizing an image of ``src_hw=(H, W)`` to ``dst_hw`` (works on ``(..., 3, 3)``).

    Pixel-centre convention: ``u' = (u + 0.5) * s - 0.5`` (see :func:`resize_pixels`).
    """
    K = np.array(K, dtype=np.float64, copy=True)
    sy = dst_hw[0] / src_hw[0]
    sx = dst_hw[1] / src_hw[1]
    K[..., 0, 0] *= sx
    K[..., 0, 1] *= sx
    K[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    K[..., 1, 1] *= sy
    K[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return K


def crop_K(K: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """Intrinsics after cropping with the crop's top-left pixel at ``(x0, y0)`` (works on ``(..., 3, 3)``)."""
    K = np.array(K, dtype=np.float64, copy=True)
    K[..., 0, 2] -= x0
    K[..., 1, 2] -= y0
    return K


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """``w2c`` ``(4, 4)`` of a camera at ``eye`` looking at ``target``; ``up`` is the world direction that
    should appear up in the image (OpenCV: image-up is camera -y, so the default world up is -y)."""
    eye = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(-np.asarray(up, np.float64), z)
    n = np.linalg.norm(x)
    if n < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to up")
    x /= n
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    return make_w2c(R, -R @ eye)
