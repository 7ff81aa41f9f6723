"""Appearance signals: flat-shaded / cartoon content, static overlays (text, logos, banners), blur.

Cartoons and renders have few distinct colours and large flat, saturated regions; overlays are
high-contrast edges that stay at the same pixels while the scene moves; a blurred background leaves little
high-frequency energy in most of the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..video import percentile_u8


def _block_sharpness(gray: np.ndarray, block: int = 16) -> np.ndarray:
    """Per-block mean |Laplacian| / (block std + 4): high for in-focus texture, low for blur or flat areas."""
    g = gray.astype(np.float32)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
    h, w = g.shape
    hb, wb = h // block, w // block
    lap_b = lap[: hb * block, : wb * block].reshape(hb, block, wb, block).mean((1, 3))
    std_b = g[: hb * block, : wb * block].reshape(hb, block, wb, block).std((1, 3))
    return (lap_b / (std_b + 4.0)).ravel()


def _palette_cover(med: np.ndarray) -> float:
    """Fraction of pixels of an RGB image (int32) in its 16 most frequent 4-bit colours, best of two bin phases
    (a flat colour on a bin edge must not split in two)."""
    best = 0.0
    for offset in (0, 8):
        q4 = np.minimum((med + offset) >> 4, 15)
        counts = np.bincount(((q4[..., 0] << 8) | (q4[..., 1] << 4) | q4[..., 2]).ravel(), minlength=4096)
        best = max(best, np.sort(counts)[-16:].sum() / counts.sum())
    return best


def _level_gaps(values: np.ndarray) -> float:
    """Fraction of the 1st-99th percentile range of uint8 ``values`` with (5-level smoothed) density under
    15% of uniform: empty gaps between a few levels (posterised) rather than a continuous spread."""
    hist = np.bincount(values, minlength=256).astype(np.float64)
    lo, hi = np.searchsorted(np.cumsum(hist) / max(hist.sum(), 1.0), [0.01, 0.99])
    span = hist[lo : hi + 1] / max(hist.sum(), 1.0)
    if len(span) < 16:  # (nearly) one colour: as posterised as it gets
        return 1.0
    smooth = np.convolve(span, np.ones(5) / 5, "same")
    return float((smooth < 0.15 / len(span)).mean())


def content_signals(frames: np.ndarray, gray: np.ndarray) -> dict[str, float]:
    """Signals from RGB frames (N, H, W, 3) uint8 and their grey stack (N, H, W).

    - ``color_count``: distinct 5-bit-per-channel colours per 1000 pixels (median over 3 frames).
    - ``palette_cover``: fraction of pixels (3x3 median filtered, 4 bits per channel, best of two
      bin phases) in the 16 most frequent colours; near 1 for posterised/flat-shaded content, robust to compression
      noise.
    - ``palette_cover_norm``: the same after stretching each frame so its 99th-percentile brightest channel
      is 255: dark (night) footage squeezed into few bins no longer looks posterised, its noise spreads.
    - ``dark_line_frac``: fraction of pixels on thin dark lines (black-hat > 40 grey levels): drawn
      outlines of cartoons and line art.
    - ``flat_level_gaps``: in the interior of flat regions (grey gradient < 4, eroded so edge pixels that
      resizing and compression blend do not count), the fraction of each colour channel's value range that
      stays (nearly) empty; posterised content uses a few levels per channel with gaps between them, while
      shading and texture of real footage fill the range (median over channels and frames).
    - ``flat_frac``: fraction of pixels with grey gradient magnitude < 3.
    - ``flat_saturation``: mean HSV saturation (0-1) of flat pixels.
    - ``edge_density``: fraction of Canny edge pixels.
    - ``static_edge_frac``: pixels that are edges in >= 90% of frames (in connected strokes of >= 8 px, so
      a few edge pixels that stay put by chance do not count), over the mean edge count per frame (0 when
      the camera moves; overlays and still cameras raise it).
    - ``sharpness_median`` / ``sharpness_p90``: block sharpness over all frames (blurred background:
      low median while a sharp mover keeps the 90th percentile up).
    - ``sharpness_rel``: their ratio, median / 90th percentile: low when most of the frame is much softer than
      its sharpest part (a blurred background behind a sharp subject), unchanged when the whole frame is
      equally soft or noisy (motion blur, compression, night), which shifts both alike.
    """
    n = len(frames)
    pick = sorted({0, n // 2, n - 1})
    colors, flat, flat_sat, cover, cover_norm, dark, gaps = [], [], [], [], [], [], []
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for t in pick:
        med8 = cv2.medianBlur(frames[t], 3)
        cover.append(_palette_cover(med8.astype(np.int32)))
        peak = np.maximum(np.maximum(med8[..., 0], med8[..., 1]), med8[..., 2])  # brightest channel
        gain = 255.0 / max(percentile_u8(peak, 99), 16.0)
        if gain > 1.05:  # stretched through a lookup table of the 256 levels
            lut = np.minimum(np.arange(256, dtype=np.int32) * gain, 255).astype(np.int32)
            cover_norm.append(_palette_cover(lut[med8]))
        else:
            cover_norm.append(cover[-1])
        q = (frames[t] >> 3).astype(np.int32)
        codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
        colors.append(np.count_nonzero(np.bincount(codes.ravel(), minlength=1 << 15)) * 1000.0 / codes.size)
        dark.append((cv2.morphologyEx(gray[t], cv2.MORPH_BLACKHAT, kernel) > 40).mean())
        g = gray[t].astype(np.float32)
        grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)) / 8.0
        m = grad < 3.0
        flat.append(m.mean())
        sat = cv2.cvtColor(frames[t], cv2.COLOR_RGB2HSV)[..., 1] / 255.0
        flat_sat.append(sat[m].mean() if m.any() else 0.0)
        interior = cv2.erode((grad < 4.0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if interior.sum() >= 200:
            gaps += [_level_gaps(frames[t][..., ch][interior]) for ch in range(3)]
    edge_maps = np.stack([cv2.Canny(g, 80, 160) for g in gray]) >> 7  # 0/1 uint8
    per_frame = np.array([cv2.countNonZero(e) for e in edge_maps])
    edges = per_frame.sum() / edge_maps.size
    hits = edge_maps.sum(0, dtype=np.uint8)  # frames in which each pixel is an edge
    _, _, stats, _ = cv2.connectedComponentsWithStats((hits / n >= 0.9).astype(np.uint8), connectivity=8)
    persistent = stats[1:, cv2.CC_STAT_AREA][stats[1:, cv2.CC_STAT_AREA] >= 8].sum()  # strokes, not stray pixels
    sharp = np.concatenate([_block_sharpness(g) for g in gray[pick]])
    return {
        "color_count": float(np.median(colors)),
        "palette_cover": float(np.median(cover)),
        "palette_cover_norm": float(np.median(cover_norm)),
        "dark_line_frac": float(np.median(dark)),
        "flat_level_gaps": float(np.median(gaps)) if gaps else 0.0,
        "flat_frac": float(np.median(flat)),
        "flat_saturation": float(np.median(flat_sat)),
        "edge_density": float(edges),
        "static_edge_frac": float(persistent / max(per_frame.mean(), 1.0)),
        "sharpness_median": float(np.median(sharp)),
        "sharpness_p90": float(np.percentile(sharp, 90)),
        "sharpness_rel": float(np.median(sharp) / max(np.percentile(sharp, 90), 1e-6)),
    }
