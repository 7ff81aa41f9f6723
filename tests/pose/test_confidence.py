"""Calibrated pose confidence: fields and ranges, a good clip scores high, broken reconstructions score
low, the calibration fit, the quality table by confidence and the subset option."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from pose_fixtures import static_tracks_of

from dynpose100k import camera
from dynpose100k.evaluate import score_video
from dynpose100k.metrics import path_length
from dynpose100k.pose import (
    PoseConfig,
    estimate_poses,
    load_pose_result,
    save_pose_result,
)
from dynpose100k.pose import confidence as conf


@pytest.fixture(scope="module")
def good():
    """A good synthetic clip (640x360, 5 s at 12 fps, the calibration's size) through the engine: (video,
    result). (A 320x180 4 s clip sits near the 2% line and the 0.5 cut, on one side or the other with the
    build of OpenCV and pycolmap.)"""
    from dynpose100k.synth import render

    v = render("good", 0, height=360, width=640, fps=12.0, duration=5.0)
    return v, estimate_poses(v.frames, v.gt.timestamps, PoseConfig(), video_id="good")


def test_good_clip_has_high_confidence(good):
    v, res = good
    ev = score_video(res.w2c, res.K, res.registered, v.gt)
    assert conf.is_good(ev.ate, path_length(camera.camera_centers(v.gt.w2c)), res.registered_fraction)  # the premise
    assert 0.5 <= res.confidence <= 1.0 and res.confidence_caps == ()
    assert set(conf.FEATURES) <= set(res.confidence_evidence)
    assert res.frame_confidence.shape == (v.gt.num_frames,) and res.frame_confidence.dtype == np.float32
    assert ((res.frame_confidence >= 0) & (res.frame_confidence <= res.confidence + 1e-6)).all()
    assert (res.frame_confidence[~res.registered] == 0).all()
    assert "confidence" in res.timings


def test_a_calibration_of_ones_own_replaces_the_packaged_one(good, tmp_path, capsys):
    """``PoseConfig.confidence_model``: the engine scores with that calibration (here the packaged one with a
    bias far down, so the same clip reads as untrusted); a missing or broken file is one line naming it, also
    from ``pose`` before any clip."""
    import json

    from dynpose100k.cli import main
    from dynpose100k.errors import DynPoseError

    v, res = good
    d = json.loads(conf.calibration_path().read_text())
    own = tmp_path / "own.json"
    own.write_text(json.dumps({**d, "bias": d["bias"] - 50.0}))
    low = estimate_poses(v.frames, v.gt.timestamps, PoseConfig(confidence_model=str(own)), video_id="good")
    assert res.confidence >= 0.5 > 1e-6 > low.confidence
    assert low.config["confidence_model"] == str(own)  # recorded with the result
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    for path in (tmp_path / "missing.json", broken):
        with pytest.raises(DynPoseError, match=path.name):
            conf.load_confidence_model(path)
        out = tmp_path / "poses"
        assert main(["pose", "whatever.mp4", "--out", str(out), "--confidence-model", str(path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and path.name in err[0] and not out.exists()


def test_confidence_is_saved_and_loaded(good, tmp_path):
    _, res = good
    d = save_pose_result(tmp_path, res)
    meta = json.loads((d / "result.json").read_text())
    assert 0.0 <= meta["confidence"] <= 1.0 and set(conf.FEATURES) <= set(meta["confidence_evidence"])
    with np.load(d / "poses.npz") as p:
        assert p["frame_confidence"].shape == (res.num_frames,)
    assert meta["confidence_caps"] == []
    back = load_pose_result(replace_result(d, confidence_caps=["focal_change"]))
    assert back.confidence == pytest.approx(res.confidence) and back.confidence_caps == ("focal_change",)
    np.testing.assert_allclose(back.frame_confidence, res.frame_confidence)


def replace_result(d, **fields):
    """The result folder ``d`` with ``fields`` of its ``result.json`` replaced."""
    meta = json.loads((d / "result.json").read_text())
    (d / "result.json").write_text(json.dumps({**meta, **fields}))
    return d


def test_failed_video_has_zero_confidence():
    res = estimate_poses(np.zeros((5, 64, 96, 3), np.uint8), np.arange(5) / 12.0)
    assert res.failure_reason and res.confidence == 0.0
    assert res.frame_confidence.shape == (5,) and not res.frame_confidence.any()


def test_confidence_off_is_unknown():
    from dynpose100k.synth import render

    v = render("good", 1, height=180, width=320, duration=2.0, pairs=0)  # enough evidence to register
    res = estimate_poses(v.frames, v.gt.timestamps, PoseConfig(confidence=False))
    assert (res.failure_reason is None and np.isnan(res.confidence) and res.frame_confidence is None
            and "confidence" not in res.timings)


@pytest.mark.parametrize("corruption", ["slow_zoom", "slow_mover"])
def test_broken_reconstruction_gets_low_confidence(small, clean, corruption):
    """Tracks that no single rigid scene and shared focal explain, over the second half of the clip: the
    whole image slowly zooms (a focal change), or the right half of the view slides sideways (a slow mover
    the masks missed). The engine's bundle adjustment still fits them at a low reprojection error, but
    the trajectory is off by several percent of the path, and the confidence must say so."""
    from dynpose100k.metrics import ate, fill_failed
    from dynpose100k.pose.sfm import reconstruct

    v = small
    uv, hw, clean_sfm = clean
    cfg = PoseConfig()
    N = len(uv)
    drift = np.clip((np.arange(N) - N / 2) / (N / 2), 0, None)[:, None]  # 0 ... 1 over the second half
    centre = np.array([(hw[1] - 1) / 2, (hw[0] - 1) / 2])
    bad_uv = uv.copy()
    if corruption == "slow_zoom":
        bad_uv = centre + (uv - centre) * (1 + 0.15 * drift[..., None])
    else:
        seen = ~np.isnan(uv[..., 0])
        right = np.nansum(uv[..., 0], 0) > centre[0] * seen.sum(0)  # mean column right of the centre
        bad_uv[:, right, 0] += 0.05 * hw[1] * drift
    path = path_length(camera.camera_centers(v.gt.w2c))
    # the slide breaks this clip's map through its focal: accepting the first start's map once it keeps 0.6 of
    # the observations (the engine's earlier setting), the map settles 37% short and 8% of the path off; the
    # default now lets the other starts compete and keeps a map near the true focal (1.3%, confidence 0.12)
    broken_cfg = replace(cfg, focal_accept_support=0.6) if corruption == "slow_mover" else cfg
    out = {}
    for name, tracks in (("clean", uv), ("broken", bad_uv)):
        r = clean_sfm if name == "clean" else reconstruct(tracks, hw, broken_cfg)
        c, fc, _ = conf.score(r, tracks, hw, cfg)
        out[name] = (ate(fill_failed(r.w2c, r.registered), v.gt.w2c).rmse / path, r.reproj_error_px, c, fc)
    (e_clean, px_clean, c_clean, _), (e_bad, px_bad, c_bad, fc_bad) = out["clean"], out["broken"]
    assert e_clean < conf.ATE_PATH_FRACTION < e_bad, out  # the premise: the corruption breaks the poses
    assert px_bad < 2 * px_clean + 0.2  # ... silently: the reprojection error hardly moves
    assert c_clean >= 0.5 > c_bad, (c_clean, c_bad)
    assert fc_bad.shape == (N,) and fc_bad.max() < 0.5


@pytest.fixture(scope="module")
def small():
    """A small good clip (320x180, 4 s at 12 fps) whose reconstruction lands well inside the 2% line with a
    confidence above 0.5 (0.26% of the path at 0.92 when chosen with the dense-flow tracker). Of seeds 0-15,
    12 map well; the centred zoom of the broken-reconstruction test breaks 10 of those maps and 2 of them pass
    (seeds 3 and 11; on seed 3 the zoom leaves no trace in the two-view geometry), the slide breaks 4 and none
    passes (both counted when a focal start was accepted at 0.6 of the observations). This clip is one whose
    zoom the confidence sees."""
    from dynpose100k.synth import render

    return render("good", 5, height=180, width=320, fps=12.0, duration=4.0)


@pytest.fixture(scope="module")
def clean(small):
    """Static tracks of the small clip and the engine's reconstruction from them: (uv, hw, sfm)."""
    from dynpose100k.pose.sfm import reconstruct

    uv, hw = static_tracks_of(small.frames)
    return uv, hw, reconstruct(uv, hw, PoseConfig())


