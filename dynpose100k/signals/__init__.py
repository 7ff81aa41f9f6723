"""Per-clip suitability signals: pure functions from a decoded low-resolution clip to named floats.

``compute_signals(clip)`` runs every group on one shared analysis stack (grey frames, DIS flow and its
magnitudes, LK tracks) and returns a flat ``dict[str, float]`` with the stable names of
:data:`SIGNAL_GROUPS`. Speeds are in analysis pixels (short side :attr:`SignalConfig.short_side`) per
second; everything else is unitless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..video import stretch_grey
from .content import content_signals
from .flow import center_ring_signals, dense_flows, flow_magnitudes, flow_signals, shot_block_signals
from .geometry import dynamic_signals, geometry_signals, line_bow_signals
from .tracks import cut_track_loss, persistence_signals, track_points, track_signals

log = logging.getLogger(__name__)

#: Signal names per group, in the order of the paper's ablation (content classifier first).
SIGNAL_GROUPS: dict[str, tuple[str, ...]] = {
    "content": ("color_count", "palette_cover", "dark_line_frac", "flat_frac", "flat_saturation", "edge_density",
                "static_edge_frac", "sharpness_median", "sharpness_p90", "palette_cover_norm", "flat_level_gaps",
                "sharpness_rel"),
    "flow": ("flow_mean", "flow_bg", "flow_peak_ratio", "flow_residual_peak", "frame_diff_peak", "hist_jump",
             "hist_block", "cut_track_loss"),
    "tracking": ("track_drop_max", "track_survival", "track_motion", "track_still_frac", "track_persist"),
    "masking": ("dynamic_frac", "dynamic_frac_p90", "epipolar_inliers", "center_persist"),
    "focal": ("focal_median", "focal_logstd", "focal_fail_frac", "zoom_rate", "zoom_total", "zoom_fit",
              "zoom_homography", "zoom_ramp"),
    "distortion": ("distortion_k", "distortion_gain", "line_bow", "line_bow_frac", "flow_center_ring"),
}
SIGNAL_NAMES: tuple[str, ...] = tuple(n for g in SIGNAL_GROUPS.values() for n in g)

_CUT = ("flow_residual_peak", "frame_diff_peak", "hist_jump", "hist_block", "cut_track_loss", "track_drop_max",
        "track_survival", "flow_peak_ratio", "focal_logstd", "epipolar_inliers")
_ZOOM = SIGNAL_GROUPS["focal"] + ("flow_center_ring", "epipolar_inliers", "track_persist", "center_persist")
_LENS = SIGNAL_GROUPS["distortion"] + SIGNAL_GROUPS["focal"] + ("epipolar_inliers",)
# a layout (letterbox, inset, two shots, a player window) is not one pinhole camera: still regions, tracks
# that no single epipolar geometry (even with radial distortion) explains, static strokes
_LAYOUT = ("static_edge_frac", "edge_density", "flat_frac", "color_count", "palette_cover_norm", "flat_level_gaps",
           "epipolar_inliers", "dynamic_frac", "dynamic_frac_p90", "track_persist", "track_still_frac",
           "focal_fail_frac", "hist_block", "flow_bg", "distortion_gain", "distortion_k")
#: The signals each failure kind's detector may use: the evidence that physically bears on that failure.
#: A detector that may use every signal learns whatever separates the kind from suitable clips in the
#: training renderer (texture statistics, brightness), which does not carry over to other footage.
DETECTOR_SIGNALS: dict[str, tuple[str, ...]] = {
    "static": ("flow_mean", "flow_bg", "track_motion", "track_still_frac", "track_persist", "center_persist",
               "dynamic_frac", "zoom_fit"),
    "cut": _CUT,
    "similarcut": _CUT,
    "zoom": _ZOOM,
    "slowzoom": _ZOOM,
    "zoomwalk": _ZOOM,
    "stabilised": _ZOOM + SIGNAL_GROUPS["distortion"],
    "fisheye": _LENS,
    "darkfisheye": _LENS,
    "bigobject": SIGNAL_GROUPS["masking"] + ("track_persist", "track_survival", "flow_center_ring", "zoom_fit"),
    # relative sharpness only: absolute sharpness and edge density follow the camera, the compression and the
    # scene's texture (another renderer's motion blur and noise lower them on suitable clips)
    "blur": ("sharpness_rel", "flat_frac"),
    "cartoon": SIGNAL_GROUPS["content"],
    "overlay": _LAYOUT,
    "screen": _LAYOUT,
    "splitscreen": _LAYOUT,
}


@dataclass(frozen=True)
class SignalConfig:
    """How a clip is analysed."""

    short_side: int = 144
    """Frames are resized (area interpolation) so their short side is at most this many pixels."""
    min_frames: int = 6
    """Fewer frames than this cannot be analysed (the caller reports an error)."""


def _prepare(frames: np.ndarray, short_side: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    s = short_side / min(h, w)
    if s >= 1.0:
        return np.ascontiguousarray(frames)
    size = (max(16, round(w * s)), max(16, round(h * s)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def compute_signals(clip, config: SignalConfig = SignalConfig()) -> dict[str, float]:
    """All signals of a clip: anything with ``frames`` (N, H, W, 3) uint8 RGB and ``timestamps`` (N,) seconds.

    Raises ValueError for fewer than ``config.min_frames`` frames or non-increasing timestamps.
    """
    frames = np.asarray(clip.frames)
    ts = np.asarray(clip.timestamps, dtype=np.float64)
    if len(frames) < config.min_frames:
        raise ValueError(f"{len(frames)} frames, need at least {config.min_frames}")
    dt = np.diff(ts)
    if not (dt > 0).all():
        raise ValueError("timestamps must increase")
    t0 = time.perf_counter()
    rgb = _prepare(frames, config.short_side)
    gray = stretch_grey(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]))
    flows = dense_flows(gray)
    tracks = track_points(gray)
    out: dict[str, float] = {}
    out.update(content_signals(rgb, gray))
    mag = flow_magnitudes(flows)
    out.update(flow_signals(gray, flows, mag, dt))
    out.update(shot_block_signals(rgb))
    out.update(center_ring_signals(mag))
    out.update(track_signals(tracks, dt))
    out["cut_track_loss"] = cut_track_loss(tracks, gray.shape[1:])
    out.update(persistence_signals(gray))
    out.update(dynamic_signals(flows))
    out.update(line_bow_signals(gray))
    out.update(geometry_signals(tracks, gray.shape[1:], fps=1.0 / float(np.median(dt))))
    log.debug("signals on %d frames %s in %.3f s", len(gray), gray.shape[1:], time.perf_counter() - t0)
    return {k: out[k] for k in SIGNAL_NAMES}
