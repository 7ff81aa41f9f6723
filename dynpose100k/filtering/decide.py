"""``filter_clip`` / ``filter_video``: signals (+ optional VLM answers) -> a keep/reject Decision with reasons."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from ..errors import DynPoseError, VideoError
from ..signals import SignalConfig, compute_signals
from .model import FilterModel

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).with_name("default_model.json")


@dataclass(frozen=True)
class FilterConfig:
    """How clips are sampled, measured and judged."""

    fps: float = 5.0
    """Frames per second sampled for analysis."""
    short_side: int = 144
    """Analysis resolution (short side, pixels); decoding resizes to it."""
    max_duration: float | None = 10.0
    """Seconds analysed from the clip start (None: all); signals need no more than a few seconds."""
    min_frames: int = 6
    """Clips with fewer sampled frames get status ``error`` (too short to judge)."""
    model: str | None = None
    """Path of a fusion-model JSON; None uses the packaged ``default_model.json``."""
    threshold: float | None = None
    """Operating threshold on the score; None uses the model's (chosen for precision)."""
    use_rules: bool = True
    """Apply the model's one-signal rules (each rejection names its reason)."""
    vlm_short_side: int = 448
    """Short side of the frames a VLM sees when it judges a video file (decoded again; the analysis size is
    too small for a VLM to read a scene)."""

    def __post_init__(self):
        from ..errors import check_range

        check_range("fps", self.fps, 0, low_open=True)
        check_range("short_side", self.short_side, 16)
        check_range("vlm_short_side", self.vlm_short_side, 16)
        check_range("max_duration", self.max_duration, 0, low_open=True)
        check_range("min_frames", self.min_frames, 2)
        check_range("threshold", self.threshold, 0, 1)


@dataclass(frozen=True)
class Decision:
    """The filter's verdict on one clip."""

    status: str
    """``"keep"``, ``"reject"`` or ``"error"`` (could not be judged; never a silent keep)."""
    score: float
    """P(suitable) from the fusion model in [0, 1]; NaN for errors."""
    reasons: list[str] = field(default_factory=list)
    """Why it was rejected or errored, one line each (empty for keeps)."""
    signals: dict[str, float] = field(default_factory=dict)
    """All measured signals (and ``vlm_*`` answers when a VLM was used)."""
    detector: str | None = None
    """The failure kind the clip looks most like (the fusion model's weakest detector); None for errors."""

    @property
    def keep(self) -> bool:
        return self.status == "keep"

    def as_dict(self) -> dict:
        """JSON-ready form (NaN score -> None)."""
        return {"status": self.status, "score": self.score if math.isfinite(self.score) else None,
                "reasons": list(self.reasons), "detector": self.detector, "signals": dict(self.signals)}


@lru_cache(maxsize=8)
def load_model(path: str | None = None) -> FilterModel:
    """The fusion model at ``path`` (default: the packaged one), cached."""
    return FilterModel.from_json(path or DEFAULT_MODEL)


def _error(reason: str, signals: dict[str, float] | None = None) -> Decision:
    log.debug("error decision: %s", reason)
    return Decision("error", float("nan"), [reason], dict(signals or {}))


def measure_clip(clip, config: FilterConfig = FilterConfig(), vlm=None, vlm_frames=None) -> dict[str, float]:
    """All signals of a decoded clip, plus ``vlm_<question>`` yes-probabilities when ``vlm`` is given.

    Letterbox or pillarbox bars (:func:`dynpose100k.video.picture_box`) are left out: the signals measure the
    picture inside them, whose share of the frame is ``picture_frac`` (1 without bars). So are frames fading
    from or to black at the clip's start and end (:func:`dynpose100k.video.faded_ends`, when at least
    ``config.min_frames`` remain): a fade is an edit of the video, not its content, and reads as a cut; their
    share of the frames is ``fade_frac``.

    ``vlm_frames``: the frames (N, H, W, 3) the VLM looks at (default: the clip's own).

    Raises ValueError when the clip is too short or its timestamps do not increase.
    """
    from ..video import faded_ends, picture_box

    if len(clip.frames) < config.min_frames:
        raise ValueError(f"too_short: {len(clip.frames)} frames sampled, need {config.min_frames}")
    frames = np.asarray(clip.frames)
    n, H, W = frames.shape[:3]
    top, bottom, left, right = picture_box(frames)
    head, tail = faded_ends(frames[:, top:H - bottom, left:W - right])
    if n - head - tail < config.min_frames:
        head = tail = 0
    keep = slice(head, n - tail)
    picture = SimpleNamespace(frames=frames[keep, top:H - bottom, left:W - right],
                              timestamps=np.asarray(clip.timestamps)[keep])
    signals = compute_signals(picture, SignalConfig(short_side=config.short_side, min_frames=config.min_frames))
    # not model inputs: the share of the frame and of the frames the signals measured (bars, fades left out)
    signals["picture_frac"] = (H - top - bottom) * (W - left - right) / (H * W)
    signals["fade_frac"] = (head + tail) / n
    if vlm is not None:
        from ..models.vlm import ask_all

        frames = clip.frames if vlm_frames is None else vlm_frames
        signals.update({f"vlm_{k}": v for k, v in ask_all(vlm, frames).items()})
    return signals


