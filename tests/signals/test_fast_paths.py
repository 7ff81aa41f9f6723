"""The cheaper computations inside the signals give exactly what the plain formulas give.

Each reference below is the straightforward form of a step (float copies of whole stacks, one call per
coefficient or frame, a backward LK pass over every point); the fitted filter models depend on the signal
values, so the fast paths must not move them, not even in the last bit.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import toyclips

from dynpose100k.geometry import sampson_error
from dynpose100k.signals.content import _palette_cover, content_signals
from dynpose100k.signals.flow import center_ring_signals, dense_flows, flow_magnitudes, flow_signals
from dynpose100k.signals.geometry import _edge_runs, _undistort
from dynpose100k.signals.tracks import _LK, track_points
from dynpose100k.video import percentile_u8, stretch_grey


def _grey(kind: str, n: int = 12) -> np.ndarray:
    frames, _ = toyclips.render(kind, n=n)
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


@pytest.mark.parametrize("seed", range(4))
def test_uint8_percentiles_from_the_histogram_are_numpys(seed):
    rng = np.random.default_rng(seed)
    a = np.clip(rng.normal(40 + 50 * seed, 5 + 20 * seed, (7, 33, 41)), 0, 255).astype(np.uint8)
    for values in (a, a[:, ::2, ::2], a[3, :1, :3]):
        q = [0, 1, 37.5, 50, 99, 100]
        np.testing.assert_array_equal(percentile_u8(values, q), np.percentile(values, q))


@pytest.mark.parametrize("scale", [0.15, 0.5, 1.0])
def test_grey_stretch_table_is_the_float_formula(scale):
    gray = (_grey("good").astype(np.float32) * scale).astype(np.uint8)  # dim and low contrast, then full range
    lo, hi = np.percentile(gray[:, ::2, ::2], [1, 99])
    gain = min(4.0, 255.0 / max(hi - lo, 1.0))
    want = gray if gain <= 1.05 else np.clip((gray.astype(np.float32) - lo) * gain, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(stretch_grey(gray), want)


def _track_points_reference(gray, max_points=200, fb_thresh=1.0):
    """Tracks with the backward LK pass over every forward-tracked point (failed ones included)."""
    n, h, w = gray.shape
    uv, alive, survival = np.full((n, 0, 2), np.nan, np.float32), np.zeros(0, int), np.ones(n - 1)
    pts = np.zeros((0, 2), np.float32)
    for t in range(n):
        if t > 0 and len(pts):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(gray[t - 1], gray[t], pts, None, **_LK)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray[t], gray[t - 1], nxt, None, **_LK)
            ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - pts, axis=1) < fb_thresh)
            ok &= (nxt[:, 0] >= 0) & (nxt[:, 0] < w) & (nxt[:, 1] >= 0) & (nxt[:, 1] < h)
            survival[t - 1] = ok.mean()
            pts, alive = nxt[ok], alive[ok]
            uv[t, alive] = pts
        if len(pts) < max_points // 2:
            mask = np.full((h, w), 255, np.uint8)
            for x, y in pts.astype(int):
                cv2.circle(mask, (int(x), int(y)), 5, 0, -1)
            c = cv2.goodFeaturesToTrack(gray[t], max_points - len(pts), 0.01, 5, mask=mask, blockSize=5)
            new = np.zeros((0, 2), np.float32) if c is None else c.reshape(-1, 2).astype(np.float32)
            cols = np.full((n, len(new), 2), np.nan, np.float32)
            cols[t] = new
            alive = np.concatenate([alive, uv.shape[1] + np.arange(len(new))])
            uv = np.concatenate([uv, cols], axis=1)
            pts = np.concatenate([pts, new])
    return uv, survival


@pytest.mark.parametrize("kind", ["good", "cut", "zoom"])
def test_backward_pass_over_survivors_only_gives_the_same_tracks(kind):
    gray = _grey(kind)
    tracks = track_points(gray)
    uv, survival = _track_points_reference(gray)
    assert (survival < 1).any()  # some points fail, so the shortcut is exercised
    np.testing.assert_array_equal(tracks.uv, uv)
    np.testing.assert_array_equal(tracks.survival, survival)


def test_undistortion_of_all_coefficients_at_once_is_one_at_a_time():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 160, (50, 2)).astype(np.float32)
    center, ks = np.array([80.0, 48.0]), np.linspace(-0.6, 0.4, 21)
    d = (p - center) / 80.0
    for k, got in zip(ks, _undistort(p, ks, center, 80.0)):
        np.testing.assert_array_equal(got, center + (p - center) / (1 + k * np.sum(d**2, axis=1, keepdims=True)))


def test_sampson_error_of_float32_points_is_the_homogeneous_formula():
    rng = np.random.default_rng(1)
    F, x, y = rng.normal(size=(3, 3)), rng.uniform(0, 200, (40, 2)).astype(np.float32), rng.uniform(0, 200, (40, 2))
    hi, hj = np.c_[x, np.ones(len(x))], np.c_[y, np.ones(len(y))]
    Fxi, Ftxj = hi @ F.T, hj @ F
    want = np.abs(np.einsum("mi,mi->m", hj, Fxi)) / np.sqrt(Fxi[:, 0] ** 2 + Fxi[:, 1] ** 2 + Ftxj[:, 0] ** 2
                                                             + Ftxj[:, 1] ** 2)
    np.testing.assert_array_equal(sampson_error(F, x, y), want)


def test_flow_signals_from_shared_magnitudes_are_the_per_frame_formulas():
    gray = stretch_grey(_grey("cut"))
    flows = dense_flows(gray)
    mag = flow_magnitudes(flows)
    h, w = mag.shape[1:]
    ring = np.ones((h, w), bool)
    ring[h // 8 : h - h // 8, w // 8 : w - w // 8] = False
    ratios = [np.log((np.median(m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]) + 0.3) / (np.median(m[ring]) + 0.3))
              for m in mag]
    assert center_ring_signals(mag)["flow_center_ring"] == float(np.median(ratios))
    dt = np.full(len(flows), 0.2)
    diff = np.abs(np.diff(gray.astype(np.float32), axis=0)).reshape(len(mag), -1).mean(1)
    y, x = np.mgrid[0 : gray.shape[1], 0 : gray.shape[2]].astype(np.float32)
    resid = np.asarray([np.abs(cv2.remap(b, x + f[..., 0], y + f[..., 1], cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32) - a).mean()
                        for a, b, f in zip(gray[:-1], gray[1:], flows)])
    s = flow_signals(gray, flows, mag, dt)
    assert s["frame_diff_peak"] == float(diff.max() / (np.median(diff) + 2.0))
    assert s["flow_residual_peak"] == float(resid.max() / (np.median(resid) + 2.0))


@pytest.mark.parametrize("kind", ["cartoon", "overlay", "static"])
@pytest.mark.parametrize("dim", [1.0, 0.3])
def test_content_colour_and_edge_shortcuts_are_the_plain_formulas(kind, dim):
    frames, _ = toyclips.render(kind, n=10)
    frames = (frames * dim).astype(np.uint8)  # dim footage takes the stretched-palette branch
    gray = stretch_grey(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]))
    pick = [0, 5, 9]
    colors, cover_norm = [], []
    for t in pick:
        med = cv2.medianBlur(frames[t], 3).astype(np.int32)
        gain = 255.0 / max(np.percentile(med.max(-1), 99), 16.0)
        cover_norm.append(_palette_cover(np.minimum(med * gain, 255).astype(np.int32)) if gain > 1.05
                          else _palette_cover(med))
        q = (frames[t] >> 3).astype(np.int32)
        colors.append(len(np.unique((q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2])) * 1000.0 / q[..., 0].size)
    edge_maps = np.stack([cv2.Canny(g, 80, 160) > 0 for g in gray])
    _, _, stats, _ = cv2.connectedComponentsWithStats((edge_maps.mean(0) >= 0.9).astype(np.uint8), connectivity=8)
    persistent = stats[1:, cv2.CC_STAT_AREA][stats[1:, cv2.CC_STAT_AREA] >= 8].sum()
    s = content_signals(frames, gray)
    assert s["color_count"] == float(np.median(colors))
    assert s["palette_cover_norm"] == float(np.median(cover_norm))
    assert s["edge_density"] == float(edge_maps.mean())
    assert s["static_edge_frac"] == float(persistent / max(edge_maps.sum(axis=(1, 2)).mean(), 1.0))


def test_edge_runs_are_the_contours_cut_one_run_at_a_time():
    gray = _grey("fisheye", n=3)
    runs = []
    for g in gray:
        contours, _ = cv2.findContours(cv2.Canny(g, 60, 150), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        for c in contours:
            c = c.reshape(-1, 2).astype(np.float64)
            runs += [c[s : s + 32] for s in range(0, len(c) - 32 + 1, 32)]
    assert len(runs) > 10
    np.testing.assert_array_equal(_edge_runs(gray, 32), np.stack(runs))
    assert _edge_runs(np.zeros((2, 40, 60), np.uint8), 32).shape == (0, 32, 2)  # no edges: no runs
