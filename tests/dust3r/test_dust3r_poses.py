import dataclasses

import numpy as np
import pytest
import torch

from dynpose100k import camera, metrics
from dynpose100k.dust3r.model import build_model
from dynpose100k.dust3r.poses import (
    ModelPoseConfig,
    estimate_focal,
    infer_pair,
    poses_from_model,
    poses_from_predictor,
)
from dynpose100k.evaluate import score_video


def _oracle(gt, rng, noise=0.0, corrupt=None):
    """Exact pointmaps from the ground truth, each pair at a random scale (as a network's would be).
    ``corrupt(a, j, X_aa, X_ja)`` may replace a pair's pointmaps."""
    h, w = gt.image_size
    vv, uu = np.mgrid[0:h, 0:w]
    pix = np.c_[uu.ravel(), vv.ravel(), np.ones(h * w)]

    def own(f):
        return ((np.linalg.inv(gt.K[f]) @ pix.T).T * gt.depth[f].ravel()[:, None]).reshape(h, w, 3)

    def conf(f):
        return 1.0 + 3.0 * ((gt.depth[f] > 0) & ~gt.dynamic_mask[f])

    calls = []

    def predict(pairs):
        calls.append(list(pairs))
        out = []
        for a, j in pairs:
            s = rng.uniform(0.5, 2.0)
            Xja = camera.transform_points(camera.relative_pose(gt.w2c[j], gt.w2c[a]), own(j).reshape(-1, 3))
            Xja = Xja + noise * rng.standard_normal(Xja.shape)
            Xaa, Xja = s * own(a), s * Xja.reshape(h, w, 3)
            if corrupt is not None:
                Xaa, Xja = corrupt(a, j, Xaa, Xja)
            out.append((Xaa, Xja, conf(a), conf(j)))
        return out

    return predict, calls


def test_chained_windows_recover_exact_trajectory(tiny_video):
    gt = tiny_video.gt
    predict, calls = _oracle(gt, np.random.default_rng(0))
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=3))
    assert res.registered.all() and res.reason == ""
    assert np.isclose(res.focal_model_px, gt.K[0][0, 0], rtol=1e-6)
    extent = np.ptp(camera.camera_centers(gt.w2c), axis=0).max()
    assert metrics.ate(res.w2c, gt.w2c).rmse < 1e-6 * extent
    assert metrics.rpe(res.w2c, gt.w2c).rot_rmse_deg < 1e-4
    # sparse graph: each frame sees at most `window` predecessors
    pairs = [p for c in calls for p in c]
    assert len(pairs) == sum(min(j, 3) for j in range(1, gt.num_frames))
    assert max(j - a for a, j in pairs) == 3


def test_window_averaging_reduces_noise(tiny_video):
    gt = tiny_video.gt
    errs = []
    for window in (1, 3):
        p, _ = _oracle(gt, np.random.default_rng(1), noise=0.02)
        res = poses_from_predictor(p, gt.num_frames, gt.image_size, ModelPoseConfig(window=window, pnp_reproj_px=6))
        errs.append(metrics.ate(res.w2c, gt.w2c).rmse)
    assert errs[1] < errs[0]


def test_focal_from_pointmap():
    K = camera.make_K(70.0, 70.0, 47.5, 31.5)
    vv, uu = np.mgrid[0:64, 0:96]
    X = (np.linalg.inv(K) @ np.c_[uu.ravel(), vv.ravel(), np.ones(64 * 96)].T).T * 3.0
    assert np.isclose(estimate_focal(X.reshape(64, 96, 3), np.ones((64, 96), bool)), 70.0)


def test_tiny_model_poses_are_scored(tiny_video):
    torch.manual_seed(0)
    model = build_model("tiny_linear")
    gt, n = tiny_video.gt, 5
    inside = lambda s: (gt.corr_i >= s) & (gt.corr_j < s + n)  # noqa: E731
    s0 = int(np.argmax([inside(s).sum() for s in range(gt.num_frames - n + 1)]))
    res = poses_from_model(model, tiny_video.frames[s0:s0 + n], ModelPoseConfig(size=(48, 64), window=2))
    assert res.w2c.shape == (n, 4, 4) and res.K.shape == (n, 3, 3)
    assert np.isclose(res.K[0][0, 2], (96 - 1) / 2) and np.isclose(res.K[0][1, 2], (64 - 1) / 2)
    assert res.num_pairs <= sum(min(j, 2) for j in range(1, n))
    sel, win = inside(s0), slice(s0, s0 + n)
    sub = dataclasses.replace(gt, w2c=gt.w2c[win], K=gt.K[win], timestamps=gt.timestamps[win], depth=gt.depth[win],
                              dynamic_mask=gt.dynamic_mask[win], surface=gt.surface[win], planes=gt.planes[win],
                              corr_i=gt.corr_i[sel] - s0, corr_j=gt.corr_j[sel] - s0, corr_uv_i=gt.corr_uv_i[sel],
                              corr_uv_j=gt.corr_uv_j[sel])
    s = score_video(res.w2c, res.K, res.registered, sub)  # unregistered frames are filled by the protocol and scored
    assert np.isfinite(s.ate) and s.registration_rate == 0.0
    assert sel.sum() > 0 and s.sampson["count"] == int(sel.sum())


