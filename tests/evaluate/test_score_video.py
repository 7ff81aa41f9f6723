"""One video against ground truth: the protocol of ``dynpose100k.evaluate.video``."""

import dataclasses

import numpy as np
import pytest

from dynpose100k import metrics
from dynpose100k.errors import DynPoseError
from dynpose100k.evaluate import VideoScore, guess_K, score_result, score_video


def test_exact_poses_score_zero(moving_gt):
    gt = moving_gt
    s = score_video(gt.w2c, gt.K, np.ones(gt.num_frames, bool), gt)
    assert s.registration_rate == 1.0 and s.success
    assert s.ate < 1e-9 and s.rpe_trans < 1e-9 and s.rpe_rot_deg < 1e-6
    assert s.ate_registered < 1e-9 and s.focal_rel_error < 1e-12
    from dynpose100k.camera import camera_centers

    assert s.path_length == pytest.approx(metrics.path_length(camera_centers(gt.w2c))) and s.path_length > 0
    assert s.ate_path_pct == pytest.approx(100 * s.ate / s.path_length)
    assert s.sampson["count"] == len(gt.corr_i) and s.sampson_mean < 1e-6


def test_unregistered_frames_take_the_nearest_registered_pose(moving_gt):
    """The documented protocol: an unregistered frame is scored with the pose of the nearest registered
    frame (never dropped), and the ``*_registered`` figures ignore it."""
    gt = moving_gt
    n = gt.num_frames
    reg = np.ones(n, bool)
    reg[[3, 4, 9]] = False
    est = gt.w2c.copy()
    est[~reg] = np.eye(4)  # what a pose result stores for unregistered frames
    s = score_video(est, gt.K, reg, gt)
    nearest = gt.w2c.copy()
    nearest[3], nearest[4], nearest[9] = gt.w2c[2], gt.w2c[5], gt.w2c[8]  # ties go to the earlier frame
    assert s.ate == pytest.approx(metrics.ate(nearest, gt.w2c).rmse, abs=1e-12)
    assert s.ate > 1e-4  # the filled frames count against the estimate ...
    assert s.ate_registered < 1e-9  # ... but not in the registered-frame figures
    assert s.registration_rate == pytest.approx(1 - 3 / n)
    assert abs(metrics.ate(est, gt.w2c).rmse - s.ate) > 1e-6  # not the identity rows left in place


def test_failed_video_gets_random_centres_and_guessed_intrinsics(moving_gt):
    gt = moving_gt
    n = gt.num_frames
    reg = np.zeros(n, bool)
    reg[:2] = True  # fewer than 3 registered frames: a failed video
    s0 = score_video(gt.w2c, gt.K, reg, gt, seed=0)
    centres = np.linalg.inv(gt.w2c)[:, :3, 3]
    spread = np.sqrt(((centres - centres.mean(0)) ** 2).sum(1).mean())
    assert s0.success and s0.ate_registered is None and s0.ate > 0.2 * spread  # not the exact poses it was given
    assert s0 == score_video(gt.w2c, gt.K, reg, gt, seed=0) and s0.ate != score_video(gt.w2c, gt.K, reg, gt, seed=1).ate
    # nothing registered: the estimate's intrinsics are not used, the guess is
    none = np.zeros(n, bool)
    bad_K = np.tile(np.eye(3), (n, 1, 1))
    a = score_video(np.tile(np.eye(4), (n, 1, 1)), bad_K, none, gt)
    b = score_video(np.tile(np.eye(4), (n, 1, 1)), np.broadcast_to(guess_K(gt.image_size), (n, 3, 3)), none, gt)
    assert a.to_dict().pop("sampson") == b.to_dict().pop("sampson")
    assert not a.success and np.isnan(a.focal_rel_error) and a.sampson_mean > 0