def test_split_halves_start_from_the_cameras_alone(clean):
    """Each split half triangulates its points afresh from the map's cameras. The points the map settled on
    would hold both halves in the map's own minimum, which on a map resting on a weak link can be wrong by
    degrees; so moving them must not move the gap."""
    uv, hw, sfm = clean
    cfg = PoseConfig()
    gap, per_frame = conf.split_half_gap(uv, hw, cfg, sfm)
    spread = np.ptp(sfm.points3d, axis=0)
    moved = replace(sfm, points3d=sfm.points3d + np.random.default_rng(0).normal(0, 0.02 * spread, sfm.points3d.shape))
    gap2, per_frame2 = conf.split_half_gap(uv, hw, cfg, moved)
    assert 0 < gap < 0.02 and gap2 == pytest.approx(gap, rel=1e-6)
    np.testing.assert_allclose(per_frame2, per_frame, rtol=1e-6)


def test_split_halves_adjust_the_keyframes_and_repose_the_rest(clean, monkeypatch):
    """Each half's bundle adjustment varies the keyframes only (the cost is in the frames between); the
    frames between still get their own pose from the half's points, so every registered frame has a gap."""
    from dynpose100k.pose import sfm as sfm_mod

    uv, hw, sfm = clean
    adjusted = []
    original = sfm_mod._State.bundle_adjust

    def spy(self, refine_intrinsics, iters=50, frames=None, fixed=None):
        adjusted.append(len(np.flatnonzero(self.reg) if frames is None else frames))
        return original(self, refine_intrinsics, iters, frames, fixed)

    monkeypatch.setattr(sfm_mod._State, "bundle_adjust", spy)
    gap, per_frame = conf.split_half_gap(uv, hw, PoseConfig(), sfm)
    n_reg = int(sfm.registered.sum())
    assert n_reg > sfm_mod.FULL_BA_MAX_FRAMES  # the premise: a clip long enough for keyframe adjustment
    assert adjusted and max(adjusted) < 0.5 * n_reg, (adjusted, n_reg)
    assert 0 < gap < 0.02 and np.isfinite(per_frame[sfm.registered]).all()
    assert np.count_nonzero(per_frame[sfm.registered] > 0) > 0.9 * n_reg  # not left at the map's poses


# --------------------------------------------------------------------------------------- the model
@pytest.mark.parametrize("tracker", ["klt", "dis"])
def test_packaged_model_is_a_valid_calibration(tracker):
    m = conf.load_confidence_model(None, tracker)
    assert set(m.features) <= set(conf.FEATURES) and len(m.weights) == len(m.features)
    assert m.info["num_videos"] >= 20 and 0 < m.info["num_good"] < m.info["num_videos"]
    feats = dict(zip(m.features, m.mean))
    assert 0.0 <= m.predict(feats) <= 1.0
    assert m.predict({}) == pytest.approx(m.predict(feats))  # missing evidence = the training mean


def test_each_tracker_is_scored_by_the_calibration_fitted_on_its_maps(clean):
    """Each tracker's maps are scored by the calibration packaged for it (the default tracker's by default); a
    tracker with none of its own (the learned one) takes Lucas-Kanade's."""
    klt, dis = conf.load_confidence_model(None, "klt"), conf.load_confidence_model(None, "dis")
    assert conf.load_confidence_model() is dis and conf.load_confidence_model(None, "cotracker3") is klt
    assert conf.calibration_path() == conf.TRACKER_CONFIDENCE[PoseConfig().tracker]
    assert dis is not klt and "dis-own-12fps" in dis.info["note"]
    uv, hw, sfm = clean
    got = {}
    for tracker, model in (("klt", klt), ("dis", dis)):
        cfg = PoseConfig(tracker=tracker)
        c, _, feats = conf.score(sfm, uv, hw, cfg)
        assert c == pytest.approx(min(model.predict(feats), conf.confidence_limit(cfg, step_jump=feats["step_jump"])))
        got[tracker] = c
    assert got["klt"] != pytest.approx(got["dis"], abs=1e-3)  # the two calibrations read the same map apart


def test_fit_learns_the_direction_of_evidence():
    rng = np.random.default_rng(0)
    gap = rng.normal(-6, 1.5, 200)
    rows = [dict(split_half_log=g, registered_fraction=1.0, good=bool(g + rng.normal(0, 0.3) < -5)) for g in gap]
    m = conf.fit_confidence(rows, features=("split_half_log", "registered_fraction"))
    assert m.weights[0] < 0
    assert m.predict({"split_half_log": -8.0}) > 0.9 and m.predict({"split_half_log": -3.0}) < 0.1
    back = conf.ConfidenceModel.from_json(json.loads(json.dumps(m.to_json())))
    assert back.predict({"split_half_log": -5.5}) == pytest.approx(m.predict({"split_half_log": -5.5}))
    with pytest.raises(Exception, match="good and bad"):
        conf.fit_confidence([dict(r, good=True) for r in rows], features=("split_half_log",))


