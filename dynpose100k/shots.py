"""Cut long videos into candidate clips: shot boundaries (hard cuts, fades through black) and clip windows.

The paper's pool (Panda-70M) comes as clips already cut at shot boundaries, mostly 4-10 s long. A pool of
one's own raw videos (vlogs, downloads, dashcam files) needs that step first: the filter judges the first
``FilterConfig.max_duration`` seconds of what it is given, and the pose engine fails or drifts across a cut.
:func:`detect_shots` streams a video once at a low rate and size and returns its boundaries, its shots and
the clip windows to curate; :func:`write_clips_csv` writes them as a Panda-70M style CSV that ``curate``
reads (one work item per window).

A boundary between consecutive samples ``i`` and ``i + 1`` (``ShotConfig.fps`` a second, short side
``ShotConfig.short_side``) is a change of picture that
- is large: the mean of the per-pixel HSV difference and the total variation between the two frames'
  colour histograms (:func:`frame_change`, in [0, 1]) is at least ``min_change``;
- stands out from its surroundings: at least ``min_ratio`` times the median change of the ``context``
  sample pairs on each side (a fast pan changes every pair a lot, a cut one pair);
- persists: the frames one step further out on both sides (``i - 1`` and ``i + 2``) differ by at least
  ``persist`` times as much (a flash or a single corrupt frame changes two pairs and then returns).
A run of samples whose mean grey is under ``dark_level`` (a fade through black, a black gap) separates
shots and belongs to none. Dissolves (cross-fades) change the picture gradually and are not found; a
window that holds one is left to the filter's cut signals.

Times are seconds from the start of the video, those of the decoded frames (:func:`dynpose100k.video.iter_frames`).
"""

from __future__ import annotations

import csv
import math
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import VideoError, check_range

__all__ = ["ShotConfig", "Shots", "Changes", "measure", "frame_change", "find_cuts", "segment", "clip_windows",
           "detect_shots", "format_timestamp", "write_clips_csv"]


@dataclass(frozen=True)
class ShotConfig:
    """How boundaries are found and windows cut (see the module docstring)."""

    fps: float = 12.0
    """Analysis rate: a boundary is placed between two samples, so within ``1 / fps`` seconds."""
    short_side: int = 72
    """Analysis size (short side, px)."""
    min_change: float = 0.05
    """Smallest :func:`frame_change` of a boundary."""
    min_ratio: float = 2.5
    """How many times the median change of its surroundings a boundary's change must be."""
    context: int = 6
    """Sample pairs on each side whose median change is a boundary's surroundings."""
    persist: float = 0.5
    """Change between the samples one step further out, as a share of the boundary's change, at least."""
    dark_level: float = 12.0
    """Mean grey (0-255) under which a sample is black: part of a fade or a gap, in no shot."""
    min_length: float = 4.0
    """Shots shorter than this (seconds) give no window."""
    max_length: float = 10.0
    """Longer shots are cut into equal windows of at most this (the filter judges 10 s of a clip)."""
    margin: float = 0.1
    """Seconds left out of a shot on each side of a boundary or a black run."""

    def __post_init__(self):
        check_range("fps", self.fps, 0, low_open=True)
        check_range("short_side", self.short_side, 16)
        check_range("min_change", self.min_change, 0, 1)
        check_range("min_ratio", self.min_ratio, 1)
        check_range("context", self.context, 1)
        check_range("persist", self.persist, 0, 1)
        check_range("dark_level", self.dark_level, 0, 255)
        check_range("min_length", self.min_length, 0)
        check_range("max_length", self.max_length, 0, low_open=True)
        check_range("margin", self.margin, 0)
        if self.max_length < self.min_length:
            raise ValueError(f"max_length ({self.max_length}) must be at least min_length ({self.min_length})")


@dataclass(frozen=True)
class Shots:
    """What :func:`detect_shots` found in one video (seconds from its start)."""

    path: Path
    duration: float
    """Time of the last decoded sample."""
    cuts: tuple[float, ...]
    """Boundaries: half-way between the last sample before and the first after."""
    dark: tuple[tuple[float, float], ...]
    """Runs of black samples ``(first, last)``."""
    shots: tuple[tuple[float, float], ...]
    """``(first, last)`` sample times of each shot, black runs and the margins left out."""
    windows: tuple[tuple[float, float], ...]
    """The clip windows to curate: shots of at least ``min_length``, longer ones cut into equal parts."""