def decide(signals: dict[str, float], config: FilterConfig = FilterConfig()) -> Decision:
    """Rules + score -> Decision; every rejection carries at least one reason."""
    model = load_model(config.model)
    bad = sorted(k for k, v in signals.items() if not math.isfinite(v))
    if bad:
        return _error(f"signals_not_finite: {', '.join(bad)}", signals)
    score, detector, contrib = model.score(signals)
    threshold = model.threshold if config.threshold is None else config.threshold
    reasons = [r for rule in model.rules if (r := rule.fires(signals))] if config.use_rules else []
    if score < threshold:
        against = ", ".join(f"{f} ({c:+.2f})" for f, c in contrib[:3] if c < 0)
        reasons.append(f"low_score: {score:.3f} < {threshold:.3f}; looks like: {detector}"
                       + (f"; most against: {against}" if against else ""))
    return Decision("reject" if reasons else "keep", score, reasons, signals, detector)


POSE_CHECKED_KINDS = ("slowzoom", "stabilised")
"""Failure kinds whose rejections :func:`pose_checkable` hands to the pose engine. Both change the camera's
intrinsics over the clip (a zoom, a crop window that drifts), which the engine measures (its per-frame focal
check and confidence), while the filter's 144 px signals confuse them with suitable clips that walk straight
ahead (the image expands either way)."""

POSE_CHECK_MIN_SCORE = 0.1
"""Rejections scored below this are not pose-checked: the filter is sure of them."""


def pose_checkable(decision: Decision, kinds=POSE_CHECKED_KINDS, min_score: float = POSE_CHECK_MIN_SCORE) -> bool:
    """Whether a rejection is one the pose engine can settle: rejected on the score alone (no rule fired),
    looking most like one of ``kinds``, and scored at least ``min_score``. A curator poses such a clip and
    keeps it only when the pose confidence vouches for it (:mod:`dynpose100k.curate.stages`)."""
    return (decision.status == "reject" and decision.detector in tuple(kinds) and decision.score >= min_score
            and all(r.startswith("low_score") for r in decision.reasons))


def filter_clip(clip, config: FilterConfig = FilterConfig(), vlm=None, vlm_frames=None) -> Decision:
    """Judge a decoded clip (``frames`` (N, H, W, 3) uint8 RGB, ``timestamps`` (N,) s).

    ``vlm``: an optional :class:`dynpose100k.models.vlm.VLMBackend`; its yes-probabilities are added as
    ``vlm_<question>`` signals, which the score uses if the model was fitted with them; it looks at
    ``vlm_frames`` when given, else at the clip's frames. A clip that cannot
    be measured (too short, odd timestamps, numerical failure) gets status ``error``.
    """
    load_model(config.model)  # a broken model file is a configuration error: raise before measuring
    try:
        signals = measure_clip(clip, config, vlm, vlm_frames)
    except ValueError as e:
        return _error(str(e) if str(e).startswith("too_short") else f"bad_clip: {e}")
    except (cv2.error, np.linalg.LinAlgError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        log.warning("signals failed: %s", msg)
        return _error(f"signals_failed: {type(e).__name__}: {msg}")
    return decide(signals, config)


def load_for_filter(path, config: FilterConfig = FilterConfig(), start=None, end=None):
    """Decode ``path`` at the analysis rate and size, at most ``config.max_duration`` seconds from ``start``;
    a picture inside letterbox or pillarbox bars is decoded again, larger, so that its own short side reaches
    the analysis size (a portrait picture in a landscape frame would otherwise be measured at half of it).

    Raises DynPoseError (unreadable video) or ValueError (malformed timestamps).
    """
    from ..video import load_clip, parse_timestamp, picture_box

    if config.max_duration is not None:
        t0 = parse_timestamp(start) or 0.0
        t1 = parse_timestamp(end)
        end = t0 + config.max_duration if t1 is None else min(t1, t0 + config.max_duration)
    clip = load_clip(path, fps=config.fps, short_side=config.short_side, start=start, end=end, min_frames=1,
                     skip_nonref=True)
    H, W = clip.image_size
    top, bottom, left, right = picture_box(clip.frames)
    short = min(H - top - bottom, W - left - right)
    if short < 0.9 * config.short_side and min(H, W) >= config.short_side:  # a small picture inside bars
        side = min(4 * config.short_side, math.ceil(config.short_side * min(H, W) / short))
        clip = load_clip(path, fps=config.fps, short_side=side, start=start, end=end, min_frames=1, skip_nonref=True)
    return clip


def load_for_vlm(path, config: FilterConfig = FilterConfig(), start=None, end=None, vlm=None):
    """The frames a VLM judges ``path`` by: the analysis window decoded at ``config.vlm_short_side``; None
    without a VLM. Raises like :func:`load_for_filter`."""
    if vlm is None:
        return None
    return load_for_filter(path, replace(config, short_side=config.vlm_short_side), start, end).frames


def filter_video(path, config: FilterConfig = FilterConfig(), start=None, end=None, vlm=None) -> Decision:
    """Decode ``path`` (optionally the window ``start``-``end``, seconds or ``H:M:S.f``) and judge it.

    Unreadable or too-short clips give status ``error`` with the reason; bad videos never raise.
    """
    try:
        clip = load_for_filter(path, config, start, end)
        vlm_frames = load_for_vlm(path, config, start, end, vlm)
    except (DynPoseError, ValueError) as e:  # the reason alone: the caller knows the path
        return _error(f"unreadable: {e.reason if isinstance(e, VideoError) else e}")
    return filter_clip(clip, config, vlm, vlm_frames)
