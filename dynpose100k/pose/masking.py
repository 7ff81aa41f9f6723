"""Dynamic masks from complementary sources.

* Motion (per track): on frame pairs ``(t, t + gap)`` (several gaps) a robust fundamental matrix is fitted to all tracks
  seen in both frames (MAGSAC, :func:`dynpose100k.geometry.fundamental_ransac`), then a second one to its
  outliers; the background is the one of the two whose inliers cover more of the image; a track whose Sampson error
  exceeds ``sampson_px_720p`` is dynamic evidence for that pair. Evidence is accumulated over every pair the
  track takes part in, across all windows: ``score = dynamic pairs / measured pairs``.
* Motion (per pixel, optional, SfM exclusion zones only): dense DIS optical flow between the same pairs at mask
  resolution, forward and backward, scored by its Sampson error under the pair's fundamental matrix where the
  flow is forward-backward consistent.
* Semantic (optional): movable classes of a universal-segmentation model
  (:mod:`dynpose100k.models.segmentation`).

Track evidence of the released masks: once the cameras are reconstructed, every track is triangulated from
all its observations (:func:`dynpose100k.geometry.triangulate_tracks`) and each observation's reprojection
error measures whether it moved. Unlike a pair's Sampson error, this also sees objects that move along the
epipolar lines (a car driving beside a tracking camera). Without cameras (a failed reconstruction) the
pairwise score above stands in.

Combination rule for frame ``n``: the observations of tracks measured as clearly moving (most observations
off their triangulation by more than ``mask_seed_reproj_px_720p``; without cameras, a pairwise score above
``mask_seed_score``) seed small discs; their extent then follows colour edges (a watershed from the eroded
discs and the seed points against static observations (within ``mask_static_reproj_px_720p`` of their
triangulation; without cameras, tracks never measured dynamic) and everything farther than
``mask_grow_px_720p``). United with the semantic mask; a pixel is released where its own frame or one beside it
marks it, the neighbour's mask carried along the dense flow between the two (DIS at mask resolution): the
seeds of a fast mover come and go as its tracks are lost and found again, and the mover has moved between
frames. On the 48 dev clips of seeds 0-23 and 100-123 the IoU went 0.457 -> 0.493 and 0.415 -> 0.431 with
any of the 3 frames at the same pixel (against a majority of the 3), and to 0.520 and 0.447 carried along
the flow (any of 5 frames at the same pixel: 0.463 and 0.410). Then a morphological closing. Masks are
``(N, h, w)`` bool at ``mask_scale`` of the input size.

The dense flow's motion evidence does not seed or grow the released masks (the flow only carries a mask to
the frames beside it): at mask resolution it is unreliable where movers are small or the ground is smooth,
and on the development clips the masks matched the true ones as well without it (IoU 0.426 against 0.420),
with fewer false regions grown from it on smooth ground.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import resize_pixels
from ..geometry import sampson_error, static_fundamental, warp_back
from .config import PoseConfig

log = logging.getLogger(__name__)

__all__ = ["MotionEvidence", "motion_evidence", "exclusion_masks", "pixel_masks", "off_map", "mask_shape"]


@dataclass(frozen=True)
class MotionEvidence:
    """Per-track motion evidence accumulated over all frame pairs."""

    score: np.ndarray
    """``(M,)`` float: fraction of a track's measured pairs whose Sampson error is above threshold
    (NaN if the track was never measured)."""
    measured: np.ndarray
    """``(M,)`` int: number of pairs the track was measured on."""
    fundamentals: dict[tuple[int, int], np.ndarray]
    """Frame pair ``(i, j)`` -> fundamental matrix ``(3, 3)`` with ``x_j^T F x_i = 0`` (input pixels)."""


def motion_evidence(uv: np.ndarray, image_hw: tuple[int, int], config: PoseConfig, stride: int = 1,
                    fundamentals: dict[tuple[int, int], np.ndarray] | None = None,
                    reference: np.ndarray | None = None) -> MotionEvidence:
    """Accumulate Sampson-error evidence for tracks ``uv`` ``(N, M, 2)`` over pairs ``(t, t+gap)``.

    ``fundamentals`` (optional) gives each pair's matrix (e.g. from reconstructed cameras) instead of
    fitting one robustly to the tracks; only those pairs are then measured. With them, an observation pair
    is evidence only when its error also exceeds ``config.pose_check_median_ratio`` times the pair's median
    error over the ``reference`` ``(M,)`` bool tracks (those the cameras were built from; all tracks when
    None): cameras off for a whole pair then flag the pair's outliers, not all of it."""
    N, M = uv.shape[:2]
    thr = config.sampson_px_720p * image_hw[0] / 720.0
    dyn = np.zeros(M, int)
    meas = np.zeros(M, int)
    Fs: dict[tuple[int, int], np.ndarray] = {}
    pairs = {(i, i + g) for g in {max(1, min(g, N - 1)) for g in config.pair_gaps} for i in range(0, N - g, stride)}
    if fundamentals is not None:
        pairs = set(fundamentals)
    pairs = sorted(pairs)

    def matches(ij):
        i, j = ij
        both = np.flatnonzero(~np.isnan(uv[i, :, 0]) & ~np.isnan(uv[j, :, 0]))
        return both, uv[i, both].astype(np.float64), uv[j, both].astype(np.float64)

    found = [matches(ij) for ij in pairs]
    if fundamentals is None:  # the robust fits are independent and release the GIL: one per thread
        with ThreadPoolExecutor(max(1, config.threads)) as ex:
            fitted = list(ex.map(lambda m: static_fundamental(m[1], m[2], image_hw, thr), found))
    else:
        fitted = [fundamentals[ij] for ij in pairs]
    for (i, j), F, (both, xi, xj) in zip(pairs, fitted, found):
        if F is None:
            continue
        Fs[(i, j)] = F
        err = sampson_error(F, xi, xj)
        meas[both] += 1
        t = thr
        if fundamentals is not None and config.pose_check_median_ratio > 0:
            ref = err if reference is None else err[reference[both]]
            t = max(thr, config.pose_check_median_ratio * float(np.median(ref))) if len(ref) else thr
        dyn[both] += err > t
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(meas > 0, dyn / np.maximum(meas, 1), np.nan)
    return MotionEvidence(score, meas, Fs)