_BINS = 32


def _features(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """HSV image (int16), the cumulative histograms ``(3, _BINS)`` of hue (weighted by saturation), saturation
    and value, and the mean grey of an RGB uint8 frame."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    cdfs = []
    for c, top in ((0, 180), (1, 256), (2, 256)):
        weights = hsv[..., 1].ravel().astype(np.float64) if c == 0 else None
        h = np.histogram(hsv[..., c].ravel(), _BINS, (0, top), weights=weights)[0]
        cdfs.append(np.cumsum(h) / max(h.sum(), 1e-9))
    return hsv.astype(np.int16), np.asarray(cdfs), float(hsv[..., 2].mean())


def frame_change(a: tuple, b: tuple) -> float:
    """Change between two frames' :func:`_features`, in [0, 1]: the mean of the per-pixel HSV difference (hue
    on its circle and weighted by saturation, each channel scaled to [0, 1]) and of the distance between
    their hue, saturation and value distributions (the area between the cumulative histograms: a drift of
    light moves them a little, another scene a lot). The pixel term sees a cut between two looks of the same
    place; the distribution term ignores motion."""
    dh = np.abs(a[0][..., 0] - b[0][..., 0])
    dh = np.minimum(dh, 180 - dh) / 90.0 * np.minimum(a[0][..., 1], b[0][..., 1]) / 255.0  # grey has no hue
    dsv = np.abs(a[0][..., 1:] - b[0][..., 1:]) / 255.0
    pixel = (dh.mean() + dsv[..., 0].mean() + dsv[..., 1].mean()) / 3.0
    return float(0.5 * pixel + 0.5 * np.abs(a[1] - b[1]).mean())


def find_cuts(change: np.ndarray, wide: np.ndarray, config: ShotConfig = ShotConfig()) -> np.ndarray:
    """Indices ``i`` of the boundaries between samples ``i`` and ``i + 1``: ``change`` ``(N - 1,)`` is
    :func:`frame_change` of each consecutive pair, ``wide`` ``(N - 1,)`` that of samples ``i - 1`` and ``i + 2``
    (NaN where either is missing: the first and last pairs need no persistence). Pure function."""
    change, wide = np.asarray(change, float), np.asarray(wide, float)
    cuts = []
    for i, c in enumerate(change):
        if c < config.min_change:
            continue
        lo, hi = max(0, i - config.context), min(len(change), i + config.context + 1)
        around = np.r_[change[lo:max(lo, i - 1)], change[i + 2:hi]]  # the pairs beside i share a frame with it
        if c < config.min_ratio * (np.median(around) if len(around) else 0.0):
            continue
        if not (wide[i] >= config.persist * c or math.isnan(wide[i])):
            continue
        if c < change[max(0, i - 1):i + 2].max():  # one boundary per peak
            continue
        cuts.append(i)
    return np.asarray(cuts, int)


def clip_windows(shots: Sequence[tuple[float, float]], min_length: float, max_length: float
                 ) -> list[tuple[float, float]]:
    """Windows of ``shots`` ``(start, end)``: those of at least ``min_length`` seconds, each longer one cut
    into the fewest equal parts of at most ``max_length``. Pure function."""
    out = []
    for s, e in shots:
        length = e - s
        if length < min_length or length <= 0:
            continue
        n = max(1, math.ceil(length / max_length - 1e-9))
        out += [(s + k * length / n, s + (k + 1) * length / n) for k in range(n)]
    return out


def _shots(times: np.ndarray, dark: np.ndarray, cuts: np.ndarray, margin: float) -> list[tuple[float, float]]:
    """Shots between boundaries (after sample ``i`` of ``cuts``) and black samples, ``margin`` seconds
    left out beside each."""
    breaks = np.zeros(len(times), bool)  # a shot ends at sample i
    breaks[cuts] = True
    shots, start = [], None
    for i, t in enumerate(times):
        if dark[i]:
            if start is not None:
                shots.append((start, times[i - 1] - margin))
            start = None
            continue
        if start is None:
            start = t + (margin if i > 0 else 0.0)
        if breaks[i] or i == len(times) - 1:
            shots.append((start, t - (margin if breaks[i] else 0.0)))
            start = None
    return [(s, e) for s, e in shots if e > s]


def _runs(mask: np.ndarray, times: np.ndarray) -> list[tuple[float, float]]:
    """``(first, last)`` times of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [(float(times[a]), float(times[b - 1])) for a, b in zip(edges[::2], edges[1::2])]


