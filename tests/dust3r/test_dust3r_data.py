import numpy as np
import pytest
import torch

from dynpose100k import camera
from dynpose100k.dust3r.data import (
    PairConfig,
    PairDataset,
    SupervisionError,
    check_record,
    collate_pairs,
    gap_probabilities,
    make_pair,
    record_from_shard,
    sample_pair,
    shard_sample_from_record,
    symmetrize,
)

CFG = PairConfig(size=(48, 64), scale_aug=1.3)


def _reprojection_error(K, w2c_from_ref, pts, valid):
    v, u = np.nonzero(valid)
    uv, z = camera.project(K, w2c_from_ref, pts[valid])
    return np.abs(uv - np.c_[u, v]).max(), z


def test_gap_distribution_favours_large_gaps(tiny_record):
    p = gap_probabilities(9)
    assert np.isclose(p.sum(), 1) and np.all(np.diff(p) > 0) and np.isclose(p[8] / p[0], 9)
    gaps = [abs(int(np.diff(sample_pair(tiny_record, CFG, np.random.default_rng(k))["frames"])[0])) for k in range(40)]
    assert 1 <= min(gaps) and max(gaps) <= 9 and np.mean(gaps) > 4


def test_sparse_ground_truth_follows_crop_and_pose(tiny_record):
    pair = make_pair(tiny_record, 3, 9, CFG, np.random.default_rng(0))
    assert pair["img1"].shape == (3, 48, 64) and -1 <= pair["img1"].min() and pair["img1"].max() <= 1
    assert pair["valid1"].sum() > 50 and pair["valid2"].sum() > 50
    e1, z1 = _reprojection_error(pair["K1"], np.eye(4), pair["pts1"], pair["valid1"])
    e2, _ = _reprojection_error(pair["K2"], np.linalg.inv(pair["T21"]), pair["pts2"], pair["valid2"])
    assert e1 <= 0.5 + 1e-6 and e2 <= 0.5 + 1e-6 and (z1 > 0).all()
    w2c = tiny_record["w2c"]
    assert np.allclose(pair["T21"], w2c[3] @ np.linalg.inv(w2c[9]))
    # K follows the resize and crop: a crop at zoom 1 without augmentation keeps the focal ratio
    p0 = make_pair(tiny_record, 3, 9, PairConfig(size=(48, 64), scale_aug=1.0), np.random.default_rng(0))
    s = max(48 / 64, 64 / 96)
    assert np.isclose(p0["K1"][0, 0], tiny_record["K"][3][0, 0] * s)


def test_symmetrized_batch_is_in_the_new_first_camera(tiny_record):
    ds = PairDataset([tiny_record], CFG, length=2, seed=0)
    b = symmetrize(collate_pairs([ds[0], ds[1]]))
    assert b["img1"].shape == (4, 3, 48, 64)
    assert torch.equal(b["img1"][2], b["img2"][0]) and torch.equal(b["frames"][2], b["frames"][0].flip(0))
    pts = b["pts1"][2].numpy().astype(np.float64)
    e, _ = _reprojection_error(b["K1"][2].numpy(), np.eye(4), pts, b["valid1"][2].numpy())
    assert e <= 0.5 + 1e-4
    assert torch.allclose(b["T21"][2].double() @ b["T21"][0].double(), torch.eye(4, dtype=torch.float64), atol=1e-6)


def test_record_without_tracks_needs_pose_only(tiny_record):
    rec = dict(tiny_record, track_points=None, track_obs=None, key="vid_a")
    with pytest.raises(SupervisionError, match="vid_a: no static tracks.*pose-only"):
        check_record(rec)
    check_record(rec, pose_only=True)
    pair = sample_pair(rec, PairConfig(size=(48, 64), pose_only=True), np.random.default_rng(0))
    assert pair["valid1"].sum() == 0


def test_records_from_our_shards(tmp_path, tiny_record):
    from dynpose100k.shards.reader import iter_samples
    from dynpose100k.shards.writer import write_shards

    write_shards([shard_sample_from_record(tiny_record)], tmp_path / "ds")
    (sample,) = list(iter_samples(tmp_path / "ds"))
    rec = record_from_shard(sample)
    assert isinstance(rec["frames"][0], bytes)
    pair = make_pair(rec, 2, 6, CFG, np.random.default_rng(0))
    ref = make_pair(tiny_record, 2, 6, CFG, np.random.default_rng(0))
    assert np.array_equal(pair["valid1"], ref["valid1"])
    assert np.abs(pair["img1"] - ref["img1"]).mean() < 0.05  # JPEG round trip


def test_a_shard_stream_of_videos_that_cannot_supervise_says_so(tmp_path, tiny_record):
    from dynpose100k.dust3r.data import ShardPairStream
    from dynpose100k.errors import DynPoseError
    from dynpose100k.shards.writer import write_shards

    bare = dict(tiny_record, track_points=None, track_obs=None, key="vid_a")
    write_shards([shard_sample_from_record(bare)], tmp_path / "ds")
    stream = ShardPairStream(str(tmp_path / "ds"), CFG, epoch_videos=2)
    with pytest.raises(DynPoseError, match="none of the 2 videos drawn can supervise training.*no static tracks"):
        list(stream)
    assert len(list(ShardPairStream(str(tmp_path / "ds"), PairConfig(size=(48, 64), pose_only=True), 2))) == 8
