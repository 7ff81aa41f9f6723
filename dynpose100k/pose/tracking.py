"""Dense long-term point tracks from a tracker run in sliding windows on a grid of queries.

Track storage: ``uv`` ``(N, M, 2)`` float32 pixels of the input frames, NaN where track ``m`` is not
observed in frame ``n``. A window of frames is handed to a :class:`Tracker` with queries made of (a) the
tracks still alive at the window's first frame and (b) new grid points in textured grid cells that no live
track covers; positions returned for frames already filled by an earlier window are kept, so overlapping
windows link queries into long tracks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import cv2
import numpy as np

from .. import geometry
from ..video import stretch_grey
from .config import PoseConfig

log = logging.getLogger(__name__)

__all__ = ["Tracker", "LKTracker", "DISTracker", "FrameFeed", "track_video", "make_tracker", "check_models",
           "bridge_breaks"]


class Tracker(Protocol):
    """A point tracker: follows query points through a window of frames.

    ``frames``: ``(T, H, W)`` uint8 grey or ``(T, H, W, 3)`` RGB; ``queries``: ``(Q, 2)`` float32 pixel
    positions in frame 0 of the window. Returns ``tracks`` ``(T, Q, 2)`` float32 pixels and ``visible``
    ``(T, Q)`` bool (False once a query is lost or occluded). A learned tracker (BootsTAP/CoTracker-like)
    implements the same call; one with a true ``colour`` attribute is handed RGB frames (the others grey, and
    dark windows grey-stretched), e.g. :class:`dynpose100k.models.cotracker.CoTrackerTracker`.
    """

    def __call__(self, frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class LKTracker:
    """OpenCV pyramidal Lucas-Kanade with a forward-backward check; a query ends at its first failure."""

    def __init__(self, win: int = 21, levels: int = 3, fb_max_px: float = 1.0):
        self.fb_max_px = fb_max_px
        self.params = dict(
            winSize=(win, win),
            maxLevel=levels,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        )

    def __call__(self, frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = [_grey(f) for f in frames]
        vel = np.zeros((len(queries), 2), np.float32)

        def step(t: int, alive: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # initial guess: the track's last velocity, or the global image shift for a track without one
            # (fast pans move points further than the pyramid reaches)
            moved = np.any(vel[alive] != 0, axis=1)
            shift = 0.0 if moved.all() else _global_shift(grey[t - 1], grey[t])  # needed by unmoved tracks only
            guess = p0 + np.where(moved[:, None], vel[alive], shift)
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(grey[t - 1], grey[t], p0.reshape(-1, 1, 2),
                                                  guess.reshape(-1, 1, 2).copy(),
                                                  flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.params)
            p1 = p1.reshape(-1, 2)
            back = (p1 - (guess - p0)).reshape(-1, 1, 2).astype(np.float32)
            pb, st2, _ = cv2.calcOpticalFlowPyrLK(grey[t], grey[t - 1], p1.reshape(-1, 1, 2), back,
                                                  flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.params)
            fb = np.linalg.norm(pb.reshape(-1, 2) - p0, axis=1)
            ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < self.fb_max_px) & _inside(p1, grey[t].shape)
            vel[alive[ok]] = p1[ok] - p0[ok]
            return p1, ok

        return _follow(len(grey), queries, step)


def _follow(T: int, queries: np.ndarray, step) -> tuple[np.ndarray, np.ndarray]:
    """``(tracks (T, Q, 2), visible (T, Q))`` of ``queries`` ``(Q, 2)`` (frame 0) followed from frame to frame by
    ``step(t, alive, p0) -> (p1, ok)``: the positions ``p1`` ``(A, 2)`` in frame ``t`` of the ``alive`` ``(A,)``
    queries at ``p0`` ``(A, 2)`` in frame ``t - 1``, and which of them ``ok`` ``(A,)`` were followed; a query
    ends at its first failure."""
    Q = len(queries)
    tracks = np.full((T, Q, 2), np.nan, np.float32)
    visible = np.zeros((T, Q), bool)
    tracks[0], visible[0] = queries, True
    alive = np.arange(Q)
    for t in range(1, T):
        if not len(alive):
            break
        p1, ok = step(t, alive, tracks[t - 1, alive])
        alive = alive[ok]
        tracks[t, alive] = p1[ok]
        visible[t, alive] = True
    return tracks, visible


def _inside(p: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Which pixels ``p`` ``(Q, 2)`` lie inside an image of ``hw``."""
    return (p[:, 0] >= 0) & (p[:, 0] <= hw[1] - 1) & (p[:, 1] >= 0) & (p[:, 1] <= hw[0] - 1)


