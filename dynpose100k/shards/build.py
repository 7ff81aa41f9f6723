"""Build a shard sample from a per-video pose result folder plus its frames."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..camera import resize_K
from ..errors import DynPoseError, ShardError
from ..ids import safe_id
from .schema import META_FIELDS, VideoSample, encode_jpeg, encode_png_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoseFiles:
    """The files of one pose result folder (``poses.npz``, ``tracks.npz``, ``masks.npz``, ``result.json``)."""

    w2c: np.ndarray
    """``(N, 4, 4)`` float64 world-to-camera."""
    K: np.ndarray
    """``(N, 3, 3)`` float64 in pixels of ``image_size``."""
    registered: np.ndarray
    """``(N,)`` bool."""
    timestamps: np.ndarray
    """``(N,)`` float64 seconds from the source video start."""
    image_size: tuple[int, int]
    """``(H, W)`` of the frames the poses were estimated on."""
    result: dict
    """``result.json`` contents (empty when absent)."""
    points3d: np.ndarray | None = None
    """``(P, 3)`` float32 static points, world."""
    obs: np.ndarray | None = None
    """``(Q, 4)`` float32 ``[track, frame, u, v]`` in pixels of ``image_size``."""
    masks: np.ndarray | None = None
    """``(N, h, w)`` bool dynamic masks (grid possibly smaller than ``image_size``)."""


def _load_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise ShardError(f"{path}: unreadable npz ({e})") from None


def read_pose_dir(pose_dir) -> PoseFiles:
    """Read a pose result folder (see docs/architecture.md, "Per-video pose result")."""
    d = Path(pose_dir)
    if not (d / "poses.npz").is_file():
        raise ShardError(f"{d}: no poses.npz (not a pose result folder)")
    p = _load_npz(d / "poses.npz")
    missing = [k for k in ("w2c", "K", "registered", "timestamps", "image_size") if k not in p]
    if missing:
        raise ShardError(f"{d / 'poses.npz'}: missing array(s) {missing}")
    result = {}
    if (d / "result.json").is_file():
        try:
            result = json.loads((d / "result.json").read_text())
        except json.JSONDecodeError as e:
            raise ShardError(f"{d / 'result.json'}: malformed JSON ({e.msg})") from None
    points = obs = masks = None
    if (d / "tracks.npz").is_file():
        t = _load_npz(d / "tracks.npz")
        points = t["points3d"].astype(np.float32).reshape(-1, 3)
        obs = np.c_[t["obs_track"], t["obs_frame"], t["obs_uv"].reshape(-1, 2)].astype(np.float32)
    if (d / "masks.npz").is_file():
        m = _load_npz(d / "masks.npz")
        shape = tuple(int(v) for v in m["shape"])
        masks = np.unpackbits(m["dynamic"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
    H, W = (int(v) for v in p["image_size"])
    return PoseFiles(
        w2c=p["w2c"].astype(np.float64), K=p["K"].astype(np.float64), registered=p["registered"].astype(bool),
        timestamps=p["timestamps"].astype(np.float64), image_size=(H, W), result=result,
        points3d=points, obs=obs, masks=masks,
    )


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
    """A ``VideoSample`` from a pose result folder and the video's frames.

    ``video_or_frames``: a video file or frames folder (the frames nearest to the pose timestamps are
    decoded), an array ``(N, H, W, 3)`` uint8 RGB aligned with the poses, or ``None`` (poses only).
    ``meta``: provenance to add (``source_url``, ``caption``, ``filter_score``, ...; see ``META_FIELDS``);
    quality fields come from ``result.json``. ``frame_short_side``: store frames resized to this short
    side; ``K`` and track observations are rescaled to the stored resolution (``camera.resize_K``).
    """
    pf = read_pose_dir(pose_dir)
    n = len(pf.w2c)
    if isinstance(video_or_frames, (str, Path)):
        try:
            frames = _frames_at(Path(video_or_frames), pf.timestamps, frame_short_side)
        except DynPoseError as e:
            raise ShardError(str(e)) from None
    elif video_or_frames is not None:
        frames = resize_frames(np.asarray(video_or_frames), frame_short_side)
        if len(frames) != n:
            raise ShardError(f"{pose_dir}: {len(frames)} frames given for {n} poses")
    else:
        frames = None
    src = pf.image_size
    dst = frames.shape[1:3] if frames is not None else src
    if abs(dst[1] / dst[0] - src[1] / src[0]) > 0.01 * src[1] / src[0]:
        raise ShardError(f"{pose_dir}: frames {dst} do not have the aspect ratio of the posed frames {src}")
    K = resize_K(pf.K, src, dst)
    obs = None
    if pf.obs is not None:
        obs = pf.obs.copy()
        obs[:, 2] = (obs[:, 2] + 0.5) * (dst[1] / src[1]) - 0.5
        obs[:, 3] = (obs[:, 3] + 0.5) * (dst[0] / src[0]) - 0.5
    r = pf.result
    video_id = str(r.get("video_id") or Path(pose_dir).name)
    dt = np.diff(pf.timestamps)
    m = {
        "video_id": video_id,
        "num_frames": n,
        "registered_fraction": r.get("registered_fraction", float(pf.registered.mean()) if n else 0.0),
        "fps": float(round(1.0 / np.median(dt), 3)) if len(dt) and np.median(dt) > 0 else None,
        "frame_size": [int(dst[0]), int(dst[1])] if frames is not None else None,
        "pose_size": [int(src[0]), int(src[1])],
        "mask_size": list(pf.masks.shape[1:]) if pf.masks is not None else None,
        **{k: r[k] for k in ("reproj_error_px", "reproj_error_px_720p", "num_static_tracks", "confidence", "preset",
                             "version")
           if k in r},
        **(meta or {}),
    }
    unknown = set(m) - set(META_FIELDS)
    if unknown:
        raise ShardError(f"{pose_dir}: unknown meta field(s) {sorted(unknown)}")
    return VideoSample(
        key=safe_id(video_id),
        w2c=pf.w2c, K=K, registered=pf.registered, timestamps=pf.timestamps, meta=m,
        frames=[encode_jpeg(f, jpeg_quality) for f in frames] if frames is not None else [],
        track_points=pf.points3d, track_obs=obs,
        masks=[encode_png_mask(x) for x in pf.masks] if pf.masks is not None else [],
    )


def open_sample(path, *, key: str | None = None, video=None) -> VideoSample:
    """One video as a ``VideoSample`` from a pose result folder (frames from ``video`` if given), a
    ``.tar`` shard or a dataset directory (``key`` selects the sample; default: the first)."""
    from .reader import iter_samples

    path = Path(path)
    if (path / "poses.npz").is_file():
        return build_sample(path, video)
    if not path.exists():
        raise ShardError(f"{path}: no such pose folder, shard or dataset directory")
    for s in iter_samples(path):
        if key is None or s.key == key:
            return s
    raise ShardError(f"{path}: no sample with key {key!r}")