def test_calibration_report_counts_flags():
    rows = [dict(video_id=f"v{i}", ate=a, path=10.0, registered_fraction=1.0, reproj=r, confidence=c, evidence=True,
                 good=conf.is_good(a, 10.0, 1.0))
            for i, (a, r, c) in enumerate([(0.01, 0.5, 0.9), (0.05, 0.6, 0.8), (0.5, 0.4, 0.3), (1.0, 0.7, 0.1)])]
    rep = conf.calibration_report(rows)
    assert rep["num_good"] == 2 and rep["bad_below_half"] == 1.0 and rep["good_at_least_half"] == 1.0
    assert rep["spearman_confidence_ate"] == pytest.approx(-1.0) and rep["spearman_reproj_ate"] < 0.5


def test_self_assessment_counts_at_the_cut_and_ranks_finite_errors_only():
    """One contract for the calibration report and the pose benchmark: a confidence exactly at TRUSTED passes,
    a failed video's infinite reprojection error still ranks, a video without an error is left out."""
    good = [True, True, False, False, False]
    confidence = [conf.TRUSTED, 0.9, conf.TRUSTED - 1e-9, 0.7, 0.0]
    reproj = [0.3, 0.2, 0.5, np.inf, 0.4]
    error = [0.02, 0.01, 0.5, 0.3, np.nan]
    sa = conf.self_assessment(good, confidence, reproj, error)
    assert (sa["bad"], sa["bad_flagged"], sa["good"], sa["good_passed"]) == (3, 2, 2, 2)
    assert sa["spearman_confidence_ate"] == pytest.approx(-0.8) and sa["spearman_reproj_ate"] == pytest.approx(0.8)
    assert "good_held" not in sa
    unknown = conf.self_assessment(good, [np.nan] * 5, reproj, error)  # no confidence passes nothing
    assert (unknown["bad_flagged"], unknown["good_passed"]) == (3, 0)
    flat = conf.self_assessment(good, [0.5] * 5, reproj, error)
    assert math.isnan(flat["spearman_confidence_ate"]) and flat["good_passed"] == 2
    failed = conf.self_assessment(good, confidence, [0.3, 0.2, 0.5, np.nan, 0.4], error)  # NaN: failed, the worst
    assert failed["spearman_reproj_ate"] == pytest.approx(0.8)


def test_self_assessment_says_what_holds_the_good_maps_back():
    """Flagged good maps are counted under each check that capped them, or under the evidence when none did;
    passed good maps and bad maps are not counted."""
    good = [True, True, True, True, False]
    confidence = [0.2, 0.07, 0.3, 0.9, 0.2]
    caps = [("focal_change",), ["focal_change", "moving_fraction"], (), (), ("focal_change",)]
    sa = conf.self_assessment(good, confidence, [0.5] * 5, [0.01] * 4 + [0.1], caps=caps)
    assert sa["good_held"] == {"focal_change": 2, "moving_fraction": 1, "evidence": 1}
    assert conf.self_assessment(good[3:], confidence[3:], [0.5] * 2, [0.01, 0.1], caps=caps[3:])["good_held"] == {}


def test_calibration_report_of_another_model_keeps_the_caps():
    """Re-predicted with a model, a clip whose stored figures trip a physical check (zoom, camera jump,
    moving frame) keeps its cap, as the pipeline would give it."""
    trusting = conf.ConfidenceModel((), (), (), (), 5.0, {})
    base = dict(path=10.0, registered_fraction=1.0, confidence=0.0, evidence=True, good=False)
    rows = [dict(base, video_id="zoom", ate=1.0, reproj=0.5, focal_change=0.3),
            dict(base, video_id="jump", ate=1.5, reproj=0.6, step_jump=12.0),
            dict(base, video_id="mover", ate=2.0, reproj=0.4, moving_fraction=0.8),
            dict(base, video_id="none", ate=2.5, reproj=0.7, step_jump=2.0)]
    rep = conf.calibration_report(rows, trusting)
    assert rep["bad_videos_missed"] == ["none"] and rep["bad_below_half"] == 0.75
    off = PoseConfig(max_focal_change=0.0, max_step_jump=0.0, max_moving_fraction=0.0)
    assert conf.confidence_limit(off, focal_change=0.3, step_jump=12.0, moving_fraction=0.8) == 1.0
    assert conf.confidence_limit(PoseConfig(), step_jump=12.0, focal_change=0.3) == conf.JUMP_CONFIDENCE
    assert conf.confidence_limit(PoseConfig(), moving_fraction=0.8) == conf.MOVER_CONFIDENCE
    assert conf.confidence_limit(PoseConfig()) == 1.0
    # the checks a map trips are named, in the order of CAPS; each caps at its own value
    assert conf.confidence_caps(PoseConfig(), focal_change=-0.3, step_jump=12.0, moving_fraction=0.8) == (
        "focal_change", "step_jump", "moving_fraction")
    assert conf.confidence_caps(off, focal_change=0.3, step_jump=12.0, moving_fraction=0.8) == ()
    assert conf.confidence_caps(PoseConfig(), focal_change=float("nan"), moving_fraction=float("nan")) == ()
    stored = conf.cap_figures({"focal_change": 0.3, "moving_fraction": None}, {"step_jump": None})
    assert conf.confidence_caps(PoseConfig(), **stored) == ("focal_change",)
    assert conf.confidence_limit(PoseConfig(), **stored) == conf.ZOOM_CONFIDENCE


def test_weak_parallax_caps_short_tracks_seen_from_one_place():
    """A map whose points are seen under little parallax by short tracks (a fast pan nearly in place, whose
    path the tracks barely constrain) is capped; longer tracks or more parallax are not, and 0 turns it off."""
    cfg = PoseConfig()
    assert conf.confidence_caps(cfg, parallax_deg=0.5, track_len=5.0) == ("weak_parallax",)
    assert conf.confidence_limit(cfg, parallax_deg=0.5, track_len=5.0) == conf.WEAK_PARALLAX_CONFIDENCE
    assert conf.confidence_caps(cfg, parallax_deg=0.5, track_len=12.0) == ()
    assert conf.confidence_caps(cfg, parallax_deg=3.0, track_len=5.0) == ()
    assert conf.confidence_caps(PoseConfig(weak_parallax_deg=0.0), parallax_deg=0.5, track_len=5.0) == ()
    # from a stored result's confidence evidence (the pipeline's final figures), and not without them
    stored = conf.cap_figures({}, {"parallax_log": math.log(0.5), "track_len_median": 5.0, "step_jump": 1.0})
    assert conf.confidence_caps(cfg, **stored) == ("weak_parallax",)
    assert conf.confidence_caps(cfg, **conf.cap_figures({}, {})) == ()


