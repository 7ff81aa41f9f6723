"""The per-item route's contract: one status type, the registration rule, and staged samples written like shards."""

import json
import sqlite3
import tarfile

import numpy as np
import pytest

from dynpose100k.curate import ItemResult, ItemStatus, Ledger, WorkItem, registration_rule, stage_sample
from dynpose100k.shards import DatasetWriter, iter_raw
from dynpose100k.shards.schema import VideoSample, encode_sample


def _raw(key="clip_a", n=3):
    K = np.tile(np.array([[50.0, 0, 16], [0, 50, 12], [0, 0, 1]]), (n, 1, 1))
    s = VideoSample(key, np.tile(np.eye(4), (n, 1, 1)), K, np.ones(n, bool), np.arange(n) / 12.0,
                    {"video_id": key, "num_frames": n, "registered_fraction": 1.0})
    return encode_sample(s)


def test_staged_sample_is_written_like_a_shard(tmp_path):
    raw = _raw()
    staged = stage_sample(tmp_path / "staging", raw)
    with DatasetWriter(tmp_path / "ds") as w:
        w.add(raw)
    shard = next((tmp_path / "ds" / "data").glob("train-*.tar"))
    assert staged.read_bytes() == shard.read_bytes()  # same format, modes, mtimes, member order
    with tarfile.open(staged) as tf:
        assert {(m.mode, m.mtime) for m in tf.getmembers()} == {(0o444, 0)}
    assert stage_sample(tmp_path / "again", raw).read_bytes() == staged.read_bytes()  # reproducible
    assert [r["__key__"] for r in iter_raw(staged)] == ["clip_a"]
    assert not [p for p in (tmp_path / "staging").iterdir() if p.name.startswith(".")]  # no temporary left


def test_registration_rule():
    assert registration_rule(0.8, 0.8) is None
    assert registration_rule(0.79, 0.8) == "registered 79% of frames < 80%"
    assert registration_rule(1.0) is None and registration_rule(0.5) is not None  # paper default 80%


def test_status_is_one_enum_stored_as_plain_text(tmp_path):
    assert [s.value for s in ItemStatus] == ["pending", "filtered_out", "pose_failed", "rejected_registration",
                                             "error", "kept", "sharded"]
    assert f"{ItemStatus.KEPT}" == "kept" and ItemStatus("kept") is ItemStatus.KEPT
    r = ItemResult(item_id="a", status="kept", filter_reasons=["x"])  # plain values (from JSON) are typed
    assert r.status is ItemStatus.KEPT and r.filter_reasons == ("x",)
    with pytest.raises(ValueError):
        ItemResult(item_id="a", status="keep")
    assert json.loads(json.dumps({"s": r.status})) == {"s": "kept"}

    led = Ledger(tmp_path / "ledger.sqlite")
    led.register([WorkItem("a", "a.mp4"), WorkItem("b", "b.mp4")])
    led.record(r)
    assert led.counts()[ItemStatus.KEPT] == 1 and led.counts()[ItemStatus.PENDING] == 1
    assert [x["item_id"] for x in led.items(ItemStatus.KEPT)] == ["a"]
    led.mark_sharded({"a": "data/train-000000.tar"})
    led.close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    rows = db.execute("SELECT item_id, status, typeof(status) FROM items ORDER BY item_id").fetchall()
    assert rows == [("a", "sharded", "text"), ("b", "pending", "text")]


def test_stages_refuse_pose_check_kinds_the_filter_model_lacks():
    """The library checks the kinds, not only the CLI: a kind with no detector would silently never route."""
    from dynpose100k.curate import Stages
    from dynpose100k.errors import DynPoseError

    Stages(pose_root="p", staging_dir="s", pose_config=None, pose_check=("slowzoom",)).check()
    with pytest.raises(DynPoseError, match="unknown kind.s. zooom"):
        Stages(pose_root="p", staging_dir="s", pose_config=None, pose_check=("slowzoom", "zooom")).check()


def test_the_curator_takes_a_second_look_at_dense_fps_and_stores_the_frames_of_the_map_it_keeps(tmp_path, monkeypatch):
    """``CurateConfig.dense_fps``: a posed clip doubted at ``fps`` is decoded again at the denser rate; when that
    map is trusted, its result and its frames (not the first clip's) go into the sample; otherwise the first map
    and frames stay. The same rule as ``pose_video`` (here a stand-in confidence: doubted at 12 fps)."""
    import dataclasses

    from dynpose100k import pose
    from dynpose100k.curate import Stages
    from dynpose100k.pose import PoseConfig, load_pose_result
    from dynpose100k.shards import iter_samples
    from dynpose100k.synth import render
    from dynpose100k.video import write_video

    v = render("good", 3, height=90, width=160, fps=24.0, duration=1.5)
    src = write_video(tmp_path / "clip.mp4", v.frames, 24.0)
    real = pose.estimate_poses
    dense_conf = [0.9]

    def stand_in(frames, timestamps, config, *a, **k):
        res = real(frames, timestamps, config, *a, **k)
        return dataclasses.replace(res, confidence=0.1 if config.fps < 20 else dense_conf[0])

    monkeypatch.setattr(pose, "estimate_poses", stand_in)
    cfg = PoseConfig(dense_fps=24.0, global_fallback_below=0.0)
    for trusted, conf in ((True, 0.9), (False, 0.3)):
        dense_conf[0] = conf
        stages = Stages(pose_root=str(tmp_path / f"poses{trusted}"), staging_dir=str(tmp_path / f"staged{trusted}"),
                        pose_config=cfg)
        item = WorkItem("clip", str(src))
        first = stages.decode_pose(item)
        pose_dir, summary, clip = stages.pose(first, item)
        res = load_pose_result(pose_dir)
        assert len(clip.frames) == len(res.timestamps) == summary["num_frames"]
        assert (len(clip.frames) > len(first.frames)) is trusted and ("dense_fps" in res.evidence) is trusted
        assert summary["confidence"] == conf if trusted else summary["confidence"] == 0.1
        decision = type("D", (), {"score": 0.9, "reasons": []})()
        stages.package(clip, item, pose_dir, decision)
        (sample,) = iter_samples(tmp_path / f"staged{trusted}" / "clip.tar")
        assert len(sample.frames) == len(sample.w2c) == len(clip.frames)  # frames match the poses stored
