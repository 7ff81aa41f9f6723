"""Build a shard sample from a per-video pose result folder plus its frames."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..camera import resize_K, resize_pixels
from ..errors import DynPoseError, ShardError
from ..ids import safe_id
from ..pose.result import is_pose_result, load_pose_result
from .schema import META_FIELDS, VideoSample, encode_jpeg, encode_png_mask

logger = logging.getLogger(__name__)


def _frames_at(path: Path, timestamps: np.ndarray, short_side: int | None) -> np.ndarray:
    """Decode the source frames nearest to each timestamp ``(N,)`` -> ``(N, H, W, 3)``."""
    from ..video import iter_frames, probe

    info = probe(path)
    tol = 0.5 / info.fps + 1e-3
    best_dt = np.full(len(timestamps), np.inf)
    best: list[np.ndarray | None] = [None] * len(timestamps)
    for t, rgb in iter_frames(path, fps=None, short_side=short_side,
                              start=max(0.0, timestamps.min() - tol), end=timestamps.max() + tol):
        d = np.abs(timestamps - t)
        for i in np.flatnonzero(d < best_dt):
            best_dt[i], best[i] = d[i], rgb
    if not np.all(best_dt <= tol):
        bad = timestamps[best_dt > tol]
        raise ShardError(f"{path}: no frame within {tol:.3f} s of timestamp(s) {bad[:3].round(3).tolist()}")
    return np.stack(best)


def resize_frames(frames: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize ``(N, H, W, 3)`` frames so that the short side is ``short_side`` (``None``: unchanged)."""
    if short_side is None:
        return frames
    H, W = frames.shape[1:3]
    s = short_side / min(H, W)
    size = (max(1, round(W * s)), max(1, round(H * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, size, interpolation=interp) for f in frames])


def build_sample(
    pose_dir,
    video_or_frames=None,
    meta: dict | None = None,
    *,
    frame_short_side: int | None = None,
    jpeg_quality: int = 90,
) -> VideoSample:
    """A ``VideoSample`` from a pose result folder (read by :func:`dynpose100k.pose.load_pose_result`) and the
    video's frames.

    ``video_or_frames``: a video file or frames folder (the frames nearest to the pose timestamps are
    decoded; it must be the clip the result was posed from, by its size and digest when the result recorded
    them, :func:`dynpose100k.video.other_source`), an array ``(N, H, W, 3)`` uint8 RGB aligned with the poses,
    or ``None`` (poses only).
    ``meta``: provenance to add (``source_url``, ``caption``, ``filter_score``, ...; see ``META_FIELDS``);
    quality fields come from the result (its ``result.json`` figures). ``frame_short_side``: store frames
    resized to this short side; ``K`` and track observations are rescaled to the stored resolution
    (``camera.resize_K``).
    """
    res = load_pose_result(pose_dir)
    n = res.num_frames
    if isinstance(video_or_frames, (str, Path)):
        from ..video import other_source, source_of

        if other_source(res.source, source_of(video_or_frames)):
            raise ShardError(f"{video_or_frames}: not the video {res.video_id} was posed from "
                             f"({res.source.get('path')})")
        try:
            frames = _frames_at(Path(video_or_frames), res.timestamps, frame_short_side)
        except DynPoseError as e:
            raise ShardError(str(e)) from None
    elif video_or_frames is not None:
        frames = resize_frames(np.asarray(video_or_frames), frame_short_side)
        if len(frames) != n:
            raise ShardError(f"{pose_dir}: {len(frames)} frames given for {n} poses")
    else:
        frames = None
    src = res.image_size
    dst = frames.shape[1:3] if frames is not None else src
    if abs(dst[1] / dst[0] - src[1] / src[0]) > 0.01 * src[1] / src[0]:
        raise ShardError(f"{pose_dir}: frames {dst} do not have the aspect ratio of the posed frames {src}")
    K = resize_K(res.K, src, dst)
    obs = None
    if res.points3d is not None:  # [track, frame, u, v], pixels rescaled like K
        obs = np.c_[res.obs_track, res.obs_frame, res.obs_uv].astype(np.float32)
        obs[:, 2:] = resize_pixels(obs[:, 2:], src, dst)
    r = res.summary()
    dt = np.diff(res.timestamps)
    m = {
        "video_id": res.video_id,
        "num_frames": n,
        "registered_fraction": r["registered_fraction"],
        "fps": float(round(1.0 / np.median(dt), 3)) if len(dt) and np.median(dt) > 0 else None,
        "frame_size": [int(dst[0]), int(dst[1])] if frames is not None else None,
        "pose_size": [int(src[0]), int(src[1])],
        "mask_size": list(res.dynamic_masks.shape[1:]) if res.dynamic_masks is not None else None,
        **{k: r[k] for k in ("reproj_error_px", "reproj_error_px_720p", "num_static_tracks", "confidence",
                             "confidence_caps", "preset", "version")},
        "focal_pin": (r.get("evidence") or {}).get("focal_pin"),
        "hfov_deg_given": (res.config or {}).get("hfov_deg"),
        "picture_box": _picture_box(res.evidence or {}, src, dst),
        **(meta or {}),
    }
    unknown = set(m) - set(META_FIELDS)
    if unknown:
        raise ShardError(f"{pose_dir}: unknown meta field(s) {sorted(unknown)}")
    return VideoSample(
        key=safe_id(res.video_id),
        w2c=res.w2c, K=K, registered=res.registered, timestamps=res.timestamps, meta=m,
        frames=[encode_jpeg(f, jpeg_quality) for f in frames] if frames is not None else [],
        track_points=res.points3d, track_obs=obs,
        masks=[encode_png_mask(x) for x in res.dynamic_masks] if res.dynamic_masks is not None else [],
    )


def _picture_box(evidence: dict, src: tuple[int, int], dst: tuple[int, int]) -> list[int] | None:
    """The pose engine's bars (``evidence.bars_*``, pixels of the posed frames ``src``) in pixels of the stored
    frames ``dst``, whole pixels inside the bars; None without bars."""
    bars = [evidence.get(f"bars_{side}") for side in ("top", "bottom", "left", "right")]
    if not any(bars):
        return None
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return [int(np.ceil((b or 0.0) * s - 1e-6)) for b, s in zip(bars, (sy, sy, sx, sx))]


def open_sample(path, *, key: str | None = None, video=None) -> VideoSample:
    """One video as a ``VideoSample`` from a pose result folder (frames from ``video`` if given), a
    ``.tar`` shard or a dataset directory (``key`` selects the sample; default: the first)."""
    from .reader import iter_samples

    path = Path(path)
    if is_pose_result(path):
        return build_sample(path, video)
    if not path.exists():
        raise ShardError(f"{path}: no such pose folder, shard or dataset directory")
    for s in iter_samples(path):
        if key is None or s.key == key:
            return s
    raise ShardError(f"{path}: no sample with key {key!r}")
