"""Video input/output: decode, resample to a target fps, resize, clip windows, encode.

Sources are video files (mp4, mov, webm, avi, mkv, ... decoded with OpenCV, PyAV as fallback) or folders
of frames (``*.jpg``/``*.jpeg``/``*.png`` sorted by name, at ``source_fps``, default 12 like the release).

Sampling: for a target rate ``fps`` the wanted times are ``start + k / fps``; each is served by the source
frame whose timestamp is nearest to it (ties go to the earlier frame), so timestamps are the true source
timestamps, never interpolated. Frames are judged on the fly against the container's average rate (no frame
is converted twice): in variable-frame-rate video (phones) a wanted time in a gap left by dropped frames
takes the first frame after the gap even where the last one before it is nearer. ``fps=None`` or
``fps >= source fps`` keeps every frame (no upsampling).
Frames are RGB ``uint8`` ``(H, W, 3)`` as displayed (a rotation in the stream's display matrix applied, by
either decoder, and non-square pixels stretched square); timestamps are seconds from the start of the source
video.
Decoding is streaming: :func:`iter_frames` holds one frame at a time, whatever the video length. PyAV
decodes with frame threads unless OpenCV is limited to one thread (``cv2.setNumThreads(1)``, as worker
processes that share the cores do): there the threads would only add work.

Every expected failure (missing file, not a video, a truncated file whose index is lost, no decodable frame,
unreadable image in a frames folder, too few frames) raises :class:`~dynpose100k.errors.VideoError` with one
line naming the file and the reason. A file that decodes but stops early (cut short after its index, or
damaged) gives the frames before the damage, with a warning (:func:`cut_short`); the pose engine records it
in its result (``evidence.decoded_s`` and ``evidence.duration_s``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .errors import VideoError

# FFmpeg's own messages ("moov atom not found", ...) would duplicate our one-line errors on stderr. OpenCV
# reads this when it first opens a file; set it yourself to see them again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "searched_for",
    "expand_inputs",
    "other_source",
    "source_of",
    "VideoInfo",
    "Clip",
    "parse_timestamp",
    "probe",
    "iter_frames",
    "load_clip",
    "picture_box",
    "faded_ends",
    "write_video",
    "evenly_spaced",
    "percentile_u8",
    "stretch_grey",
]

logger = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
"""File extensions read from a frames folder."""

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".3gp",
              ".flv", ".wmv", ".mxf")
"""Video file extensions picked up when a folder of videos is given (camcorders' AVCHD ``.mts``/``.m2ts`` and
broadcast ``.ts`` included). Raw ``.h264``/``.hevc`` streams are not: they carry no frame times, so their rate
would be a guess (FFmpeg's is 25); remux one into mp4 at its true rate first
(``ffmpeg -framerate RATE -i in.h264 -c copy out.mp4``)."""


def searched_for() -> str:
    """What a folder of clips is searched for, for messages that found nothing."""
    return f"videos ({' '.join(VIDEO_EXTS)}) or a folder of frames ({' '.join(IMAGE_EXTS)})"


MATROSKA_EXTS = (".mkv", ".webm")
"""Matroska files, probed with PyAV (:func:`probe`)."""

Timestamp = float | str | None

SEEK_AFTER_S = 10.0
"""Windows starting later than this (seconds) are decoded with PyAV after a seek instead of from frame 0."""


@dataclass(frozen=True)
class VideoInfo:
    """Container-level facts about a video file or frames folder (no full decode)."""

    path: Path
    """The file or folder."""
    fps: float
    """Source frame rate (frames per second); ``source_fps`` for a frames folder."""
    num_frames: int
    """Frame count reported by the container (an estimate for some formats) or number of images."""
    duration: float
    """``num_frames / fps`` in seconds."""
    width: int
    """Frame width in pixels as decoded: upright and square pixels (:func:`_displayed`)."""
    height: int
    """Frame height in pixels, likewise."""
    is_frames_dir: bool
    """True for a folder of images."""
    sar: float = 1.0
    """Sample (pixel) aspect ratio of the frames as displayed (upright), width over height: 1 for square
    pixels; anamorphic video (e.g. 720x480 at 32:27) is stretched to square pixels when decoded, as players
    show it. A stream turned a quarter by its display matrix has the inverse of its stored pixels' ratio."""
    interlaced: bool | None = dataclasses.field(default=None, compare=False)
    """Whether the stream's frames are interlaced (then only PyAV decodes them); None: not known from the
    probe (OpenCV's), asked when decoding. A decoding hint: two probes of one file compare equal without it."""


@dataclass(frozen=True)
class Clip:
    """Frames sampled from one video."""

    frames: np.ndarray
    """``(N, H, W, 3)`` uint8 RGB."""
    timestamps: np.ndarray
    """``(N,)`` float64 seconds from the start of the source video."""
    source_fps: float
    """Frame rate of the source video (or frames folder)."""
    path: Path
    """The source file or folder."""

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the frames."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def __len__(self) -> int:
        return len(self.frames)


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` items (frames, points) evenly spread, first and last included,
    increasing and distinct."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int)) if n > 0 and k > 0 else np.zeros(0, int)


def percentile_u8(values: np.ndarray, q):
    """``np.percentile(values, q)`` of a uint8 array, from its histogram: the sorted values are rebuilt from
    the 256 counts, so no partition of the pixels is needed (the same result, bit for bit)."""
    counts = np.bincount(values.ravel(), minlength=256)
    return np.percentile(np.repeat(np.arange(256, dtype=np.uint8), counts), q)


def stretch_grey(gray: np.ndarray, max_gain: float = 4.0, min_gain: float = 1.05) -> np.ndarray:
    """Map the 1st-99th percentile of a grey stack ``(N, H, W)`` uint8 (a clip, or a tracking window) to 0-255,
    gain at most ``max_gain``; a stack that needs a gain of ``min_gain`` or less is returned as it is. Fixed
    grey-level thresholds (edges, flat areas, tracker corners and conditioning) then mean the same in dark or
    low-contrast footage as in bright footage, and one gain for the whole stack keeps brightness changes
    between its frames."""
    lo, hi = percentile_u8(gray[:, ::2, ::2], [1, 99])
    gain = min(max_gain, 255.0 / max(hi - lo, 1.0))
    if gain <= min_gain:
        return gray
    # the map of each of the 256 grey levels, applied as a lookup table (no float copy of the stack)
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * gain, 0, 255).astype(np.uint8)
    return cv2.LUT(gray, lut)


def picture_box(frames: np.ndarray, sample: int = 8, max_level: float = 40.0, max_std: float = 3.0,
                min_bar: float = 0.02, max_skew: float = 0.02) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)``: the rows and columns of bars (letterbox, pillarbox) around the picture of
    ``frames`` ``(N, H, W[, 3])`` uint8, 0 where there are none; the picture is ``frames[:, top:H - bottom,
    left:W - right]``.

    A bar is a band of rows (columns) at an edge that is flat and dark in every one of up to ``sample`` frames
    spread over the clip: each row's grey levels vary by at most ``max_std`` and their mean is at most
    ``max_level`` and the same in every frame (within ``max_std``). Bars come in pairs, one at each edge, as
    wide as each other within ``max_skew`` of the frame's size (a dark sky or floor at one edge is not a bar)
    and at least ``min_bar`` of it; one more row (column) is taken off each, the edge a resize blends. The
    picture keeps at least a quarter of each dimension (a portrait 9:16 picture in a 16:9 frame is 32% wide).
    Without dark side bars, sides filled with a blurred copy of the picture count as bars too
    (:func:`_blurred_fill`)."""
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or not len(frames):
        return 0, 0, 0, 0
    pick = frames[evenly_spaced(len(frames), sample)]
    grey = (pick if pick.ndim == 3 else np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in pick]))
    grey = grey.astype(np.float32)

    def bands(lines: np.ndarray) -> tuple[int, int]:  # lines: (S, L, K), L lines of K pixels each
        mean = lines.mean(2)
        flat = (lines.std(2).max(0) <= max_std) & (mean.max(0) <= max_level) & (np.ptp(mean, 0) <= max_std)
        L = lines.shape[1]
        first = int(np.argmin(flat)) if not flat.all() else L
        last = int(np.argmin(flat[::-1])) if not flat.all() else L
        if min(first, last) < max(2, min_bar * L) or abs(first - last) > max(2, max_skew * L) \
                or L - first - last - 2 < L / 4:
            return 0, 0
        # the bar's last lines before the picture ring with the codec (too busy to count as flat) but stay dark:
        # left in, they are a static stroke along the picture's edge, which reads as an overlay or a split screen
        dark = mean.max(0) <= max_level
        reach = max(2, round(0.01 * L))
        first += int(np.argmin(np.r_[dark[first:first + reach], False]))
        last += int(np.argmin(np.r_[dark[::-1][last:last + reach], False]))
        return first + 1, last + 1

    top, bottom = bands(grey)
    left, right = bands(grey.transpose(0, 2, 1))
    if not (left or right):
        left, right = _blurred_fill(grey, max_skew)
    return top, bottom, left, right


#: a fade from or to black ends where a frame reaches this share of the clip's median brightness
#: (:func:`faded_ends`)
FADE_LEVEL = 0.75
#: ... and starts at black: frames under this share of the median and under :data:`BLACK_LEVEL` grey levels
FADE_BLACK = 0.25
BLACK_LEVEL = 24.0


def _fade_length(mean: np.ndarray, ref: float) -> int:
    """Frames of a fade from black at the start of the brightness series ``mean``: black frames, then the
    frames that keep rising from one to the next (by at least 1% of ``ref``) while under ``FADE_LEVEL * ref``.
    0 when the series does not start black (a cut to a darker scene, or a dim start, is measured)."""
    black = min(FADE_BLACK * ref, BLACK_LEVEL)
    k = 0
    while k < len(mean) and mean[k] < black:
        k += 1
    while 0 < k < len(mean) and mean[k - 1] + 0.01 * ref <= mean[k] < FADE_LEVEL * ref:
        k += 1
    return k


def faded_ends(frames: np.ndarray, min_median: float = 8.0) -> tuple[int, int]:
    """``(head, tail)``: how many frames of ``frames`` (N, H, W[, 3]) uint8 at the start and at the end fade from
    or to black (:func:`_fade_length`, brightness = mean of all pixels). A clip whose median brightness is
    under ``min_median`` grey levels (nearly black throughout) has none, and so has one that is black throughout."""
    mean = np.array([cv2.mean(f)[: (f.shape[2] if f.ndim == 3 else 1)] for f in frames]).mean(axis=1)
    ref = float(np.median(mean))
    if ref < min_median:
        return 0, 0
    head, tail = _fade_length(mean, ref), _fade_length(mean[::-1], ref)
    return (head, tail) if head + tail < len(mean) else (0, 0)


def _blurred_fill(grey: np.ndarray, max_skew: float, sharpness: float = 0.2, min_band: float = 0.08,
                  min_change: float = 1.5) -> tuple[int, int]:
    """``(left, right)``: the columns of a pillarbox filled with a blurred, enlarged copy of the picture (how
    portrait phone clips are often published), or ``(0, 0)``. ``grey`` ``(S, H, W)`` float32 frames spread over
    the clip. Each frame's columns whose detail (mean absolute Laplacian, over 5 columns) is under
    ``sharpness`` times the middle third's form a band at each side; the bands must stand at the same columns
    in every frame (within ``max_skew`` of the width), be as wide as each other, each at least ``min_band`` of
    the width, and change over time (a mean of ``min_change`` grey levels between frames: a static flat border
    is a bar or a desktop, not a fill)."""
    S, H, W = grey.shape
    if S < 2:
        return 0, 0
    sides = []
    for g in grey:
        detail = cv2.blur(np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3)).mean(0)[None], (5, 1))[0]
        low = detail < sharpness * max(float(np.median(detail[W // 3: 2 * W // 3])), 1e-3)
        if low.all():
            return 0, 0
        sides.append((int(np.argmin(low)), int(np.argmin(low[::-1]))))
    sides = np.array(sides)
    left, right = int(sides[:, 0].min()), int(sides[:, 1].min())
    if np.ptp(sides, axis=0).max() > max_skew * W or min(left, right) < min_band * W \
            or abs(left - right) > max(2, max_skew * W) or W - left - right < W / 4:
        return 0, 0
    band = np.concatenate([grey[:, :, :left], grey[:, :, W - right:]], axis=2)
    if np.abs(np.diff(band, axis=0)).mean() < min_change:
        return 0, 0
    return left + 4, right + 4  # the detail is smoothed over 5 columns: the seam and its blend stay out


def _oneline(text: object) -> str:
    return " ".join(str(text).split())


def _fail(path, reason: object) -> VideoError:
    return VideoError(path, _oneline(reason))


def _ffmpeg_reason(e: Exception) -> str:
    """FFmpeg's own words for ``e`` without the file name it appends (the message names the file once)."""
    return getattr(e, "strerror", None) or str(e)


def parse_timestamp(value: Timestamp) -> float | None:
    """Seconds from a number or a ``[[H:]M:]S[.fff]`` string (Panda-70M style ``"0:00:05.005"``).

    ``None`` stays ``None``. Raises ``ValueError`` on malformed or negative input.
    """
    if value is None:
        return None
    if isinstance(value, (int, float, np.number)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)\s*", str(value))
        if m is None:
            raise ValueError(f"malformed timestamp {value!r} (expected [[H:]M:]S[.fff])")
        h, mnt, s = m.groups()
        seconds = int(h or 0) * 3600 + int(mnt or 0) * 60 + float(s)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite non-negative number of seconds, got {value!r}")
    return seconds


def _frame_files(folder: Path) -> list[Path]:
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    except OSError as e:
        raise _fail(folder, f"cannot list frames folder ({e.strerror or e})") from e
    if not files:
        raise _fail(folder, f"frames folder holds no {'/'.join(e[1:] for e in IMAGE_EXTS)} images")
    return files


def _read_bgr(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise _fail(path, "unreadable or corrupt image")
    return bgr


def expand_inputs(inputs: Iterable[Path | str]) -> list[Path]:
    """Clips named on a command line or in a folder: a folder holding images and no video is one clip (a frames
    folder); any other folder expands to the videos inside it and, in turn, to the clips of its subfolders
    (sorted by name; e.g. the numbered shard folders of a downloaded pool; images beside videos, such as
    thumbnails, are left out with a warning); other paths are kept as given, so a missing
    or broken one fails later with its own reason while the rest of the batch goes on. A clip named twice
    (``a.mp4`` and its folder) is listed once."""
    out: list[Path] = []
    visited: set[Path] = set()  # a folder linked into itself, or a clip named twice, counts once

    def once(p: Path) -> bool:
        key = p.resolve()
        if key in visited:
            return False
        visited.add(key)
        return True

    def add(p: Path) -> None:
        entries = sorted(p.iterdir()) if p.is_dir() else None  # a folder is listed once (pools can be huge)
        suffixes = [f.suffix.lower() for f in entries or ()]
        videos = [s in VIDEO_EXTS for s in suffixes]
        images = sum(s in IMAGE_EXTS for s in suffixes)
        if entries is not None and (any(videos) or not images):
            if once(p):
                for f, video in zip(entries, videos):
                    if f.is_dir():
                        add(f)
                    elif video and f.is_file() and once(f):
                        out.append(f)
                if images:
                    logger.warning("%s: %d image(s) beside its videos left out (a frames folder holds no video)",
                                p, images)
        elif once(p):
            out.append(p)

    for p in map(Path, inputs):
        add(p)
    return out


#: Bytes read from each end of a video file for its :func:`source_of` digest: one block each, so listing a
#: pool of a million clips reads 8 GB, not the clips (the first block holds the container header or the start
#: of the first frame, the last one the index or the last frame: two encodings differ there).
DIGEST_SPAN = 4096


def source_of(path) -> dict:
    """What a clip was read from, for telling two clips of one id apart: ``{"path": absolute path, "bytes":
    size, "digest": hex}``. ``bytes``: the file's size (a frames folder: the total size of its images);
    ``digest``: SHA-256 of the first and last :data:`DIGEST_SPAN` bytes (a frames folder: of its image names
    and sizes), so two encodings of the same length still differ (a copy changed only in its middle, as a
    damaged one can be, passes for the same clip). Both are ``None`` when it cannot be read.
    The content, not the path, identifies the clip: a moved or copied file keeps both."""
    import hashlib

    p = Path(path)
    h = hashlib.sha256()
    try:
        if p.is_dir():
            images = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
            sizes = [f.stat().st_size for f in images]
            size = sum(sizes)
            h.update("\n".join(f"{f.name} {n}" for f, n in zip(images, sizes)).encode())
        else:
            size = p.stat().st_size
            with p.open("rb") as f:
                h.update(f.read(DIGEST_SPAN))
                if size > DIGEST_SPAN:
                    f.seek(max(DIGEST_SPAN, size - DIGEST_SPAN))
                    h.update(f.read())
        digest = h.hexdigest()
    except OSError:
        size = digest = None
    return {"path": str(p.absolute()), "bytes": size, "digest": digest}


def other_source(held: dict, new: dict) -> bool:
    """Whether two :func:`source_of` records are different clips: a known size or a known digest that differs
    (records written before digests existed compare by size)."""
    return any(held.get(k) is not None and new.get(k) is not None and held[k] != new[k] for k in ("bytes", "digest"))


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise _fail(path, "no such file or folder")


def _open_av(path: Path):
    """``(container, VideoInfo)``: a video file opened with PyAV (the caller closes it) and what it reports."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise _fail(path, f"not a readable video (truncated or corrupt?): {_ffmpeg_reason(e)}") from e
    try:
        if not container.streams.video:
            raise _fail(path, "no video stream")
        s = container.streams.video[0]
        fps = float(s.average_rate or s.guessed_rate or 0)
        # Matroska/WebM give only the container's duration, which counts from time 0 even where the stream
        # starts later (its first timestamp): the stream lasts from its start to that end
        seconds = float(s.duration * s.time_base) if s.duration and s.time_base else (
            max(0, container.duration - (container.start_time or 0)) / 1e6 if container.duration else 0.0)
        n = s.frames or (int(round(seconds * fps)) if fps else 0)
        w, h = s.codec_context.width, s.codec_context.height
        if fps <= 0 or w <= 0 or h <= 0:
            raise _fail(path, "video stream without frame rate or size")
        sar = _sar(*((s.sample_aspect_ratio.numerator, s.sample_aspect_ratio.denominator)
                     if s.sample_aspect_ratio else (0, 0)))
    except BaseException:
        container.close()
        raise
    dw, dh = _displayed(w, h, sar)
    return container, VideoInfo(path, fps, int(n), n / fps, round(dw), round(dh), False, sar, _fields(s))


def _sar(num: float, den: float) -> float:
    """A sample aspect ratio from what a decoder reports (0, 0 or 0/1 when unknown: square pixels)."""
    return float(num) / float(den) if num > 0 and den > 0 else 1.0


def _displayed(width: float, height: float, sar: float) -> tuple[float, float]:
    """``(width, height)`` of a ``width`` x ``height`` frame of ``sar``-wide pixels shown with square ones,
    the short pixel side stretched (no detail is dropped)."""
    return (width * sar, height) if sar >= 1 else (width, height / sar)


def _probe_av(path: Path) -> VideoInfo:
    """What PyAV reports, the size as displayed (its first frame's rotation applied, as decoding applies it)."""
    import av

    container, info = _open_av(path)
    with container:
        try:
            quarter = round(next(container.decode(video=0)).rotation / 90) % 2
        except (av.FFmpegError, StopIteration):
            quarter = 0  # no frame: decoding says so
    return dataclasses.replace(info, width=info.height, height=info.width, sar=1 / info.sar) if quarter else info


_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def _upright(img: np.ndarray, rotation: float) -> np.ndarray:
    """A decoded frame as displayed: ``rotation`` is the counter-clockwise angle in degrees of the stream's
    display matrix (phones store portrait video as landscape frames with a 90 degree rotation). OpenCV's
    decoder applies it too, so both decoders give the same frames."""
    k = round(rotation / 90) % 4
    return cv2.rotate(img, _ROTATE[k]) if k else img


def probe(path, source_fps: float = 12.0) -> VideoInfo:
    """Read frame rate, frame count and size of a video file or frames folder without decoding it all.

    ``source_fps`` is the rate assigned to a frames folder (ignored for video files).
    """
    path = Path(path)
    _check_exists(path)
    if path.is_dir():
        files = _frame_files(path)
        h, w = _read_bgr(files[0]).shape[:2]
        return VideoInfo(path, float(source_fps), len(files), len(files) / source_fps, w, h, True)
    if path.suffix.lower() in MATROSKA_EXTS:  # OpenCV counts frames from time 0, not from the stream's start
        return _probe_av(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if cap.isOpened():
            fps = cap.get(cv2.CAP_PROP_FPS)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            sar = _sar(cap.get(cv2.CAP_PROP_SAR_NUM), cap.get(cv2.CAP_PROP_SAR_DEN))
            if round(cap.get(cv2.CAP_PROP_ORIENTATION_META) / 90) % 2:  # OpenCV reports the upright size
                sar = 1 / sar
            if fps > 0 and w > 0 and h > 0:
                dw, dh = _displayed(w, h, sar)
                return VideoInfo(path, float(fps), max(n, 0), max(n, 0) / fps, round(dw), round(dh), False, sar)
    finally:
        cap.release()
    return _probe_av(path)


# A source yields (timestamp seconds, fetch) where fetch() returns the full-size frame, BGR from OpenCV and
# image files, RGB from PyAV (its converter writes either order at the same cost, so no swap is needed);
# frames that are not selected are never converted, which is where resampling saves time.
Source = Iterator[tuple[float, Callable[[], np.ndarray]]]


def _cv2_source(path: Path, fps: float) -> Source:
    cap = cv2.VideoCapture(str(path))
    buf: list[np.ndarray | None] = [None]  # one BGR buffer for all frames: callers get new RGB arrays

    def fetch() -> np.ndarray:
        ok, buf[0] = cap.retrieve(buf[0])
        if not ok:
            raise _fail(path, "a frame could not be retrieved (corrupt video?)")
        return buf[0]

    try:
        n, prev = 0, -math.inf
        while cap.isOpened() and cap.grab():
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not math.isfinite(ts) or ts <= prev:  # backend without usable timestamps (or a last flushed frame
                ts = max(n / fps, prev + 1.0 / fps)  # it does not advance them for): never a time twice
            prev, n = ts, n + 1
            yield ts, fetch
    finally:
        cap.release()


def _av_source(path: Path, fps: float, start: float = 0.0, skip_nonref: bool = False, container=None) -> Source:
    """Frames of ``path`` decoded with PyAV, from ``container`` (then closed) if the caller opened it already."""
    import av

    try:
        with (container if container is not None else av.open(str(path))) as container:
            stream = container.streams.video[0]
            if cv2.getNumThreads() > 1:
                stream.thread_type = "AUTO"  # frame threads: faster on idle cores, at some extra work
            else:  # a worker process that shares the cores with others (it limited OpenCV to one thread)
                stream.codec_context.thread_count = 1
            if skip_nonref:  # frames no other frame refers to are not decoded at all (typically half of H.264)
                stream.codec_context.skip_frame = "NONREF"
            tb, origin = stream.time_base, stream.start_time or 0  # times count from the stream start
            num, den = (tb.numerator, tb.denominator) if tb else (0, 1)  # exact int division, no Fraction objects
            if start > 0 and tb:  # keyframe at or before start; frame times stay exact
                container.seek(origin + int(start / tb), stream=stream, backward=True)
            for i, frame in enumerate(container.decode(stream)):
                ts = (frame.pts - origin) * num / den if frame.pts is not None and tb else start + i / fps
                yield ts, lambda f=frame: _upright(f.to_ndarray(format="rgb24"), f.rotation)
    except av.FFmpegError as e:
        raise _fail(path, f"decoding failed (truncated or corrupt video?): {_ffmpeg_reason(e)}") from e


def _dir_source(files: list[Path], fps: float) -> Source:
    for i, f in enumerate(files):
        yield i / fps, lambda f=f: _read_bgr(f)


def _finish(img: np.ndarray, short_side: int | None, bgr: bool = True, sar: float = 1.0) -> np.ndarray:
    """A new RGB array: stretched to square pixels (``sar``: the upright frame's pixels' width over height,
    :attr:`VideoInfo.sar`), resized (``INTER_AREA`` when shrinking) and converted from BGR if ``bgr``, never
    aliasing ``img``."""
    h, w = img.shape[:2]
    width, height = _displayed(w, h, sar)
    scale = 1.0 if short_side is None else short_side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (w, h):
        shrink = size[0] * size[1] < w * h
        small = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=small) if bgr else small
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if bgr else img.copy()


def _sample(
    source: Source, src_fps: float, fps: float | None, start: float, end: float | None, short_side: int | None,
    bgr: bool = True, sar: float = 1.0,
) -> Iterator[tuple[float, np.ndarray]]:
    half = 0.5 / src_fps  # a source frame at ts serves targets in (ts - half, ts + half]
    eps = 1e-6  # timestamps are rounded to microseconds or coarser
    k = 0  # index of the next target time start + k / fps
    for ts, fetch in source:
        if fps is None or fps >= src_fps:  # keep every frame in [start, end]
            if end is not None and ts > end + eps:
                return
            if ts >= start - eps:
                yield ts, _finish(fetch(), short_side, bgr, sar)
            continue
        if ts + half < start:
            continue
        # targets up to the previous frame's upper bound are served already, so the next one is either in
        # (ts - half, ts + half] or was skipped by the source (a gap): both take this frame
        target = start + k / fps
        if end is not None and target > end + eps:
            return
        if target <= ts + half:
            yield ts, _finish(fetch(), short_side, bgr, sar)
            while start + k / fps <= ts + half:
                k += 1


def iter_frames(
    path,
    fps: float | None = 12.0,
    short_side: int | None = None,
    start: Timestamp = None,
    end: Timestamp = None,
    source_fps: float = 12.0,
) -> Iterator[tuple[float, np.ndarray]]:
    """Stream ``(timestamp, rgb)`` pairs: seconds from the video start and ``(H, W, 3)`` uint8 RGB frames.

    ``fps``: target rate (nearest source frame per target time; ``None`` keeps every frame, never
    upsamples). ``short_side``: resize so that ``min(H, W) == short_side`` (aspect kept, ``INTER_AREA``
    when shrinking). ``start``/``end``: clip window in seconds or ``"H:MM:SS.fff"`` strings, inclusive.
    ``source_fps``: rate of a frames folder. The file is checked before the first frame is requested;
    decoding problems found later also raise :class:`VideoError`.
    """
    info, t0, t1 = _prepare(path, fps, short_side, start, end, source_fps)
    return _iter_frames(info.path, info, fps, short_side, t0, t1)


def _check_args(path, fps, short_side, start, end) -> tuple[Path, float, float | None]:
    path = Path(path)
    t0, t1 = parse_timestamp(start) or 0.0, parse_timestamp(end)
    if t1 is not None and t1 < t0:
        raise _fail(path, f"clip window ends ({t1:.3f} s) before it starts ({t0:.3f} s)")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive or None, got {fps}")
    if short_side is not None and short_side < 1:
        raise ValueError(f"short_side must be >= 1, got {short_side}")
    return path, t0, t1


def _prepare(path, fps, short_side, start, end, source_fps) -> tuple[VideoInfo, float, float | None]:
    path, t0, t1 = _check_args(path, fps, short_side, start, end)
    return probe(path, source_fps), t0, t1


def _iter_frames(path, info: VideoInfo, fps, short_side, t0, t1, skip_nonref: bool = False,
                 container=None) -> Iterator[tuple[float, np.ndarray]]:
    """``container``: ``path`` opened with PyAV already, decoded from if PyAV's turn comes, closed in any case."""
    try:
        yield from _iter_sources(path, info, fps, short_side, t0, t1, skip_nonref, container)
    finally:
        if container is not None:
            container.close()


def cut_short(info: VideoInfo, last: float, fps: float | None, end: float | None = None) -> bool:
    """Whether decoding a video of ``info`` at ``fps`` up to ``end`` (None: its end) stopped early, its last
    frame at ``last`` seconds more than a second (or a tenth of the video, or a sampling step) before the end
    its container gives: a file cut short (an interrupted download) or damaged on the way."""
    slack = max(1.0, 0.1 * info.duration, 1.0 / fps if fps else 0.0)
    return not info.is_frames_dir and last < _wanted_end(info, end) - slack


def _wanted_end(info: VideoInfo, end: float | None) -> float:
    """Where decoding up to ``end`` (None: the end) should stop, by the container's duration."""
    return info.duration if end is None else min(end, info.duration)


def _fields(stream) -> bool:
    """Whether a PyAV video ``stream`` says its frames are interlaced (two fields each)."""
    return stream.codec_context.field_order >= 2  # 0 unknown, 1 progressive, else an order of two fields


def _interlaced(path: Path) -> bool:
    """:func:`_fields` of the video stream of ``path`` (False when PyAV cannot open it)."""
    import av

    try:
        with av.open(str(path)) as container:
            return _fields(container.streams.video[0])
    except (av.FFmpegError, IndexError, AttributeError):
        return False


def _iter_sources(path, info: VideoInfo, fps, short_side, t0, t1, skip_nonref,
                  container) -> Iterator[tuple[float, np.ndarray]]:
    if info.is_frames_dir:
        sources = [(lambda: _dir_source(_frame_files(path), info.fps), True)]
    else:  # (source, whether its frames are BGR)
        cv = (lambda: _cv2_source(path, info.fps), True)
        pyav = (lambda: _av_source(path, info.fps, t0, skip_nonref, container), False)
        # OpenCV decodes fastest but cannot seek exactly; PyAV seeks to the keyframe before a late window and
        # can leave non-reference frames undecoded
        sources = [pyav, cv] if t0 > SEEK_AFTER_S or skip_nonref else [cv, pyav]
        if info.interlaced or (info.interlaced is None and _interlaced(path)):
            sources = [pyav]  # OpenCV hands out garbage frames for interlaced video (black, or one grey frame)
    for i, (make, bgr) in enumerate(sources):
        count, last = 0, 0.0
        for item in _sample(make(), info.fps, fps, t0, t1, short_side, bgr, info.sar):
            count, last = count + 1, item[0]
            yield item
        if count:
            if cut_short(info, last, fps, t1):
                logger.warning("%s: decoding stopped at %.2f s of %.2f s (truncated video?)", path, last,
                               _wanted_end(info, t1))
            return
        if i + 1 < len(sources):
            logger.debug("%s: no frame decoded in the window, retrying with the other decoder", path)
    window = "" if t0 == 0 and t1 is None else f" in window [{t0:.3f}, {t1 if t1 is not None else 'end'}] s"
    raise _fail(path, f"no decodable frames{window} (empty, truncated or corrupt video)")


def load_clip(
    path,
    fps: float | None = 12.0,
    short_side: int | None = None,
    start: Timestamp = None,
    end: Timestamp = None,
    max_frames: int | None = None,
    min_frames: int = 2,
    source_fps: float = 12.0,
    skip_nonref: bool = False,
) -> Clip:
    """Decode a whole clip into memory (see :func:`iter_frames` for the arguments).

    ``max_frames`` stops after that many sampled frames; fewer than ``min_frames`` raises ``VideoError``.
    ``skip_nonref``: when the source rate is at least 3x ``fps``, decode with PyAV and skip the frames no
    other frame refers to (about half of a typical H.264 stream); each target gets the nearest decoded
    frame, its true timestamp kept.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    path, t0, t1 = _check_args(path, fps, short_side, start, end)
    container = None
    if skip_nonref and fps is not None and path.is_file():  # PyAV decodes it: probe with the same open file
        container, info = _open_av(path)
        if info.sar != 1:  # anamorphic: which way up it is shown decides the stretch (a quarter turn inverts it)
            info = dataclasses.replace(info, sar=probe(path).sar)
    else:
        info = probe(path, source_fps)
    # Preallocate from the container's duration (no second copy as with np.stack); grow if it under-reports.
    span = max(0.0, (info.duration if t1 is None else min(t1, info.duration)) - t0)
    size = int(span * (info.fps if fps is None else min(fps, info.fps))) + 2
    size = size if max_frames is None else max(1, min(size, max_frames))
    buf, stamps, resized = None, [], False
    skip_nonref = skip_nonref and fps is not None and info.fps >= 3 * fps  # enough frames left around each target
    it = _iter_frames(info.path, info, fps, short_side, t0, t1, skip_nonref, container)
    for ts, rgb in it:
        if max_frames is not None and len(stamps) >= max_frames:
            break
        if buf is None:
            buf = np.empty((size, *rgb.shape), np.uint8)
        elif len(stamps) == len(buf):
            buf = np.concatenate([buf, np.empty_like(buf[: len(buf) // 2 + 1])])
        if rgb.shape != buf.shape[1:]:  # an image of another size in a frames folder, a stream that changes size
            if not resized:
                logger.warning("%s: frame %d is %dx%d, not %dx%d like the first: resized to it", info.path, len(stamps),
                            rgb.shape[1], rgb.shape[0], buf.shape[2], buf.shape[1])
            resized = True
            rgb = cv2.resize(rgb, (buf.shape[2], buf.shape[1]), interpolation=cv2.INTER_AREA)
        buf[len(stamps)] = rgb
        stamps.append(ts)
    it.close()
    if len(stamps) < min_frames:
        raise _fail(info.path, f"only {len(stamps)} frame(s) decoded, at least {min_frames} needed")
    frames = buf[: len(stamps)]
    if len(buf) > len(stamps) + 2:  # release an over-allocated tail
        frames = frames.copy()
    return Clip(frames, np.asarray(stamps, np.float64), info.fps, info.path)


def write_video(path, frames: Iterable[np.ndarray], fps: float, crf: int = 18, preset: str = "fast") -> Path:
    """Encode RGB uint8 frames ``(H, W, 3)`` (an ``(N, H, W, 3)`` array or any iterable) to a video file.

    Uses PyAV with libx264 (yuv420p, ``crf``, ``preset``); falls back to OpenCV's ``mp4v`` encoder if that
    fails. yuv420p needs even sizes: an odd height or width loses its last row or column (a crop at the
    bottom/right, so pixel coordinates and intrinsics of the kept pixels are unchanged). Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    first = np.asarray(first)
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be (H, W, 3) uint8 RGB, got {first.shape} {first.dtype}")
    h, w = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
    if (h, w) != first.shape[:2]:
        logger.warning("%s: odd frame size %s cropped to %dx%d", path, first.shape[:2], h, w)

    def even(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f)
        if f.shape[:2] != first.shape[:2]:
            raise ValueError(f"{path}: frame size {f.shape[:2]} differs from the first {first.shape[:2]}")
        return np.ascontiguousarray(f[:h, :w])

    container = None
    try:
        import av

        container = av.open(str(path), "w")
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
    except Exception as e:  # no PyAV or no libx264 in this FFmpeg build
        if container is not None:
            container.close()
        container = None
        logger.warning("%s: PyAV/libx264 unavailable (%s), encoding with OpenCV mp4v", path, _oneline(e))
    if container is not None:
        with container:
            for f in itertools.chain([first], frames):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(even(f), format="rgb24")))
            container.mux(stream.encode())
        return path
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise VideoError(path, "cannot open a video writer")
    try:
        for f in itertools.chain([first], frames):
            writer.write(cv2.cvtColor(even(f), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path

