"""Working resolution: a 720p clip is analysed at the working short side, and K, w2c and the observations
come back in pixels of the 720p input (the contract is unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from dynpose100k import camera
from dynpose100k.pose import PoseConfig, estimate_poses
from dynpose100k.pose.pipeline import work_shape


def test_work_shape():
    cfg = PoseConfig()
    assert cfg.work_short_side == 360
    assert work_shape((720, 1280), cfg) == (360, 640)
    assert work_shape((1080, 1920), cfg) == (360, 640)
    assert work_shape((1280, 720), cfg) == (640, 360)  # portrait
    assert work_shape((144, 256), cfg) == (144, 256)  # never upscaled
    assert work_shape((720, 1280), PoseConfig(work_short_side=None)) == (720, 1280)


@pytest.fixture(scope="module")
def clip720():
    from dynpose100k.synth import render

    return render("good", 0, height=720, width=1280, duration=2.0)


def test_720p_poses_and_K_reproject_ground_truth_points(clip720):
    v = clip720
    gt = v.gt
    res = estimate_poses(v.frames, gt.timestamps, PoseConfig(), video_id="hd")
    assert res.failure_reason is None and res.registered.mean() >= 0.9
    assert res.image_size == (720, 1280) and res.config["work_short_side"] == 360
    assert res.dynamic_masks.shape[1:] == (90, 160)  # mask_scale of the 640x360 working frames
    K = res.K[0]
    assert abs(K[0, 0] / gt.K[0, 0, 0] - 1) < 0.05 and abs(K[1, 1] / gt.K[0, 1, 1] - 1) < 0.05
    assert abs(K[0, 2] - 639.5) < 1e-6 and abs(K[1, 2] - 359.5) < 1e-6
    # observations are in 720p pixels: the stored points reproject onto them
    for f in np.unique(res.obs_frame)[::5]:
        sel = res.obs_frame == f
        uv, _ = camera.project(res.K[f], res.w2c[f], res.points3d[res.obs_track[sel]].astype(np.float64))
        assert np.median(np.linalg.norm(uv - res.obs_uv[sel], axis=1)) < 1.0
    # ground-truth static points (exact depth) of frame i, moved into frame j by OUR relative pose (its
    # translation scaled to the true baseline) and projected with OUR K, land where the true camera j sees
    # them (720p pixels); a K left in working pixels would put them hundreds of pixels off
    rng = np.random.default_rng(0)
    errs = []
    for i, j in [(0, 12), (5, 23), (10, 20)]:
        if not (res.registered[i] and res.registered[j]):
            continue
        ys, xs = np.nonzero(~gt.dynamic_mask[i] & (gt.depth[i] > 0))
        pick = rng.choice(len(xs), 300, replace=False)
        uv_i = np.c_[xs[pick], ys[pick]].astype(np.float64)
        X = camera.unproject(gt.K[i], gt.w2c[i], uv_i, gt.depth[i][ys[pick], xs[pick]])
        true_j, z = camera.project(gt.K[j], gt.w2c[j], X)
        rel = camera.relative_pose(res.w2c[i], res.w2c[j])
        rel_gt = camera.relative_pose(gt.w2c[i], gt.w2c[j])
        rel[:3, 3] *= np.linalg.norm(rel_gt[:3, 3]) / np.linalg.norm(rel[:3, 3])
        Xi = camera.transform_points(gt.w2c[i], X)
        ours_j, _ = camera.project(res.K[j], rel, Xi)
        ok = z > 0
        errs.append(np.linalg.norm(ours_j[ok] - true_j[ok], axis=1))
    errs = np.concatenate(errs)
    assert len(errs) > 300
    assert np.median(errs) < 3.0, np.percentile(errs, [50, 90])
