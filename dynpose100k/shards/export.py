"""Export one video's cameras to other tools' formats: COLMAP text model and TUM trajectory.

Conversions happen only here, at the boundary: COLMAP's ``cam_from_world`` equals our ``w2c`` but its
pixel origin is the top-left pixel's corner (principal point and observations +0.5); TUM rows are
camera-to-world. Unregistered frames are left out of both.
"""

from __future__ import annotations

import logging
from pathlib import Path


from ..camera import K_to_colmap, rotmat_to_quat, write_tum
from ..errors import ShardError
from .schema import VideoSample

logger = logging.getLogger(__name__)


def export_tum(sample: VideoSample, path) -> Path:
    """Write the registered frames as a TUM trajectory ``timestamp tx ty tz qx qy qz qw`` (camera-to-world)."""
    reg = sample.registered
    if not reg.any():
        raise ShardError(f"{sample.key}: no registered frame to export")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tum(path, sample.w2c[reg], sample.timestamps[reg])
    return path


def export_colmap(sample: VideoSample, out_dir, *, write_images: bool = True) -> Path:
    """Write ``cameras.txt``, ``images.txt``, ``points3D.txt`` (static track points and their
    observations when present) and, with ``write_images``, ``images/<frame>.jpg`` into ``out_dir``.

    One PINHOLE camera per registered frame (intrinsics may vary over time); image ids are frame
    index + 1; image names ``%06d.jpg`` by frame index.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reg = sample.registered
    if not reg.any():
        raise ShardError(f"{sample.key}: no registered frame to export")
    H, W = (sample.meta.get("frame_size") or sample.meta.get("pose_size") or [None, None])
    if H is None:
        raise ShardError(f"{sample.key}: image size unknown (meta.frame_size / meta.pose_size missing)")
    frames = [int(i) for i in reg.nonzero()[0]]
    # observations per frame: (point2D index) -> point3D id; tracks per point
    obs_by_frame: dict[int, list[tuple[float, float, int]]] = {i: [] for i in frames}
    tracks: dict[int, list[tuple[int, int]]] = {}
    if sample.track_points is not None and sample.track_obs is not None:
        for t, f, u, v in sample.track_obs:
            f, t = int(f), int(t)
            if f in obs_by_frame and 0 <= t < len(sample.track_points):
                obs_by_frame[f].append((u + 0.5, v + 0.5, t + 1))
                tracks.setdefault(t + 1, []).append((f + 1, len(obs_by_frame[f]) - 1))
    with open(out / "cameras.txt", "w") as fc:
        fc.write("# CAMERA_ID MODEL WIDTH HEIGHT PARAMS[] (dynpose100k export, PINHOLE fx fy cx cy)\n")
        for i in frames:
            fc.write(f"{i + 1} PINHOLE {W} {H} " + " ".join(f"{p:.9g}" for p in K_to_colmap(sample.K[i])) + "\n")
    with open(out / "images.txt", "w") as fi:
        fi.write("# IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME (cam_from_world = w2c)\n# POINTS2D[] as (X Y POINT3D_ID)\n")
        for i in frames:
            qx, qy, qz, qw = rotmat_to_quat(sample.w2c[i, :3, :3])
            tx, ty, tz = sample.w2c[i, :3, 3]
            fi.write(f"{i + 1} {qw:.12g} {qx:.12g} {qy:.12g} {qz:.12g} {tx:.12g} {ty:.12g} {tz:.12g} {i + 1} {i:06d}.jpg\n")
            fi.write(" ".join(f"{u:.6f} {v:.6f} {pid}" for u, v, pid in obs_by_frame[i]) + "\n")
    with open(out / "points3D.txt", "w") as fp:
        fp.write("# POINT3D_ID X Y Z R G B ERROR TRACK[] as (IMAGE_ID POINT2D_IDX)\n")
        for pid, track in sorted(tracks.items()):
            x, y, z = sample.track_points[pid - 1]
            fp.write(f"{pid} {x:.9g} {y:.9g} {z:.9g} 128 128 128 0 " + " ".join(f"{a} {b}" for a, b in track) + "\n")
    if write_images and sample.frames:
        (out / "images").mkdir(exist_ok=True)
        for i in frames:
            (out / "images" / f"{i:06d}.jpg").write_bytes(sample.frames[i])
    logger.info("COLMAP text model with %d images and %d points in %s", len(frames), len(tracks), out)
    return out