def test_intrinsics_rescaled_and_frames_checked(moving_gt, tmp_path):
    from pose_fixtures import save_result_for as save_result

    from dynpose100k.camera import resize_K
    from dynpose100k.pose.result import load_pose_result

    gt = moving_gt
    half = (gt.image_size[0] // 2, gt.image_size[1] // 2)
    d = save_result(tmp_path, gt, gt.w2c, np.ones(gt.num_frames, bool), K=resize_K(gt.K, gt.image_size, half),
                    image_size=half)
    s = score_result(load_pose_result(d), gt)
    assert s.sampson_mean < 1e-6 and s.focal_rel_error < 1e-12
    other_rate = dataclasses.replace(load_pose_result(d), timestamps=gt.timestamps * 2)
    with pytest.raises(DynPoseError, match="ground-truth frames"):
        score_result(other_rate, gt)
    with pytest.raises(DynPoseError, match="ground-truth frames"):
        score_video(gt.w2c[:-1], gt.K[:-1], np.ones(gt.num_frames - 1, bool), gt)


def test_still_camera_has_undefined_trajectory_error():
    from dynpose100k.synth import render

    gt = render("static", 3, height=96, width=160, duration=1.0, pairs=3, per_pair=20).gt
    s = score_video(gt.w2c, gt.K, np.zeros(gt.num_frames, bool), gt)  # failed: random centres, a moving estimate
    assert np.isnan(s.ate) and np.isnan(s.rpe_trans) and np.isfinite(s.sampson_mean)


def test_dict_round_trip(moving_gt):
    gt = moving_gt
    s = score_video(gt.w2c, gt.K, np.ones(gt.num_frames, bool), gt)
    d = s.to_dict()
    assert "ate_registered" in d and VideoScore.from_dict({**d, "seconds": 1.0}) == s
    failed = score_video(gt.w2c, gt.K, np.zeros(gt.num_frames, bool), gt)
    assert "ate_registered" not in failed.to_dict()  # None fields are left out of the JSON


def test_registered_ate_is_the_scores_registered_figure(moving_gt):
    from dynpose100k.evaluate import registered_ate

    w2c = moving_gt.w2c.copy()
    w2c[:, :3, 3] += np.random.default_rng(0).normal(0, 0.01, w2c[:, :3, 3].shape)
    reg = np.ones(len(w2c), bool)
    reg[[3, 4, 9]] = False
    s = score_video(w2c, moving_gt.K, reg, moving_gt)
    assert registered_ate(w2c, moving_gt.w2c, reg) == pytest.approx(s.ate_registered) and s.ate_registered > 0
    reg[2:] = False
    assert np.isnan(registered_ate(w2c, moving_gt.w2c, reg))  # fewer than 3 registered frames


def test_a_result_at_a_lower_rate_is_scored_on_the_ground_truth_frames_at_its_timestamps(moving_gt, tmp_path):
    """A clip posed at a lower rate than it was rendered at (here every other frame, and the two of one
    correspondence pair): the ground truth of those frames (its correspondences renumbered, those touching a
    dropped frame gone) is what the result is scored against; timestamps between ground-truth frames are refused."""
    from pose_fixtures import save_result_for as save_result

    from dynpose100k.evaluate import truth_of_frames
    from dynpose100k.pose.result import load_pose_result

    gt = moving_gt
    keep = np.union1d(np.arange(0, gt.num_frames, 2), [gt.corr_i[0], gt.corr_j[0]])
    half = gt.at(keep)
    assert half.num_frames == len(keep) and np.array_equal(half.timestamps, gt.timestamps[keep])
    both = np.isin(gt.corr_i, keep) & np.isin(gt.corr_j, keep)
    assert len(half.corr_i) == both.sum() > 0 and np.array_equal(keep[half.corr_i], gt.corr_i[both])
    np.testing.assert_array_equal(half.dynamic_mask, gt.dynamic_mask[keep])

    res = load_pose_result(save_result(tmp_path, half, half.w2c, np.ones(len(keep), bool)))
    assert np.array_equal(truth_of_frames(res, gt).timestamps, gt.timestamps[keep])
    s = score_result(res, gt)
    assert s.ate < 1e-9 and s.sampson["count"] == both.sum() and s.sampson_mean < 1e-6
    wrong = dataclasses.replace(res, w2c=res.w2c[::-1].copy())  # the poses of other frames do not score zero
    assert score_result(wrong, gt).ate > 1e-3
    between = dataclasses.replace(res, timestamps=res.timestamps + 0.5 / 12)
    with pytest.raises(DynPoseError, match="ground-truth frames"):
        truth_of_frames(between, gt)
