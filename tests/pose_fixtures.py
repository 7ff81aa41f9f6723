"""Tiny pose result folders that follow the pose-result contract, written by tests (``from pose_fixtures import
write_pose_dir``: ``tests/`` is on the test path through its conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dynpose100k.camera import look_at, make_K, project


def write_pose_dir(out, video_id: str = "vid_0", *, n: int = 12, hw: tuple[int, int] = (96, 160),
                   seed: int = 0, reproj_px_720p: float = 1.0, registered_fraction: float = 1.0,
                   num_points: int = 40) -> tuple[Path, np.ndarray]:
    """Write ``<out>/<video_id>/`` (poses.npz, tracks.npz, masks.npz, result.json) for a camera orbiting
    random points; returns the folder and matching RGB frames ``(n, H, W, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    H, W = hw
    d = Path(out) / video_id
    d.mkdir(parents=True, exist_ok=True)
    angles = np.linspace(-0.4, 0.4, n) + rng.normal(0, 0.01)
    w2c = np.stack([look_at([4 * np.sin(a), -0.5, -4 * np.cos(a)], [0, 0, 0]) for a in angles])
    K = np.tile(make_K(0.9 * W, 0.9 * W, (W - 1) / 2, (H - 1) / 2), (n, 1, 1))
    registered = np.ones(n, bool)
    registered[: int(round(n * (1 - registered_fraction)))] = False
    w2c[~registered] = np.eye(4)
    ts = np.arange(n) / 12.0 + 1.0
    np.savez(d / "poses.npz", w2c=w2c, K=K, registered=registered, timestamps=ts, image_size=np.array([H, W]))
    pts = rng.uniform(-1, 1, (num_points, 3)).astype(np.float32)
    tr, fr, uv = [np.zeros(0)], [np.zeros(0)], [np.zeros((0, 2))]
    for i in np.flatnonzero(registered):
        p, _ = project(K[i], w2c[i], pts)
        tr.append(np.arange(num_points)), fr.append(np.full(num_points, i)), uv.append(p)
    np.savez(d / "tracks.npz", points3d=pts, obs_track=np.concatenate(tr).astype(np.int32),
             obs_frame=np.concatenate(fr).astype(np.int32), obs_uv=np.concatenate(uv).astype(np.float32))
    masks = np.zeros((n, H // 4, W // 4), bool)
    for i in range(n):
        masks[i, 5:12, 3 + i : 12 + i] = True
    np.savez(d / "masks.npz", dynamic=np.packbits(masks, axis=-1), shape=np.array(masks.shape))
    (d / "result.json").write_text(json.dumps({
        "video_id": video_id, "num_frames": n, "registered_fraction": float(registered.mean()),
        "reproj_error_px": reproj_px_720p * H / 720, "reproj_error_px_720p": reproj_px_720p,
        "num_static_tracks": num_points, "preset": "test", "version": "0", "failure_reason": None}))
    yy, xx = np.mgrid[:H, :W]
    frames = np.stack([np.dstack([(xx * 255 // W + 10 * i) % 256, yy * 255 // H, np.full_like(xx, 40 * i % 256)])
                       for i in range(n)]).astype(np.uint8)
    return d, frames


def static_tracks_of(frames):
    """The engine's static tracks of ``frames`` (tracking, motion evidence, pixel masks, as the pipeline
    runs them with the default config) and the frame size."""
    from dynpose100k.pose import PoseConfig
    from dynpose100k.pose.masking import motion_evidence, pixel_masks
    from dynpose100k.pose.pipeline import static_tracks
    from dynpose100k.pose.tracking import track_video

    cfg = PoseConfig()
    hw = frames.shape[1:3]
    uv = track_video(frames, cfg)
    ev = motion_evidence(uv, hw, cfg)
    dyn = ~(ev.score <= cfg.dynamic_score)
    return static_tracks(uv, dyn, pixel_masks(frames, uv, dyn, ev, cfg, None), hw, cfg.min_track_len), hw


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