@pytest.mark.parametrize("preset,size", [("tiny_linear", (48, 64)), ("tiny_dpt", (32, 48))])
def test_random_model_registers_no_frame(tiny_video, preset, size):
    """An untrained network's pointmaps are noise (half the points behind the camera, focal ~0 px): no
    frame may be reported registered, and the result says why in one line."""
    torch.manual_seed(0)
    res = poses_from_model(build_model(preset), tiny_video.frames[:5], ModelPoseConfig(size=size, window=2))
    assert not res.registered.any() and (res.inliers == 0).all()
    assert res.reason.startswith("5 of 5 frames unregistered") and "\n" not in res.reason
    assert "behind the camera" in res.reason or "focal outside" in res.reason


def _rot_y(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_one_wrong_edge_is_outvoted(tiny_video):
    """A frame's accepted edges must agree: one edge with a 20 degree error among three is dropped."""
    gt = tiny_video.gt
    bad = lambda a, j, Xaa, Xja: (Xaa, Xja @ _rot_y(20).T if (a, j) == (3, 5) else Xja)  # noqa: E731
    predict, _ = _oracle(gt, np.random.default_rng(0), corrupt=bad)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=3))
    assert res.registered.all() and res.reason == ""
    assert metrics.rpe(res.w2c, gt.w2c).rot_rmse_deg < 1e-3


def test_disagreeing_edges_leave_the_frame_unregistered(tiny_video):
    gt = tiny_video.gt
    bad = lambda a, j, Xaa, Xja: (Xaa, Xja @ _rot_y(20).T if (a, j) == (3, 5) else Xja)  # noqa: E731
    predict, _ = _oracle(gt, np.random.default_rng(0), corrupt=bad)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=2))
    assert not res.registered[5] and res.registered[:5].all() and res.registered[6:].all()
    assert res.reason == f"1 of {gt.num_frames} frames unregistered; 0 of {res.num_pairs} edges rejected; " \
                         "edges disagree at 1 frame(s)"


def test_implausible_geometry_is_rejected(tiny_video):
    gt = tiny_video.gt
    h, w = gt.image_size
    # x and y stretched 50x: a focal of about 1.4 px, far below 0.2 x the long side
    squash = lambda a, j, Xaa, Xja: (Xaa * [50.0, 50.0, 1.0], Xja)  # noqa: E731
    predict, _ = _oracle(gt, np.random.default_rng(0), corrupt=squash)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=2))
    assert not res.registered.any() and "focal outside [19.2, 480] px (median 1." in res.reason
    # frames 1 and 2 fail against frame 0, so frames 3.. have no registered frame within the window
    assert f"{gt.num_frames - 3} frame(s) without a registered frame in the window" in res.reason
    perm = np.random.default_rng(1).permutation(h * w)  # view j's points no longer match its pixels
    shuffle = lambda a, j, Xaa, Xja: (Xaa, Xja.reshape(-1, 3)[perm].reshape(h, w, 3))  # noqa: E731
    predict, _ = _oracle(gt, np.random.default_rng(0), corrupt=shuffle)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=2))
    assert not res.registered.any() and "PnP inliers" in res.reason
    flip = lambda a, j, Xaa, Xja: (-Xaa, Xja)  # noqa: E731
    predict, _ = _oracle(gt, np.random.default_rng(0), corrupt=flip)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=2))
    assert not res.registered.any() and "behind the camera" in res.reason


def test_infer_pair_official_convention(tiny_video):
    torch.manual_seed(0)
    model = build_model("tiny_linear")
    r1, r2 = infer_pair(model, tiny_video.frames[0], tiny_video.frames[3], size=(48, 64))
    assert r1["pts3d"].shape == (1, 48, 64, 3) and r2["pts3d_in_other_view"].shape == (1, 48, 64, 3)
    assert r2["conf"].shape == (1, 48, 64) and bool((r2["conf"] > 1).all())


def test_pnp_failure_leaves_frames_unregistered(tiny_video, monkeypatch):
    """OpenCV's PnP raises on some degenerate point sets (seen with a barely trained model): the frame
    stays unregistered and the video goes on."""
    import cv2

    gt = tiny_video.gt
    predict, _ = _oracle(gt, np.random.default_rng(0))

    def broken_pnp(*args, **kwargs):
        raise cv2.error("(-215:Assertion failed) ++num_null_vectors_ <= 6 in function 'computeOmega'")

    monkeypatch.setattr(cv2, "solvePnPRansac", broken_pnp)
    res = poses_from_predictor(predict, gt.num_frames, gt.image_size, ModelPoseConfig(window=2))
    assert not res.registered.any() and "PnP failed" in res.reason
