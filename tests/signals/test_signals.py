"""Each signal separates a toy clip that shows its failure mode from one that lacks it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import toyclips

from dynpose100k import camera
from dynpose100k.signals import SIGNAL_GROUPS, SIGNAL_NAMES, compute_signals
from dynpose100k.signals.geometry import distortion_signals
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


# --------------------------------------------------------------------- signals added for the confusions
def test_posterised_levels_leave_gaps():
    assert sig("cartoon")["flat_level_gaps"] > 0.7 > 0.5 > sig("good")["flat_level_gaps"]


def test_shot_cut_splits_colours_into_two_blocks():
    assert sig("cut")["hist_block"] > 2.0 > 1.2 > sig("good")["hist_block"]


def test_zoom_homography_scale():
    assert sig("zoom")["zoom_homography"] > 0.15 > 0.05 > sig("good")["zoom_homography"]


def test_barrel_distortion_slows_the_border_relative_to_the_centre():
    assert sig("fisheye")["flow_center_ring"] > sig("good")["flow_center_ring"] + 0.2


def _scrolling(card: bool, n: int = 16, h: int = 96, w: int = 160) -> np.ndarray:
    """Grey frames of a textured background scrolling 12 px per frame (out of view within the clip); ``card``: a
    textured card covering most of the frame that only sways by a few pixels (an object travelling with the camera)."""
    rng = np.random.default_rng(3)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w + 12 * n)).astype(np.uint8), (0, 0), 1.5)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (h, w)).astype(np.uint8), (0, 0), 1.5)
    frames = []
    for i in range(n):
        f = bg[:, 12 * i : 12 * i + w].copy()
        if card:
            dx = int(round(3 * np.sin(i / 3)))
            f[h // 8 : 7 * h // 8, w // 8 + dx : 7 * w // 8 + dx] = tex[h // 8 : 7 * h // 8, w // 8 : 7 * w // 8]
        frames.append(f)
    return np.stack(frames)


def test_object_travelling_with_the_camera_persists():
    from dynpose100k.signals.tracks import persistence_signals, track_points, track_signals

    dt = np.full(15, 0.2)
    card, plain = _scrolling(True), _scrolling(False)
    assert persistence_signals(card)["center_persist"] > 0.9 > 0.5 > persistence_signals(plain)["center_persist"]
    assert (track_signals(track_points(card), dt)["track_persist"] > 0.3
            > track_signals(track_points(plain), dt)["track_persist"])


def _scaling(ramp: np.ndarray, h: int = 96, w: int = 160) -> np.ndarray:
    """Grey frames of a textured plane scaled about the image centre by ``ramp`` (one factor per frame)."""
    rng = np.random.default_rng(5)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (3 * h, 3 * w)).astype(np.uint8), (0, 0), 1.5)
    c = np.array([1.5 * w, 1.5 * h])
    out = []
    for z in ramp:
        M = np.array([[z, 0, w / 2 - z * c[0]], [0, z, h / 2 - z * c[1]]])
        out.append(cv2.warpAffine(tex, M, (w, h), flags=cv2.INTER_LINEAR))
    return np.stack(out)


def test_zoom_that_eases_in_and_out_ramps_but_a_steady_expansion_does_not():
    from dynpose100k.signals.geometry import zoom_ramp
    from dynpose100k.signals.tracks import track_points

    s = np.linspace(0, 1, 20)
    eased = 1 + 1.2 * (3 * s**2 - 2 * s**3)  # a 2.2x zoom that starts and stops within the clip
    steady = np.exp(np.log(2.2) * s)  # the same net scale at a constant rate (walking towards a wall)
    r_eased, r_steady = (zoom_ramp(track_points(_scaling(z)), fps=5.0) for z in (eased, steady))
    r_out = zoom_ramp(track_points(_scaling(eased[::-1])), fps=5.0)  # zooming out eases the same way
    assert r_eased > 0.15 and r_out > 0.15
    assert abs(r_steady) < 0.05


def test_zoom_too_fast_for_tracks_to_span_a_second_still_gets_its_rate():
    from dynpose100k.signals.geometry import geometry_signals
    from dynpose100k.signals.tracks import track_points

    s = np.linspace(0, 1, 20)
    tracks = track_points(_scaling(np.exp(np.log(100.0) * s)))  # 100x in 19 frames: 1.21 log units per second
    spanning = [(np.isfinite(tracks.uv[i, :, 0]) & np.isfinite(tracks.uv[i + 5, :, 0])).sum() for i in range(14)]
    assert max(spanning) < 20  # no window of one second (5 frames) keeps enough tracks
    assert geometry_signals(tracks, (96, 160), fps=5.0)["zoom_homography"] == pytest.approx(np.log(100) / 3.8, rel=0.1)


# --------------------------------------------------------------------- shift-robust signals
def _sig_of(frames, ts):
    return compute_signals(SimpleNamespace(frames=frames, timestamps=ts))


def _dark_noisy(frames, seed=0):
    """The same clip at night: a quarter of the brightness plus sensor noise."""
    rng = np.random.default_rng(seed)
    return np.clip(frames * 0.25 + rng.normal(0, 2.0, frames.shape), 0, 255).astype(np.uint8)


def test_interior_track_loss_spikes_at_a_cut_not_in_dark_noisy_footage():
    good, cut = sig("good"), sig("cut")
    frames, ts = toyclips.render("good")
    dark = _sig_of(_dark_noisy(frames), ts)
    assert cut["cut_track_loss"] > 3.0
    assert good["cut_track_loss"] < 0.3 * cut["cut_track_loss"]
    assert dark["cut_track_loss"] < 0.3 * cut["cut_track_loss"]


def test_relative_sharpness_sees_a_blurred_background_but_not_a_uniformly_soft_frame():
    good, blur = sig("good"), sig("blur")
    frames, ts = toyclips.render("good")
    soft = _sig_of(np.stack([cv2.GaussianBlur(f, (0, 0), 1.2) for f in frames]), ts)
    assert blur["sharpness_rel"] < 0.7 * good["sharpness_rel"]
    assert soft["sharpness_median"] < 0.8 * good["sharpness_median"]  # the absolute level drops...
    assert soft["sharpness_rel"] > blur["sharpness_rel"] + 0.5 * (good["sharpness_rel"] - blur["sharpness_rel"])


def test_contrast_stretch_makes_dark_footage_look_like_the_same_scene_lit():
    frames, ts = toyclips.render("good")
    dark = _sig_of((frames * 0.3).astype(np.uint8), ts)
    good = sig("good")
    assert abs(dark["edge_density"] - good["edge_density"]) < 0.3 * good["edge_density"]
    assert abs(dark["flat_frac"] - good["flat_frac"]) < 0.3 * max(good["flat_frac"], 0.05)