def mask_shape(image_hw: tuple[int, int], config: PoseConfig) -> tuple[int, int]:
    """Mask grid ``(h, w)`` for input frames of ``image_hw`` (at least 8 px per side)."""
    return max(8, round(image_hw[0] * config.mask_scale)), max(8, round(image_hw[1] * config.mask_scale))


def _scale_F(F: np.ndarray, s: tuple[float, float]) -> np.ndarray:
    """F in input pixels -> F in mask pixels (pixel-centre convention ``u' = (u + .5) s - .5``)."""
    S = np.array([[s[1], 0, 0.5 * s[1] - 0.5], [0, s[0], 0.5 * s[0] - 0.5], [0, 0, 1.0]])
    Si = np.linalg.inv(S)
    return Si.T @ F @ Si


def exclusion_masks(
    frames: np.ndarray,
    uv: np.ndarray,
    dynamic: np.ndarray,
    evidence: MotionEvidence,
    config: PoseConfig,
    semantic: np.ndarray | None = None,
    flow_cache: dict | None = None,
) -> np.ndarray:
    """Where SfM takes no static observation from: per-frame zones ``(N, h, w)`` bool at :func:`mask_shape` of
    ``frames`` ``(N, H, W, 3)`` RGB or ``(N, H, W)`` grey. Generous by design (they are not the released object
    masks, :func:`pixel_masks`): discs of ``mask_dilate_px_720p`` around every observation of a ``dynamic``
    ``(M,)`` track (measured or not), dense FAST DIS-flow Sampson evidence of each pair's first frame, the
    ``semantic`` ``(N, h, w)`` bool mask (optional); then a 3-frame majority vote and a closing.
    ``flow_cache`` (optional, a dict owned by the caller) keeps each pair's dense flow, so a second call on
    the same frames (the pose check's) does not compute it again.
    """
    N, H, W = frames.shape[:3]
    h, w = mask_shape((H, W), config)
    s = (h / H, w / W)
    out = np.zeros((N, h, w), np.uint8)
    r = max(1, round(config.mask_dilate_px_720p * H / 720.0 * s[0]))
    for n in range(N):
        pts = uv[n, dynamic]
        pts = pts[~np.isnan(pts[:, 0])]
        for x, y in resize_pixels(pts, (H, W), (h, w)):
            cv2.circle(out[n], (int(round(x)), int(round(y))), r, 1, -1)
    if config.dense_flow and evidence.fundamentals:
        out |= _dense_exclusion(frames, evidence.fundamentals, (h, w), s, config, flow_cache)
    if semantic is not None:
        out |= semantic.astype(np.uint8)
    return _vote_and_close(out)


