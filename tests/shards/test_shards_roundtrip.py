import json

import numpy as np
import pytest
from pose_fixtures import write_pose_dir

from dynpose100k.camera import resize_K
from dynpose100k.errors import ShardError
from dynpose100k.pose import load_pose_result
from dynpose100k.shards import (
    DatasetWriter,
    ShardConfig,
    build_sample,
    existing_keys,
    iter_samples,
    make_pipeline,
    read_manifest,
    write_shards,
)


@pytest.fixture
def pose_dirs(tmp_path):
    return [write_pose_dir(tmp_path / "poses", f"vid_{i}", n=8 + i, seed=i, reproj_px_720p=0.8 + 0.3 * i)
            for i in range(3)]


def test_build_sample_resizes_K_and_tracks(pose_dirs):
    d, frames = pose_dirs[0]
    s = build_sample(d, frames, {"caption": "a dog"}, frame_short_side=48)
    pf = load_pose_result(d)
    assert s.rgb(0).shape == (48, 80, 3) and s.meta["frame_size"] == [48, 80] and s.meta["pose_size"] == [96, 160]
    np.testing.assert_allclose(s.K, resize_K(pf.K, (96, 160), (48, 80)))
    # a track observation rescaled like K: project with the stored K and compare
    from dynpose100k.camera import project
    t, f = int(s.track_obs[0, 0]), int(s.track_obs[0, 1])
    uv, _ = project(s.K[f], s.w2c[f], s.track_points[t : t + 1].astype(np.float64))
    np.testing.assert_allclose(uv[0], s.track_obs[0, 2:], atol=1e-3)
    assert s.mask(3).shape == (24, 40) and s.mask(3)[6, 8]
    assert s.meta["caption"] == "a dog" and s.meta["reproj_error_px_720p"] == pytest.approx(0.8)


def test_the_sample_says_whether_the_focal_was_given(pose_dirs, tmp_path):
    """``meta.hfov_deg_given``: the field of view the pose engine held (``PoseConfig.hfov_deg``), null when it
    estimated the focal."""
    import dataclasses

    from dynpose100k.pose import save_pose_result

    d, frames = pose_dirs[0]
    assert build_sample(d, frames).meta["hfov_deg_given"] is None
    res = load_pose_result(d)
    given = save_pose_result(tmp_path / "given", dataclasses.replace(res, config={**res.config, "hfov_deg": 61.5}))
    assert build_sample(given, frames).meta["hfov_deg_given"] == 61.5


def test_write_read_rollover_append_exactly_once(tmp_path, pose_dirs):
    out = tmp_path / "ds"
    samples = [build_sample(d, f) for d, f in pose_dirs]
    r = write_shards(samples[:2], out, ShardConfig(maxcount=1))
    assert r.shards == ("data/train-000000.tar", "data/train-000001.tar") and r.written == 2
    assert not (out / "README.md").exists()  # shards only: the card is builder's step
    before = (out / "data/train-000000.tar").read_bytes()
    r2 = write_shards(samples, out, ShardConfig(maxcount=10))  # two already present
    assert r2.shards == ("data/train-000002.tar",) and r2.written == 1 and set(r2.skipped) == {"vid_0", "vid_1"}
    assert (out / "data/train-000000.tar").read_bytes() == before
    assert existing_keys(out) == {"vid_0", "vid_1", "vid_2"}
    man = read_manifest(out)
    assert [e["num_samples"] for e in man] == [1, 1, 1] and len(man[0]["sha256"]) == 64
    got = {s.key: s for s in iter_samples(out, verify=True)}
    for s in samples:
        g = got[s.key]
        np.testing.assert_array_equal(g.w2c, s.w2c)
        np.testing.assert_array_equal(g.K, s.K)
        np.testing.assert_array_equal(g.registered, s.registered)
        np.testing.assert_array_equal(g.track_obs, s.track_obs)
        assert g.frames == s.frames and g.masks == s.masks


