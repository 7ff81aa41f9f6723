"""Tiny pose result folders written through the pose-result contract (:func:`dynpose100k.pose.save_pose_result`),
so that a fixture folder and a real one cannot differ (``from pose_fixtures import write_pose_dir``: ``tests/``
is on the test path through its conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynpose100k.camera import look_at, make_K, project
from dynpose100k.pose import PoseResult, save_pose_result


def fixture_pose_result(video_id: str = "vid_0", *, n: int = 12, hw: tuple[int, int] = (96, 160), seed: int = 0,
                        reproj_px_720p: float = 1.0, registered_fraction: float = 1.0, num_points: int = 40,
                        confidence: float | None = None, focal_pin: float | None = None) -> PoseResult:
    """A :class:`PoseResult` of a camera orbiting ``num_points`` random points, with exact track observations,
    a moving dynamic-mask box at a quarter of the frame size and the first frames unregistered as
    ``registered_fraction`` asks (``confidence``: None = not computed; ``focal_pin``: the evidence figure, None =
    not measured)."""
    rng = np.random.default_rng(seed)
    H, W = hw
    angles = np.linspace(-0.4, 0.4, n) + rng.normal(0, 0.01)
    w2c = np.stack([look_at([4 * np.sin(a), -0.5, -4 * np.cos(a)], [0, 0, 0]) for a in angles])
    K = np.tile(make_K(0.9 * W, 0.9 * W, (W - 1) / 2, (H - 1) / 2), (n, 1, 1))
    registered = np.ones(n, bool)
    registered[: int(round(n * (1 - registered_fraction)))] = False
    w2c[~registered] = np.eye(4)
    pts = rng.uniform(-1, 1, (num_points, 3)).astype(np.float32)
    tr, fr, uv = [np.zeros(0)], [np.zeros(0)], [np.zeros((0, 2))]
    for i in np.flatnonzero(registered):
        p, _ = project(K[i], w2c[i], pts)
        tr.append(np.arange(num_points)), fr.append(np.full(num_points, i)), uv.append(p)
    masks = np.zeros((n, H // 4, W // 4), bool)
    for i in range(n):
        masks[i, 5:12, 3 + i : 12 + i] = True
    return PoseResult(
        video_id=video_id, w2c=w2c, K=K, registered=registered, timestamps=np.arange(n) / 12.0 + 1.0,
        image_size=(H, W), points3d=pts, obs_track=np.concatenate(tr).astype(np.int32),
        obs_frame=np.concatenate(fr).astype(np.int32), obs_uv=np.concatenate(uv).astype(np.float32),
        dynamic_masks=masks, reproj_error_px=reproj_px_720p * H / 720, camera_model="SIMPLE_PINHOLE",
        camera_params=(0.9 * W, W / 2, H / 2), preset="test", version="0",
        confidence=float("nan") if confidence is None else confidence,
        evidence={} if focal_pin is None else {"focal_pin": focal_pin},
    )


def write_pose_dir(out, video_id: str = "vid_0", *, n: int = 12, hw: tuple[int, int] = (96, 160),
                   seed: int = 0, reproj_px_720p: float = 1.0, registered_fraction: float = 1.0,
                   num_points: int = 40, confidence: float | None = None,
                   focal_pin: float | None = None) -> tuple[Path, np.ndarray]:
    """Save :func:`fixture_pose_result` to ``<out>/<video_id>/``; returns the folder and matching RGB frames
    ``(n, H, W, 3)`` uint8."""
    res = fixture_pose_result(video_id, n=n, hw=hw, seed=seed, reproj_px_720p=reproj_px_720p,
                              registered_fraction=registered_fraction, num_points=num_points, confidence=confidence,
                              focal_pin=focal_pin)
    H, W = hw
    yy, xx = np.mgrid[:H, :W]
    frames = np.stack([np.dstack([(xx * 255 // W + 10 * i) % 256, yy * 255 // H, np.full_like(xx, 40 * i % 256)])
                       for i in range(n)]).astype(np.uint8)
    return save_pose_result(out, res), frames


def static_tracks_of(frames):
    """The engine's static tracks of ``frames`` (tracking, motion evidence, exclusion zones, as the pipeline
    runs them with the default config) and the frame size."""
    from dynpose100k.pose import PoseConfig
    from dynpose100k.pose.masking import exclusion_masks, motion_evidence
    from dynpose100k.pose.pipeline import static_tracks
    from dynpose100k.pose.tracking import track_video

    cfg = PoseConfig()
    hw = frames.shape[1:3]
    uv = track_video(frames, cfg)
    ev = motion_evidence(uv, hw, cfg)
    dyn = ~(ev.score <= cfg.dynamic_score)
    return static_tracks(uv, dyn, exclusion_masks(frames, uv, dyn, ev, cfg, None), hw, cfg.min_track_len), hw


def save_result_for(out, gt, w2c, registered, *, K=None, image_size=None, reproj_px_720p=1.0,
                    confidence=float("nan"), failure_reason=None, video_id=None, **fields):
    """Write a complete pose result folder ``<out>/<id>/`` (``save_pose_result``) holding the given cameras for
    the frames of ``synth`` ground truth ``gt``; ``K`` (default the true one) is in pixels of ``image_size``
    (default the ground truth's); other ``PoseResult`` fields by keyword. Returns the folder."""
    from dynpose100k.pose.result import PoseResult, save_pose_result

    n = gt.num_frames
    hw = tuple(image_size or gt.image_size)
    res = PoseResult(
        video_id=video_id or gt.video_id, w2c=np.asarray(w2c, np.float64), K=gt.K.copy() if K is None else K,
        registered=np.asarray(registered, bool), timestamps=gt.timestamps, image_size=hw,
        points3d=np.zeros((0, 3), np.float32), obs_track=np.zeros(0, np.int32), obs_frame=np.zeros(0, np.int32),
        obs_uv=np.zeros((0, 2), np.float32), dynamic_masks=np.zeros((n, 4, 4), bool),
        reproj_error_px=reproj_px_720p * hw[0] / 720, camera_model="SIMPLE_PINHOLE", failure_reason=failure_reason,
        confidence=confidence, **fields)
    return save_pose_result(out, res)
