"""Minimum evidence before "registered": degenerate clips are refused with their reason; the figures and the
verdict on hand-made geometry; a zoom (a focal that changes over the clip) is measured and caps the
confidence; the curation funnel counts the reasons by category."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from dynpose100k import camera
from dynpose100k.pose import PoseConfig, estimate_poses
from dynpose100k.pose.evidence import NO_PARALLAX, measure, verdict
from dynpose100k.pose.sfm import SfmResult, focal_change, focal_pin

#: degenerate kind -> (frame size (H, W), seeds, expected failure category); the sizes and the 5 s length are
#: those the thresholds were measured on (640x360 is the working size of every input of 360p and above)
DEGENERATE = {
    "tripod": ((360, 640), (0,), NO_PARALLAX),
    "incar": ((360, 640), (0,), NO_PARALLAX),
    # since the pose check's median rule keeps more static tracks, the map of a low-resolution source can pass
    # the evidence rule (87 points against 60 on seed 0, 78-82% registered at ATE 8-9% of the path); it must then
    # be one the default subset leaves out
    "lowres": ((144, 176), (0, 2), "too few static tracks"),
    # few static points survive the blocks; a frame starved by its exclusion zones gets back tracks that stick
    # to the block grid, and a map of those has no parallax (or no first pair has enough of it to start a map)
    "compressed": ((360, 640), (0, 1), ("too few static tracks", NO_PARALLAX)),
}
#: kinds whose map may pass the evidence rule by a thin margin (then its confidence must flag it)
THIN_MARGIN = ("lowres", "compressed")
#: kinds the mapper may refuse before the evidence rule, when no first pair has the parallax to start a map
NO_START = {"compressed": "too few static tracks with parallax to initialise"}


@functools.cache
def _posed(kind: str, seed: int):
    """The engine's result on the 5 s degenerate clip ``kind``/``seed`` at its size, posed once per test run."""
    from dynpose100k.synth import render

    (h, w), _, _ = DEGENERATE[kind]
    v = render(kind, seed, height=h, width=w, duration=5.0)
    return estimate_poses(v.frames, v.gt.timestamps, PoseConfig(), video_id=f"{kind}_{seed}")


@pytest.mark.parametrize("kind,seed", [(k, s) for k, (_, seeds, _) in DEGENERATE.items() for s in seeds])
def test_degenerate_clip_is_refused_with_its_reason(kind, seed):
    category = DEGENERATE[kind][2]
    res = _posed(kind, seed)
    if kind in THIN_MARGIN and res.failure_reason is None:
        # compressed: 56 points against 60 when measured, so with some builds of OpenCV and pycolmap a map passes
        assert res.confidence < 0.5, (res.confidence, res.evidence)
        return
    assert not res.registered.any(), (res.failure_reason, res.evidence)
    assert res.failure_reason and res.failure_reason.startswith(category), (res.failure_reason, res.evidence)
    if res.failure_reason == NO_START.get(kind):
        return
    # refused by the evidence rule, not earlier: a reconstruction was built (it would have been reported)
    assert "median_angle_deg" in res.evidence
    # a clip without parallax is not mapped again by the global mapper; the others may be, but keep their
    # reason unless the global map is trusted
    assert ("global" in res.timings) == (not res.failure_reason.startswith(NO_PARALLAX))


def _scene(moving: bool, n: int = 20, points: int = 300, seed: int = 0):
    """Cameras looking down +z at random points 4-8 m away: translating sideways or fixed in place."""
    rng = np.random.default_rng(seed)
    X = rng.uniform([-2, -1, 4], [2, 1, 8], (points, 3))
    t = np.zeros((n, 3))
    if moving:
        t[:, 0] = -np.linspace(0, 1.0, n)
    w2c = camera.make_w2c(np.tile(np.eye(3), (n, 1, 1)), t)
    return w2c, X


