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
  computed from), confidence_caps (the physical checks that capped it, e.g. ``["focal_change"]``), camera_model,
  camera_params, timings (seconds per stage), preset, version,
  failure_reason (null when frames were registered; ``"<category>: <details>"`` or ``"<category> (<count>)"``),
  evidence (what the reconstruction rests on, :mod:`dynpose100k.pose.evidence`), config (the resolved
  :class:`PoseConfig`), source (the file or frames folder read, its size in bytes and its content digest).

This module is the only reader and writer of the folder: :func:`save_pose_result` writes it,
:func:`load_pose_result` reads all of it into a :class:`PoseResult`, :func:`read_summary` reads
``result.json`` alone, :func:`is_pose_result` / :func:`find_pose_results` find folders. A folder is a result
when it holds ``result.json`` and ``poses.npz``; ``tracks.npz`` and ``masks.npz`` are optional (absent:
``None`` arrays, and a result whose arrays are ``None`` is saved without them). Older ``result.json`` files
lacking a field read with :data:`SUMMARY_DEFAULTS` (``video_id`` defaults to the folder name); an older
``poses.npz`` without ``frame_confidence`` reads as ``None``. Anything missing or unreadable raises a one-line
:class:`PoseResultError`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DynPoseError

__all__ = ["PoseResult", "PoseResultError", "SUMMARY_DEFAULTS", "save_pose_result", "load_pose_result", "read_summary",
           "is_pose_result", "find_pose_results", "result_exists"]

SUMMARY_DEFAULTS: dict = {
    "reproj_error_px": None, "reproj_error_px_720p": None, "confidence": None, "confidence_evidence": {},
    "confidence_caps": [],
    "camera_model": "SIMPLE_PINHOLE", "camera_params": [], "timings": {}, "preset": "", "version": "",
    "failure_reason": None, "evidence": {}, "config": {}, "source": {},
}
"""What :func:`read_summary` fills in for a ``result.json`` field that is absent or null (older results have
no ``confidence``, ``confidence_evidence``, ``confidence_caps`` or ``evidence``). Fields computed from the arrays
(``num_frames``, ``registered_fraction``, ``num_static_tracks``, ``image_size``) get no default."""


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
    points3d: np.ndarray | None
    """``(P, 3)`` float32 static points (world); ``None`` (as the three ``obs_*``) for a folder without
    ``tracks.npz``."""
    obs_track: np.ndarray | None
    """``(Q,)`` int32 index into ``points3d`` of each observation."""
    obs_frame: np.ndarray | None
    """``(Q,)`` int32 frame index of each observation."""
    obs_uv: np.ndarray | None
    """``(Q, 2)`` float32 observed pixel (input frames)."""
    dynamic_masks: np.ndarray | None
    """``(N, h, w)`` bool dynamic masks on a downscaled grid of the input frames; ``None`` for a folder
    without ``masks.npz``."""
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
    """``(N,)`` float32 per-frame confidence in [0, 1] (0 where unregistered); None when not computed (a
    result read back from its folder then holds NaN in every frame)."""
    confidence_evidence: dict = field(default_factory=dict)
    """The ground-truth-free evidence features ``confidence`` was computed from."""
    confidence_caps: tuple[str, ...] = ()
    """The physical checks that capped ``confidence`` (:func:`dynpose100k.pose.confidence.confidence_caps`:
    ``focal_change``, ``step_jump``, ``mended_jump``, ``moving_fraction``, ``map_disagreement``); empty when
    none did. Why a map is doubted whatever its other evidence says."""
    source: dict = field(default_factory=dict)
    """What the frames were read from (:func:`dynpose100k.video.source_of`: ``path``, ``bytes``, ``digest``); empty for
    frames given as arrays."""

    @property
    def num_frames(self) -> int:
        return len(self.registered)

    @property
    def registered_fraction(self) -> float:
        """Share of the frames registered, those of a fade from or to black at the clip's ends left out
        (``evidence.fade_head``/``fade_tail``: they hold no picture to pose)."""
        head, tail = int(self.evidence.get("fade_head", 0)), int(self.evidence.get("fade_tail", 0))
        reg = self.registered[head:len(self.registered) - tail]
        return float(reg.mean()) if len(reg) else 0.0

    @property
    def num_static_tracks(self) -> int:
        """Static points of the final bundle adjustment (0 without tracks)."""
        return 0 if self.points3d is None else len(self.points3d)

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
            "confidence_caps": list(self.confidence_caps),
            "camera_model": self.camera_model,
            "camera_params": [float(p) for p in self.camera_params],
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "preset": self.preset,
            "version": self.version,
            "failure_reason": self.failure_reason,
            "evidence": {k: float(v) for k, v in self.evidence.items()},
            "conventions": "w2c world-to-camera 4x4, OpenCV axes (x right, y down, z forward); K in input-frame pixels "
                           "(pixel centres at integers); camera_params as COLMAP lists them (its principal point "
                           "0.5 px further: pixel corners at integers)",
            "config": self.config,
            "source": self.source,
        }


def is_pose_result(path: str | os.PathLike) -> bool:
    """True when ``path`` is a finished result folder (it holds ``result.json``; results are written
    atomically, so such a folder is complete)."""
    return (Path(path) / "result.json").is_file()


def result_exists(out_dir: str | os.PathLike, video_id: str) -> bool:
    """True when ``<out_dir>/<video_id>/`` is a finished result (:func:`is_pose_result`)."""
    return is_pose_result(Path(out_dir) / video_id)


