"""Two-view geometry signals: focal length per window, zoom, non-perspective distortion, dynamic area.

Windows pair frame i with the first later frame j whose common tracks moved enough for a stable
fundamental matrix F (robust MAGSAC fit). The principal point is assumed at the image centre.

- Focal length: a 1-D search over f minimising the mismatch of the two non-zero singular values of the
  essential matrix E = K^T F K (equal for the true f). Its spread over windows flags zoom or shot changes,
  a very long focal flags telephoto shots with little parallax.
- Zoom: the scale of the best-fitting similarity between the two views (pure zoom is an exact similarity).
- Distortion: a one-parameter division model x_u = c + (x_d - c) / (1 + k r^2) (r normalised by the half
  width); the k that makes the inlier tracks most consistent with epipolar geometry, and how much it helps.
- Dynamic area: fraction of a dense-flow grid that violates the robust F of its frame pair (Sampson error);
  with a still camera, the fraction of grid points that move.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import focal_from_fundamental, fundamental_ransac, sampson_error
from .tracks import Tracks

_F_GRID = np.geomspace(0.15, 15.0, 96)  # focal / image width
_K_GRID = np.linspace(-0.6, 0.4, 21)


# The filter fits many windows per clip on every candidate video, so its robust fits are cheaper than the
# pose engine's (MAGSAC capped at 200 iterations instead of 2000, from 12 matches, no inlier floor): the
# signals only need an inlier fraction, a rough focal and a dynamic-area fraction.
_FILTER_FIT = {"max_iters": 200, "min_points": 12, "min_inliers": 0}


def _undistort(p: np.ndarray, ks: np.ndarray, center: np.ndarray, half_width: float) -> np.ndarray:
    """Points ``p`` (M, 2) undistorted with each coefficient of ``ks`` (K,) -> (K, M, 2)."""
    off = p - center
    r2 = np.sum((off / half_width) ** 2, axis=1, keepdims=True)
    return center + off / (1 + ks[:, None, None] * r2)


def windows(tracks: Tracks, min_disp: float = 3.0, max_gap: int = 8, stride: int = 2):
    """Frame pairs (i, j, p, q) with p, q (M, 2) common track positions whose median displacement >= min_disp."""
    n = tracks.uv.shape[0]
    for i in range(0, n - 1, stride):
        for j in range(i + 1, min(n, i + max_gap + 1)):
            ok = np.isfinite(tracks.uv[i, :, 0]) & np.isfinite(tracks.uv[j, :, 0])
            if ok.sum() < 12:
                break
            p, q = tracks.uv[i, ok], tracks.uv[j, ok]
            if np.median(np.linalg.norm(q - p, axis=1)) >= min_disp:
                yield i, j, p, q
                break


def geometry_signals(tracks: Tracks, size: tuple[int, int], fps: float, min_disp: float = 4.0) -> dict[str, float]:
    """Signals from track windows; ``size`` is the analysis frame (H, W), ``fps`` the sampling rate.

    - ``focal_median``: median focal / image width over reliable windows (large: telephoto).
    - ``focal_logstd``: spread (std of log focal) over reliable windows (zoom, shot change).
    - ``focal_fail_frac``: fraction of windows with no reliable F or focal (degenerate geometry).
    - ``zoom_rate``: median |log scale| per second of the best similarity between the views.
    - ``zoom_total``: |net log scale| over the clip (signed scales summed; a zoom keeps one sign).
    - ``zoom_fit``: median inlier fraction of that similarity (1 for a pure zoom/pan of a far scene).
    - ``zoom_homography``: median |log scale| per second of the robust homography (RANSAC, 2 px) between
      frames about one second apart (centred coordinates, scale = sqrt |det| of its linear part): a longer
      baseline than the similarity windows, so a slow zoom stands out from tracking noise. Where fewer than
      20 tracks span that second (a fast zoom carries them out of view) or the clip ends first, the longest
      shorter gap that 20 tracks span.
    - ``zoom_ramp``: see :func:`zoom_ramp`.
    - ``distortion_k``, ``distortion_gain``: see :func:`distortion_signals`.
    - ``epipolar_inliers``: median inlier fraction of the robust F (low: dynamic or non-rigid content).
    """
    h, w = size
    focals, fails, zoom, zfit, inl = [], 0, [], [], []
    stride = 2
    for i, j, p, q in windows(tracks, min_disp=min_disp, stride=stride):
        A, amask = cv2.estimateAffinePartial2D(p, q, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if A is not None:
            zoom.append(np.log(np.hypot(A[0, 0], A[1, 0])) * fps / (j - i))
            zfit.append(float(amask.mean()))
        F, mask = fundamental_ransac(p, q, 1.0, **_FILTER_FIT)
        if F is None:
            fails += 1
            continue
        inl.append(mask.mean())
        # principal point at (w / 2, h / 2), half a pixel off the image centre (far below the grid's step)
        f, cost = focal_from_fundamental(F, _F_GRID * w, (w / 2, h / 2))
        f /= w
        if cost < 0.1 and 0.15 < f < 15.0:
            focals.append(f)
        else:
            fails += 1
    hscale = []
    n = tracks.uv.shape[0]
    for i in range(0, n - 1, stride):
        for gap in range(min(max(2, int(round(fps))), n - 1 - i), 0, -1):  # longest gap with enough tracks
            ok = np.isfinite(tracks.uv[i, :, 0]) & np.isfinite(tracks.uv[i + gap, :, 0])
            if ok.sum() >= 20:
                break
        else:
            continue
        H, _ = cv2.findHomography(tracks.uv[i, ok], tracks.uv[i + gap, ok], cv2.RANSAC, 2.0)
        if H is None:
            continue
        A = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1.0]])
        Hc = np.linalg.inv(A) @ H @ A
        Hc /= Hc[2, 2]
        hscale.append(abs(0.5 * np.log(abs(np.linalg.det(Hc[:2, :2])) + 1e-9)) * fps / gap)
    nwin = len(focals) + fails
    lf = np.log(focals) if focals else np.zeros(0)
    return {
        "focal_median": float(np.exp(np.median(lf))) if len(lf) else 0.0,
        "focal_logstd": float(lf.std()) if len(lf) >= 2 else 0.0,
        "focal_fail_frac": float(fails / nwin) if nwin else 1.0,
        "zoom_rate": float(np.median(np.abs(zoom))) if zoom else 0.0,
        "zoom_total": float(abs(np.sum(zoom)) * stride / fps) if zoom else 0.0,
        "zoom_fit": float(np.median(zfit)) if zfit else 0.0,
        "zoom_homography": float(np.median(hscale)) if hscale else 0.0,
        "zoom_ramp": zoom_ramp(tracks, fps),
        **distortion_signals(tracks, size, min_disp=2 * min_disp),
        "epipolar_inliers": float(np.median(inl)) if inl else 0.0,
    }


def zoom_ramp(tracks: Tracks, fps: float, gap: int = 2, min_tracks: int = 15) -> float:
    """Does the clip's scale change speed up and then slow down again, as a zoom eases in and out?

    The log scale rate of the best similarity (RANSAC, 1 px) between frames ``gap`` apart, over the clip,
    is fitted with a parabola in time (-1 at the start, 1 at the end). The value is minus its curvature
    (per second), signed so that a rate peaking mid-clip in the direction of the net scale change is
    positive: about 0 for a steady or randomly varying rate (walking at a constant speed, panning), large for
    a zoom that starts and stops within the clip. 0 when fewer than five frame pairs have ``min_tracks``.
    """
    n = tracks.uv.shape[0]
    rate, when = [], []
    for i in range(n - gap):
        ok = np.isfinite(tracks.uv[i, :, 0]) & np.isfinite(tracks.uv[i + gap, :, 0])
        if ok.sum() < min_tracks:
            continue
        M, _ = cv2.estimateAffinePartial2D(tracks.uv[i, ok], tracks.uv[i + gap, ok], method=cv2.RANSAC,
                                           ransacReprojThreshold=1.0)
        if M is not None:
            rate.append(0.5 * np.log(abs(np.linalg.det(M[:, :2])) + 1e-12) * fps / gap)
            when.append(i + gap / 2)
    if len(rate) < 5:
        return 0.0
    rate = np.asarray(rate)
    u = 2.0 * np.asarray(when) / (n - 1) - 1.0
    curvature = np.polyfit(u, rate, 2)[0]
    return float(-curvature * np.sign(rate.sum()))


def distortion_signals(tracks: Tracks, size: tuple[int, int], min_disp: float = 8.0) -> dict[str, float]:
    """Division-model coefficient that makes wide-baseline windows most epipolar-consistent.

    For each coefficient k of a grid, each window's loose F inliers are undistorted, F is refitted (8-point)
    and the median Sampson error is taken back to distorted-pixel units (undistortion rescales offsets by
    about 1 / (1 + k r^2), which would otherwise favour shrinking, positive k).

    - ``distortion_k``: best k summed over windows (negative: barrel, e.g. fisheye; 0: pinhole).
    - ``distortion_gain``: geometric-mean ratio of the error at k = 0 over the error at the best k (>= 1).
    """
    h, w = size
    center = np.array([w / 2, h / 2])
    total, nwin = np.zeros(len(_K_GRID)), 0
    for _, _, p, q in windows(tracks, min_disp=min_disp, max_gap=12, stride=3):
        _, loose = fundamental_ransac(p, q, 3.0, **_FILTER_FIT)
        if loose is None or loose.sum() < 20:
            continue
        p, q = p[loose], q[loose]
        err = np.full(len(_K_GRID), np.inf)
        pu_all, qu_all = _undistort(p, _K_GRID, center, w / 2), _undistort(q, _K_GRID, center, w / 2)
        radius = np.maximum(np.linalg.norm(p - center, axis=1), 1e-6)
        for n, (pu, qu) in enumerate(zip(pu_all, qu_all)):
            F, _ = cv2.findFundamentalMat(pu, qu, cv2.FM_8POINT)
            if F is not None and F.shape == (3, 3):
                scale = np.linalg.norm(pu - center, axis=1) / radius
                err[n] = np.median((sampson_error(F, pu, qu) / np.maximum(scale, 1e-3)) ** 2) + 1e-6
        if np.isfinite(err).all():
            total += np.log(err)
            nwin += 1
    if not nwin:
        return {"distortion_k": 0.0, "distortion_gain": 1.0}
    b = int(np.argmin(total))
    return {"distortion_k": float(_K_GRID[b]),
            "distortion_gain": float(np.exp((total[_K_GRID.searchsorted(-1e-9)] - total[b]) / (2 * nwin)))}


def _edge_runs(frames: np.ndarray, chunk: int) -> np.ndarray:
    """Canny (60, 150) edge contours of grey frames cut into consecutive whole runs of ``chunk`` points:
    (M, chunk, 2) float64 pixel positions."""
    runs = [np.zeros((0, chunk, 2), np.int32)]
    for g in frames:
        contours, _ = cv2.findContours(cv2.Canny(g, 60, 150), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        runs += [c[: len(c) // chunk * chunk].reshape(-1, chunk, 2) for c in contours if len(c) >= chunk]
    return np.concatenate(runs).astype(np.float64)


def line_bow_signals(gray: np.ndarray, chunk: int = 32, max_sag: float = 3.0) -> dict[str, float]:
    """Plumb-line check: do nearly straight edges away from the centre bow outwards (barrel distortion)?

    Canny edge contours of three frames are cut into runs of ``chunk`` pixels. For each nearly straight run
    (sagitta under ``max_sag`` px) in the outer part of the frame, the sagitta is signed positive when the
    run's middle lies farther from the image centre than its chord. Curved texture edges bow either way;
    barrel distortion bends every straight edge outwards.

    - ``line_bow``: mean signed sagitta (analysis px; > 0: barrel, e.g. fisheye).
    - ``line_bow_frac``: fraction of those runs that bow outwards (0.5 for an undistorted image).
    """
    h, w = gray.shape[1:]
    center = np.array([w / 2, h / 2])
    P = _edge_runs(gray[sorted({0, len(gray) // 2, len(gray) - 1})], chunk)
    if not len(P):
        return {"line_bow": 0.0, "line_bow_frac": 0.5}
    a, b, mid = P[:, 0], P[:, -1], P[:, chunk // 2]
    chord = b - a
    length = np.linalg.norm(chord, axis=1)
    normal = np.stack([-chord[:, 1], chord[:, 0]], axis=1) / np.maximum(length, 1e-9)[:, None]
    out = (a + b) / 2 - center
    normal *= np.where(np.sum(normal * out, axis=1) < 0, -1.0, 1.0)[:, None]
    sag = np.sum((mid - (a + b) / 2) * normal, axis=1)
    keep = (length > 0.8 * chunk) & (np.abs(sag) < max_sag) & (np.linalg.norm(out, axis=1) > 0.3 * w / 2)
    if keep.sum() < 5:
        return {"line_bow": 0.0, "line_bow_frac": 0.5}
    return {"line_bow": float(sag[keep].mean()), "line_bow_frac": float((sag[keep] > 0).mean())}


def dynamic_signals(flows: np.ndarray, step: int = 8, thresh: float = 1.0, every: int = 2) -> dict[str, float]:
    """Dynamic-area signals from dense flows (N-1, H, W, 2), on a ``step`` px grid of every ``every``-th pair.

    - ``dynamic_frac``: median over pairs of the grid fraction that violates the pair's robust F
      (Sampson error > ``thresh`` px) or, when the background barely moves, that moves > 1 px.
    - ``dynamic_frac_p90``: 90th percentile over pairs.
    """
    h, w = flows.shape[1:3]
    y, x = np.mgrid[step // 2:h:step, step // 2:w:step]
    p = np.column_stack([x.ravel(), y.ravel()]).astype(np.float32)
    fracs = []
    for f in flows[::every]:
        d = f[y.ravel(), x.ravel()]
        mag = np.linalg.norm(d, axis=1)
        if np.median(mag) < 0.5:
            fracs.append(float((mag > 1.0).mean()))
            continue
        F, _ = fundamental_ransac(p, p + d, thresh, **_FILTER_FIT)
        if F is None:
            fracs.append(1.0)
            continue
        fracs.append(float((sampson_error(F, p, p + d) > thresh).mean()))
    fracs = np.asarray(fracs)
    return {"dynamic_frac": float(np.median(fracs)), "dynamic_frac_p90": float(np.percentile(fracs, 90))}