@dataclass(frozen=True)
class Changes:
    """What :func:`measure` reads from a video: sample times ``(N,)`` (seconds), mean grey ``(N,)`` (0-255),
    :func:`frame_change` of each consecutive pair ``(N - 1,)`` and of the pair one step further out on both
    sides (``wide``, NaN for the first and last)."""

    times: np.ndarray
    grey: np.ndarray
    change: np.ndarray
    wide: np.ndarray


def measure(path, config: ShotConfig = ShotConfig()) -> Changes:
    """The :class:`Changes` of the video at ``path`` (file or frames folder), decoded once as a stream (memory
    does not grow with its length). Raises :class:`~dynpose100k.errors.DynPoseError` for an unreadable
    video, or one of fewer than 2 frames."""
    from .video import iter_frames

    times, grey, change, wide = [], [], [], []
    recent: deque = deque(maxlen=4)
    for t, rgb in iter_frames(path, fps=config.fps, short_side=config.short_side):
        recent.append(_features(rgb))
        times.append(t)
        grey.append(recent[-1][2])
        if len(recent) >= 2:
            change.append(frame_change(recent[-2], recent[-1]))
        if len(recent) == 4:  # samples n-3 and n: the wide pair of the pair (n-2, n-1)
            wide.append(frame_change(recent[0], recent[3]))
    if len(times) < 2:
        raise VideoError(path, f"only {len(times)} frame(s) decoded, at least 2 needed")
    wide_a = np.full(len(change), np.nan)
    wide_a[1:1 + len(wide)] = wide
    return Changes(np.asarray(times, float), np.asarray(grey), np.asarray(change), wide_a)


def segment(path, changes: Changes, cuts: np.ndarray, config: ShotConfig = ShotConfig()) -> Shots:
    """The :class:`Shots` of a video of ``changes`` with boundaries after the samples ``cuts`` (indices into
    ``changes.change``) and its black runs. Pure function."""
    t = changes.times
    dark = changes.grey < config.dark_level
    cuts = np.asarray(cuts, int)
    cuts = cuts[~dark[cuts] & ~dark[cuts + 1]]  # into or out of black: the black run is the boundary
    shots = _shots(t, dark, cuts, config.margin)
    return Shots(Path(path), float(t[-1]), tuple(float(t[i] + t[i + 1]) / 2 for i in cuts), tuple(_runs(dark, t)),
                 tuple(shots), tuple(clip_windows(shots, config.min_length, config.max_length)))


def detect_shots(path, config: ShotConfig = ShotConfig()) -> Shots:
    """Boundaries, shots and clip windows of the video at ``path`` (:func:`measure`, :func:`find_cuts`,
    :func:`segment`). Raises :class:`~dynpose100k.errors.DynPoseError` for an unreadable video."""
    changes = measure(path, config)
    return segment(path, changes, find_cuts(changes.change, changes.wide, config), config)


def format_timestamp(seconds: float) -> str:
    """``H:MM:SS.mmm`` (Panda-70M's form, read back by :func:`dynpose100k.video.parse_timestamp`)."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{h}:{m:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def write_clips_csv(path, found: Sequence[tuple[str, Shots]]) -> int:
    """Write a Panda-70M style CSV (``videoID,url,timestamp,caption``) of each ``(video id, Shots)`` with
    windows; ``url`` is the video's path relative to the CSV's folder (absolute where it is on another
    drive), which ``curate`` reads without ``--csv-video-root``. Returns the number of windows written. The
    file is written whole to a temporary name and renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["videoID", "url", "timestamp", "caption"])
        for vid, shots in found:
            if not shots.windows:
                continue
            try:
                url = os.path.relpath(shots.path.resolve(), path.resolve().parent)
            except ValueError:  # another drive (Windows)
                url = str(shots.path.resolve())
            w.writerow([vid, url, repr([[format_timestamp(s), format_timestamp(e)] for s, e in shots.windows]), ""])
            n += len(shots.windows)
    tmp.replace(path)
    return n