# ---------------------------------------------------------------------------- subset by confidence
def test_subset_min_confidence(tmp_path, capsys):
    from pose_fixtures import write_pose_dir

    from dynpose100k.cli import main
    from dynpose100k.shards import QualityRule, iter_samples

    rule = QualityRule(min_confidence=0.5)
    assert rule({"confidence": 0.7}) and not rule({"confidence": 0.3})
    assert not rule({}) and QualityRule()({})
    for i, c in enumerate([0.9, 0.2, None]):
        write_pose_dir(tmp_path / "poses", f"v{i}", n=6, seed=i, confidence=c)
    ds = tmp_path / "ds"
    assert main(["shard", str(tmp_path / "poses"), "--out", str(ds)]) == 0
    assert {s.key: s.meta["confidence"] for s in iter_samples(ds)} == {"v0": 0.9, "v1": 0.2, "v2": None}
    # confidence >= 0.5 is the default rule of `subset`, and its card says so
    assert main(["subset", str(ds), str(tmp_path / "hq")]) == 0
    out = capsys.readouterr().out
    assert "kept 1 of 3" in out and "QualityRule(min_confidence=0.5)" in out
    assert [s.key for s in iter_samples(tmp_path / "hq")] == ["v0"]
    assert "videos with confidence >= 0.5" in (tmp_path / "hq" / "README.md").read_text()
    assert main(["subset", str(ds), str(tmp_path / "all"), "--min-confidence", "off"]) == 0
    assert "kept 3 of 3" in capsys.readouterr().out
    assert main(["subset", str(ds), str(tmp_path / "c1"), "--min-confidence", "0.95"]) == 1  # no empty dataset
    assert "none of its 3 videos passes confidence >= 0.95" in capsys.readouterr().err



