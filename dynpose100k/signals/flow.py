"""Dense optical flow (OpenCV DIS) between consecutive low-resolution frames and the signals drawn from it.

Low mean flow means a static camera; one pair whose flow cannot explain the next frame (a spike of the
warping residual or of the plain frame difference) means a shot cut, and so does a clip whose colours fall
into two blocks of frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import warp_back


def dense_flows(gray: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> np.ndarray:
    """Flow from frame t to t+1 for a grey stack (N, H, W) uint8 -> (N-1, H, W, 2) float32 pixels (dx, dy)."""
    dis = cv2.DISOpticalFlow_create(preset)
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])])


def warp_residuals(gray: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Mean absolute grey difference (0-255) between frame t and frame t+1 warped back by the flow, (N-1,)."""
    out = []
    for a, b, f in zip(gray[:-1], gray[1:], flows):
        back = warp_back(b, f, cv2.BORDER_REPLICATE)
        out.append(cv2.absdiff(back, a).astype(np.float32).mean())
    return np.asarray(out)


def flow_magnitudes(flows: np.ndarray) -> np.ndarray:
    """Flow magnitude on every other pixel of flows (N-1, H, W, 2) -> (N-1, H/2, W/2): means and medians of
    smooth flow fields barely change, for 4x less work."""
    return np.sqrt(flows[:, ::2, ::2, 0] ** 2 + flows[:, ::2, ::2, 1] ** 2)


def flow_signals(gray: np.ndarray, flows: np.ndarray, mag: np.ndarray, dt: np.ndarray) -> dict[str, float]:
    """Signals from flows (N-1, H, W, 2), their :func:`flow_magnitudes` and time steps dt (N-1,) seconds;
    speeds in analysis px per second.

    - ``flow_mean``: median over pairs of the mean flow magnitude (camera + scene motion).
    - ``flow_bg``: median over pairs of the median magnitude (robust to small movers: background motion).
    - ``flow_peak_ratio``: max / median of the per-pair mean magnitude (a cut makes one pair jump).
    - ``flow_residual_peak``: max / (median + 2) of the warping residual (unexplained change at a cut).
    - ``frame_diff_peak``: max / (median + 2) of the mean absolute frame difference.
    - ``hist_jump``: max / (median + 0.05) of the Hellinger distance between consecutive frames' grey-level
      histograms (a cut swaps the whole palette at once; motion and lighting drift change it gradually).
    """
    mean_mag = mag.reshape(len(mag), -1).mean(1) / dt
    med_mag = np.median(mag.reshape(len(mag), -1), axis=1) / dt
    resid = warp_residuals(gray, flows)
    hists = [cv2.calcHist([g], [0], None, [32], [0, 256]) for g in gray]
    hd = np.array([cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) for a, b in zip(hists[:-1], hists[1:])])
    diff = np.stack([cv2.absdiff(a, b) for a, b in zip(gray[:-1], gray[1:])]).astype(np.float32)
    diff = diff.reshape(len(mag), -1).mean(1)
    return {
        "flow_mean": float(np.median(mean_mag)),
        "flow_bg": float(np.median(med_mag)),
        "flow_peak_ratio": float(mean_mag.max() / (np.median(mean_mag) + 1.0)),
        "flow_residual_peak": float(resid.max() / (np.median(resid) + 2.0)),
        "frame_diff_peak": float(diff.max() / (np.median(diff) + 2.0)),
        "hist_jump": float(hd.max() / (np.median(hd) + 0.05)),
    }


def shot_block_signals(rgb: np.ndarray) -> dict[str, float]:
    """Shot-cut signal from RGB frames (N, H, W, 3) uint8: do the frames fall into two blocks of colour?

    Each frame becomes an 8x8x8 colour histogram of a 64x36 thumbnail (the whole clip stretched by one gain
    so dark footage still spreads over the bins). For every split k the mean Hellinger distance across it
    (frames k-2, k-1 against k, k+1) is compared with the distance between neighbours on either side of it
    (k-2 to k-1, k to k+1). Fast motion changes the colours of every step alike; a cut changes them once.

    - ``hist_block``: max over splits of across / (beside + 0.03).
    """
    n = len(rgb)
    small = np.stack([cv2.resize(f, (64, 36), interpolation=cv2.INTER_AREA) for f in rgb]).astype(np.float32)
    small = np.minimum(small * (255.0 / max(float(np.percentile(small, 99)), 16.0)), 255).astype(np.uint8)
    hists = np.stack([cv2.calcHist([s], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel() for s in small])
    hists = np.sqrt(hists.astype(np.float64) / hists.sum(1, keepdims=True))
    dist = np.sqrt(np.maximum(0.0, 1.0 - hists @ hists.T))  # Hellinger distance between frames
    best = 0.0
    for k in range(2, n - 1):
        across = dist[k - 2 : k, k : k + 2].mean()
        beside = (dist[k - 2, k - 1] + dist[k, k + 1]) / 2
        best = max(best, across / (beside + 0.03))
    return {"hist_block": float(best)}


def center_ring_signals(mag: np.ndarray) -> dict[str, float]:
    """How the flow in the middle of the frame compares with the flow near its border, from
    :func:`flow_magnitudes` (N-1, H/2, W/2).

    - ``flow_center_ring``: median over pairs of log((centre + 0.3) / (ring + 0.3)), with centre the median
      flow magnitude in the middle half (each axis) of the frame and ring the median in the outer eighth.
      Barrel (fisheye) distortion shrinks the border and so its motion; a big object that travels with the
      camera slows the centre.
    """
    h, w = mag.shape[1:3]
    ring = np.ones((h, w), bool)
    ring[h // 8 : h - h // 8, w // 8 : w - w // 8] = False
    center = np.median(mag[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(len(mag), -1), axis=1)
    ratios = np.log((center + 0.3) / (np.median(mag[:, ring], axis=1) + 0.3))
    return {"flow_center_ring": float(np.median(ratios))}