def test_crash_never_publishes_partial_shard(tmp_path, pose_dirs):
    out = tmp_path / "ds"
    s = build_sample(*pose_dirs[0])
    with pytest.raises(RuntimeError):
        with DatasetWriter(out) as w:
            w.add(s)
            raise RuntimeError("crash")
    assert list((out / "data").iterdir()) == [] and read_manifest(out) == []
    # a shard published but not yet recorded is recovered on the next open
    write_shards([s], out)
    line = (out / "manifest.jsonl").read_text()
    (out / "manifest.jsonl").write_text(line[: len(line) // 2])  # crash while recording the shard
    with DatasetWriter(out) as w:
        assert w.keys == {"vid_0"}
        assert not w.add(s)
    assert existing_keys(out) == {"vid_0"} and len(read_manifest(out)) == 1


def test_concurrent_writer_refused(tmp_path):
    with DatasetWriter(tmp_path / "ds"):
        with pytest.raises(ShardError, match="another writer"):
            DatasetWriter(tmp_path / "ds")


def test_webdataset_pipeline_decodes(tmp_path, pose_dirs):
    out = tmp_path / "ds"
    write_shards([build_sample(d, f) for d, f in pose_dirs], out, ShardConfig(maxcount=2))
    items = list(make_pipeline(out, shuffle=0))
    assert sorted(i["key"] for i in items) == ["vid_0", "vid_1", "vid_2"]
    it = next(i for i in items if i["key"] == "vid_1")
    assert it["frames"].shape == (9, 96, 160, 3) and it["w2c"].dtype == np.float64 and it["masks"].dtype == bool
    assert it["meta"]["video_id"] == "vid_1"
    assert len(list(make_pipeline(out, resampled=True, epoch_samples=5, shuffle=4))) == 5


def test_a_poses_only_dataset_has_no_frames_in_either_reader_and_cannot_train(tmp_path, pose_dirs):
    """Without videos, the webdataset pipeline gives ``frames`` None (it gave ``[]``) as ``load_dataset`` does, and
    a training record made of it says why it cannot supervise (it said "0 frames, 9 poses")."""
    from dynpose100k.dust3r.data import SupervisionError, check_record, record_from_shard

    d, _ = pose_dirs[1]
    write_shards([build_sample(d, None)], tmp_path / "ds")
    (it,) = list(make_pipeline(tmp_path / "ds", shuffle=0))
    assert it["frames"] is None and it["w2c"].shape == (9, 4, 4)
    with pytest.raises(SupervisionError, match="vid_1: no frames \\(a poses-only dataset"):
        check_record(record_from_shard(it))


def test_build_sample_from_video_file(tmp_path):
    from dynpose100k.video import write_video

    d, frames = write_pose_dir(tmp_path / "p", "clip", n=10)
    video = tmp_path / "clip.mp4"
    # the pose timestamps start at 1.0 s: pad the video with a second of other frames
    write_video(video, np.concatenate([np.zeros((12, 96, 160, 3), np.uint8), frames]), 12.0)
    s = build_sample(d, video)
    assert len(s.frames) == 10
    assert np.abs(s.rgb(4).astype(int) - frames[4]).mean() < 12
    json.dumps(s.meta)


def test_webdataset_pipeline_skips_a_broken_sample(tmp_path, pose_dirs):
    import io
    import tarfile

    from dynpose100k.shards import shard_paths

    out = tmp_path / "ds"
    write_shards([build_sample(d, f) for d, f in pose_dirs], out, ShardConfig(maxcount=10))
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:  # a sample with only metadata: cannot be decoded for training
        data = b'{"video_id": "broken"}'
        info = tarfile.TarInfo("broken.meta.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    urls = [str(bad), *map(str, shard_paths(out))]
    with pytest.warns(Warning):
        keys = sorted(i["key"] for i in make_pipeline(urls, shuffle=0))
    assert keys == ["vid_0", "vid_1", "vid_2"]


def test_the_sample_says_where_the_picture_is_inside_bars(pose_dirs, tmp_path):
    """``meta.picture_box``: the pose engine's bars (``evidence.bars_*``, posed-frame px) in stored-frame
    pixels, rounded outwards into the bars; null without bars."""
    import dataclasses

    from dynpose100k.pose import save_pose_result

    d, frames = pose_dirs[0]
    assert build_sample(d, frames).meta["picture_box"] is None
    res = load_pose_result(d)
    boxed = dataclasses.replace(res, evidence={**res.evidence, "bars_top": 10.0, "bars_bottom": 10.0,
                                               "bars_left": 0.0, "bars_right": 0.0})
    d2 = save_pose_result(tmp_path / "boxed", boxed)
    assert build_sample(d2, frames).meta["picture_box"] == [10, 10, 0, 0]
    H = res.image_size[0]
    half = build_sample(d2, frames, frame_short_side=min(res.image_size) // 2)
    bar = int(np.ceil(10 * half.meta["frame_size"][0] / H))  # 5 px at half the size
    assert half.meta["picture_box"] == [bar, bar, 0, 0] and bar < 10
