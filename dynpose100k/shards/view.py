"""Look at one video: trajectory with camera frusta + a strip of frames (PNG), or a rerun ``.rrd`` file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..camera import camera_centers, w2c_to_c2w
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


def plot_sample(sample: VideoSample, out_png, *, num_frames: int = 6, max_frusta: int = 20) -> Path:
    """Write a PNG: 3D trajectory (registered camera centres coloured by time, frusta, static points)
    above a strip of up to ``num_frames`` frames with the dynamic mask outlined (when present)."""
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
    cmap = plt.get_cmap("rainbow")
    colors = cmap(np.linspace(0, 1, n))[reg]
    if pts is not None:
        ax.scatter(*_up(pts).T, s=2, c="0.5", alpha=0.6, label=f"{len(pts)} static points")
    ax.plot(*_up(centers).T, c="0.3", lw=1)
    ax.scatter(*_up(centers).T, c=colors, s=12, depthshade=False, label=f"{reg.sum()}/{n} registered cameras")
    # scene bounds: cameras plus the bulk of the static points
    bulk = centers if pts is None else np.r_[centers, np.quantile(pts, [0.05, 0.95], axis=0)]
    lo, hi = (bulk.min(0), bulk.max(0)) if len(bulk) else (np.zeros(3), np.ones(3))
    r = 0.55 * max(float((hi - lo).max()), 1e-3)
    mid = _up((lo + hi)[None] / 2)[0]
    extent = float(np.ptp(centers, axis=0).max()) if len(centers) > 1 else r
    c2w = w2c_to_c2w(sample.w2c)
    for i in np.flatnonzero(reg)[:: max(1, int(np.ceil(reg.sum() / max_frusta)))]:
        for seg in _frustum_lines(c2w[i], sample.K[i], hw, max(0.15 * extent, 0.06 * r)):
            ax.plot(*_up(seg).T, c=cmap(i / max(n - 1, 1)), lw=0.8)
    ax.set_xlim(mid[0] - r, mid[0] + r)
    ax.set_ylim(mid[1] - r, mid[1] + r)
    ax.set_zlim(mid[2] - r, mid[2] + r)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (right)")
    ax.set_ylabel("z (forward)")
    ax.set_zlabel("-y (up)")
    m = sample.meta
    err = m.get("reproj_error_px_720p")
    ax.set_title(f"{m.get('video_id', sample.key)}: {n} frames, registered {reg.mean():.0%}, "
                 f"reproj {'n/a' if err is None else f'{err:.2f}'} px@720p (world-to-camera, OpenCV axes; "
                 "colour = time)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    if has_frames:
        idx = np.unique(np.linspace(0, n - 1, min(num_frames, n)).round().astype(int))
        for j, i in enumerate(idx):
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
