"""Per-video pose result: the dataclass and its files.

Layout of ``<out_dir>/<video_id>/`` (written atomically: a temporary sibling folder renamed into place, so
a folder with ``result.json`` is always complete):

* ``poses.npz``: ``w2c`` (N,4,4) float64 world-to-camera (OpenCV axes), ``K`` (N,3,3) float64 in pixels of
  the input frames, ``registered`` (N,) bool, ``timestamps`` (N,) float64 seconds, ``image_size`` (2,) int
  ``(H, W)``, ``frame_confidence`` (N,) float32 in [0, 1] (0 where unregistered; see ``confidence``). One
  row per sampled frame; unregistered rows hold identity ``w2c`` and ``registered=False``.
* ``tracks.npz``: static tracks used by bundle adjustment: ``points3d`` (P,3) float32 world,
  ``obs_track`` (Q,) int32 index into ``points3d``, ``obs_frame`` (Q,) int32, ``obs_uv`` (Q,2) float32 pixels.
* ``masks.npz``: ``dynamic`` = ``np.packbits(masks, axis=-1)`` of the (N,h,w) bool dynamic masks, ``shape``
  (3,) = ``(N, h, w)``; ``(h, w)`` is a downscaled grid of the input frames (``image_size`` in the file;
  ``mask_scale`` of the analysed working frames).
* ``result.json``: video_id, num_frames, registered_fraction, reproj_error_px, reproj_error_px_720p,
  num_static_tracks, confidence (calibrated P(ATE < 2 % of the path and >= 80 % registered), in [0, 1];
  null when not computed; :mod:`dynpose100k.pose.confidence`), confidence_evidence (the features it was
  computed from), camera_model, camera_params, timings (seconds per stage), preset, version,
  failure_reason (null when frames were registered; ``"<category>: <details>"`` or ``"<category> (<count>)"``),
  evidence (what the reconstruction rests on, :mod:`dynpose100k.pose.evidence`), config (the resolved
  :class:`PoseConfig`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DynPoseError

__all__ = ["PoseResult", "save_pose_result", "load_pose_result", "result_exists", "PoseResultError"]


class PoseResultError(DynPoseError):
    """A pose result folder that is missing or incomplete."""


@dataclass(frozen=True)
class PoseResult:
    """Camera poses, intrinsics, static tracks and dynamic masks of one video."""

    video_id: str
    """Identifier; the result folder's name."""
    w2c: np.ndarray
    """``(N, 4, 4)`` float64 world-to-camera, OpenCV axes; identity where not registered."""
    K: np.ndarray
    """``(N, 3, 3)`` float64 intrinsics in pixels of the input frames (one shared camera: rows equal)."""
    registered: np.ndarray
    """``(N,)`` bool."""
    timestamps: np.ndarray
    """``(N,)`` float64 seconds from the start of the source video."""
    image_size: tuple[int, int]
    """``(H, W)`` of the input frames."""
    points3d: np.ndarray
    """``(P, 3)`` float32 static points (world)."""
    obs_track: np.ndarray
    """``(Q,)`` int32 index into ``points3d`` of each observation."""
    obs_frame: np.ndarray
    """``(Q,)`` int32 frame index of each observation."""
    obs_uv: np.ndarray
    """``(Q, 2)`` float32 observed pixel (input frames)."""
    dynamic_masks: np.ndarray
    """``(N, h, w)`` bool dynamic masks on a downscaled grid of the input frames."""
    reproj_error_px: float
    """Mean reprojection error of the final bundle adjustment (input pixels); NaN on failure."""
    camera_model: str
    """COLMAP model of the shared camera (``SIMPLE_PINHOLE`` by default)."""
    camera_params: tuple[float, ...] = ()
    """COLMAP parameters of the shared camera (COLMAP pixel convention)."""
    preset: str = ""
    """Name of the configuration preset."""
    version: str = ""
    """dynpose100k version that produced the result."""
    failure_reason: str | None = None
    """None when frames were registered, else a one-line reason (all ``registered`` False)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (``decode``, ``track``, ``mask``, ``sfm``, ``total``)."""
    config: dict = field(default_factory=dict)
    """The resolved configuration (``dataclasses.asdict(PoseConfig)``)."""
    evidence: dict = field(default_factory=dict)
    """What the reconstruction rests on (:mod:`dynpose100k.pose.evidence`): ``static_tracks`` and, once a
    reconstruction was built, ``points``, ``median_angle_deg``, ``baseline_over_depth``,
    ``median_obs_per_point``, ``median_points_per_frame`` (also when it was refused)."""
    confidence: float = float("nan")
    """Calibrated probability in [0, 1] that the poses are good (ATE below 2 % of the path length, >= 80 %
    of frames registered): ``>= 0.5`` means probably good; 0 for a failed video, NaN when not computed."""
    frame_confidence: np.ndarray | None = None
    """``(N,)`` float32 per-frame confidence in [0, 1] (0 where unregistered); None when not computed."""
    confidence_evidence: dict = field(default_factory=dict)
    """The ground-truth-free evidence features ``confidence`` was computed from."""

    @property
    def num_frames(self) -> int:
        return len(self.registered)

    @property
    def registered_fraction(self) -> float:
        return float(self.registered.mean()) if len(self.registered) else 0.0

    @property
    def num_static_tracks(self) -> int:
        return len(self.points3d)

    @property
    def reproj_error_px_720p(self) -> float:
        """Reprojection error scaled to a 720-pixel-high frame (``x 720 / H``)."""
        return self.reproj_error_px * 720.0 / self.image_size[0]

    def summary(self) -> dict:
        """The ``result.json`` content."""
        def num(x):
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "video_id": self.video_id,
            "num_frames": self.num_frames,
            "registered_fraction": self.registered_fraction,
            "reproj_error_px": num(self.reproj_error_px),
            "reproj_error_px_720p": num(self.reproj_error_px_720p),
            "num_static_tracks": self.num_static_tracks,
            "confidence": num(self.confidence),
            "confidence_evidence": {k: num(v) for k, v in self.confidence_evidence.items()},
            "camera_model": self.camera_model,
            "camera_params": [float(p) for p in self.camera_params],
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "preset": self.preset,
            "version": self.version,
            "failure_reason": self.failure_reason,
            "evidence": {k: float(v) for k, v in self.evidence.items()},
            "conventions": "w2c world-to-camera 4x4, OpenCV axes (x right, y down, z forward); K in input-frame pixels",
            "config": self.config,
        }


