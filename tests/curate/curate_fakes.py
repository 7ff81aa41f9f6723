"""Fast stand-ins for the filter and pose stages (the runner's own logic is what these tests exercise).

Behaviour is chosen by the clip id: ``good`` -> kept (all frames registered), ``lowreg`` -> 50% registered,
``posefail`` -> pose failure, ``crash`` -> the worker process dies, ``mid`` -> filter score 0.6 (kept at
thresholds up to 0.6), ``walk`` and ``zoom`` -> rejected on the score as looking like a slow zoom (score 0.3),
then posed at confidence 0.9 (``walk``) or 0.1 (``zoom``, capped by the focal check) if pose-checked;
anything else -> filtered out as static.
Decoding is the real :func:`dynpose100k.video.load_clip`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynpose100k.curate.stages import Stages, stage_sample
from dynpose100k.pose import PoseResult, save_pose_result
from dynpose100k.shards.schema import VideoSample, encode_jpeg, encode_sample


@dataclass(frozen=True)
class Decision:
    status: str
    score: float
    reasons: list
    signals: dict
    detector: str | None = None


class PoseConfigStub:
    fps = 12.0
    short_side = None


@dataclass(frozen=True)
class FakeStages(Stages):
    delay: float = 0.0
    """Seconds each item's filter stage sleeps (to make runs long enough to interrupt)."""

    def check(self):
        pass  # no filter model to load

    def filter(self, clip):
        time.sleep(self.delay)
        name = Path(clip.path).stem
        if "crash" in name:
            os._exit(3)
        score = 0.9 if any(k in name for k in ("good", "lowreg", "posefail")) else 0.6 if "mid" in name else 0.1
        threshold = getattr(self.filter_config, "threshold", None) or 0.5
        if "walk" in name or "zoom" in name:
            return Decision("reject", 0.3, [f"low_score: 0.3 < {threshold}"], {}, "slowzoom")
        keep = score >= threshold
        why = [] if keep else [f"low_score: {score} < {threshold}"] + (["static camera"] if "mid" not in name else [])
        return Decision("keep" if keep else "reject", score, why, {}, None if keep else "static")

    def pose(self, clip, item):
        name = Path(clip.path).stem
        n = len(clip.frames)
        reg = np.ones(n, bool)
        if "lowreg" in name:
            reg[: n // 2] = False
        H, W = clip.frames.shape[1:3]
        res = PoseResult(item.item_id, np.tile(np.eye(4), (n, 1, 1)), np.tile(np.eye(3), (n, 1, 1)), reg,
                         clip.timestamps, (H, W), None, None, None, None, None, reproj_error_px=H / 720,
                         camera_model="SIMPLE_PINHOLE", confidence=0.1 if "zoom" in name else 0.9,
                         confidence_caps=("focal_change",) if "zoom" in name else (),
                         failure_reason="too few static tracks" if "posefail" in name else None)
        return str(save_pose_result(self.pose_root, res)), res.summary(), clip

    def package(self, clip, item, pose_dir, decision):
        n = len(clip.frames)
        h, w = clip.frames.shape[1:3]
        K = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1.0]])
        s = VideoSample(item.item_id, np.tile(np.eye(4), (n, 1, 1)), np.tile(K, (n, 1, 1)), np.ones(n, bool),
                        clip.timestamps, {"video_id": item.item_id, "num_frames": n, "registered_fraction": 1.0,
                         "filter_reasons": list(decision.reasons)},
                        frames=[encode_jpeg(f) for f in clip.frames])
        stage_sample(Path(self.staging_dir), encode_sample(s))


def fake_stages(out: Path, delay: float = 0.0, min_registered: float = 0.8,
                threshold: float | None = None, pose_check: tuple[str, ...] = ()) -> FakeStages:
    from dynpose100k.curate import CurateConfig, RunLayout
    from dynpose100k.filtering import FilterConfig

    poses = RunLayout.of(CurateConfig(out=out)).poses  # where the runner's readers look
    return FakeStages(pose_root=str(poses), staging_dir=str(out / "staging"),
                      pose_config=PoseConfigStub(), min_registered=min_registered, delay=delay,
                      filter_config=FilterConfig(threshold=threshold), pose_check=pose_check)


def tiny_video(path: Path, n: int = 12, seed: int = 0, fps: float = 12.0) -> Path:
    """A 160x96 clip of a texture sliding sideways."""
    from dynpose100k.video import write_video

    rng = np.random.default_rng(seed)
    tex = (rng.random((96, 400, 3)) * 255).astype(np.uint8)
    write_video(path, np.stack([tex[:, 4 * i: 4 * i + 160] for i in range(n)]), fps)
    return path
