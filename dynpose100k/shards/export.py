"""Export one video's cameras to other tools' formats: COLMAP text model and TUM trajectory.

Conversions happen only here, at the boundary: COLMAP's ``cam_from_world`` equals our ``w2c`` but its
pixel origin is the top-left pixel's corner (principal point and observations +0.5); TUM rows are
camera-to-world. Unregistered frames are left out of both. The COLMAP model is built as a
``pycolmap.Reconstruction`` (cameras as the pose engine builds them) and written by pycolmap itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..camera import pixels_to_colmap, write_tum
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
    """Write a COLMAP text model (``cameras.txt``, ``images.txt``, ``points3D.txt``, as pycolmap writes it)
    and, with ``write_images``, ``images/<frame>.jpg`` into ``out_dir`` (whose ``images/`` may hold no other
    file: the export of another result there is refused, not mixed in).

    One camera shared by all registered frames when their intrinsics are equal (SIMPLE_PINHOLE when
    ``fx == fy``, else PINHOLE), else one per frame. Image ids are frame index + 1, names ``%06d.jpg``.
    Points are the static tracks seen in at least two registered frames, with their reprojection errors
    and, when the sample has frames, colours sampled from them.
    """
    import numpy as np

    from ..pose.colmap import import_pycolmap, make_camera

    pycolmap = import_pycolmap()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reg = sample.registered
    if not reg.any():
        raise ShardError(f"{sample.key}: no registered frame to export")
    H, W = (sample.meta.get("frame_size") or sample.meta.get("pose_size") or [None, None])
    if H is None:
        raise ShardError(f"{sample.key}: image size unknown (meta.frame_size / meta.pose_size missing)")
    frames = [int(i) for i in reg.nonzero()[0]]
    K = sample.K
    shared = bool(np.allclose(K[frames], K[frames[0]], rtol=1e-9, atol=1e-9))

    def camera(k: np.ndarray, camera_id: int):
        model = "SIMPLE_PINHOLE" if abs(k[0, 0] - k[1, 1]) <= 1e-9 * abs(k[0, 0]) else "PINHOLE"
        return make_camera(model, k, (H, W), camera_id)

    # observations of the registered frames, grouped by track
    obs = np.zeros((0, 4))
    if sample.track_points is not None and sample.track_obs is not None and len(sample.track_obs):
        obs = np.asarray(sample.track_obs, np.float64)
        in_range = (obs[:, 0] >= 0) & (obs[:, 0] < len(sample.track_points))
        ok = reg[np.clip(obs[:, 1].astype(int), 0, len(reg) - 1)] & in_range
        obs = obs[ok & (obs[:, 1] >= 0) & (obs[:, 1] < len(reg))]
        n_views = np.bincount(obs[:, 0].astype(int), minlength=len(sample.track_points))
        obs = obs[n_views[obs[:, 0].astype(int)] >= 2]  # a COLMAP point needs two views
    rec = pycolmap.Reconstruction()
    if shared:
        rec.add_camera_with_trivial_rig(camera(K[frames[0]], 1))
    elements: dict[int, list] = {}
    for i in frames:
        mine = obs[obs[:, 1].astype(int) == i]
        if not shared:
            rec.add_camera_with_trivial_rig(camera(K[i], i + 1))
        img = pycolmap.Image(name=f"{i:06d}.jpg", keypoints=pixels_to_colmap(mine[:, 2:4]),
                             camera_id=1 if shared else i + 1, image_id=i + 1)
        rec.add_image_with_trivial_frame(img, pycolmap.Rigid3d(sample.w2c[i, :3]))
        for k, t in enumerate(mine[:, 0].astype(int).tolist()):
            elements.setdefault(t, []).append(pycolmap.TrackElement(i + 1, k))
    for t in sorted(elements):
        rec.add_point3D(np.asarray(sample.track_points[t], np.float64), pycolmap.Track(elements[t]),
                        np.array([128, 128, 128], np.uint8))
    rec.update_point_3d_errors()
    if write_images and sample.frames:
        (out / "images").mkdir(exist_ok=True)
        names = {f"{i:06d}.jpg" for i in frames}
        other = sorted(p.name for p in (out / "images").iterdir() if p.name not in names)
        if other:  # the model would list some images and the folder hold others
            raise ShardError(f"{out / 'images'}: holds images of another export ({other[0]}, ...); give an empty "
                             "or new --out")
        for i in frames:
            (out / "images" / f"{i:06d}.jpg").write_bytes(sample.frames[i])
        rec.extract_colors_for_all_images(str(out / "images"))
    rec.write_text(str(out))
    logger.info("COLMAP text model with %d images, %d camera(s) and %d points in %s", len(frames),
                rec.num_cameras(), rec.num_points3D(), out)
    return out