def result_exists(out_dir: str | os.PathLike, video_id: str) -> bool:
    """True when ``<out_dir>/<video_id>/result.json`` exists (results are written atomically)."""
    return (Path(out_dir) / video_id / "result.json").is_file()


def save_pose_result(out_dir: str | os.PathLike, result: PoseResult) -> Path:
    """Write ``result`` to ``<out_dir>/<video_id>/`` atomically (replacing an older result); returns it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / result.video_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{result.video_id}.", suffix=".tmp", dir=out_dir))
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private (0700); the result follows the umask like mkdir
        H, W = result.image_size
        np.savez_compressed(
            tmp / "poses.npz", w2c=result.w2c.astype(np.float64), K=result.K.astype(np.float64),
            registered=result.registered.astype(bool), timestamps=np.asarray(result.timestamps, np.float64),
            image_size=np.array([H, W], np.int64), frame_confidence=_frame_confidence(result),
        )
        np.savez_compressed(
            tmp / "tracks.npz", points3d=result.points3d.astype(np.float32),
            obs_track=result.obs_track.astype(np.int32),
            obs_frame=result.obs_frame.astype(np.int32), obs_uv=result.obs_uv.astype(np.float32),
        )
        m = result.dynamic_masks.astype(bool)
        np.savez_compressed(
            tmp / "masks.npz", dynamic=np.packbits(m, axis=-1), shape=np.array(m.shape, np.int64),
            image_size=np.array([H, W], np.int64),
        )
        (tmp / "result.json").write_text(json.dumps(result.summary(), indent=2))
        if final.exists():
            old = final.with_name(f".{result.video_id}.old{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _frame_confidence(result: PoseResult) -> np.ndarray:
    """The stored ``frame_confidence``: the result's, else NaN per frame (not computed)."""
    if result.frame_confidence is None:
        return np.full(result.num_frames, np.nan, np.float32)
    return np.asarray(result.frame_confidence, np.float32)


def load_pose_result(path: str | os.PathLike) -> PoseResult:
    """Read a result folder written by :func:`save_pose_result`."""
    path = Path(path)
    if not (path / "result.json").is_file():
        raise PoseResultError(f"{path}: not a pose result (no result.json)")
    meta = json.loads((path / "result.json").read_text())
    with np.load(path / "poses.npz") as p, np.load(path / "tracks.npz") as t, np.load(path / "masks.npz") as m:
        shape = tuple(int(s) for s in m["shape"])
        masks = np.unpackbits(m["dynamic"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
        reproj = meta.get("reproj_error_px")
        return PoseResult(
            video_id=meta["video_id"], w2c=p["w2c"], K=p["K"], registered=p["registered"], timestamps=p["timestamps"],
            image_size=(int(p["image_size"][0]), int(p["image_size"][1])), points3d=t["points3d"],
            obs_track=t["obs_track"], obs_frame=t["obs_frame"], obs_uv=t["obs_uv"], dynamic_masks=masks,
            reproj_error_px=float("nan") if reproj is None else float(reproj), camera_model=meta["camera_model"],
            camera_params=tuple(meta.get("camera_params", ())), preset=meta.get("preset", ""),
            version=meta.get("version", ""), failure_reason=meta.get("failure_reason"),
            timings=meta.get("timings", {}), config=meta.get("config", {}), evidence=meta.get("evidence", {}),
            confidence=float("nan") if meta.get("confidence") is None else float(meta["confidence"]),
            frame_confidence=p["frame_confidence"] if "frame_confidence" in p.files else None,
            confidence_evidence={k: float("nan") if v is None else v
                                 for k, v in meta.get("confidence_evidence", {}).items()},
        )