def test_measure_and_verdict_on_known_geometry():
    cfg = PoseConfig()
    w2c, X = _scene(moving=True)
    obs = np.ones((len(w2c), len(X)), bool)
    ev = measure(w2c, np.ones(len(w2c), bool), X, obs)
    # 1 m baseline at 4-8 m: angles about 7-14 degrees; every point in every frame
    assert 6 < ev["median_angle_deg"] < 15 and ev["median_obs_per_point"] == len(w2c)
    assert ev["median_points_per_frame"] == len(X) and 0.05 < ev["baseline_over_depth"] < 0.2
    assert verdict(ev, cfg) is None
    # a fixed camera: whatever the reprojection error, no parallax
    w2c0, _ = _scene(moving=False)
    ev0 = measure(w2c0, np.ones(len(w2c0), bool), X, obs)
    assert ev0["median_angle_deg"] < 1e-6
    assert verdict(ev0, cfg).startswith(NO_PARALLAX)
    # five points: too few, whatever else
    ev5 = measure(w2c, np.ones(len(w2c), bool), X[:5], obs[:, :5])
    assert verdict(ev5, cfg) == f"too few static tracks: 5 3D points < {cfg.min_static_points}"
    # points seen by two frames each (100 per frame): too little redundancy
    w2c, X = _scene(moving=True, points=1000)
    thin = np.zeros((len(w2c), len(X)), bool)
    for p in range(len(X)):
        thin[[p % len(w2c), (p + 10) % len(w2c)], p] = True
    evt = measure(w2c, np.ones(len(w2c), bool), X, thin)
    assert evt["median_obs_per_point"] == 2 and verdict(evt, cfg).startswith("too little redundancy")
    # thresholds at zero switch the rule off
    off = dataclasses.replace(cfg, min_static_points=0, min_median_angle_deg=0.0, min_obs_per_point=0.0,
                              min_points_per_frame=0.0)
    assert verdict(ev0, off) is None and verdict(ev5, off) is None


def test_refusal_reaches_result_json_and_funnel(tmp_path):
    """A refused clip: no frame registered, the reason and the figures in result.json; the curation funnel
    counts refusals by category (details and counts stripped)."""
    import json

    from dynpose100k.curate.stats import summarize
    from dynpose100k.pose import load_pose_result, save_pose_result

    res = _posed("tripod", 0)
    d = save_pose_result(tmp_path, res)
    meta = json.loads((d / "result.json").read_text())
    assert meta["registered_fraction"] == 0.0 and meta["failure_reason"].startswith("no parallax")
    assert meta["evidence"]["median_angle_deg"] < PoseConfig().min_median_angle_deg
    assert load_pose_result(d).evidence == meta["evidence"]
    rows = [dict(status="pose_failed", reason=r, timings="{}", filter_reasons=None) for r in (
        meta["failure_reason"], f"{NO_PARALLAX}: median triangulation angle 0.01 deg < 0.5",
        "too few static tracks: 5 3D points < 60", "no trackable texture (3 tracks)",
        "no trackable texture (7 tracks)")]
    rej = summarize(rows, wall_s=1.0, processed=5, workers=1, min_registered=0.5)["rejections"]
    assert rej == {f"pose failed: {NO_PARALLAX}": 2, "pose failed: no trackable texture": 2,
                   "pose failed: too few static tracks": 1}


def _zoom_map(ratio: float, hw=(360, 640), f0: float = 500.0, noise_px: float = 0.3):
    """Tracks of a sideways-moving camera whose focal goes from ``f0`` to ``ratio * f0`` (linearly over 20
    frames), and the map a shared-focal adjustment would start from: true poses and points, the mean focal."""
    w2c, X = _scene(moving=True, points=400)
    n = len(w2c)
    f = f0 * np.linspace(1.0, ratio, n)
    K = np.stack([camera.make_K(fi, fi, (hw[1] - 1) / 2, (hw[0] - 1) / 2) for fi in f])
    uv = np.stack([camera.project(K[i], w2c[i], X)[0] for i in range(n)])
    uv += np.random.default_rng(1).normal(0, noise_px, uv.shape)
    inside = (uv[..., 0] > 0) & (uv[..., 0] < hw[1] - 1) & (uv[..., 1] > 0) & (uv[..., 1] < hw[0] - 1)
    uv[~inside] = np.nan
    fm = float(f.mean())
    sfm = SfmResult(w2c=w2c, registered=np.ones(n, bool), K=camera.make_K(fm, fm, (hw[1] - 1) / 2, (hw[0] - 1) / 2),
                    camera_model="SIMPLE_PINHOLE", camera_params=np.array([fm, (hw[1] - 1) / 2, (hw[0] - 1) / 2]),
                    points3d=X, track_ids=np.arange(len(X)), obs=inside, reproj_error_px=1.0, failure_reason=None)
    return uv.astype(np.float32), hw, sfm


