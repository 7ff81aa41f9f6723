"""Look at one video: trajectory with camera frusta + a strip of frames (PNG), or a rerun ``.rrd`` file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..camera import camera_centers, w2c_to_c2w
from ..video import evenly_spaced
from .schema import VideoSample

logger = logging.getLogger(__name__)


def _frustum_lines(c2w: np.ndarray, K: np.ndarray, hw: tuple[int, int], size: float) -> list[np.ndarray]:
    """World-space line segments ``(2, 3)`` of a camera frustum (apex to the four image corners + rim)."""
    H, W = hw
    corners_px = np.array([[0, 0, 1], [W - 1, 0, 1], [W - 1, H - 1, 1], [0, H - 1, 1]], float)
    rays = corners_px @ np.linalg.inv(K).T
    pts = (rays / rays[:, 2:3] * size) @ c2w[:3, :3].T + c2w[:3, 3]
    o = c2w[:3, 3]
    return [np.stack([o, p]) for p in pts] + [np.stack([pts[i], pts[(i + 1) % 4]]) for i in range(4)]


def _up(X: np.ndarray) -> np.ndarray:
    """OpenCV world (x right, y down, z forward) -> plot axes (x, z, -y) so that image-up is up."""
    X = np.asarray(X, float)
    return np.stack([X[..., 0], X[..., 2], -X[..., 1]], axis=-1)


def view_box(centers: np.ndarray, pts: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """The cube shown by :func:`plot_sample`: ``(centre, half side, frustum size)`` in world units.

    The cube holds the camera centres and the scene points near them (within twice the trajectory's extent,
    or 0.3 of the median camera-to-point distance for a camera that barely moves), not every point: far or
    badly triangulated points would shrink the trajectory to a dot."""
    if not len(centers):
        return np.zeros(3), 1.0, 0.1
    lo, hi = centers.min(0), centers.max(0)
    extent = float((hi - lo).max())
    if pts is not None and len(pts):
        dist = np.linalg.norm(pts - centers.mean(0), axis=1)
        near = pts[dist <= max(2 * extent, 0.3 * float(np.median(dist)))]
        if len(near):
            lo, hi = np.minimum(lo, near.min(0)), np.maximum(hi, near.max(0))
    side = float((hi - lo).max())
    size = max(0.15 * extent, 0.05 * side, 1e-3)
    return (lo + hi) / 2, 0.5 * side + size, size


def plot_sample(sample: VideoSample, out_png, *, num_frames: int = 6, max_frusta: int = 20) -> Path:
    """Write a PNG: 3D trajectory (registered camera centres coloured by time, frusta, and the static points
    around them; the view is fitted to the cameras, see :func:`view_box`) above a strip of up to
    ``num_frames`` frames with the dynamic mask outlined (when present)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reg = sample.registered
    n = len(reg)
    hw = tuple(sample.meta.get("frame_size") or sample.meta.get("pose_size") or (480, 640))
    has_frames = bool(sample.frames)
    fig = plt.figure(figsize=(12, 8.5 if has_frames else 7), dpi=100)
    grid = fig.add_gridspec(2 if has_frames else 1, max(num_frames, 1), height_ratios=[4, 1] if has_frames else [1])
    ax = fig.add_subplot(grid[0, :], projection="3d")
    centers = camera_centers(sample.w2c[reg])
    pts = sample.track_points if sample.track_points is not None and len(sample.track_points) else None
    mid, r, size = view_box(centers, pts)
    cmap = plt.get_cmap("rainbow")
    colors = cmap(np.linspace(0, 1, n))[reg]
    if pts is not None:  # scene context: the points inside the box (mplot3d does not clip what lies outside)
        inside = pts[(np.abs(pts - mid) <= r).all(1)]
        ax.scatter(*_up(inside).T, s=2, c="0.5", alpha=0.6,
                   label=f"{len(inside)} of {len(pts)} static points (those in view)")
    ax.plot(*_up(centers).T, c="0.3", lw=1)
    ax.scatter(*_up(centers).T, c=colors, s=12, depthshade=False, label=f"{reg.sum()}/{n} registered cameras")
    c2w = w2c_to_c2w(sample.w2c)
    for i in np.flatnonzero(reg)[:: max(1, int(np.ceil(reg.sum() / max_frusta)))]:
        for seg in _frustum_lines(c2w[i], sample.K[i], hw, size):
            ax.plot(*_up(seg).T, c=cmap(i / max(n - 1, 1)), lw=0.8)
    lo, hi = _up(mid - r), _up(mid + r)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (right)")
    ax.set_ylabel("z (forward)")
    ax.set_zlabel("-y (up)")
    m = sample.meta
    err, conf = m.get("reproj_error_px_720p"), m.get("confidence")
    ax.set_title(f"{m.get('video_id', sample.key)}: {n} frames, registered {reg.mean():.0%}, "
                 f"confidence {'n/a' if conf is None else f'{conf:.2f}'}, "
                 f"reproj {'n/a' if err is None else f'{err:.2f}'} px@720p\n(world-to-camera, OpenCV axes; "
                 "colour = time)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    if has_frames:
        for j, i in enumerate(evenly_spaced(n, num_frames)):
            a = fig.add_subplot(grid[1, j])
            a.imshow(sample.rgb(i))
            if sample.masks:
                mask = sample.mask(i)
                a.contour(np.linspace(0, hw[1] - 1, mask.shape[1]), np.linspace(0, hw[0] - 1, mask.shape[0]),
                          mask.astype(float), levels=[0.5], colors="magenta", linewidths=1)
            a.set_title(f"t={sample.timestamps[i]:.2f}s{'' if reg[i] else ' (unreg.)'}", fontsize=8,
                        color=cmap(i / max(n - 1, 1)))
            a.axis("off")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def log_rerun(sample: VideoSample, out_rrd) -> Path:
    """Write a rerun recording (``.rrd``): cameras with pinholes and frames over a ``frame`` timeline,
    static points. Opens no viewer; view later with ``rerun out.rrd``."""
    from ..models import require

    rr = require("rerun", "viz")
    rec = rr.RecordingStream("dynpose100k")
    out = Path(out_rrd)
    out.parent.mkdir(parents=True, exist_ok=True)
    rec.save(str(out))
    rec.log("world", rr.ViewCoordinates.RDF, static=True)
    if sample.track_points is not None and len(sample.track_points):
        rec.log("world/points", rr.Points3D(sample.track_points), static=True)
    reg = sample.registered
    rec.log("world/trajectory", rr.LineStrips3D([camera_centers(sample.w2c[reg])]), static=True)
    hw = sample.meta.get("frame_size") or sample.meta.get("pose_size")
    c2w = w2c_to_c2w(sample.w2c)
    for i in np.flatnonzero(reg):
        rec.set_time("frame", sequence=int(i))
        rec.log("world/camera", rr.Transform3D(translation=c2w[i, :3, 3], mat3x3=c2w[i, :3, :3]))
        rec.log("world/camera/image", rr.Pinhole(image_from_camera=sample.K[i], resolution=[hw[1], hw[0]]))
        if sample.frames:
            rec.log("world/camera/image", rr.EncodedImage(contents=sample.frames[i], media_type="image/jpeg"))
    rec.flush()
    return out
