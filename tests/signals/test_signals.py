"""Each signal separates a toy clip that shows its failure mode from one that lacks it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import toyclips

from dynpose100k import camera
from dynpose100k.signals import SIGNAL_GROUPS, SIGNAL_NAMES, compute_signals
from dynpose100k.signals.geometry import distortion_signals, focal_from_F
from dynpose100k.signals.tracks import Tracks

_CACHE: dict[str, dict[str, float]] = {}


def sig(kind: str) -> dict[str, float]:
    if kind not in _CACHE:
        frames, ts = toyclips.render(kind)
        _CACHE[kind] = compute_signals(SimpleNamespace(frames=frames, timestamps=ts))
    return _CACHE[kind]


def test_all_signals_named_and_finite():
    s = sig("good")
    assert tuple(s) == SIGNAL_NAMES
    assert len(set(SIGNAL_NAMES)) == sum(map(len, SIGNAL_GROUPS.values()))
    assert all(math.isfinite(v) for v in s.values())


def test_too_short_or_bad_timestamps_raise():
    frames, ts = toyclips.render("good", n=4)
    with pytest.raises(ValueError, match="frames"):
        compute_signals(SimpleNamespace(frames=frames, timestamps=ts))
    frames, ts = toyclips.render("good", n=8)
    with pytest.raises(ValueError, match="increase"):
        compute_signals(SimpleNamespace(frames=frames, timestamps=ts[::-1]))


def test_static_camera_flow_and_tracks():
    good, static = sig("good"), sig("static")
    assert static["flow_bg"] < 0.2 * good["flow_bg"]
    assert static["track_motion"] < 0.2 * good["track_motion"]
    assert static["track_still_frac"] > 0.8 > good["track_still_frac"]


def test_shot_cut_flow_spike_and_track_loss():
    good, cut = sig("good"), sig("cut")
    assert cut["flow_residual_peak"] > 2 * good["flow_residual_peak"]
    assert cut["frame_diff_peak"] > 2 * good["frame_diff_peak"]
    assert cut["track_drop_max"] > 0.8 > 2 * good["track_drop_max"]
    assert cut["hist_jump"] > 3 * good["hist_jump"]


def test_zoom_rate():
    assert sig("zoom")["zoom_rate"] > 5 * sig("good")["zoom_rate"]


def test_long_focal():
    good, tele = sig("good"), sig("longfocal")
    assert tele["focal_median"] > 1.8 * good["focal_median"]
    assert tele["zoom_fit"] > 0.8 > good["zoom_fit"]  # a telephoto view is nearly a similarity


def test_large_dynamic_area():
    assert sig("bigobject")["dynamic_frac_p90"] > 0.2 > sig("good")["dynamic_frac_p90"]


def test_cartoon_flat_colours():
    good, cartoon = sig("good"), sig("cartoon")
    assert cartoon["color_count"] < 0.8 * good["color_count"]
    assert cartoon["flat_frac"] > 1.5 * good["flat_frac"]
    assert cartoon["palette_cover_norm"] > 2 * good["palette_cover_norm"]


def test_dark_noisy_footage_is_not_posterised_after_stretching():
    frames, ts = toyclips.render("good")
    noise = np.random.default_rng(0).normal(0, 3, frames.shape)
    night = np.clip(frames * 0.3 + noise, 0, 255).astype(np.uint8)
    s = compute_signals(SimpleNamespace(frames=night, timestamps=ts))
    assert s["palette_cover"] > 0.7 > 0.4 > s["palette_cover_norm"]  # few bins when dark, spread once stretched


def test_overlay_static_edges():
    assert sig("overlay")["static_edge_frac"] > 3 * sig("good")["static_edge_frac"]


def test_blurred_background_sharpness():
    assert sig("blur")["sharpness_median"] < 0.5 * sig("good")["sharpness_median"]


def test_distortion_toy_clip_leans_barrel():
    assert sig("fisheye")["distortion_k"] < sig("good")["distortion_k"]


# --------------------------------------------------------------------- exact two-view geometry
W, H, F_TRUE = 160, 96, 130.0


def _views(n=6, step=(-0.3, 0.02, 0.1), seed=0):
    """Random points in front of a camera that yaws and moves by ``step`` (world units) per frame."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(-5, 5, 800), rng.uniform(-3, 3, 800), rng.uniform(4, 12, 800)])
    K = camera.make_K(F_TRUE, cx=W / 2, cy=H / 2)
    w2c = [camera.make_w2c(camera.quat_to_rotmat(np.r_[0, np.sin(-0.02 * i), 0, np.cos(-0.02 * i)]),
                           np.asarray(step) * i) for i in range(n)]
    return X, K, w2c


def test_focal_from_exact_fundamental():
    X, K, w2c = _views()
    f, cost = focal_from_F(camera.fundamental_from(K, K, w2c[0], w2c[3]), (W / 2, H / 2), W)
    assert abs(f * W - F_TRUE) / F_TRUE < 0.05 and cost < 0.02


def _distort(uv, k):
    """Inverse of the division model (radius normalised by the half width), by fixed-point iteration."""
    c = np.array([W / 2, H / 2])
    u = (uv - c) / (W / 2)
    ru = np.minimum(np.linalg.norm(u, axis=1, keepdims=True), 1.5)  # far outside the frame: clamped
    rd = ru.copy()
    for _ in range(40):
        rd = ru * (1 + k * rd**2)
    return c + u * rd / np.maximum(ru, 1e-9) * (W / 2)


@pytest.mark.parametrize("k_true", [0.0, -0.3])
def test_distortion_recovers_division_coefficient(k_true):
    X, K, w2c = _views(n=8, step=(-0.1, 0.02, -0.4))  # moving forward: radial flow makes k observable
    rng = np.random.default_rng(1)
    uv = []
    for T in w2c:
        p, _ = camera.project(K, T, X)
        uv.append(_distort(p, k_true) + rng.normal(0, 0.1, p.shape))
    uv = np.stack(uv).astype(np.float32)
    inside = ((uv[..., 0] > 0) & (uv[..., 0] < W) & (uv[..., 1] > 0) & (uv[..., 1] < H)).all(0)
    s = distortion_signals(Tracks(uv=uv[:, inside], survival=np.ones(len(uv) - 1)), (H, W), min_disp=8.0)
    assert abs(s["distortion_k"] - k_true) <= 0.1
    assert (s["distortion_gain"] > 1.2) == (k_true != 0.0)
    assert s["distortion_gain"] < 1.1 or k_true != 0.0
