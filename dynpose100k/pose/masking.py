"""Dynamic masks from complementary sources.

* Motion (per track): on frame pairs ``(t, t + gap)`` (several gaps) a robust fundamental matrix is fitted to all tracks
  seen in both frames (MAGSAC, :func:`dynpose100k.geometry.fundamental_ransac`), then a second one to its
  outliers; the background is the one of the two whose inliers cover more of the image; a track whose Sampson error
  exceeds ``sampson_px_720p`` is dynamic evidence for that pair. Evidence is accumulated over every pair the
  track takes part in, across all windows: ``score = dynamic pairs / measured pairs``.
* Motion (per pixel, optional): dense DIS optical flow between the same pairs at mask resolution, scored by
  its Sampson error under the pair's fundamental matrix.
* Semantic (optional): movable classes of a universal-segmentation model
  (:mod:`dynpose100k.models.segmentation`).

Combination rule: the pixel mask of frame ``n`` is the UNION of (a) discs around the observations of
dynamic tracks, (b) dense-flow Sampson evidence, (c) semantic movable classes; then a 3-frame temporal
majority vote and a morphological closing. Masks are ``(N, h, w)`` bool at ``mask_scale`` of the input size.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import fundamental_ransac, sampson_error
from .config import PoseConfig

log = logging.getLogger(__name__)

__all__ = ["MotionEvidence", "motion_evidence", "pixel_masks", "mask_shape"]


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
                    fundamentals: dict[tuple[int, int], np.ndarray] | None = None) -> MotionEvidence:
    """Accumulate Sampson-error evidence for tracks ``uv`` ``(N, M, 2)`` over pairs ``(t, t+gap)``.

    ``fundamentals`` (optional) gives each pair's matrix (e.g. from reconstructed cameras) instead of
    fitting one robustly to the tracks; only those pairs are then measured."""
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
            fitted = list(ex.map(lambda m: _static_fundamental(m[1], m[2], image_hw, thr), found))
    else:
        fitted = [fundamentals[ij] for ij in pairs]
    for (i, j), F, (both, xi, xj) in zip(pairs, fitted, found):
        if F is None:
            continue
        Fs[(i, j)] = F
        err = sampson_error(F, xi, xj)
        meas[both] += 1
        dyn[both] += err > thr
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(meas > 0, dyn / np.maximum(meas, 1), np.nan)
    return MotionEvidence(score, meas, Fs)


def _coverage(x: np.ndarray, hw: tuple[int, int], cells: int = 8) -> int:
    """Number of cells of a ``cells x cells`` image grid holding at least one of the points ``x``."""
    cx = np.clip((x[:, 0] * cells / hw[1]).astype(int), 0, cells - 1)
    cy = np.clip((x[:, 1] * cells / hw[0]).astype(int), 0, cells - 1)
    return len(np.unique(cy * cells + cx))


def _static_fundamental(xi: np.ndarray, xj: np.ndarray, hw: tuple[int, int], thr: float) -> np.ndarray | None:
    """The background's fundamental matrix: MAGSAC on all matches, then on its outliers; of the two rigid
    motions, the one whose inliers cover more of the image (background spreads, movers are compact) wins."""
    F, _ = fundamental_ransac(xi, xj, 0.5 * thr)
    if F is None:
        return None
    inl = sampson_error(F, xi, xj) <= thr
    if (~inl).sum() < 15:
        return F
    F2, _ = fundamental_ransac(xi[~inl], xj[~inl], 0.5 * thr)
    if F2 is None:
        return F
    inl2 = sampson_error(F2, xi, xj) <= thr
    return F2 if _coverage(xi[inl2], hw) > _coverage(xi[inl], hw) else F


def mask_shape(image_hw: tuple[int, int], config: PoseConfig) -> tuple[int, int]:
    """Mask grid ``(h, w)`` for input frames of ``image_hw`` (at least 8 px per side)."""
    return max(8, round(image_hw[0] * config.mask_scale)), max(8, round(image_hw[1] * config.mask_scale))


def _scale_F(F: np.ndarray, s: tuple[float, float]) -> np.ndarray:
    """F in input pixels -> F in mask pixels (pixel-centre convention ``u' = (u + .5) s - .5``)."""
    S = np.array([[s[1], 0, 0.5 * s[1] - 0.5], [0, s[0], 0.5 * s[0] - 0.5], [0, 0, 1.0]])
    Si = np.linalg.inv(S)
    return Si.T @ F @ Si


def pixel_masks(
    frames: np.ndarray,
    uv: np.ndarray,
    dynamic: np.ndarray,
    evidence: MotionEvidence,
    config: PoseConfig,
    semantic: np.ndarray | None = None,
    flow_cache: dict | None = None,
) -> np.ndarray:
    """Per-frame dynamic masks ``(N, h, w)`` bool at :func:`mask_shape` of ``frames`` ``(N, H, W, 3)`` RGB
    or ``(N, H, W)`` grey.

    ``dynamic`` ``(M,)`` bool marks dynamic tracks; ``semantic`` ``(N, h, w)`` bool (optional) is united in.
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
        for x, y in (pts + 0.5) * (s[1], s[0]) - 0.5:
            cv2.circle(out[n], (int(round(x)), int(round(y))), r, 1, -1)
    if config.dense_flow and evidence.fundamentals:
        out |= _dense_evidence(frames, evidence.fundamentals, (h, w), s, config, flow_cache)
    if semantic is not None:
        out |= semantic.astype(np.uint8)
    if N >= 3:  # temporal 3-frame majority vote
        pad = np.concatenate([out[:1], out, out[-1:]])
        out = ((pad[:-2].astype(np.int8) + pad[1:-1] + pad[2:]) >= 2).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return np.stack([cv2.morphologyEx(m, cv2.MORPH_CLOSE, k) for m in out]).astype(bool)


def _dense_evidence(frames, Fs, hw, s, config, cache: dict | None = None) -> np.ndarray:
    """Dense DIS-flow Sampson evidence ``(N, h, w)`` uint8 for the frames of the fitted pairs."""
    h, w = hw
    N, H = frames.shape[:2]
    thr = 2.0 * config.sampson_px_720p * H / 720.0 * s[0]
    cache = {} if cache is None else cache
    todo = [ij for ij in Fs if ij not in cache]
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 2).astype(np.float64)
    if todo:
        small = {}
        for n in sorted({n for ij in todo for n in ij}):
            f = frames[n]
            small[n] = cv2.resize(f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (w, h),
                                  interpolation=cv2.INTER_AREA)

        def flow(ij):
            """Flow ``(h, w, 2)`` of every pixel of frame i into frame j, and whether forward and backward flow
            agree ``(h, w)`` (unreliable flow, at occlusions or without texture, is not evidence)."""
            i, j = ij
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
            fwd = dis.calc(small[i], small[j], None)
            back = dis.calc(small[j], small[i], None)
            tgt = (grid + fwd.reshape(-1, 2)).astype(np.float32)
            bx = cv2.remap(back, tgt[:, 0].reshape(h, w), tgt[:, 1].reshape(h, w), cv2.INTER_LINEAR)
            return fwd, np.linalg.norm(fwd + bx, axis=-1) < 1.0

        with ThreadPoolExecutor(max(1, config.threads)) as ex:  # DIS releases the GIL
            cache.update(zip(todo, ex.map(flow, todo)))
    out = np.zeros((N, h, w), np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    for (i, j), F in Fs.items():
        fwd, ok = cache[(i, j)]
        err = sampson_error(_scale_F(F, s), grid, grid + fwd.reshape(-1, 2))
        m = ((err > thr) & ok.ravel()).reshape(h, w).astype(np.uint8)
        out[i] |= cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    return out
