"""The dynamic pose engine: tracks -> dynamic masks -> static tracks -> SfM + bundle adjustment ->
pose check (every track re-scored by its Sampson error under the reconstructed cameras, masks updated)
-> warm-started refinement on the cleaner static tracks.

:func:`estimate_poses` is arrays in, :class:`PoseResult` out; :func:`pose_video` is the resumable stage
(decode at ``config.fps``, estimate, save to ``<out_dir>/<video_id>/``; skipped when the result exists).
Bad input (one frame, no texture, no static background, reconstruction failure) gives a result with all
frames unregistered and ``failure_reason`` set, never an exception.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..ids import video_id_of
from .config import PoseConfig
from .masking import mask_shape, motion_evidence, pixel_masks
from .result import PoseResult, result_exists, save_pose_result
from .sfm import reconstruct, refine
from .tracking import Tracker, track_video

log = logging.getLogger(__name__)

__all__ = ["estimate_poses", "pose_video", "pose_fundamentals", "static_tracks", "video_id_of"]


def static_tracks(uv: np.ndarray, dynamic: np.ndarray, masks: np.ndarray, image_hw: tuple[int, int], min_len: int) -> np.ndarray:
    """Tracks ``uv`` ``(N, M, 2)`` with dynamic tracks and observations inside ``masks`` ``(N, h, w)``
    removed (set to NaN); tracks left with fewer than ``min_len`` observations are removed too."""
    out = uv.copy()
    out[:, dynamic] = np.nan
    N, h, w = masks.shape
    n, m = np.nonzero(~np.isnan(out[..., 0]))
    H, W = image_hw
    x = np.clip(((out[n, m, 0] + 0.5) * w / W - 0.5).round().astype(int), 0, w - 1)
    y = np.clip(((out[n, m, 1] + 0.5) * h / H - 0.5).round().astype(int), 0, h - 1)
    inside = masks[n, y, x]
    out[n[inside], m[inside]] = np.nan
    out[:, (~np.isnan(out[..., 0])).sum(0) < min_len] = np.nan
    return out


def estimate_poses(
    frames: np.ndarray,
    timestamps: np.ndarray,
    config: PoseConfig = PoseConfig(),
    video_id: str = "video",
    tracker: Tracker | None = None,
    segmenter=None,
) -> PoseResult:
    """Camera poses and shared intrinsics of ``frames`` ``(N, H, W, 3)`` uint8 RGB at ``timestamps`` ``(N,)``.

    ``segmenter`` (optional) is a callable ``frames -> (N, h, w) bool`` movable-class masks, e.g.
    :class:`dynpose100k.models.segmentation.MovableSegmenter`; built from ``config.semantic_model`` when
    that is set and no segmenter is given.
    """
    t_start = time.perf_counter()
    frames = np.asarray(frames)
    N = len(frames)
    H, W = frames.shape[1:3] if frames.ndim == 4 else (0, 0)
    timings: dict[str, float] = {}
    hm, wm = mask_shape((max(H, 1), max(W, 1)), config)
    masks = np.zeros((N, hm, wm), bool)

    def result(reason: str | None, sfm=None, uv=None) -> PoseResult:
        timings["total"] = time.perf_counter() - t_start
        K0 = np.eye(3) if sfm is None else sfm.K
        common = dict(
            video_id=video_id, K=np.tile(K0, (N, 1, 1)), timestamps=np.asarray(timestamps, np.float64),
            image_size=(int(H), int(W)), dynamic_masks=masks, preset=config.preset, version=__version__,
            timings=dict(timings), config=dataclasses.asdict(config),
        )
        if reason is not None:
            log.info("%s: %s", video_id, reason)
            return PoseResult(
                w2c=np.tile(np.eye(4), (N, 1, 1)), registered=np.zeros(N, bool), points3d=np.zeros((0, 3), np.float32),
                obs_track=np.zeros(0, np.int32), obs_frame=np.zeros(0, np.int32), obs_uv=np.zeros((0, 2), np.float32),
                reproj_error_px=float("nan"), camera_model=config.camera_model, failure_reason=reason, **common,
            )
        f, p = np.nonzero(sfm.obs)
        return PoseResult(
            w2c=sfm.w2c, registered=sfm.registered, points3d=sfm.points3d.astype(np.float32), obs_track=p.astype(np.int32),
            obs_frame=f.astype(np.int32), obs_uv=uv[f, sfm.track_ids[p]].astype(np.float32),
            reproj_error_px=sfm.reproj_error_px, camera_model=sfm.camera_model,
            camera_params=tuple(float(x) for x in sfm.camera_params), failure_reason=None, **common,
        )

    if frames.ndim != 4 or N < 2:
        return result(f"need at least 2 frames of shape (H, W, 3), got {frames.shape}")

    t = time.perf_counter()
    uv = track_video(frames, config, tracker)
    timings["track"] = time.perf_counter() - t
    if uv.shape[1] < 20:
        return result(f"no trackable texture ({uv.shape[1]} tracks)")

    t = time.perf_counter()
    ev = motion_evidence(uv, (H, W), config)
    dynamic = ~(ev.score <= config.dynamic_score)  # unmeasured tracks (NaN) count as dynamic
    semantic = None
    if segmenter is None and config.semantic_model:
        from ..models.segmentation import MovableSegmenter

        segmenter = MovableSegmenter(config.semantic_model)
    if segmenter is not None:
        semantic = np.stack([cv2.resize(s.astype(np.uint8), (wm, hm), interpolation=cv2.INTER_NEAREST) for s in segmenter(frames)]).astype(bool)
    masks = pixel_masks(frames, uv, dynamic, ev, config, semantic)
    static = static_tracks(uv, dynamic, masks, (H, W), config.min_track_len)
    timings["mask"] = time.perf_counter() - t
    n_static = int((~np.isnan(static[..., 0])).any(0).sum())
    log.debug("%s: %d tracks, %d dynamic, %d static", video_id, uv.shape[1], int(dynamic.sum()), n_static)
    if n_static < 20:
        return result(f"no static background ({n_static} static of {uv.shape[1]} tracks)")

    t = time.perf_counter()
    try:
        sfm = reconstruct(static, (H, W), config, final_ba=not config.pose_check)
        if config.pose_check and not sfm.failure_reason:
            # second pass: Sampson evidence under the reconstructed cameras (exact epipolar geometry, no
            # degenerate robust fit that can absorb a large mover), then refine on the cleaner static set
            Fs = pose_fundamentals(sfm.w2c, sfm.K, sfm.registered, config.pair_gaps)
            if Fs:
                ev2 = motion_evidence(uv, (H, W), config, fundamentals=Fs)
                dynamic |= ev2.score > config.dynamic_score
                masks = pixel_masks(frames, uv, dynamic, ev2, config, semantic)
                static = static_tracks(uv, dynamic, masks, (H, W), config.min_track_len)
                sfm = refine(static, (H, W), config, sfm)
    except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
        log.warning("%s: reconstruction error: %s", video_id, e)
        timings["sfm"] = time.perf_counter() - t
        return result(f"reconstruction error: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    timings["sfm"] = time.perf_counter() - t
    if sfm.failure_reason:
        return result(sfm.failure_reason)
    return result(None, sfm, static)


def pose_fundamentals(w2c: np.ndarray, K: np.ndarray, registered: np.ndarray, gaps) -> dict[tuple[int, int], np.ndarray]:
    """Fundamental matrices ``x_j^T F x_i = 0`` of registered frame pairs ``(i, i + gap)`` from poses."""
    from ..camera import fundamental_from

    N = len(w2c)
    return {(i, i + g): fundamental_from(K, K, w2c[i], w2c[i + g]) for g in gaps for i in range(N - g)
            if registered[i] and registered[i + g]}


def pose_video(path: str | Path, out_dir: str | Path, config: PoseConfig = PoseConfig(), video_id: str | None = None,
               overwrite: bool = False, segmenter=None) -> Path:
    """Stage: decode ``path`` at ``config.fps``, estimate poses, save ``<out_dir>/<video_id>/``; returns it.

    Skips the work when a complete result already exists (unless ``overwrite``). Raises
    :class:`~dynpose100k.errors.VideoError` only when the video cannot be decoded.
    """
    from ..video import load_clip

    video_id = video_id or video_id_of(path)
    if not overwrite and result_exists(out_dir, video_id):
        log.info("%s: result exists, skipped", video_id)
        return Path(out_dir) / video_id
    t = time.perf_counter()
    clip = load_clip(path, fps=config.fps, short_side=config.short_side)
    decode = time.perf_counter() - t
    res = estimate_poses(clip.frames, clip.timestamps, config, video_id=video_id, segmenter=segmenter)
    res = dataclasses.replace(res, timings={"decode": decode, **res.timings})
    return save_pose_result(out_dir, res)

