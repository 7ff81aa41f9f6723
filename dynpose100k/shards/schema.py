"""The shard sample schema: one video per WebDataset sample, fields typed by extension, never pickle.

A sample is a group of tar members ``<key>.<field>`` sharing a key without dots. Field names are
lowercase because WebDataset lowercases extensions when it groups members (the ``K`` matrices live in
``k.npy``). Conventions: ``w2c`` world-to-camera, OpenCV axes; ``K`` in pixels of the *stored* frames.

=====================  =========================================  ===============================
field                  content                                    shape / dtype
=====================  =========================================  ===============================
``frames.mp``          msgpack list of JPEG bytes (RGB)           N images of ``meta.frame_size``
``w2c.npy``            world-to-camera poses                      ``(N, 4, 4)`` float64
``k.npy``              intrinsics at the stored resolution        ``(N, 3, 3)`` float64
``registered.npy``     frame registered by bundle adjustment      ``(N,)`` bool
``timestamps.npy``     seconds from the source video start        ``(N,)`` float64
``track_points.npy``   static track points (world)                ``(P, 3)`` float32
``track_obs.npy``      observations ``[track, frame, u, v]``      ``(Q, 4)`` float32, stored px
``masks.mp``           msgpack list of 1-bit PNG dynamic masks    N images of ``meta.mask_size``
``meta.json``          provenance + quality (see ``META_FIELDS``) object
=====================  =========================================  ===============================
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import cv2
import msgpack
import numpy as np

from ..errors import ShardError
from ..ids import ID_RE

SCHEMA_VERSION = 1

# field -> (kind, description). kind: "jpegs" | "pngs" | "npy" | "json"
FIELDS: dict[str, tuple[str, str]] = {
    "frames.mp": ("jpegs", "RGB frames as JPEG bytes at meta.frame_size, sampled at meta.fps"),
    "w2c.npy": ("npy", "world-to-camera (N,4,4) float64, OpenCV axes (x right, y down, z forward)"),
    "k.npy": ("npy", "intrinsics K (N,3,3) float64 in pixels of the stored frames"),
    "registered.npy": ("npy", "(N,) bool; unregistered frames carry identity w2c"),
    "timestamps.npy": ("npy", "(N,) float64 seconds from the start of the source video"),
    "track_points.npy": ("npy", "(P,3) float32 static track points in world coordinates"),
    "track_obs.npy": ("npy", "(Q,4) float32 observations [track, frame, u, v], u,v in stored-frame px"),
    "masks.mp": ("pngs", "dynamic masks as 1-bit PNG bytes at meta.mask_size (white = dynamic)"),
    "meta.json": ("json", "provenance and quality flags"),
}
REQUIRED = ("w2c.npy", "k.npy", "registered.npy", "timestamps.npy", "meta.json")
#: the per-video quality flags (``meta.json`` keys), also kept per sample in the manifest so that a dataset is
#: summarised (``inspect``) and subset without reading its shards
QUALITY_FIELDS = ("confidence", "registered_fraction", "reproj_error_px_720p", "focal_pin")

# meta.json keys -> (type for the card, default, description). Every sample carries every key (null if unknown).
META_FIELDS: dict[str, tuple[str, Any, str]] = {
    "video_id": ("string", None, "clip identifier (the sample key is derived from it)"),
    "source_url": ("string", None, "URL of the source video"),
    "source_start_s": ("float64", None, "clip start in the source video, seconds"),
    "source_end_s": ("float64", None, "clip end in the source video, seconds"),
    "caption": ("string", None, "clip caption"),
    "filter_score": ("float64", None, "suitability filter score (higher = more suitable)"),
    "filter_reasons": ("list:string", [], "reasons recorded by the filter (the last one `pose_check: ...` when "
                       "the curator's pose check kept a clip the filter rejected)"),
    "curate_config_hash": ("string", None, "hash of the curation settings that decided this clip (config.json)"),
    "num_frames": ("int64", None, "N"),
    "registered_fraction": ("float64", None, "share of frames registered by bundle adjustment (frames of a fade "
                                             "from or to black at the ends left out)"),
    "reproj_error_px": ("float64", None, "mean reprojection error of static tracks, px at pose_size"),
    "reproj_error_px_720p": ("float64", None, "the same error rescaled to 720p (quality flag)"),
    "num_static_tracks": ("int64", None, "static tracks used by bundle adjustment"),
    "confidence": ("float64", None, "calibrated P(ATE < 2% of path, >= 80% registered) in [0, 1] (quality flag)"),
    "confidence_caps": ("list:string", [], "physical checks that capped the confidence (`focal_change`: a zoom or a "
                        "focal the clip cannot pin down; `step_jump`, `mended_jump`, `moving_fraction`, "
                        "`map_disagreement`); empty when none did"),
    "focal_pin": ("float64", None, "how firmly the static tracks pin the focal down: the median reprojection "
                  "error with the focal held 1.5 times off over the map's own (translation alone never fixes a "
                  "focal, turns do); >= 1.3: K is reliable, under 1.1: the focal is a guess; null: not measured "
                  "(a given lens, a failed map)"),
    "fps": ("float64", 12.0, "frame sampling rate"),
    "frame_size": ("list:int64", None, "[H, W] of the stored frames (K is in these pixels)"),
    "pose_size": ("list:int64", None, "[H, W] of the frames the poses were estimated on"),
    "mask_size": ("list:int64", None, "[h, w] of the stored dynamic masks"),
    "preset": ("string", None, "pose engine preset"),
    "hfov_deg_given": ("float64", None, "the lens's horizontal field of view (degrees) the pose engine was given, "
                       "its focal held; null: the focal was estimated"),
    "picture_box": ("list:int64", None, "[top, bottom, left, right]: the letterbox or pillarbox bars around the "
                    "picture, in stored-frame px (the frames keep them; crop with frames[top:H - bottom, "
                    "left:W - right] and subtract left, top from K's principal point); null: no bars"),
    "version": ("string", None, "software version that produced the poses"),
    "schema_version": ("int64", SCHEMA_VERSION, "version of this sample schema"),
}


@dataclass(frozen=True)
class VideoSample:
    """One decoded video sample (arrays in the project conventions)."""

    key: str
    """Sample key (the video id with dots and other unsafe characters replaced)."""
    w2c: np.ndarray
    """World-to-camera poses ``(N, 4, 4)`` float64."""
    K: np.ndarray
    """Intrinsics ``(N, 3, 3)`` float64 in pixels of ``frames``."""
    registered: np.ndarray
    """``(N,)`` bool."""
    timestamps: np.ndarray
    """``(N,)`` float64 seconds."""
    meta: dict
    """Provenance and quality flags (keys of ``META_FIELDS``)."""
    frames: list[bytes] = field(default_factory=list)
    """JPEG bytes per frame (empty when the sample carries no frames)."""
    track_points: np.ndarray | None = None
    """``(P, 3)`` float32 static points, world coordinates."""
    track_obs: np.ndarray | None = None
    """``(Q, 4)`` float32 ``[track, frame, u, v]`` in stored-frame pixels."""
    masks: list[bytes] = field(default_factory=list)
    """1-bit PNG bytes per frame (empty when absent)."""

    def rgb(self, i: int) -> np.ndarray:
        """Frame ``i`` decoded to ``(H, W, 3)`` uint8 RGB."""
        return decode_jpeg(self.frames[i])

    def mask(self, i: int) -> np.ndarray:
        """Dynamic mask ``i`` decoded to ``(h, w)`` bool."""
        return decode_png_mask(self.masks[i])


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ShardError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ShardError("undecodable JPEG frame")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode_png_mask(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.asarray(mask, bool).astype(np.uint8) * 255, [cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:
        raise ShardError("PNG encoding failed")
    return buf.tobytes()


def decode_png_mask(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ShardError("undecodable PNG mask")
    return img > 127


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def normalize_meta(meta: dict) -> dict:
    """Fill every ``META_FIELDS`` key (defaults for missing ones); unknown keys are rejected."""
    unknown = set(meta) - set(META_FIELDS)
    if unknown:
        raise ShardError(f"unknown meta field(s) {sorted(unknown)}; allowed: {list(META_FIELDS)}")
    return {k: meta.get(k, default) for k, (_, default, _) in META_FIELDS.items()}


def validate_sample(s: VideoSample) -> None:
    """Raise ``ShardError`` unless the key has no dots and all per-frame fields agree on ``N``."""
    n = len(s.w2c)
    if not ID_RE.match(s.key):
        raise ShardError(f"sample key {s.key!r} must match {ID_RE.pattern} (no dots)")
    checks = {
        "w2c": s.w2c.shape == (n, 4, 4),
        "K": s.K.shape == (n, 3, 3),
        "registered": s.registered.shape == (n,),
        "timestamps": s.timestamps.shape == (n,),
        "frames": not s.frames or len(s.frames) == n,
        "masks": not s.masks or len(s.masks) == n,
        "track_points": s.track_points is None or s.track_points.ndim == 2 and s.track_points.shape[1] == 3,
        "track_obs": s.track_obs is None or s.track_obs.ndim == 2 and s.track_obs.shape[1] == 4,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ShardError(f"sample {s.key}: inconsistent shapes for {bad} (N={n})")


def encode_sample(s: VideoSample) -> dict[str, bytes | str]:
    """``VideoSample`` -> WebDataset dict (``__key__`` + field bytes), validating shapes."""
    validate_sample(s)
    out: dict[str, bytes | str] = {
        "__key__": s.key,
        "w2c.npy": _npy(np.asarray(s.w2c, np.float64)),
        "k.npy": _npy(np.asarray(s.K, np.float64)),
        "registered.npy": _npy(np.asarray(s.registered, bool)),
        "timestamps.npy": _npy(np.asarray(s.timestamps, np.float64)),
        "meta.json": json.dumps(normalize_meta(s.meta), allow_nan=False).encode(),
    }
    if s.frames:
        out["frames.mp"] = msgpack.packb(list(s.frames), use_bin_type=True)
    if s.masks:
        out["masks.mp"] = msgpack.packb(list(s.masks), use_bin_type=True)
    if s.track_points is not None:
        out["track_points.npy"] = _npy(np.asarray(s.track_points, np.float32).reshape(-1, 3))
        obs = np.zeros((0, 4), np.float32) if s.track_obs is None else s.track_obs
        out["track_obs.npy"] = _npy(np.asarray(obs, np.float32).reshape(-1, 4))
    return out


def decode_sample(raw: dict[str, Any], source: str = "<sample>") -> VideoSample:
    """WebDataset dict of raw bytes -> ``VideoSample``. ``source`` names the file in errors."""
    key = raw.get("__key__", "?")
    missing = [f for f in REQUIRED if f not in raw]
    if missing:
        raise ShardError(f"{source}: sample {key!r} is missing field(s) {missing}")
    unknown = [f for f in raw if not f.startswith("__") and f not in FIELDS]
    if unknown:
        raise ShardError(f"{source}: sample {key!r} has unknown field(s) {unknown} (not a dynpose100k shard)")
    try:
        arr = {f: _load_npy(raw[f]) for f in FIELDS if f.endswith(".npy") and f in raw}
        meta = json.loads(raw["meta.json"])
        frames = msgpack.unpackb(raw["frames.mp"]) if "frames.mp" in raw else []
        masks = msgpack.unpackb(raw["masks.mp"]) if "masks.mp" in raw else []
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise ShardError(f"{source}: sample {key!r} has an undecodable field: {e}") from None
    if not isinstance(meta, dict) or not isinstance(frames, list) or not isinstance(masks, list):
        raise ShardError(f"{source}: sample {key!r} has a field of the wrong type")
    sample = VideoSample(
        key=key,
        w2c=arr["w2c.npy"].astype(np.float64),
        K=arr["k.npy"].astype(np.float64),
        registered=arr["registered.npy"].astype(bool),
        timestamps=arr["timestamps.npy"].astype(np.float64),
        meta=meta,
        frames=frames,
        track_points=arr.get("track_points.npy"),
        track_obs=arr.get("track_obs.npy"),
        masks=masks,
    )
    try:
        validate_sample(sample)
    except ShardError as e:
        raise ShardError(f"{source}: {e}") from None
    return sample
