"""Dynamic pose engine: contract files, accuracy on a synthetic clip, conventions, bad input, CLI."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from dynpose100k import camera
from dynpose100k.cli import main
from dynpose100k.evaluate import mask_iou, score_video, static_track_precision
from dynpose100k.pose import PoseConfig, estimate_poses, load_pose_result, pose_video, save_pose_result

CONTRACT = ("poses.npz", "tracks.npz", "masks.npz", "result.json")


@pytest.fixture(scope="module")
def posed(synth_good, tmp_path_factory):
    """The CLI run on the shared good clip: (result folder, result, ground truth)."""
    from dynpose100k.synth import load_gt

    out = tmp_path_factory.mktemp("poses")
    assert main(["pose", str(synth_good.video), "--out", str(out)]) == 0
    d = out / synth_good.video.stem
    return d, load_pose_result(d), load_gt(synth_good.gt)


def test_cli_writes_contract_files(posed):
    d, res, gt = posed
    assert all((d / f).is_file() for f in CONTRACT)
    meta = json.loads((d / "result.json").read_text())
    for key in ("video_id", "num_frames", "registered_fraction", "reproj_error_px", "reproj_error_px_720p",
                "num_static_tracks", "camera_model", "timings", "preset", "version", "failure_reason"):
        assert key in meta
    N = gt.num_frames
    assert res.w2c.shape == (N, 4, 4) and res.K.shape == (N, 3, 3) and res.registered.shape == (N,)
    assert res.image_size == gt.image_size and np.allclose(res.timestamps, gt.timestamps, atol=1e-3)
    assert res.dynamic_masks.shape[0] == N
    assert meta["failure_reason"] is None and meta["registered_fraction"] >= 0.9
    assert {"track", "mask", "sfm", "decode"} <= set(meta["timings"])


def test_accuracy_against_ground_truth(posed):
    _, res, gt = posed
    ev = score_video(res.w2c, res.K, res.registered, gt)
    extent = np.ptp(camera.camera_centers(gt.w2c), axis=0).max()
    # bounds well above what this clip measures (ATE 0.4-3% of the extent, Sampson 0.4-0.6 px, focal 5-13%)
    assert ev.ate < 0.10 * extent, ev
    assert ev.sampson_mean < 3.0, ev.sampson  # 720p px, GT static correspondences
    assert ev.focal_rel_error < 0.25
    iou = mask_iou(res.dynamic_masks, gt.dynamic_mask)
    assert np.isfinite(iou) and 0.0 <= iou <= 1.0


def test_conventions_points_reproject(posed):
    """w2c/K follow the project convention: static points reproject onto their observations."""
    _, res, gt = posed
    err = []
    for f in np.unique(res.obs_frame):
        sel = res.obs_frame == f
        uv, z = camera.project(res.K[f], res.w2c[f], res.points3d[res.obs_track[sel]].astype(np.float64))
        assert (z > 0).all()
        err.append(np.linalg.norm(uv - res.obs_uv[sel], axis=1))
    err = np.concatenate(err)
    assert np.median(err) < 1.0 and np.mean(err) < 2.0
    assert res.num_static_tracks >= 30
    prec, _ = static_track_precision(res.obs_track, res.obs_frame, res.obs_uv, res.num_static_tracks, gt.dynamic_mask)
    assert prec >= 0.9


def test_save_load_roundtrip_and_resume(posed, tmp_path):
    d, res, _ = posed
    out = save_pose_result(tmp_path, res)
    back = load_pose_result(out)
    assert np.array_equal(back.w2c, res.w2c) and np.array_equal(back.dynamic_masks, res.dynamic_masks)
    assert np.array_equal(back.obs_uv, res.obs_uv) and back.camera_model == res.camera_model
    save_pose_result(tmp_path, res)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == [res.video_id]  # no temp folders left
    mtime = (d / "result.json").stat().st_mtime_ns
    pose_video("/nonexistent/video.mp4", d.parent, PoseConfig(), video_id=d.name)  # exists: skipped, no decode
    assert (d / "result.json").stat().st_mtime_ns == mtime


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    import cv2

    small = rng.integers(0, 255, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize(
    "name",
    ["black", "one_frame", "no_static_background", "static_camera"],
)
def test_bad_input_gives_failed_result(name, tmp_path):
    h, w, n = 96, 160, 12
    if name == "black":
        frames = np.zeros((n, h, w, 3), np.uint8)
    elif name == "one_frame":
        frames = _texture(h, w)[None]
    elif name == "no_static_background":  # every frame an unrelated texture: nothing is consistent
        frames = np.stack([_texture(h, w, seed=k) for k in range(n)])
    else:  # the same image over and over: no parallax, reconstruction impossible
        frames = np.repeat(_texture(h, w)[None], n, axis=0)
    res = estimate_poses(frames, np.arange(len(frames)) / 12.0, PoseConfig(), video_id=name)
    assert not res.registered.any() and res.failure_reason
    assert res.w2c.shape == (len(frames), 4, 4)
    back = load_pose_result(save_pose_result(tmp_path, res))
    assert back.failure_reason == res.failure_reason and not back.registered.any()


class _ShortLived:
    """A tracker whose points all drift right by 2 px a frame, consistently, and are lost after 3 frames (as
    in a fast turn or motion blur): too short for the motion evidence's shortest pair gap."""

    def __call__(self, frames, queries):
        T = len(frames)
        tracks = queries[None] + np.arange(T, dtype=np.float32)[:, None, None] * np.float32([2.0, 0.0])
        visible = np.zeros((T, len(queries)), bool)
        visible[:3] = True
        return tracks, visible