def _vote_and_close(out: np.ndarray) -> np.ndarray:
    """Masks ``(N, h, w)`` uint8 -> bool: a pixel is kept where it is set in a majority of the 3 frames around
    it (what one frame alone marks is removed; clips of 3 frames or more; the first and last frame count
    twice), then closed (:func:`_close`)."""
    if len(out) >= 3:
        pad = np.concatenate([out[:1], out, out[-1:]])
        out = ((pad[:-2].astype(np.int8) + pad[1:-1] + pad[2:]) >= 2).astype(np.uint8)
    return _close(out)


def _close(out: np.ndarray) -> np.ndarray:
    """A morphological closing of each mask ``(N, h, w)`` uint8 -> bool."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return np.stack([cv2.morphologyEx(m, cv2.MORPH_CLOSE, k) for m in out]).astype(bool)


def _carry_to_neighbours(out: np.ndarray, grey: list[np.ndarray], threads: int = 1) -> np.ndarray:
    """Masks ``(N, h, w)`` uint8 with each frame's mask also carried into the frames beside it along the dense
    flow of the grey frames ``grey`` (N of ``(h, w)`` uint8; DIS both ways between consecutive frames, each
    pair only when one of its masks is set): a pixel of frame n is set when frame n, or frame n +- 1 at the
    pixel the flow from n takes it to, marks it."""
    N = len(out)

    def pulls(n):  # the masks of frames n + 1 and n, carried into frames n and n + 1
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return tuple(warp_back(out[b], dis.calc(grey[a], grey[b], None)) for a, b in ((n, n + 1), (n + 1, n)))

    todo = [n for n in range(N - 1) if out[n].any() or out[n + 1].any()]
    carried = out.copy()
    with ThreadPoolExecutor(max(1, threads)) as ex:  # DIS releases the GIL
        for n, (into_n, into_next) in zip(todo, ex.map(pulls, todo)):
            carried[n] |= into_n
            carried[n + 1] |= into_next
    return carried


def _pair_flows(frames, pairs, hw, config, cache: dict | None = None) -> dict:
    """Dense DIS flow of each frame pair ``(i, j)`` at mask resolution ``hw``: ``(fwd, ok)``, the flow
    ``(h, w, 2)`` i -> j and where the flow j -> i takes it back ``(h, w)`` bool (unreliable flow, at
    occlusions or without texture, is not evidence). ``cache`` (a dict owned by the caller) keeps
    them across calls on the same frames; only missing pairs are computed."""
    h, w = hw
    cache = {} if cache is None else cache
    todo = [ij for ij in pairs if ij not in cache]
    if todo:
        small = {}
        for n in sorted({n for ij in todo for n in ij}):
            f = frames[n]
            small[n] = cv2.resize(f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (w, h),
                                  interpolation=cv2.INTER_AREA)

        def flow(ij):
            i, j = ij
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
            fwd = dis.calc(small[i], small[j], None)
            back = dis.calc(small[j], small[i], None)
            return fwd, np.linalg.norm(fwd + warp_back(back, fwd), axis=-1) < 1.0

        with ThreadPoolExecutor(max(1, config.threads)) as ex:  # DIS releases the GIL
            cache.update(zip(todo, ex.map(flow, todo)))
    return cache


def _dense_exclusion(frames, Fs, hw, s, config, cache: dict | None = None) -> np.ndarray:
    """Dense DIS-flow Sampson evidence ``(N, h, w)`` uint8 for the first frames of the fitted pairs."""
    h, w = hw
    N, H = frames.shape[:2]
    thr = 2.0 * config.sampson_px_720p * H / 720.0 * s[0]
    flows = _pair_flows(frames, list(Fs), hw, config, cache)
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 2).astype(np.float64)
    out = np.zeros((N, h, w), np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    for (i, j), F in Fs.items():
        fwd, ok = flows[(i, j)]
        err = sampson_error(_scale_F(F, s), grid, grid + fwd.reshape(-1, 2))
        m = ((err > thr) & ok.ravel()).reshape(h, w).astype(np.uint8)
        out[i] |= cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    return out


def off_map(residuals: np.ndarray, height: int, config: PoseConfig) -> np.ndarray:
    """``(M,)`` bool: the tracks a map does not explain, those with more than ``config.mask_seed_score`` of
    their observations farther than ``config.mask_seed_reproj_px_720p`` from their triangulation.
    ``residuals`` ``(N, M)``: as for :func:`pixel_masks`, in pixels of frames ``height`` tall."""
    off = residuals > config.mask_seed_reproj_px_720p * height / 720.0
    return off.sum(0) > config.mask_seed_score * np.maximum((~np.isnan(residuals)).sum(0), 1)


def pixel_masks(
    frames: np.ndarray,
    uv: np.ndarray,
    dynamic: np.ndarray,
    evidence: MotionEvidence,
    config: PoseConfig,
    semantic: np.ndarray | None = None,
    residuals: np.ndarray | None = None,
) -> np.ndarray:
    """Per-frame dynamic masks ``(N, h, w)`` bool at :func:`mask_shape` of ``frames`` ``(N, H, W, 3)`` RGB
    or ``(N, H, W)`` grey, from tracks ``uv`` ``(N, M, 2)`` (pixels of ``frames``).

    ``residuals`` ``(N, M)`` (optional): each observation's reprojection error (pixels of ``frames``; NaN
    unobserved, inf behind the camera) under its track's triangulation with the reconstructed cameras
    (:func:`dynpose100k.geometry.triangulate_tracks`). With them, tracks with more than
    ``config.mask_seed_score`` of their observations above ``config.mask_seed_reproj_px_720p`` seed the
    mask (every observation), and the other tracks' observations below
    ``config.mask_static_reproj_px_720p`` bound it. Without them, the ``dynamic`` ``(M,)`` bool tracks
    whose ``evidence.score`` exceeds ``config.mask_seed_score`` seed, and tracks never measured dynamic
    bound. ``semantic`` ``(N, h, w)`` bool (optional) is united in.
    """
    N, H, W = frames.shape[:3]
    h, w = mask_shape((H, W), config)
    s = (h / H, w / W)
    small = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
    seen = ~np.isnan(uv[..., 0])
    if residuals is not None:
        moving = off_map(residuals, H, config)
        seed_obs = seen & moving[None]  # every observation: seeds that come and go flicker
        static_obs = (residuals < config.mask_static_reproj_px_720p * H / 720.0) & ~moving
    else:
        with np.errstate(invalid="ignore"):
            seed = dynamic & (evidence.score > config.mask_seed_score)
            static = ~dynamic & (evidence.score == 0) & (evidence.measured >= 2)
        seed_obs, static_obs = seen & seed, seen & static
    discs = np.zeros((N, h, w), np.uint8)
    r = max(1, round(config.mask_seed_px_720p * H / 720.0 * s[0]))
    for n in range(N):
        for x, y in _mask_px(uv[n, seed_obs[n]], (H, W), (h, w)):
            cv2.circle(discs[n], (int(x), int(y)), r, 1, -1)
    band = max(1, round(config.mask_grow_px_720p * H / 720.0 * s[0]))
    kb = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    k5 = np.ones((5, 5), np.uint8)
    out = np.zeros((N, h, w), np.uint8)
    for n in range(N):
        if not discs[n].any():
            continue
        # the extent of the seeds follows colour edges: watershed between the eroded discs and seed points
        # (dynamic) and static-track points and everything beyond the band (static)
        markers = np.zeros((h, w), np.int32)
        p = _mask_px(uv[n, static_obs[n]], (H, W), (h, w))
        markers[p[:, 1], p[:, 0]] = 1
        markers[cv2.dilate(discs[n], kb) == 0] = 1
        markers[cv2.erode(discs[n], k5) > 0] = 2
        p = _mask_px(uv[n, seed_obs[n]], (H, W), (h, w))
        markers[p[:, 1], p[:, 0]] = 2
        img = small[n] if small[n].ndim == 3 else cv2.cvtColor(small[n], cv2.COLOR_GRAY2BGR)
        cv2.watershed(np.ascontiguousarray(img), markers)
        out[n] = markers == 2
    if semantic is not None:
        out |= semantic.astype(np.uint8)
    grey = [f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    return _close(_carry_to_neighbours(out, grey, config.threads))


def _mask_px(pts: np.ndarray, src_hw: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Integer mask pixels ``(K, 2)`` (x, y) of the observed points ``pts`` ``(M, 2)`` (NaN: unobserved) in
    pixels of frames ``src_hw``, on a mask grid of size ``hw``; points off the grid dropped."""
    pts = pts[~np.isnan(pts[:, 0])]
    p = np.round(resize_pixels(pts, src_hw, hw)).astype(int)
    return p[(p[:, 0] >= 0) & (p[:, 0] < hw[1]) & (p[:, 1] >= 0) & (p[:, 1] < hw[0])]