def test_refit_cli_on_saved_results(tmp_path, capsys, monkeypatch):
    """``fit`` reads the evidence from result.json and the truth from the ground truth; ``report`` scores
    a model on another set. Here the evidence is the trajectory noise the poses really carry. Without an
    output, ``fit`` writes the packaged calibration of the tracker the results were posed with, and refuses
    results of mixed trackers."""
    from pose_fixtures import save_result_for

    from dynpose100k.pose import fit_confidence
    from dynpose100k.pose.fit_confidence import main
    from dynpose100k.synth import render, save_gt

    gt_dir, pose_dir = tmp_path / "gt", tmp_path / "poses"
    gt_dir.mkdir()
    for k, noise in enumerate([0.0, 0.001, 0.003, 0.3, 0.5, 1.0]):
        v = render("good", k, height=96, width=160, duration=1.0, pairs=2, per_pair=10, video_id=f"g{k}")
        save_gt(gt_dir / f"g{k}.gt.npz", v.gt)
        w2c = v.gt.w2c.copy()
        w2c[:, :3, 3] += np.random.default_rng(k).normal(0, noise, w2c[:, :3, 3].shape)
        ev = {"split_half_log": float(np.log(noise + 1e-4)), "registered_fraction": 1.0}
        save_result_for(pose_dir, v.gt, w2c, np.ones(len(w2c), bool), reproj_px_720p=0.5 + 0.01 * k,
                        confidence_evidence=ev, config={"tracker": "dis"})
    out = tmp_path / "model.json"
    assert main(["fit", str(pose_dir), str(gt_dir), str(out), "--features", "split_half_log,registered_fraction",
                 "--l2", "0.1"]) == 0
    m = conf.load_confidence_model(out)
    assert m.features == ("split_half_log", "registered_fraction") and m.info["num_videos"] == 6
    capsys.readouterr()
    assert main(["report", str(pose_dir), str(gt_dir), "--model", str(out)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["bad_below_half"] == 1.0 and rep["good_at_least_half"] == 1.0 and rep["spearman_confidence_ate"] < -0.8
    assert main(["fit", str(pose_dir), str(gt_dir), str(out), "--features", "nope"]) == 1

    packaged = {t: tmp_path / f"packaged_{t}.json" for t in ("dis", "klt")}
    monkeypatch.setattr(fit_confidence, "TRACKER_CONFIDENCE", packaged)
    fit = ["fit", str(pose_dir), str(gt_dir), "--features", "split_half_log,registered_fraction"]
    assert main(fit) == 0 and packaged["dis"].exists() and not packaged["klt"].exists()
    one = pose_dir / "g0" / "result.json"
    one.write_text(json.dumps({**json.loads(one.read_text()), "config": {"tracker": "klt"}}))
    capsys.readouterr()
    assert main(fit) == 1 and not packaged["klt"].exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "['dis', 'klt']" in err[0] and "name the output JSON" in err[0]


def test_calibration_pool_renders_each_condition_once(tmp_path, monkeypatch, capsys):
    """``pool`` writes a result and a ground truth per clip and condition (normal and hard), the lens
    condition draws another field of view than the clean clip, the long one twice the frames, clutter adds
    surfaces and the camera condition changes the images on the same camera path, a rerun poses nothing
    again, and bad arguments are one-line errors."""
    import math

    from dynpose100k.pose import pipeline
    from dynpose100k.pose.fit_confidence import build_pool, main
    from dynpose100k.synth import load_gt

    conds = ("clean", "lens", "degrade", "long", "clutter", "camera")
    frames, estimate = {}, pipeline.estimate_poses

    def keep_frames(f, *a, **k):
        frames[k["video_id"]] = f
        return estimate(f, *a, **k)

    monkeypatch.setattr(pipeline, "estimate_poses", keep_frames)
    poses, gts = build_pool(tmp_path, range(3, 4), conds, height=96, width=160, duration=1.0, log_each=lambda s: None)
    ids = sorted(p.name[: -len(".gt.npz")] for p in gts.glob("*.gt.npz"))
    assert ids == sorted(f"good_s3{h}_{c}" for h in ("", "_hard") for c in conds)
    assert len(frames["good_s3_long"]) == 2 * len(frames["good_s3_clean"]) == 24
    assert all((poses / i / "result.json").exists() for i in ids)
    hfov = {i: 2 * math.degrees(math.atan(80 / load_gt(gts / f"{i}.gt.npz").K[0, 0, 0])) for i in ids}
    assert 55 <= hfov["good_s3_clean"] <= 75 and hfov["good_s3_degrade"] == hfov["good_s3_clean"]
    assert hfov["good_s3_lens"] != hfov["good_s3_clean"] and 20 <= hfov["good_s3_lens"] <= 100
    gt = {i: load_gt(gts / f"{i}.gt.npz") for i in ("good_s3_clean", "good_s3_clutter", "good_s3_camera")}
    for i in ("good_s3_clutter", "good_s3_camera"):  # the same camera; other content, or another camera's images
        np.testing.assert_array_equal(gt[i].w2c, gt["good_s3_clean"].w2c)
    assert gt["good_s3_clutter"].planes.shape[1] > gt["good_s3_clean"].planes.shape[1]
    shift = np.abs(frames["good_s3_camera"].astype(float) - frames["good_s3_clean"]).mean()
    assert shift > 5  # blur, exposure, vignetting, noise
    monkeypatch.setattr(pipeline, "estimate_poses", lambda *a, **k: pytest.fail("posed an existing clip"))
    build_pool(tmp_path, range(3, 4), conds, height=96, width=160, duration=1.0, log_each=lambda s: None)
    for bad in (["--seeds", "5"], ["--seeds", "4:2"], ["--conditions", "fog"], ["--preset", "nope"],
                ["--preset", "cotracker3-own-12fps", "--tracker-model", str(tmp_path / "none.pth")]):
        assert main(["pool", str(tmp_path), *bad]) == 1
        assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("incremental,global_,expect_global", [(0.2, 0.9, True), (0.2, 0.1, False), (0.8, 0.95, False)])
def test_doubted_maps_are_also_mapped_globally(request, monkeypatch, small, incremental, global_, expect_global):
    """Below ``global_fallback_below`` the global mapper also runs, and its map is kept only when its own
    confidence is higher; a trusted incremental map is not mapped again. (The kept global map is checked on
    the 640x360 clip: at 320x180 the global mapper's map of the small clip is 0.15 m off.)"""
    from dynpose100k.pose import pipeline

    v = request.getfixturevalue("good")[0] if expect_global else small
    made = []
    real_global, real_score = pipeline.reconstruct_global, pipeline.score

    def fake_global(*a, **k):
        made.append(real_global(*a, **k))
        return made[-1]

    def fake_score(sfm, *a, **k):
        c, fc, ev = real_score(sfm, *a, **k)
        return (global_ if made and sfm is made[-1] else incremental), fc, ev

    monkeypatch.setattr(pipeline, "reconstruct_global", fake_global)
    monkeypatch.setattr(pipeline, "score", fake_score)
    res = estimate_poses(v.frames, v.gt.timestamps, PoseConfig(), video_id="good")
    assert len(made) == int(incremental < 0.5) and ("global" in res.timings) == bool(made)
    assert res.confidence == (global_ if expect_global else incremental)
    assert res.evidence.get("global_mapper", 0.0) == float(expect_global)
    if expect_global:  # the kept map is the global one, refined and scored like any other
        assert res.registered.mean() > 0.9 and score_video(res.w2c, res.K, res.registered, v.gt).ate < 0.05
        # with the second opinion switched off a doubted map is not mapped globally (checked here only: the
        # other cases would repeat the same run)
        made.clear()
        res = estimate_poses(small.frames, small.gt.timestamps, PoseConfig(global_fallback_below=0.0), video_id="s")
        assert not made and res.confidence == incremental


def test_frame_confidence_follows_sustained_gaps_not_single_frames():
    """A frame's split-half gap is noisy from frame to frame; the per-frame confidence follows a run of
    large gaps (a stretch of the clip the halves disagree on) and not one frame's spike."""
    N = 40
    registered = np.ones(N, bool)
    registered[[0, 1]] = False
    gap = np.full(N, 0.002)
    gap[10] = 0.2  # one noisy frame
    gap[25:35] = 0.06  # a stretch the halves disagree on
    gap[~registered] = np.nan
    points = np.full(N, 200)
    points[20] = 12  # a frame resting on few points still counts for less
    fc = conf.frame_confidence(0.9, gap, registered, points, 12)
    assert fc.dtype == np.float32 and (fc[~registered] == 0).all()
    assert fc[10] == pytest.approx(fc[5], rel=1e-6) and fc[5] > 0.8
    assert fc[25:35].max() < 0.1 * fc[5]
    assert fc[20] < 0.5 * fc[5]


def test_moving_fraction_and_cap():
    masks = np.zeros((4, 6, 8), bool)
    masks[0] = True  # an unregistered frame, all moving: not counted
    masks[1:, :3] = True
    assert conf.moving_fraction(masks, np.array([False, True, True, True])) == pytest.approx(0.5)
    assert np.isnan(conf.moving_fraction(masks, np.zeros(4, bool)))
    fields = {"confidence": 0.8, "frame_confidence": np.array([0.0, 0.8, 0.4], np.float32), "confidence_evidence": {}}
    low = conf.capped(fields, 0.2)
    assert low["confidence"] == 0.2 and low["frame_confidence"].tolist() == pytest.approx([0.0, 0.2, 0.1])
    assert low["frame_confidence"].dtype == np.float32 and fields["confidence"] == 0.8  # a copy
    assert conf.capped(fields, 0.9) is fields


def test_a_map_under_which_most_of_the_frame_moves_is_capped(monkeypatch):
    """A map built on an object that travels with the camera sees the background move: when the released masks
    mark more than ``max_moving_fraction`` of the registered frames as moving, the confidence (here a stand-in
    0.9) is capped at MOVER_CONFIDENCE, and the per-frame confidence with it; the share is in the evidence."""
    from dynpose100k.pose import pipeline
    from dynpose100k.synth import render

    v = render("good", 1, height=180, width=320, fps=12.0, duration=2.0)
    n = len(v.frames)
    real_masks = pipeline.pixel_masks
    monkeypatch.setattr(pipeline, "score", lambda *a, **k: (0.9, np.full(n, 0.9, np.float32), {}))

    def lower_two_thirds_moving(*a, **k):
        m = real_masks(*a, **k)
        m[:, m.shape[1] // 3:] = True
        return m

    monkeypatch.setattr(pipeline, "pixel_masks", lower_two_thirds_moving)
    cfg = PoseConfig(global_fallback_below=0.0, max_moving_fraction=0.5)
    res = estimate_poses(v.frames, v.gt.timestamps, cfg)
    assert res.registered.any() and res.evidence["moving_fraction"] >= 0.66
    assert res.confidence == conf.MOVER_CONFIDENCE and res.confidence_caps == ("moving_fraction",)
    assert res.frame_confidence.max() <= conf.MOVER_CONFIDENCE + 1e-6
    res = estimate_poses(v.frames, v.gt.timestamps, replace(cfg, max_moving_fraction=0.0))  # the check off
    assert res.confidence == 0.9 and res.confidence_caps == ()


def test_a_mended_jump_is_kept_only_when_the_jump_is_gone_and_stays_capped(monkeypatch):
    """A map whose camera jumps beyond ``max_step_jump`` is mended (here a stand-in mend that returns the map
    as it is, scored as if the jump were gone or not): the mended map is kept when its camera no longer jumps,
    with its confidence (a stand-in 0.9) still capped at JUMP_CONFIDENCE, and `evidence.mended_jump` says so.
    A mend that dropped the last frames instead is kept uncapped, `evidence.dropped_frames` counting them."""
    from dynpose100k.pose import pipeline
    from dynpose100k.synth import render

    v = render("good", 1, height=180, width=320, fps=12.0, duration=2.0)
    n = len(v.frames)
    mends = []

    def stand_in_mend(uv, hw, cfg, sfm, min_jump, still_jumps=False, drop=0, lost=0):
        mends.append(min_jump)
        if drop:  # the last ``drop`` frames dropped, and ``lost`` more frames unregistered on the way
            reg = sfm.registered.copy()
            reg[-drop - lost:] = False
            return replace(sfm, registered=reg), drop
        if not still_jumps:
            return sfm, 0
        w2c = sfm.w2c.copy()  # the cameras of the second half 50 steps on
        c = camera.camera_centers(w2c)
        c[n // 2 :] += 50 * (c[1] - c[0])
        w2c[:, :3, 3] = -np.einsum("nij,nj->ni", w2c[:, :3, :3], c)
        return replace(sfm, w2c=w2c), 0

    def run(jumps, still_jumps=False, drop=0, lost=0, **kw):
        it = iter(jumps)
        monkeypatch.setattr(pipeline, "score", lambda *a, **k: (0.9, np.full(n, 0.9, np.float32),
                                                                {"step_jump": next(it)}))
        monkeypatch.setattr(pipeline, "mend_jump", lambda *a: stand_in_mend(*a, still_jumps=still_jumps, drop=drop,
                                                                                  lost=lost))
        mends.clear()
        return estimate_poses(v.frames, v.gt.timestamps, PoseConfig(global_fallback_below=0.0, **kw))

    assert conf.confidence_limit(PoseConfig(), mended_jump=1.0) == conf.JUMP_CONFIDENCE  # re-applied on refits
    res = run([12.0, 1.5])
    assert mends == [7.0] and res.evidence.get("mended_jump") == 1.0 and res.confidence_caps == ("mended_jump",)
    assert res.confidence == conf.JUMP_CONFIDENCE and res.frame_confidence.max() <= conf.JUMP_CONFIDENCE + 1e-6
    res = run([12.0], still_jumps=True)  # the mended map still jumps: the first map stays, capped by its jump
    assert mends == [7.0] and "mended_jump" not in res.evidence
    assert res.confidence == conf.JUMP_CONFIDENCE and res.confidence_caps == ("step_jump",)
    res = run([12.0, 1.5], drop=2)  # the last two frames dropped: scored as it is
    assert mends == [7.0] and res.evidence.get("dropped_frames") == 2.0 and "mended_jump" not in res.evidence
    assert res.confidence == 0.9 and not res.registered[-2:].any() and res.confidence_caps == ()
    res = run([12.0], drop=2, lost=n // 10)  # over 5% of the frames lost besides those dropped: not kept
    assert mends == [7.0] and "dropped_frames" not in res.evidence and res.registered.all()
    res = run([12.0], mend_jumps=False)
    assert mends == [] and "mended_jump" not in res.evidence
    res = run([3.0])  # no jump: nothing to mend
    assert mends == [] and res.confidence == 0.9


def test_map_disagreement_is_scale_free_and_sees_a_scale_break():
    path = np.c_[np.linspace(0, 3, 30), 0.2 * np.sin(np.linspace(0, 3, 30)), np.zeros(30)]
    reg = np.ones(30, bool)
    a = _w2c_at(path)
    assert conf.map_disagreement(a, reg, a, reg) < 1e-9
    assert conf.map_disagreement(a, reg, _w2c_at(2.5 * path + [1.0, -2.0, 0.5]), reg) < 1e-6  # a similarity
    broken = path.copy()
    broken[15:] = broken[15] + 3.0 * (broken[15:] - broken[15])  # the second half three times as fast
    assert conf.map_disagreement(a, reg, _w2c_at(broken), reg) > 0.05
    few = np.zeros(30, bool)
    few[:3] = True
    assert np.isnan(conf.map_disagreement(a, few, a, reg))
    assert conf.confidence_limit(PoseConfig(), map_disagreement=0.1) == conf.DISAGREEMENT_CONFIDENCE
    assert conf.confidence_limit(PoseConfig(), map_disagreement=0.01) == 1.0
    assert conf.confidence_limit(PoseConfig(max_map_disagreement=0.0), map_disagreement=0.1) == 1.0


def _pose_with_the_first_map_doubted(monkeypatch, v, **kw):
    """Pose the synth clip ``v`` with stand-in confidences: the first map scores 0.1, every later one 0.9 (the
    mover check off: cameras a test distorts see the background move)."""
    from dynpose100k.pose import pipeline

    n, calls = len(v.frames), []

    def score(*a, **k):
        calls.append(1)
        c = 0.1 if len(calls) == 1 else 0.9
        return c, np.full(n, c, np.float32), {"step_jump": 1.0}

    monkeypatch.setattr(pipeline, "score", score)
    return estimate_poses(v.frames, v.gt.timestamps, PoseConfig(max_moving_fraction=0.0, **kw))


def test_a_global_map_that_disagrees_with_the_incremental_one_is_capped(monkeypatch):
    """A doubted incremental map (a stand-in confidence 0.1) gets the global second opinion (here the same
    map with its second half three times as fast, a stand-in confidence 0.9): the global map wins, but the two
    maps of the same tracks disagree, so its confidence is capped at DISAGREEMENT_CONFIDENCE."""
    from dynpose100k.pose import pipeline
    from dynpose100k.synth import render

    v = render("good", 1, height=180, width=320, fps=12.0, duration=2.0)
    n = len(v.frames)

    def scale_break(tracks, hw, cfg):
        res = pipeline.reconstruct(tracks, hw, cfg)
        c = camera.camera_centers(res.w2c)
        c[n // 2 :] = c[n // 2] + 3.0 * (c[n // 2 :] - c[n // 2])
        w2c = res.w2c.copy()
        w2c[:, :3, 3] = -np.einsum("nij,nj->ni", w2c[:, :3, :3], c)
        return replace(res, w2c=w2c)

    monkeypatch.setattr(pipeline, "reconstruct_global", scale_break)

    def run(**kw):  # (the denser-keyframe map, which would come first and score 0.9 here, is off)
        return _pose_with_the_first_map_doubted(monkeypatch, v, doubt_keyframe_step=0, **kw)

    res = run()
    assert res.evidence.get("global_mapper") == 1.0 and res.evidence["map_disagreement"] > 0.05
    assert res.confidence == conf.DISAGREEMENT_CONFIDENCE and res.confidence_caps == ("map_disagreement",)
    res = run(max_map_disagreement=0.0)  # the check off: the global map's own confidence
    assert res.evidence.get("global_mapper") == 1.0 and res.confidence == 0.9 and res.confidence_caps == ()


def test_a_doubted_map_is_mapped_again_with_denser_keyframes_first(monkeypatch):
    """A doubted map (a stand-in confidence 0.1) is mapped again from the same tracks with keyframes every
    ``doubt_keyframe_step`` frames before the global mapper; that map (a stand-in 0.9) is kept, the clip is no
    longer doubted and the global mapper does not run. Switched off (0), the global mapper is the second opinion."""
    from dynpose100k.pose import pipeline
    from dynpose100k.synth import render

    v = render("good", 1, height=180, width=320, fps=12.0, duration=2.0)
    steps = []
    real_reconstruct = pipeline.reconstruct

    def spy(tracks, hw, cfg, **kw):
        steps.append(cfg.keyframe_step)
        return real_reconstruct(tracks, hw, cfg, **kw)

    monkeypatch.setattr(pipeline, "reconstruct", spy)

    def run(**kw):
        steps.clear()
        return _pose_with_the_first_map_doubted(monkeypatch, v, **kw)

    res = run()
    assert steps == [4, 2] and res.evidence.get("dense_keyframes") == 1.0 and res.confidence == 0.9
    assert "global" not in res.timings and "global_mapper" not in res.evidence
    res = run(doubt_keyframe_step=0)
    assert steps == [4] and "dense_keyframes" not in res.evidence and res.evidence.get("global_mapper") == 1.0


def test_a_doubted_dev_map_is_mapped_again_with_denser_keyframes_and_the_more_trusted_kept():
    """Dev seed 104 (640x360, 5 s): the map with keyframes 4 frames apart is doubted, so the same tracks are mapped
    again every second frame, and the more trusted of the two maps is kept (the global mapper left out). Which one
    wins on this clip depends on the machine (the CPU's linear algebra kernels among others): on earlier machines
    the denser map (1.4% of the path off, 0.79, against 4.9% and 0.24) was kept; on an AVX-512 one it scores 0.13
    and the first map stays."""
    from dynpose100k.synth import render

    v = render("good", 104, height=360, width=640, fps=12.0, duration=5.0)
    res = estimate_poses(v.frames, v.gt.timestamps, PoseConfig(global_max_frames=1))
    before = estimate_poses(v.frames, v.gt.timestamps, PoseConfig(global_max_frames=1, doubt_keyframe_step=0))
    if not before.confidence < 0.5:
        pytest.skip(f"the first map of this clip is trusted on this machine ({before.confidence:.2f})")
    assert "dense_keyframes" in res.timings and "dense_keyframes" not in before.timings
    assert "global" not in res.timings and "global_mapper" not in res.evidence
    if res.evidence.get("dense_keyframes") == 1.0:
        assert res.confidence > before.confidence and not np.allclose(res.w2c, before.w2c)
    else:
        assert res.confidence == before.confidence and np.array_equal(res.w2c, before.w2c)


def _chase_tracks(n: int = 36, hw: tuple[int, int] = (180, 320), seed: int = 0, sway: float = 1.0):
    """Tracks ``(n, M, 2)`` of a camera walking forward past a sparse static background whose points stay in
    view for 8 frames, with a rigid box carried about 3.6 m ahead of it (wobbling and turning relative to the
    camera by ``sway`` times a fixed motion, 0: held still in the view; 250 points tracked throughout): the box
    outnumbers the background on every frame pair. Also the true ``w2c`` ``(n, 4, 4)``."""
    rng = np.random.default_rng(seed)
    H, W = hw
    K = camera.make_K(260.0, cx=W / 2, cy=H / 2)

    def yaw(a):
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    t = np.arange(n)
    centres = np.stack([0.4 * np.sin(t / 7.0), 0.05 * np.sin(t / 3.0), 0.25 * t], 1)
    w2c = np.stack([camera.make_w2c(yaw(a).T, -yaw(a).T @ c) for a, c in zip(0.15 * np.sin(t / 9.0), centres)])
    tracks = []
    for start in range(n - 7):  # 8 background points enter the view at each frame, 4-15 m deep
        z = rng.uniform(4, 15, 8)
        cam = np.stack([z * rng.uniform(-0.55, 0.55, 8), z * rng.uniform(-0.3, 0.3, 8), z], 1)
        X = (cam - w2c[start][:3, 3]) @ w2c[start][:3, :3]
        uv = np.full((n, 8, 2), np.nan)
        for k in range(start, start + 8):
            p, depth = camera.project(K, w2c[k], X)
            inside = (depth > 0) & (p[:, 0] > 1) & (p[:, 0] < W - 2) & (p[:, 1] > 1) & (p[:, 1] < H - 2)
            uv[k, inside] = p[inside]
        tracks.append(uv)
    box = rng.uniform(-0.4, 0.4, (250, 3))
    box[np.arange(250), rng.integers(0, 3, 250)] = rng.choice([-0.4, 0.4], 250)  # on the faces of a cube
    uv = np.empty((n, 250, 2))
    for k in range(n):  # the box's pose in the camera's frame
        cam = box @ yaw(sway * 0.35 * np.sin(k / 5.0)).T + [sway * 0.5 * np.sin(k / 6.0), 0.4,
                                                         3.6 + sway * 0.5 * np.sin(k / 8.0)]
        uv[k] = camera.project(K, np.eye(4), cam)[0]
    tracks.append(uv)
    uv = np.concatenate(tracks, 1) + rng.normal(0, 0.2, (n, sum(x.shape[1] for x in tracks), 2))
    return uv[:, (~np.isnan(uv[..., 0])).sum(0) >= 3].astype(np.float32), w2c


def _pose_tracks(uv: np.ndarray, **kw):
    """:func:`~dynpose100k.pose.pipeline.analyse` on tracks ``uv`` ``(n, M, 2)`` of a 320x180 clip at 12 fps with
    flat frames (the masks come from the tracks alone), ``PoseConfig(**kw)``."""
    from dynpose100k.pose.pipeline import analyse

    n = len(uv)
    frames = np.full((n, 180, 320), 128, np.uint8)
    return analyse(frames, np.arange(n) / 12.0, PoseConfig(**kw), "chase", (180, 320), tracks=uv)


def test_a_map_built_on_an_object_travelling_with_the_camera_is_redone_on_the_rest():
    """The box of :func:`_chase_tracks` wins the motion evidence, so the first map is the box's: under it the
    background moves (most of the frame). The engine then maps the tracks that map leaves out, keeps that map
    (little moves under it) and records it; with ``remap_movers`` off the box's map stays, capped."""
    from dynpose100k.metrics import ate

    uv, w2c = _chase_tracks()
    path = path_length(camera.camera_centers(w2c))

    def run(**kw):
        res = _pose_tracks(uv, **kw)
        assert res.failure_reason is None
        return res, ate(res.w2c, w2c, registered=res.registered).rmse / path

    first, err = run(remap_movers=False)
    assert err > 0.1 and first.evidence["moving_fraction"] > 0.5 and "remapped" not in first.evidence  # the premise
    assert first.confidence <= conf.MOVER_CONFIDENCE
    res, err = run()
    assert res.evidence["remapped"] == 1.0 and res.evidence["moving_fraction"] <= 0.5
    assert err < 0.01 and res.registered_fraction >= 0.7
    assert res.dynamic_masks[res.registered].mean() == pytest.approx(res.evidence["moving_fraction"])


def test_a_map_refused_for_no_parallax_on_an_object_carried_with_the_camera_is_redone_on_the_rest():
    """The box of :func:`_chase_tracks` held still in the view: its map has no parallax and is refused, while
    the background moves under it. The engine maps the rest as it does for a map that passes on a mover; with
    ``remap_movers`` off the refusal stands."""
    from dynpose100k.metrics import ate
    from dynpose100k.pose.evidence import NO_PARALLAX

    uv, w2c = _chase_tracks(sway=0.0)
    first = _pose_tracks(uv, remap_movers=False)
    assert first.failure_reason.startswith(NO_PARALLAX) and not first.registered.any()  # the premise
    assert first.evidence["moving_fraction"] > 0.5 and "remapped" not in first.evidence
    res = _pose_tracks(uv)
    assert res.failure_reason is None and res.evidence["remapped"] == 1.0
    assert res.evidence["moving_fraction"] <= 0.5 and res.registered_fraction >= 0.7
    assert ate(res.w2c, w2c, registered=res.registered).rmse / path_length(camera.camera_centers(w2c)) < 0.01


def _w2c_at(centres: np.ndarray) -> np.ndarray:
    w2c = np.tile(np.eye(4), (len(centres), 1, 1))
    w2c[:, :3, 3] = -centres
    return w2c


def test_step_jump_sees_a_camera_that_jumps():
    t = np.linspace(0.0, 1.0, 40)[:, None]
    path = np.c_[np.sin(2 * t), 0.3 * t**2, t]  # a smooth, slowly turning path
    reg = np.ones(40, bool)
    assert conf.step_jump(_w2c_at(path), reg) < 2
    step = np.linalg.norm(path[1] - path[0])
    for n in (0, 20, 39):  # an end frame or one in the middle placed 10 steps off the path
        off = path.copy()
        off[n] += [0.0, 10 * step, 0.0]
        assert conf.step_jump(_w2c_at(off), reg) > 7
        skipped = reg.copy()
        skipped[n] = False  # an unregistered frame's pose is not a step
        assert conf.step_jump(_w2c_at(off), skipped) < 2
    gap = reg.copy()
    gap[10:18] = False  # eight frames unregistered: the step across them is eight frames' worth
    assert conf.step_jump(_w2c_at(path), gap) < 2
    # at rest (noise) for a third of the clip, then moving: noise steps are not magnified
    rest = path.copy()
    rest[:14] = path[13] + np.random.default_rng(0).normal(0, 1e-3 * step, (14, 3))
    assert conf.step_jump(_w2c_at(rest), reg) < 3
    assert conf.step_jump(_w2c_at(path[:2]), reg[:2]) == 0.0


def test_step_jump_sees_a_change_of_scale_across_a_weak_link():
    """The last eight frames of a map sit at 15 times the scale of the rest, reached over a few frames after a
    link that few points cross: no single step stands out from its neighbours, the speed change across the
    weak link does. The same change of speed where many points link the frames, or a camera that starts
    from rest there, is not a break of the map."""
    t = np.linspace(0.0, 1.0, 60)[:, None]
    path = np.c_[np.sin(2 * t), 0.3 * t**2, t]
    reg = np.ones(60, bool)
    scaled = path.copy()
    speed = np.r_[np.ones(51), [3, 8, 12, 15, 15, 15, 15, 15, 15]][:59]  # per-step scale, ramping up after step 51
    scaled[1:] = path[0] + np.cumsum(np.diff(path, axis=0) * speed[:, None], axis=0)
    obs = np.zeros((60, 800), bool)
    for n in range(60):  # each frame sees a band of points; frames 51-52 share few of them
        lo = 5 * n if n <= 51 else 5 * n + 150
        obs[n, lo:lo + 200] = True
    obs[52, 5 * 51 + 170: 5 * 51 + 200] = True  # 45 points shared across the weak link, 195 across the others
    w2c = _w2c_at(scaled)
    assert conf.step_jump(w2c, reg) < 7  # the ramp hides from the ratio to both sides
    assert conf.step_jump(w2c, reg, obs=obs) > 7
    strong = np.zeros_like(obs)
    for n in range(60):
        strong[n, 5 * n: 5 * n + 200] = True
    assert conf.step_jump(w2c, reg, obs=strong) < 7  # the same speed change where the frames are well linked
    # at rest (noise) for a third of the clip, then moving from a weak link on: noise is not magnified
    rest = path.copy()
    rest[:21] = path[20] + np.random.default_rng(0).normal(0, 1e-3 * np.linalg.norm(path[1] - path[0]), (21, 3))
    early = np.zeros_like(obs)
    for n in range(60):
        early[n, 5 * n + (150 if n > 20 else 0): 5 * n + (150 if n > 20 else 0) + 200] = True
    early[21, 5 * 20 + 170: 5 * 20 + 200] = True
    assert conf.step_jump(_w2c_at(rest), reg, obs=early) < 7


def test_a_camera_that_jumps_caps_the_confidence(clean):
    """An end frame moved off the path by ten steps caps the confidence at JUMP_CONFIDENCE, whatever the
    calibrated evidence says (here a model that trusts every map)."""
    uv, hw, sfm = clean
    c = camera.camera_centers(sfm.w2c)
    reg = np.flatnonzero(sfm.registered)
    step = np.median(np.linalg.norm(np.diff(c[reg], axis=0), axis=1))
    w2c = sfm.w2c.copy()
    w2c[reg[0], :3, 3] -= w2c[reg[0], :3, :3] @ np.array([10 * step, 0.0, 0.0])  # the centre moves by 10 steps
    jumped = replace(sfm, w2c=w2c)
    trusting = conf.ConfidenceModel((), (), (), (), 5.0, {})
    capped_c, fc, ev = conf.score(jumped, uv, hw, PoseConfig(), model=trusting)
    assert ev["step_jump"] > 7 and capped_c == conf.JUMP_CONFIDENCE and fc.max() <= capped_c + 1e-6
    assert conf.score(jumped, uv, hw, PoseConfig(max_step_jump=0.0), model=trusting)[0] > 0.99  # the check off
    assert conf.score(sfm, uv, hw, PoseConfig(), model=trusting)[0] > 0.99  # the map as built does not jump