class DISTracker:
    """Points carried along dense optical flow (OpenCV's DIS, Kroeger et al. 2016) from frame to frame, with a
    forward-backward check on the backward flow; a query ends at its first failure.

    Where Lucas-Kanade solves for each point's motion from its own 21 px window, DIS solves for the whole
    image, each patch regularised by its neighbours (variational refinement), so a point on weak or noisy
    texture (smooth ground, night, sensor noise, motion blur) moves with the surface around it instead of
    sliding off it. DIS's "fast" settings, the flow computed on the finest pyramid level whose short side is
    at least ``flow_short_side`` and upsampled (half resolution at the engine's 360 px): on dev clips 0.71 px
    of error 5 frames on, against 1.27 px for Lucas-Kanade (docs/pose-engine.md, the dense-flow tracker).
    Like Lucas-Kanade, which loses a point whose patch changes, a point ends where the texture at its new
    position (the query grid's measure, ``cv2.cornerMinEigenVal``) falls under ``texture_kept`` times the
    texture at its last one: over a featureless frame (a card held in front of the lens, a white-out) the
    flow is zero and consistent both ways, and points would otherwise sit still through it; a point on weak
    texture that stays on it (smooth ground) keeps its texture and lives on. A pair's flows are computed on
    ``threads`` threads (OpenCV releases the GIL); flows and texture maps are cached by the frames' content,
    so windows that overlap pay for them once. DIS's pyramid reaches a few tens of pixels: where under
    ``shift_below`` of a pair's pixels come back within ``fb_max_px`` and the whole image moved at least 8 px
    (a fast turn through a narrow lens moves a 640 px frame by 70-100 px), both flows are computed again
    started from that shift (phase correlation) and kept when more pixels come back (0: never)."""

    def __init__(self, fb_max_px: float = 1.0, texture_kept: float = 0.1, flow_short_side: int = 180,
                 threads: int = 2, cache: int = 6, shift_below: float = 0.25):
        self.fb_max_px = fb_max_px
        self.shift_below = shift_below
        self.texture_kept = texture_kept
        self.flow_short_side = flow_short_side
        # one per direction, and a second pair for flows started from a shift: OpenCV's DIS keeps using an input
        # flow once it was given one (later calls without one start from whatever memory the output gets)
        self._dis = [cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST) for _ in range(2)]
        self._dis_started = [cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST) for _ in range(2)]
        self._back = ThreadPoolExecutor(1) if threads > 1 else None  # the backward flow beside the forward one
        self._cache = cache
        self._flows: OrderedDict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._textures: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def _kept(self, store: OrderedDict, key, make):
        """``store[key]``, made by ``make()`` if missing; the store keeps the ``cache`` latest."""
        if key in store:
            store.move_to_end(key)
            return store[key]
        store[key] = value = make()
        if len(store) > self._cache:
            store.popitem(last=False)
        return value

    def _pair(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense flows ``(H, W, 2)`` float32 (pixels) from grey image ``a`` to ``b`` and back."""
        scale = max(0, int(np.floor(np.log2(max(1.0, min(a.shape) / self.flow_short_side)))))
        for dis in self._dis + self._dis_started:
            dis.setFinestScale(scale)
        flows = self._flows_from(a, b, None)
        if self.shift_below > 0 and (kept := self._consistent(*flows)) < self.shift_below:
            shift = _global_shift(a, b)
            if np.hypot(*shift) >= _SHIFT_MIN_PX:
                start = np.broadcast_to(shift, (*a.shape, 2))
                other = self._flows_from(a, b, start)
                if self._consistent(*other) > kept:
                    return other
        return flows

    def _flows_from(self, a: np.ndarray, b: np.ndarray, start: np.ndarray | None):
        """DIS flows ``a -> b`` and ``b -> a``, started from ``start`` ``(H, W, 2)`` (and its negation) or
        from zero."""
        f0 = None if start is None else np.ascontiguousarray(start, np.float32)
        b0 = None if start is None else np.ascontiguousarray(-start, np.float32)
        forward, backward = self._dis if start is None else self._dis_started
        if self._back is not None:
            back = self._back.submit(backward.calc, b, a, b0)
            return forward.calc(a, b, f0), back.result()
        return forward.calc(a, b, f0), backward.calc(b, a, b0)

    def _carried(self, forward: np.ndarray, backward: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``p0`` ``(Q, 2)`` carried by the ``forward`` flow, and which of them land in the frame and come
        back within ``fb_max_px`` along the ``backward`` one: ``(p1, ok)``."""
        p1 = p0 + _at(forward, p0)
        back = p1 + _at(backward, p1)
        return p1, _inside(p1, forward.shape[:2]) & (np.linalg.norm(back - p0, axis=1) < self.fb_max_px)

    def _consistent(self, forward: np.ndarray, backward: np.ndarray) -> float:
        """Share of a grid of pixels (every 8 px) that :meth:`_carried` keeps."""
        return float(self._carried(forward, backward, _pixel_grid(forward.shape[:2]))[1].mean())

    def __call__(self, frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = [np.ascontiguousarray(_grey(f)) for f in frames]
        keys = [hashlib.blake2b(g, digest_size=16).digest() for g in grey]  # each frame's content, once

        def texture_map(t: int) -> np.ndarray:
            return self._kept(self._textures, keys[t], lambda: cv2.cornerMinEigenVal(grey[t], 7))

        texture = _at(texture_map(0), queries)[:, 0] if len(queries) else None

        def step(t: int, alive: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pair = keys[t - 1], keys[t]
            forward, backward = self._kept(self._flows, pair, lambda: self._pair(grey[t - 1], grey[t]))
            p1, ok = self._carried(forward, backward, p0)
            if self.texture_kept > 0 and ok.any():
                now = _at(texture_map(t), p1[ok])[:, 0]
                kept = now >= self.texture_kept * texture[alive[ok]]
                texture[alive[ok]] = now
                ok[ok] = kept
            return p1, ok

        return _follow(len(grey), queries, step)


def _at(field: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(Q, C)`` of a float32 ``field`` ``(H, W[, C])`` at pixels ``p`` ``(Q, 2)`` (edges
    replicated)."""
    x = np.ascontiguousarray(p[:, :1], np.float32)
    y = np.ascontiguousarray(p[:, 1:], np.float32)
    return cv2.remap(field, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(len(p), -1)


@functools.cache
def _pixel_grid(hw: tuple[int, int], step: int = 8) -> np.ndarray:
    """Pixel centres ``(Q, 2)`` float32 of a grid every ``step`` px over an image of ``hw`` (made once per size;
    read-only)."""
    h, w = hw
    p = np.stack(np.meshgrid(np.arange(step / 2, w, step), np.arange(step / 2, h, step)), -1).reshape(-1, 2)
    p = p.astype(np.float32)
    p.flags.writeable = False
    return p


#: The least whole-image shift (px, phase correlation) from which DIS flows are started again where a pair loses
#: its pixels (:class:`DISTracker`'s ``shift_below``): below it DIS's own pyramid reaches the motion.
_SHIFT_MIN_PX = 8.0


def _global_shift(a: np.ndarray, b: np.ndarray, size: int = 128) -> np.ndarray:
    """Dominant translation ``(2,)`` from image ``a`` to ``b`` by phase correlation on a small copy."""
    h, w = a.shape
    s = size / max(h, w)
    sa = cv2.resize(a, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA).astype(np.float32)
    sb = cv2.resize(b, (sa.shape[1], sa.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    win = cv2.createHanningWindow((sa.shape[1], sa.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(sa, sb, win)
    return np.array([dx, dy], np.float32) / s


def make_tracker(config: PoseConfig, cached: bool = True) -> Tracker:
    """The tracker named by ``config.tracker``. A learned one loads ``config.tracker_model`` onto
    ``config.device`` once per process (every clip a worker poses shares it; ``cached=False``: a copy of its
    own, kept nowhere) and raises :class:`~dynpose100k.models.cotracker.TrackerModelError` when it cannot."""
    if config.tracker == "klt":
        return LKTracker(config.lk_win, config.lk_levels, config.fb_max_px)
    if config.tracker == "dis":
        return DISTracker(config.fb_max_px, threads=config.threads, shift_below=config.flow_shift_below)
    load = _cotracker if cached else _cotracker.__wrapped__
    return load(str(config.tracker_model), config.device)  # the other name PoseConfig accepts (TRACKERS)


def check_models(config: PoseConfig, keep: bool = True) -> None:
    """Load what ``config`` names from files (a learned tracker's weights, a segmentation model, a confidence
    calibration) once, so that a missing or broken one is a one-line :class:`~dynpose100k.errors.DynPoseError`
    before any clip rather than an error on every clip. ``keep``: the models stay loaded for this process's
    clips (they are cached, :func:`make_tracker`, :func:`~dynpose100k.models.segmentation.cached_segmenter`);
    ``keep=False`` is for a process that poses nothing itself (the curator's, beside its workers): the weights
    are loaded on the CPU for the check and dropped, so no idle copy holds accelerator memory while the
    workers load their own."""
    from .confidence import load_confidence_model

    make_tracker(config if keep else dataclasses.replace(config, device="cpu"), cached=keep)
    if config.semantic_model:
        from ..models.segmentation import MovableSegmenter, cached_segmenter

        if keep:
            cached_segmenter(config.semantic_model, config.device)
        else:
            MovableSegmenter(config.semantic_model, device="cpu")
    if config.confidence:
        load_confidence_model(config.confidence_model, config.tracker)


@functools.lru_cache(maxsize=2)
def _cotracker(path: str, device: str) -> Tracker:
    from ..models.cotracker import CoTrackerTracker

    return CoTrackerTracker(path, device=device)


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _looks(frame: np.ndarray, tracker: Tracker) -> np.ndarray:
    """``frame`` as ``tracker`` takes it: RGB for a tracker that sees colour (``tracker.colour``) when the
    frame has it, grey otherwise."""
    return frame if getattr(tracker, "colour", False) else _grey(frame)


def _grid_queries(grey: np.ndarray, live_uv: np.ndarray, step: int, min_texture: float) -> np.ndarray:
    """Centres of textured grid cells (``step`` px) that hold no live track -> ``(Q, 2)`` float32."""
    h, w = grey.shape
    ys = np.arange(step // 2, h - step // 4, step)
    xs = np.arange(step // 2, w - step // 4, step)
    occupied = np.zeros((len(ys), len(xs)), bool)
    if len(live_uv):
        cx = np.clip((live_uv[:, 0] // step).astype(int), 0, len(xs) - 1)
        cy = np.clip((live_uv[:, 1] // step).astype(int), 0, len(ys) - 1)
        occupied[cy, cx] = True
    eig = cv2.cornerMinEigenVal(grey, 7)
    # snap each free cell's query to its strongest corner, so LK has texture to lock onto
    r = step // 2
    out = []
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            if occupied[iy, ix]:
                continue
            y0, x0 = max(y - r, 0), max(x - r, 0)
            cell = eig[y0 : y + r, x0 : x + r]
            k = int(np.argmax(cell))
            if cell.flat[k] >= min_texture:
                out.append((x0 + k % cell.shape[1], y0 + k // cell.shape[1]))
    return np.asarray(out, np.float32).reshape(-1, 2)


class FrameFeed:
    """Frames handed over one by one by a producer (e.g. a decoding thread) to :func:`track_video`, which
    tracks each window as soon as its frames are there. The producer calls :meth:`put` per frame and
    :meth:`close` once (with the exception that stopped it, if any, which the consumer then raises)."""

    def __init__(self):
        self._frames: list[np.ndarray] = []
        self._done = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self.cancelled = False
        """Set by the consumer when it stops early (an error, Ctrl-C): the producer should stop too."""

    def put(self, frame: np.ndarray) -> None:
        with self._cond:
            self._frames.append(frame)
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()

    def wait(self, n: int) -> int:
        """Block until ``n`` frames are there or the producer is done; the number of frames up to ``n``."""
        with self._cond:
            while len(self._frames) < n and not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return min(n, len(self._frames))

    def __getitem__(self, window: slice) -> list[np.ndarray]:
        return self._frames[window]

    def __len__(self) -> int:
        """Frames received so far."""
        return len(self._frames)

    def take(self) -> np.ndarray:
        """Every frame received, stacked ``(N, ...)``; the feed lets go of them (call once the producer is
        done: one copy of the clip in memory, not two)."""
        frames, self._frames = self._frames, []
        return np.stack(frames)


def _grown(uv: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``uv`` ``(N, M, 2)`` copied into a NaN-filled ``(rows, cols, 2)`` array (storage growing by doubling)."""
    out = np.full((rows, cols, 2), np.nan, np.float32)
    out[: uv.shape[0], : uv.shape[1]] = uv
    return out


def track_video(frames: np.ndarray | FrameFeed, config: PoseConfig, tracker: Tracker | None = None) -> np.ndarray:
    """Long-term tracks for ``frames`` ``(N, H, W, 3)`` RGB or ``(N, H, W)`` grey (or a :class:`FrameFeed`
    of such frames) -> ``uv`` ``(N, M, 2)`` float32, NaN = unobserved. Storage grows by doubling, so a
    window costs the same early or late in a long clip."""
    tracker = tracker or make_tracker(config)
    feed = frames if isinstance(frames, FrameFeed) else None
    colour = bool(getattr(tracker, "colour", False))
    if feed is None and frames.ndim == 4 and not colour:  # each frame converted once (windows overlap)
        frames = np.stack([_grey(f) for f in frames])
    stride = max(1, min(config.window_stride, config.window - 1))
    uv_all = np.full((256 if feed is not None else len(frames), 256, 2), np.nan, np.float32)
    live_ids = np.zeros(0, int)
    total = 0
    s = 0
    while True:
        e = feed.wait(s + config.window) if feed is not None else min(s + config.window, len(frames))
        if e - s < 2:
            break
        while e > len(uv_all):  # a feed of unknown length: frames grow by doubling too
            uv_all = _grown(uv_all, 2 * len(uv_all), uv_all.shape[1])
        win = frames[s:e] if feed is None else np.stack([_looks(f, tracker) for f in feed[s:e]])
        if config.track_gain > 1 and win.ndim == 3:  # one gain per window: continuing tracks carry positions
            win = stretch_grey(win, config.track_gain, min_gain=config.track_dark_gain)
        live_ids = live_ids[~np.isnan(uv_all[s, live_ids, 0])] if len(live_ids) else live_ids
        live_uv = uv_all[s, live_ids] if len(live_ids) else np.zeros((0, 2), np.float32)
        new = _grid_queries(_grey(win[0]), live_uv, config.grid_step, config.min_texture)
        queries = np.concatenate([live_uv, new]).astype(np.float32)
        if not len(queries):
            live_ids = np.zeros(0, int)
            s += stride
            continue
        tr, vis = tracker(win, queries)
        # next window: after ``stride`` frames, or earlier at the first frame that lost too many queries
        # (fast pans, occluders), so empty cells are re-seeded there
        short = np.flatnonzero(vis[1 : stride + 1].sum(1) < config.reseed_fraction * len(queries))
        nxt = s + (int(short[0]) + 1 if len(short) else stride)
        e = nxt + 1 if nxt + 1 < e else e
        tr, vis = tr[: e - s], vis[: e - s]
        tr = np.where(vis[..., None], tr, np.nan).astype(np.float32)
        if total + len(new) > uv_all.shape[1]:
            uv_all = _grown(uv_all, len(uv_all), max(2 * uv_all.shape[1], total + len(new)))
        new_ids = np.arange(total, total + len(new))
        uv_all[s:e, new_ids] = tr[:, len(live_uv) :]
        total += len(new)
        # continued tracks: fill only frames no earlier window filled
        old = tr[:, : len(live_uv)]
        seg = uv_all[s:e, live_ids]
        fill = np.isnan(seg[..., 0]) & ~np.isnan(old[..., 0])
        # a continued track stops at its first loss in this window (no resurrection after a gap)
        lost = np.cumsum(np.isnan(old[..., 0]), axis=0) > 0
        fill &= ~lost
        seg[fill] = old[fill]
        uv_all[s:e, live_ids] = seg
        ids = np.concatenate([live_ids, new_ids])
        last = np.concatenate([old[-1], tr[-1, len(live_uv) :]])
        live_ids = ids[~np.isnan(last[:, 0]) & ~np.concatenate([lost[-1], np.zeros(len(new), bool)])]
        s = nxt
    N = len(frames)
    uv = uv_all[:N, :total]
    keep = (~np.isnan(uv[..., 0])).sum(0) >= config.min_track_len
    log.debug("tracks: %d of %d kept (>= %d frames)", keep.sum(), uv.shape[1], config.min_track_len)
    return uv[:, keep]


def bridge_breaks(uv: np.ndarray, usable: np.ndarray, frames: np.ndarray, config: PoseConfig,
                  tracker: Tracker | None = None) -> np.ndarray | None:
    """Tracks across breaks in the chain of frames: ``uv`` ``(N, M, 2)`` tracks of ``frames`` ``(N, H, W[, 3])``,
    ``usable`` ``(M,)`` the tracks a map may use (e.g. not moving) -> ``(N, M + K, 2)`` with ``K`` bridge tracks
    appended, or None when there is no break to bridge.

    A tracker ends a track at its first loss, so a pan faster than it can follow, a pillar the camera walks
    past or a passer-by filling the view ends every track at once, and the tracks after it share no point
    with those before: the map then holds one side only. A break is a pair of consecutive well-tracked
    frames ``a < b`` (at least half the median number of usable tracks; the frames between them are not) at
    most ``config.bridge_max_gap`` apart that share fewer than ``config.bridge_below`` usable tracks. SIFT
    features of frames ``a`` and ``b`` are matched both ways with a ratio test; when at least
    :data:`BRIDGE_MIN_MATCHES` matches agree on one robust fundamental matrix, each becomes a track followed
    backwards from ``a`` and forwards from ``b`` for ``config.window`` frames by the tracker. Bridge tracks on
    movers are judged by the motion evidence downstream like any other track.
    """
    N = len(uv)
    if not config.bridge_max_gap or N < 3 or not usable.any():
        return None
    seen = ~np.isnan(uv[..., 0]) & usable[None]
    count = seen.sum(1)
    good = np.flatnonzero(count >= max(config.bridge_below, 0.5 * np.median(count[count > 0])))
    shared = (seen[good[:-1]] & seen[good[1:]]).sum(1)  # usable tracks of each well-tracked frame and the next
    breaks = [(int(a), int(b)) for a, b, n in zip(good[:-1], good[1:], shared)
              if b - a <= config.bridge_max_gap and n < config.bridge_below]
    if not breaks:
        return None
    tracker = tracker or make_tracker(config)
    sift = cv2.SIFT_create(nfeatures=BRIDGE_FEATURES)
    thr = config.sampson_px_720p * frames.shape[1] / 720
    L = max(2, config.window)
    new = []
    for a, b in breaks:
        ga, gb = _grey(frames[a]), _grey(frames[b])
        ka, da = sift.detectAndCompute(ga, None)
        kb, db = sift.detectAndCompute(gb, None)
        if da is None or db is None:
            continue
        pairs = _mutual_matches(da, db)
        if len(pairs) < BRIDGE_MIN_MATCHES:
            log.debug("break %d-%d: %d appearance matches", a, b, len(pairs))
            continue
        xa = np.float64([ka[i].pt for i in pairs[:, 0]])
        xb = np.float64([kb[j].pt for j in pairs[:, 1]])
        F, inl = geometry.fundamental_ransac(xa, xb, thr)
        if F is None or inl.sum() < BRIDGE_MIN_MATCHES:
            log.debug("break %d-%d: %d appearance matches, no geometry they agree on", a, b, len(pairs))
            continue
        xa, xb = xa[inl], xb[inl]
        tr = np.full((N, len(xa), 2), np.nan, np.float32)
        back = np.arange(a, max(a - L, -1), -1)
        fwd = np.arange(b, min(b + L, N))
        for idx, x in ((back, xa), (fwd, xb)):
            pos, vis = tracker(np.stack([_looks(frames[n], tracker) for n in idx]), x.astype(np.float32))
            # a bridge track stops at its first loss on either side
            vis = np.cumprod(vis, axis=0).astype(bool)
            tr[idx] = np.where(vis[..., None], pos, np.nan)
        tr = tr[:, (~np.isnan(tr[..., 0])).sum(0) >= config.min_track_len]
        new.append(tr)
        log.debug("break %d-%d: %d bridge tracks", a, b, tr.shape[1])
    if not new:
        return None
    return np.concatenate([uv, *new], axis=1)


BRIDGE_FEATURES = 1000
"""SIFT features detected per frame on either side of a break."""
BRIDGE_MIN_MATCHES = 20
"""Fewest appearance matches, consistent with one fundamental matrix, that make bridge tracks."""


def _mutual_matches(da: np.ndarray, db: np.ndarray, ratio: float = 0.8) -> np.ndarray:
    """Index pairs ``(K, 2)`` of rows of ``da`` and ``db`` that are each other's nearest descriptor, the
    nearest closer than ``ratio`` times the second nearest in both directions."""
    matcher = cv2.BFMatcher(cv2.NORM_L2)

    def nearest(q: np.ndarray, t: np.ndarray) -> dict[int, int]:
        return {m[0].queryIdx: m[0].trainIdx for m in matcher.knnMatch(q, t, k=2)
                if len(m) == 2 and m[0].distance < ratio * m[1].distance}

    ab, ba = nearest(da, db), nearest(db, da)
    return np.array([(i, j) for i, j in ab.items() if ba.get(j) == i], int).reshape(-1, 2)