def _walk_map(turn_deg: float, hw=(360, 640), f: float = 500.0, n: int = 24, noise_px: float = 0.3):
    """Tracks of a camera walking forward and a little sideways past points 5-15 m ahead, turning by
    ``turn_deg`` about the vertical over the walk, and the true map (poses, points, focal)."""
    rng = np.random.default_rng(2)
    X = rng.uniform([-4, -2, 5], [4, 2, 15], (500, 3))
    a = np.deg2rad(np.linspace(0, turn_deg, n))
    R = np.stack([[[np.cos(t), 0, -np.sin(t)], [0, 1, 0], [np.sin(t), 0, np.cos(t)]] for t in a])
    C = np.c_[np.linspace(0, 0.3, n), np.zeros(n), np.linspace(0, 2.0, n)]  # camera centres
    w2c = camera.make_w2c(R, -np.einsum("nij,nj->ni", R, C))
    K = camera.make_K(f, f, (hw[1] - 1) / 2, (hw[0] - 1) / 2)
    uv = np.stack([camera.project(K, w2c[i], X)[0] for i in range(n)])
    uv += rng.normal(0, noise_px, uv.shape)
    inside = (uv[..., 0] > 0) & (uv[..., 0] < hw[1] - 1) & (uv[..., 1] > 0) & (uv[..., 1] < hw[0] - 1)
    uv[~inside] = np.nan
    sfm = SfmResult(w2c=w2c, registered=np.ones(n, bool), K=K, camera_model="SIMPLE_PINHOLE",
                    camera_params=np.array([f, (hw[1] - 1) / 2, (hw[0] - 1) / 2]), points3d=X,
                    track_ids=np.arange(len(X)), obs=inside, reproj_error_px=0.3, failure_reason=None)
    return uv.astype(np.float32), hw, sfm


def test_focal_pin_tells_a_focal_the_tracks_fix_from_a_guess():
    """Translation alone never fixes the focal (a longer focal with every depth stretched along the view axis
    explains the same tracks), so a walk that does not turn leaves it loose; a turn of the camera pins it."""
    uv, hw, sfm = _walk_map(turn_deg=0.0)
    loose = focal_pin(uv, hw, PoseConfig(), sfm)
    uv, hw, sfm = _walk_map(turn_deg=20.0)
    pinned = focal_pin(uv, hw, PoseConfig(), sfm)
    assert loose < 1.05 and pinned > 1.5, (loose, pinned)
    assert np.isnan(focal_pin(uv, hw, PoseConfig(hfov_deg=60.0), sfm))  # a given lens: nothing to pin


@pytest.mark.parametrize("ratio", [1.0, 1.3, 1 / 1.3])
def test_focal_change_follows_a_zoom(ratio):
    uv, hw, sfm = _zoom_map(ratio)
    change = focal_change(uv, hw, PoseConfig(), sfm)
    assert abs(change - np.log(ratio)) < 0.03, change


def test_slow_zoom_clip_is_doubted():
    """A slow zoom (x1.25-1.5 over the clip) that a shared focal maps with a low reprojection error: the
    per-frame focal fit sees the zoom and caps the confidence; a good clip's focal stays put."""
    from dynpose100k.pose.confidence import ZOOM_CONFIDENCE, load_confidence_model
    from dynpose100k.synth import render

    v = render("slowzoom", 70002, height=360, width=640, duration=5.0)
    cfg = PoseConfig(global_fallback_below=0)
    res = estimate_poses(v.frames, v.gt.timestamps, cfg, video_id="slowzoom")
    assert res.evidence["focal_change"] > cfg.max_focal_change, res.evidence
    assert res.registered.all() and res.confidence <= ZOOM_CONFIDENCE and "focal_change" in res.confidence_caps
    assert res.frame_confidence.max() <= ZOOM_CONFIDENCE
    # what the cap guards against: the same map, scored from its own evidence without the cap, passes
    assert load_confidence_model().predict(res.confidence_evidence) > 0.5, res.confidence_evidence
    g = render("good", 70001, height=360, width=640, duration=5.0)
    res = estimate_poses(g.frames, g.gt.timestamps, PoseConfig(), video_id="good")
    assert res.registered.all() and abs(res.evidence["focal_change"]) < 0.02 and res.confidence > 0.5, res.evidence
    assert res.confidence_caps == ()
    assert res.evidence["focal_pin"] > 1.0 and "focal_pin" not in res.confidence_evidence  # the map kept's only
