"""The pose result folder has one writer (``save_pose_result``) and one reader (``load_pose_result`` /
``read_summary``): fixture folders, older folders and broken folders all go through them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pose_fixtures import fixture_pose_result, write_pose_dir

from dynpose100k.camera import resize_K
from dynpose100k.pose import (
    PoseResultError,
    find_pose_results,
    load_pose_result,
    read_summary,
    save_pose_result,
)
from dynpose100k.pose.result import SUMMARY_DEFAULTS
from dynpose100k.shards import build_sample


def _same_result(a, b):
    for name in ("w2c", "K", "registered", "timestamps", "points3d", "obs_track", "obs_frame", "obs_uv",
                 "dynamic_masks"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.image_size == b.image_size and a.camera_model == b.camera_model


def test_fixture_folder_round_trips_through_the_loader_and_the_shard_builder(tmp_path):
    want = fixture_pose_result("clip", n=9, seed=3, reproj_px_720p=1.3, registered_fraction=0.8, confidence=0.7)
    d, frames = write_pose_dir(tmp_path, "clip", n=9, seed=3, reproj_px_720p=1.3, registered_fraction=0.8,
                               confidence=0.7)
    back = load_pose_result(d)
    _same_result(back, want)
    assert back.w2c.dtype == np.float64 and back.K.dtype == np.float64 and back.registered.dtype == bool
    assert back.summary() == want.summary()  # what result.json says is what the result says
    assert read_summary(d) == json.loads((d / "result.json").read_text())  # nothing defaulted: all written

    s = build_sample(d, frames, frame_short_side=48)
    np.testing.assert_array_equal(s.w2c, want.w2c)
    np.testing.assert_array_equal(s.registered, want.registered)
    np.testing.assert_allclose(s.K, resize_K(want.K, (96, 160), (48, 80)))
    np.testing.assert_array_equal(s.track_points, want.points3d)
    np.testing.assert_array_equal(s.track_obs[:, :2], np.c_[want.obs_track, want.obs_frame])
    np.testing.assert_allclose(s.track_obs[:, 2:], (want.obs_uv + 0.5) / 2 - 0.5, atol=1e-5)
    assert np.array_equal(np.stack([s.mask(i) for i in range(9)]), want.dynamic_masks)
    m = s.meta
    assert m["video_id"] == "clip" and m["num_frames"] == 9 and m["mask_size"] == [24, 40]
    assert m["registered_fraction"] == pytest.approx(7 / 9) and m["reproj_error_px_720p"] == pytest.approx(1.3)
    assert m["confidence"] == 0.7 and m["num_static_tracks"] == 40 and m["preset"] == "test"


OLD_MISSING = ("confidence", "confidence_evidence", "evidence", "camera_model", "camera_params", "video_id",
               "preset", "version", "timings", "config")


def _make_old(d):
    """Rewrite ``d`` as an early result: ``result.json`` without the later fields, ``poses.npz`` without
    ``frame_confidence``."""
    meta = json.loads((d / "result.json").read_text())
    for k in OLD_MISSING:
        meta.pop(k)
    (d / "result.json").write_text(json.dumps(meta))
    with np.load(d / "poses.npz") as p:
        arrays = {k: p[k] for k in p.files if k != "frame_confidence"}
    np.savez_compressed(d / "poses.npz", **arrays)


def test_older_result_json_loads_with_documented_defaults(tmp_path):
    d, frames = write_pose_dir(tmp_path, "old_1", n=6, confidence=0.8)
    _make_old(d)
    s = read_summary(d)
    assert s["video_id"] == "old_1" and s["camera_model"] == "SIMPLE_PINHOLE" and s["confidence"] is None
    assert {k: s[k] for k in OLD_MISSING if k != "video_id"} == {k: SUMMARY_DEFAULTS[k] for k in OLD_MISSING
                                                                 if k != "video_id"}
    s["timings"]["x"] = 1.0  # a caller's change never reaches the shared defaults
    assert read_summary(d)["timings"] == {} and SUMMARY_DEFAULTS["timings"] == {}

    res = load_pose_result(d)
    assert res.video_id == "old_1" and res.camera_model == "SIMPLE_PINHOLE" and res.camera_params == ()
    assert np.isnan(res.confidence) and res.frame_confidence is None and res.confidence_evidence == {}
    assert res.evidence == {} and res.timings == {} and res.preset == "" and res.version == ""
    _same_result(res, fixture_pose_result("old_1", n=6))
    sample = build_sample(d, frames)
    assert sample.meta["confidence"] is None and sample.meta["video_id"] == "old_1"


def test_missing_tracks_and_masks_read_as_none_and_save_back_without_them(tmp_path):
    d, frames = write_pose_dir(tmp_path, "bare", n=5)
    (d / "tracks.npz").unlink()
    (d / "masks.npz").unlink()
    res = load_pose_result(d)
    assert res.points3d is None and res.obs_uv is None and res.dynamic_masks is None and res.num_static_tracks == 0
    s = build_sample(d, frames)
    assert s.track_points is None and s.track_obs is None and s.masks == [] and s.meta["mask_size"] is None
    d2 = save_pose_result(tmp_path / "again", res)
    assert sorted(p.name for p in d2.iterdir()) == ["poses.npz", "result.json"]
    assert load_pose_result(d2).dynamic_masks is None


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "result.json").unlink(), "not a pose result"),
    (lambda d: (d / "result.json").write_text("{nope"), "result.json: malformed JSON"),
    (lambda d: (d / "result.json").write_text("[1, 2]"), "result.json: not a JSON object"),
    (lambda d: (d / "poses.npz").unlink(), "poses.npz: missing"),
    (lambda d: (d / "poses.npz").write_bytes(b"not an npz"), "poses.npz: unreadable npz"),
    (lambda d: (d / "poses.npz").write_bytes(b""), "poses.npz: unreadable npz"),
    (lambda d: np.savez(d / "poses.npz", w2c=np.eye(4)[None]), r"poses.npz: missing array\(s\) \['K'"),
    (lambda d: np.savez(d / "poses.npz", w2c=np.eye(4)[None], K=np.eye(3)[None], registered=np.ones(2, bool),
                        timestamps=np.zeros(2), image_size=np.array([9, 9])), "poses.npz: shapes w2c"),
    (lambda d: np.savez(d / "tracks.npz", points3d=np.zeros((1, 3))), "tracks.npz: missing array"),
    (lambda d: np.savez(d / "masks.npz", dynamic=np.zeros((5, 2, 1), np.uint8), shape=np.array([5, 9, 9])),
     "masks.npz: masks do not match"),
])
def test_broken_folder_is_one_line_pose_result_error(tmp_path, damage, message):
    d, _ = write_pose_dir(tmp_path, "v", n=5)
    damage(d)
    with pytest.raises(PoseResultError, match=message) as e:
        load_pose_result(d)
    assert "\n" not in str(e.value) and str(d) in str(e.value)


def test_unfinished_folders_are_not_results(tmp_path, capsys):
    """A folder without ``result.json`` (a save that was interrupted) is no result: not listed, not sharded;
    a broken finished one is reported in one line and skipped."""
    from dynpose100k.cli import main

    write_pose_dir(tmp_path / "poses", "v0", n=4)
    write_pose_dir(tmp_path / "poses", "v1", n=4)
    (tmp_path / "poses" / "v1" / "poses.npz").write_bytes(b"garbage")
    half = tmp_path / "poses" / ".v2.abc.tmp"
    half.mkdir()
    np.savez(half / "poses.npz", w2c=np.eye(4)[None])
    assert [d.name for d in find_pose_results(tmp_path / "poses")] == ["v0", "v1"]
    assert main(["shard", str(tmp_path / "poses"), "--out", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 video(s)" in out and "1 failed" in out and "failed v1: " in out and "unreadable npz" in out


def test_a_folder_without_results_names_the_one_below_that_has_them(tmp_path, capsys):
    """``curate`` keeps its results per preset (``<out>/poses/<preset>/``): ``shard`` and ``eval`` given the
    folder above say, on one line, which folder to give instead; a folder with none anywhere says only that."""
    from dynpose100k.cli import main
    from dynpose100k.pose import PoseResultError

    write_pose_dir(tmp_path / "cur" / "poses" / "dis-own-12fps", "v0", n=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseResultError, match=r"one level down: give .*dis-own-12fps$"):
        find_pose_results(tmp_path / "cur" / "poses", required=True)
    with pytest.raises(PoseResultError, match=r"no pose results \(<video_id>/result.json\)$"):
        find_pose_results(tmp_path / "empty", required=True)
    assert find_pose_results(tmp_path / "empty") == []
    for argv in (["shard", str(tmp_path / "cur" / "poses"), "--out", str(tmp_path / "ds")],
                 ["eval", str(tmp_path / "cur" / "poses"), "--gt", str(tmp_path)]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith(str(tmp_path / "cur" / "poses" / "dis-own-12fps")), err