def test_no_static_background_says_when_the_tracks_were_too_short_to_judge():
    frames = np.repeat(_texture(96, 160)[None], 12, axis=0)
    short = estimate_poses(frames, np.arange(12) / 12.0, PoseConfig(), video_id="turn", tracker=_ShortLived())
    assert short.failure_reason.startswith("no static background (0 static of ")
    assert "too short to judge, seen in under 4 frames" in short.failure_reason
    # tracks long enough to judge, which no rigid scene explains, are not blamed on their length
    chaos = estimate_poses(frames, np.arange(12) / 12.0, PoseConfig(), video_id="chaos", tracker=_Wandering())
    assert chaos.failure_reason.startswith("no static background (") and "too short" not in chaos.failure_reason


class _Wandering:
    """A tracker whose points are seen in every frame and each wander their own random way (a scene in which
    nothing moves consistently)."""

    def __call__(self, frames, queries):
        steps = np.random.default_rng(0).normal(0, 3.0, (len(frames), len(queries), 2)).astype(np.float32)
        steps[0] = 0
        return queries[None] + np.cumsum(steps, axis=0), np.ones((len(frames), len(queries)), bool)


def test_cli_batch_survives_broken_video(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    for k in range(3):
        cv2.imwrite(str(frames / f"{k:03d}.png"), np.zeros((48, 64, 3), np.uint8))
    # the unreadable input is reported on one line and makes the exit status 1; the other video still ran
    assert main(["pose", str(bad), str(frames), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "broken.mp4" in line]
    assert len(errors) == 1 and errors[0].startswith("dynpose100k pose: error:")
    assert "frames: not registered" in captured.out
    assert (tmp_path / "out" / "frames" / "result.json").is_file()
    assert not (tmp_path / "out" / "broken").exists()


def test_cli_known_field_of_view_holds_the_focal(synth_good, tmp_path, capsys):
    """``pose --hfov``: K is the focal of that field of view at the decoded width, recorded in the config;
    a field of view that no lens has is refused on one line before any video is read."""
    from dynpose100k.synth import load_gt

    gt = load_gt(synth_good.gt)
    f = float(gt.K[0, 0, 0])
    hfov = float(camera.hfov_from_focal(f, gt.image_size[1]))
    out = tmp_path / "out"
    assert main(["pose", str(synth_good.video), "--out", str(out), "--hfov", f"{hfov:.6f}"]) == 0
    d = out / synth_good.video.stem
    res = load_pose_result(d)
    assert res.registered.mean() >= 0.9 and np.allclose(res.K[:, 0, 0], f, rtol=1e-5)
    assert json.loads((d / "result.json").read_text())["config"]["hfov_deg"] == pytest.approx(hfov)
    capsys.readouterr()
    # run again without it: the result is skipped, and the report says it was made with other settings
    assert main(["pose", str(synth_good.video), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "skipped 1 video" in said and f"hfov_deg {float(f'{hfov:.6f}')} -> None (1)" in said
    trusted = int(res.confidence >= 0.5)  # and how many of the registered clips the confidence trusts
    assert f"{trusted} of them trusted (confidence >= 0.5)" in said and "posed again" not in said
    assert main(["pose", str(synth_good.video), "--out", str(out), "--hfov", f"{hfov:.6f}"]) == 0
    assert "other settings" not in capsys.readouterr().out
    assert main(["pose", str(synth_good.video), "--out", str(tmp_path / "bad"), "--hfov", "200"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hfov_deg must be in (0, 180)" in err[0]
    assert not (tmp_path / "bad").exists()


def test_config_differences_ignore_threads_device_and_fields_a_record_predates_or_outlived():
    record = json.loads(json.dumps(dataclasses.asdict(PoseConfig(threads=1, device="cuda"))))
    assert PoseConfig().differences(record) == []  # threads and the device change the speed only
    del record["hfov_deg"]  # a result written before the field existed: estimated, the default
    assert PoseConfig().differences(record) == []
    record["retired_setting"] = 3  # a field of an older build that no longer exists
    assert PoseConfig().differences(record) == []
    assert PoseConfig(hfov_deg=60.0, fps=6.0).differences(record) == ["fps 12.0 -> 6.0", "hfov_deg None -> 60.0"]


def test_eval_cli(posed, synth_good, tmp_path, capsys):
    d, _, _ = posed
    js = tmp_path / "eval.json"
    assert main(["eval", str(d.parent), "--gt", str(synth_good.gt.parent), "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    assert d.name in data["videos"] and data["summary"]["videos_registered_pct"] == 100.0
    row = data["videos"][d.name]
    assert row["ate_path_pct"] == pytest.approx(100 * row["ate"] / row["path_length"])
    good, trusted = row["good"], row["confidence"] >= 0.5  # the line that says how well the confidence flags
    out = capsys.readouterr().out
    assert "ATE" in out and f"{int(good and trusted)} of {int(good)} good maps" in out
    assert f"{int(trusted and not good)} of {int(not good)} bad ones" in out


def test_eval_refuses_a_ground_truth_folder_it_cannot_use_in_one_line(posed, tmp_path, capsys):
    """A mistyped --gt used to print a "no ground truth, skipped" line for every result before its error."""
    d, _, _ = posed
    other = tmp_path / "other"
    other.mkdir()
    (other / "clip_x.gt.npz").write_bytes(b"x")
    for gt, says in ((tmp_path / "typo", "no such folder"), (d / "result.json", "not a folder"),
                     (d, "no ground truth in it"), (other, "none of the 1 pose results")):
        assert main(["eval", str(d.parent), "--gt", str(gt)]) == 1
        out, err = capsys.readouterr()
        assert says in err and len(err.strip().splitlines()) == 1, err
        assert "skipped" not in out or says.startswith("none")


def test_eval_and_pose_say_which_check_holds_a_map_back(posed, synth_good, tmp_path, capsys):
    """A good map held at the zoom cap (its stored result says so): `eval` counts it under the check, and
    `pose`, finding the result done, says which physical check doubts it."""
    import shutil

    d, res, _ = posed
    out = tmp_path / "poses"
    shutil.copytree(d, out / d.name)
    meta = json.loads((out / d.name / "result.json").read_text())
    meta.update(confidence=0.2, confidence_caps=["focal_change"])
    (out / d.name / "result.json").write_text(json.dumps(meta))
    assert main(["eval", str(out), "--gt", str(synth_good.gt.parent)]) == 0
    said = capsys.readouterr().out
    row = json.loads((out / "eval.json").read_text())["videos"][d.name]
    assert row["confidence_caps"] == ["focal_change"] and row["good"]  # the premise: a right map, flagged
    assert "0 of 1 good maps" in said and "good maps held back by: focal_change 1" in said
    assert main(["pose", str(synth_good.video), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "0 of them trusted" in said and "doubted by a physical check: focal_change 1" in said


def test_semantic_masks_are_united_and_drop_tracks(synth_good):
    """Union rule: a segmenter's movable pixels end up in the dynamic masks and no static track uses them."""
    from dynpose100k.video import load_clip

    clip = load_clip(synth_good.video, fps=12.0)
    N, H, W = clip.frames.shape[:3]

    def left_half(frames):
        m = np.zeros(frames.shape[:3], bool)
        m[:, :, : W // 2] = True
        return m

    res = estimate_poses(clip.frames, clip.timestamps, PoseConfig(), segmenter=left_half)
    h, w = res.dynamic_masks.shape[1:]
    assert res.dynamic_masks[:, :, : w // 2 - 1].all()
    assert (res.obs_uv[:, 0] >= W // 2 - W / w).all()


def test_pose_results_are_reproducible(synth_good):
    """The same frames and config give the same poses, and ``threads`` changes only the speed: bundle
    adjustment and the global mapper run on ``ba_threads`` (1) and COLMAP's two-view verification is seeded.
    The global second opinion is forced so that its path is covered too."""
    import dataclasses

    from dynpose100k.video import load_clip

    clip = load_clip(synth_good.video, fps=12.0)
    cfg = PoseConfig(global_fallback_below=1.01)  # every map is doubted: the global mapper always runs
    runs = [estimate_poses(clip.frames, clip.timestamps, dataclasses.replace(cfg, threads=t)) for t in (2, 2, 1)]
    assert "global" in runs[0].timings and runs[0].registered.any()
    for r in runs[1:]:
        np.testing.assert_array_equal(r.w2c, runs[0].w2c)
        np.testing.assert_array_equal(r.K, runs[0].K)
        np.testing.assert_array_equal(r.dynamic_masks, runs[0].dynamic_masks)
        assert r.confidence == runs[0].confidence and r.evidence == runs[0].evidence


def test_long_doubted_clip_skips_the_global_second_opinion(synth_good):
    """A doubted clip longer than ``global_max_frames`` keeps its own map and confidence, exactly those of a run
    without the second opinion, and says it was skipped; at the limit the global mapper runs."""
    from dynpose100k.video import load_clip

    clip = load_clip(synth_good.video, fps=12.0)
    n = len(clip.frames)
    doubted = PoseConfig(global_fallback_below=1.01, doubt_keyframe_step=0)  # every map is doubted
    skipped = estimate_poses(clip.frames, clip.timestamps, dataclasses.replace(doubted, global_max_frames=n - 1))
    alone = estimate_poses(clip.frames, clip.timestamps, PoseConfig(global_fallback_below=0.0))
    assert "global" not in skipped.timings and skipped.evidence["global_skipped"] == 1.0
    assert "global_skipped" not in alone.evidence and skipped.registered.any()
    np.testing.assert_array_equal(skipped.w2c, alone.w2c)
    assert skipped.confidence == alone.confidence
    ran = estimate_poses(clip.frames, clip.timestamps, dataclasses.replace(doubted, global_max_frames=n))
    assert "global" in ran.timings and "global_skipped" not in ran.evidence


def test_mask_flow_cache_and_threads_give_the_same_masks(synth_good):
    """The pose check's second exclusion pass reuses the first pass's dense flow, and the two-view fits and
    flows run on threads: the zones and the motion evidence must be those of one thread without a cache."""
    from dynpose100k.pose.masking import exclusion_masks, motion_evidence
    from dynpose100k.pose.tracking import track_video
    from dynpose100k.video import load_clip

    frames = load_clip(synth_good.video, fps=12.0).frames[:24]
    one, two = PoseConfig(threads=1), PoseConfig(threads=2)
    uv = track_video(frames, one)
    ev1, ev2 = motion_evidence(uv, frames.shape[1:3], one), motion_evidence(uv, frames.shape[1:3], two)
    np.testing.assert_array_equal(ev1.score, ev2.score)
    assert ev1.fundamentals.keys() == ev2.fundamentals.keys() and ev1.fundamentals
    dyn = ~(ev1.score <= one.dynamic_score)
    plain = exclusion_masks(frames, uv, dyn, ev1, one)
    cache: dict = {}
    first = exclusion_masks(frames, uv, dyn, ev2, two, flow_cache=cache)
    assert set(cache) == set(ev2.fundamentals)
    cache = {ij: (np.zeros_like(f), np.ones_like(ok)) for ij, (f, ok) in cache.items()}  # zero flow: every
    again = exclusion_masks(frames, uv, dyn, ev2, two, flow_cache=cache)  # pixel that moves looks dynamic
    np.testing.assert_array_equal(plain, first)
    assert again.sum() > first.sum()  # the second call read the cache instead of computing the flow


def test_a_doubted_map_is_posed_again_at_dense_fps_and_kept_only_when_trusted(tmp_path, monkeypatch, capsys):
    """``dense_fps``: a map doubted at ``fps`` is posed again at the denser rate when the source has it, and
    the denser map replaces it only when its confidence reaches 0.5 (here a stand-in confidence: doubted at
    12 fps, trusted or not at 24). The result keeps the settings given; a 12 fps source is not posed again."""
    from dynpose100k.pose import pipeline
    from dynpose100k.synth import render
    from dynpose100k.video import write_video

    v = render("good", 3, height=90, width=160, fps=24.0, duration=1.5)
    src24 = write_video(tmp_path / "clip24.mp4", v.frames, 24.0)
    src12 = write_video(tmp_path / "clip12.mp4", v.frames[::2], 12.0)
    real, rates = pipeline.analyse, []

    def stand_in(frames, timestamps, config, *a, dense_trusted=True, **k):
        rates.append(config.fps)
        res = real(frames, timestamps, config, *a, **k)
        c = 0.1 if config.fps < 20 else (0.9 if dense_trusted else 0.3)
        return dataclasses.replace(res, confidence=c)

    cfg = PoseConfig(dense_fps=24.0, global_fallback_below=0.0)
    monkeypatch.setattr(pipeline, "analyse", stand_in)
    res = load_pose_result(pose_video(src24, tmp_path / "a", cfg))
    assert rates == [12.0, 24.0] and res.confidence == 0.9 and res.evidence["dense_fps"] == 24.0
    assert len(res.timestamps) > 30 and res.config["fps"] == 12.0 and res.config["dense_fps"] == 24.0
    assert cfg.differences(res.config) == [] and "dense_total" in res.timings

    monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: stand_in(*a, dense_trusted=False, **k))
    rates.clear()
    res = load_pose_result(pose_video(src24, tmp_path / "b", cfg))  # the denser map is doubted too
    assert rates == [12.0, 24.0] and res.confidence == 0.1 and "dense_fps" not in res.evidence
    assert len(res.timestamps) < 20 and "dense_total" in res.timings

    rates.clear()
    res = load_pose_result(pose_video(src12, tmp_path / "c", cfg))  # the source has no denser frames
    assert rates == [12.0] and "dense_total" not in res.timings
    rates.clear()
    res = load_pose_result(pose_video(src24, tmp_path / "d", PoseConfig(global_fallback_below=0.0)))  # off
    assert rates == [12.0] and res.confidence == 0.1
    from dynpose100k.errors import DynPoseError

    with pytest.raises(DynPoseError, match="dense_fps"):
        PoseConfig(dense_fps=-1.0)
    monkeypatch.setattr(pipeline, "analyse", stand_in)
    rates.clear()
    assert main(["pose", str(src24), "--out", str(tmp_path / "e"), "--dense-fps", "24"]) == 0
    assert rates[-1] == 24.0 and load_pose_result(tmp_path / "e" / "clip24").evidence["dense_fps"] == 24.0
    out = capsys.readouterr().out  # the CLI says how many clips were looked at again and kept
    assert "1 doubted at 12 fps posed again at 24, 1 of those denser maps kept" in out


def test_bars_are_left_out_and_the_result_is_in_the_whole_frame(synth_good, tmp_path):
    """A letterboxed copy of the good clip is posed on its picture: the principal point sits at the picture's
    centre in whole-frame pixels, every observation lies inside the picture and reprojects there, the masks
    are false on the bars and ``evidence.bars_*`` gives them in input pixels; the video path (tracked while
    decoding) does the same. ``crop_bars=False`` analyses the whole frame."""
    from dynpose100k.synth import load_gt
    from dynpose100k.video import load_clip, write_video

    gt = load_gt(synth_good.gt)
    frames = load_clip(synth_good.video, fps=None).frames
    n, h, w = frames.shape[:3]
    bar = 24  # black rows above and below the picture: the same camera, a taller frame
    boxed = np.zeros((n, h + 2 * bar, w, 3), np.uint8)
    boxed[:, bar:bar + h] = frames
    res = estimate_poses(boxed, gt.timestamps, PoseConfig())
    assert res.failure_reason is None and res.registered.mean() >= 0.9
    assert res.evidence["bars_top"] == res.evidence["bars_bottom"] == bar + 1
    assert res.K[0, 1, 2] == pytest.approx(bar + (h - 1) / 2) and res.K[0, 0, 2] == pytest.approx((w - 1) / 2)
    assert (res.obs_uv[:, 1] >= bar).all() and (res.obs_uv[:, 1] <= bar + h - 1).all()
    alone = estimate_poses(np.ascontiguousarray(frames[:, 1:-1]), gt.timestamps, PoseConfig())  # the picture
    np.testing.assert_allclose(res.w2c, alone.w2c)  # the same analysis, brought back to the whole frame
    np.testing.assert_allclose(res.K, alone.K + np.array([[0, 0, 0], [0, 0, bar + 1], [0, 0, 0]]))
    np.testing.assert_allclose(res.obs_uv, alone.obs_uv + np.float32([0, bar + 1]), atol=1e-4)
    hm = res.dynamic_masks.shape[1]
    assert not res.dynamic_masks[:, : hm * bar // (h + 2 * bar)].any()
    assert not res.dynamic_masks[:, hm - hm * bar // (h + 2 * bar):].any()

    path = write_video(tmp_path / "boxed.mp4", boxed, 12.0)
    d = pose_video(path, tmp_path / "poses", PoseConfig())
    video = load_pose_result(d)
    assert video.evidence["bars_top"] > 0 and (video.obs_uv[:, 1] >= bar - 1).all()
    assert "bars_top" not in estimate_poses(boxed, gt.timestamps, PoseConfig(crop_bars=False)).evidence


def test_fades_from_and_to_black_are_left_out_and_returned_unregistered(synth_good, tmp_path):
    """A clip that fades in from black and out to it is posed on the frames between the fades, exactly as
    those frames alone; the faded frames come back unregistered with identity poses, no observations and no
    masks (``evidence.fade_head``/``fade_tail``), and the video path does the same. ``skip_fades=False``
    poses every frame."""
    from dynpose100k.synth import load_gt
    from dynpose100k.video import load_clip, write_video

    gt = load_gt(synth_good.gt)
    frames = load_clip(synth_good.video, fps=None).frames
    n = len(frames)
    gain = np.ones(n)
    gain[:3], gain[-2:] = (0.0, 0.3, 0.6), (0.4, 0.0)
    faded = (frames * gain[:, None, None, None]).astype(np.uint8)
    res = estimate_poses(faded, gt.timestamps, PoseConfig())
    assert (res.evidence["fade_head"], res.evidence["fade_tail"]) == (3, 2)
    inner = estimate_poses(frames[3:-2], gt.timestamps[3:-2], PoseConfig())
    assert res.failure_reason is None and inner.registered.mean() >= 0.9
    assert res.w2c.shape == (n, 4, 4) and not res.registered[:3].any() and not res.registered[-2:].any()
    np.testing.assert_allclose(res.w2c[3:-2], inner.w2c)
    np.testing.assert_allclose(res.w2c[:3], np.eye(4)[None].repeat(3, 0))
    np.testing.assert_allclose(res.K, inner.K[0][None].repeat(n, 0))
    np.testing.assert_array_equal(res.obs_frame, inner.obs_frame + 3)
    np.testing.assert_array_equal(res.timestamps, gt.timestamps)
    assert res.confidence == inner.confidence and res.frame_confidence.shape == (n,)
    assert res.registered_fraction == inner.registered_fraction  # the faded frames do not count
    assert not res.dynamic_masks[:3].any() and not res.frame_confidence[-2:].any()

    video = load_pose_result(pose_video(write_video(tmp_path / "faded.mp4", faded, 12.0), tmp_path / "p",
                                        PoseConfig()))
    assert video.evidence["fade_head"] >= 2 and not video.registered[:2].any() and len(video.registered) == n
    assert "fade_head" not in estimate_poses(faded, gt.timestamps, PoseConfig(skip_fades=False)).evidence


def test_fades_are_found_in_the_picture_between_bars(synth_good):
    """A dim clip inside wide side bars: the whole frame is too dark to tell a fade from the clip (median
    under 8 grey levels), the picture is not. The pose engine finds the fades in the picture, as the filter
    does (:func:`dynpose100k.filtering.decide.measure_clip`)."""
    from dynpose100k.synth import bars, load_gt
    from dynpose100k.video import faded_ends, load_clip, picture_box

    gt = load_gt(synth_good.gt)
    frames = load_clip(synth_good.video, fps=None).frames
    gain = np.ones(len(frames))
    gain[:3], gain[-2:] = (0.0, 0.3, 0.6), (0.4, 0.0)
    dim = 20.0 / np.median(frames)  # a picture at about 20 grey levels
    boxed = bars((frames * (dim * gain)[:, None, None, None]).astype(np.uint8), "portrait")
    top, bottom, left, right = picture_box(boxed)
    assert left > 0 and faded_ends(boxed) == (0, 0)  # the whole frame: nearly black throughout
    assert faded_ends(boxed[:, :, left:boxed.shape[2] - right]) == (3, 2)
    res = estimate_poses(boxed, gt.timestamps, PoseConfig())
    assert (res.evidence["fade_head"], res.evidence["fade_tail"]) == (3, 2)


def test_grey_frames_are_posed_like_rgb_and_malformed_input_is_refused():
    from dynpose100k.synth import render

    v = render("good", 3, height=180, width=320, fps=12.0, duration=2.0)
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in v.frames])
    res, rgb = estimate_poses(grey, v.gt.timestamps), estimate_poses(v.frames, v.gt.timestamps)
    assert res.image_size == (180, 320) and res.registered.all()  # the frame size was (0, 0) and K garbage
    np.testing.assert_allclose(res.K, rgb.K, rtol=0.02)
    with pytest.raises(ValueError, match="timestamps must be one per frame"):
        estimate_poses(v.frames, v.gt.timestamps[:5])
    with pytest.raises(ValueError, match="uint8"):
        estimate_poses(v.frames.astype(np.float32), v.gt.timestamps)
    one = estimate_poses(v.frames[:1], v.gt.timestamps[:1])
    assert not one.registered.any() and "at least 2 frames" in one.failure_reason


def test_a_video_cut_short_is_posed_to_where_it_ends_and_says_so(tmp_path):
    import av

    from dynpose100k.pose.pipeline import decode_and_estimate
    from dynpose100k.synth import render

    v = render("good", 5, height=96, width=160, fps=12.0, duration=4.0)
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as c:  # the index first: a cut file opens
        s = c.add_stream("libx264", rate=12)
        s.height, s.width, s.pix_fmt = 96, 160, "yuv420p"
        for f in v.frames:
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    res = decode_and_estimate(cut, PoseConfig(), "cut")
    assert res.evidence["duration_s"] == pytest.approx(4.0) and res.evidence["decoded_s"] < 3.0
    assert "decoded_s" not in decode_and_estimate(whole, PoseConfig(), "whole").evidence
