"""Dense optical flow (OpenCV DIS) between consecutive low-resolution frames and the signals drawn from it.

Low mean flow means a static camera; one pair whose flow cannot explain the next frame (a spike of the
warping residual or of the plain frame difference) means a shot cut.
"""

from __future__ import annotations

import cv2
import numpy as np


def dense_flows(gray: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> np.ndarray:
    """Flow from frame t to t+1 for a grey stack (N, H, W) uint8 -> (N-1, H, W, 2) float32 pixels (dx, dy)."""
    dis = cv2.DISOpticalFlow_create(preset)
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])])


def warp_residuals(gray: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Mean absolute grey difference (0-255) between frame t and frame t+1 warped back by the flow, (N-1,)."""
    h, w = gray.shape[1:]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for a, b, f in zip(gray[:-1], gray[1:], flows):
        back = cv2.remap(b, x + f[..., 0], y + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(np.abs(back.astype(np.float32) - a).mean())
    return np.asarray(out)


def flow_signals(gray: np.ndarray, flows: np.ndarray, dt: np.ndarray) -> dict[str, float]:
    """Signals from flows (N-1, H, W, 2) and time steps dt (N-1,) seconds; speeds in analysis px per second.

    - ``flow_mean``: median over pairs of the mean flow magnitude (camera + scene motion).
    - ``flow_bg``: median over pairs of the median magnitude (robust to small movers: background motion).
    - ``flow_peak_ratio``: max / median of the per-pair mean magnitude (a cut makes one pair jump).
    - ``flow_residual_peak``: max / (median + 2) of the warping residual (unexplained change at a cut).
    - ``frame_diff_peak``: max / (median + 2) of the mean absolute frame difference.
    - ``hist_jump``: max / (median + 0.05) of the Hellinger distance between consecutive frames' grey-level
      histograms (a cut swaps the whole palette at once; motion and lighting drift change it gradually).
    """
    mag = np.linalg.norm(flows, axis=-1)
    mean_mag = mag.reshape(len(mag), -1).mean(1) / dt
    med_mag = np.median(mag.reshape(len(mag), -1), axis=1) / dt
    resid = warp_residuals(gray, flows)
    hists = [cv2.calcHist([g], [0], None, [32], [0, 256]) for g in gray]
    hd = np.array([cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) for a, b in zip(hists[:-1], hists[1:])])
    diff = np.abs(np.diff(gray.astype(np.float32), axis=0)).reshape(len(mag), -1).mean(1)
    return {
        "flow_mean": float(np.median(mean_mag)),
        "flow_bg": float(np.median(med_mag)),
        "flow_peak_ratio": float(mean_mag.max() / (np.median(mean_mag) + 1.0)),
        "flow_residual_peak": float(resid.max() / (np.median(resid) + 2.0)),
        "frame_diff_peak": float(diff.max() / (np.median(diff) + 2.0)),
        "hist_jump": float(hd.max() / (np.median(hd) + 0.05)),
    }