def find_pose_results(root: str | os.PathLike, required: bool = False) -> list[Path]:
    """The result folders ``<root>/<video_id>/`` (sorted; unfinished temporary folders are not results).
    ``required``: none is a :class:`PoseResultError` naming ``root`` and, where results lie one level down
    (``curate`` keeps them per preset, ``<out>/poses/<preset>/``), the folders to give instead."""
    found = sorted(d for d in Path(root).glob("*") if is_pose_result(d))
    if required and not found:
        below = sorted({d.parent for d in Path(root).glob("*/*") if is_pose_result(d)})
        hint = f"; they are one level down: give {' or '.join(map(str, below))}" if below else ""
        raise PoseResultError(f"{root}: no pose results (<video_id>/result.json){hint}")
    return found


def save_pose_result(out_dir: str | os.PathLike, result: PoseResult) -> Path:
    """Write ``result`` to ``<out_dir>/<video_id>/`` atomically (replacing an older result); returns it.
    ``tracks.npz`` / ``masks.npz`` are left out when the result has no tracks / masks (``None``)."""
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
        if result.points3d is not None:
            np.savez_compressed(
                tmp / "tracks.npz", points3d=result.points3d.astype(np.float32),
                obs_track=result.obs_track.astype(np.int32),
                obs_frame=result.obs_frame.astype(np.int32), obs_uv=result.obs_uv.astype(np.float32),
            )
        if result.dynamic_masks is not None:
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


def read_summary(path: str | os.PathLike) -> dict:
    """The ``result.json`` of the result folder ``path``, absent or null fields filled from
    :data:`SUMMARY_DEFAULTS` and ``video_id`` from the folder name (no array is read)."""
    path = Path(path)
    if not is_pose_result(path):
        raise PoseResultError(f"{path}: not a pose result (no result.json)")
    try:
        meta = json.loads((path / "result.json").read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise PoseResultError(f"{path / 'result.json'}: unreadable ({e})") from None
    except json.JSONDecodeError as e:
        raise PoseResultError(f"{path / 'result.json'}: malformed JSON ({e.msg})") from None
    if not isinstance(meta, dict):
        raise PoseResultError(f"{path / 'result.json'}: not a JSON object")
    for k, v in dict(SUMMARY_DEFAULTS, video_id=path.name).items():
        if meta.get(k) is None:
            meta[k] = copy.copy(v)  # never the shared default
    return meta


def _read_npz(path: Path, keys: tuple[str, ...], optional: bool = False) -> dict | None:
    """The arrays of ``path`` (all of ``keys`` required; others kept when present); None when ``optional``
    and the file is absent."""
    if optional and not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise PoseResultError(f"{path}: missing (not a complete pose result)") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise PoseResultError(f"{path}: unreadable npz ({e})") from None
    missing = [k for k in keys if k not in out]
    if missing:
        raise PoseResultError(f"{path}: missing array(s) {missing}")
    return out


def load_pose_result(path: str | os.PathLike) -> PoseResult:
    """Read a result folder written by :func:`save_pose_result` (older ones too: see the module docstring);
    arrays come back with the contract's dtypes."""
    path = Path(path)
    meta = read_summary(path)
    p = _read_npz(path / "poses.npz", ("w2c", "K", "registered", "timestamps", "image_size"))
    n = len(p["registered"])
    if p["w2c"].shape != (n, 4, 4) or p["K"].shape != (n, 3, 3) or p["timestamps"].shape != (n,):
        raise PoseResultError(f"{path / 'poses.npz'}: shapes w2c {p['w2c'].shape}, K {p['K'].shape}, timestamps "
                              f"{p['timestamps'].shape} do not match {n} frames")
    t = _read_npz(path / "tracks.npz", ("points3d", "obs_track", "obs_frame", "obs_uv"), optional=True)
    m = _read_npz(path / "masks.npz", ("dynamic", "shape"), optional=True)
    masks = None
    if m is not None:
        shape = tuple(int(s) for s in m["shape"])
        try:
            masks = np.unpackbits(m["dynamic"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
        except (ValueError, IndexError) as e:
            raise PoseResultError(f"{path / 'masks.npz'}: masks do not match their shape {shape} ({e})") from None
    fc = p.get("frame_confidence")
    return PoseResult(
        video_id=str(meta["video_id"]), w2c=p["w2c"].astype(np.float64), K=p["K"].astype(np.float64),
        registered=p["registered"].astype(bool), timestamps=p["timestamps"].astype(np.float64),
        image_size=(int(p["image_size"][0]), int(p["image_size"][1])),
        points3d=None if t is None else t["points3d"].astype(np.float32).reshape(-1, 3),
        obs_track=None if t is None else t["obs_track"].astype(np.int32),
        obs_frame=None if t is None else t["obs_frame"].astype(np.int32),
        obs_uv=None if t is None else t["obs_uv"].astype(np.float32).reshape(-1, 2), dynamic_masks=masks,
        reproj_error_px=_num(meta["reproj_error_px"]), camera_model=meta["camera_model"],
        camera_params=tuple(meta["camera_params"]), preset=meta["preset"], version=meta["version"],
        failure_reason=meta["failure_reason"], timings=meta["timings"], config=meta["config"],
        evidence=meta["evidence"], confidence=_num(meta["confidence"]),
        frame_confidence=None if fc is None else fc.astype(np.float32),
        confidence_evidence={k: _num(v) for k, v in meta["confidence_evidence"].items()},
        confidence_caps=tuple(str(c) for c in meta["confidence_caps"]), source=dict(meta["source"]),
    )


def _num(x) -> float:
    """A stored number (null: NaN)."""
    return float("nan") if x is None else float(x)
