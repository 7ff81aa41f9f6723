import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dynpose100k import camera, metrics


def trajectory(n=30, seed=0):
    """A smooth random camera path, w2c (n, 4, 4)."""
    rng = np.random.default_rng(seed)
    R = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.05, (n, 3)), 0)).as_matrix()
    C = np.cumsum(rng.normal(0, 0.1, (n, 3)), 0)
    return camera.c2w_to_w2c(camera.make_w2c(R, C))


def sim3_transform(w2c, s, R, t):
    """Move a whole trajectory by x -> s R x + t (camera-to-world rotations R R_i)."""
    c2w = camera.w2c_to_c2w(w2c)
    return camera.c2w_to_w2c(camera.make_w2c(R @ c2w[:, :3, :3], s * c2w[:, :3, 3] @ R.T + t))


def noisy(w2c, seed=1, pos=0.02, rot=0.02):
    rng = np.random.default_rng(seed)
    c2w = camera.w2c_to_c2w(w2c)
    R = Rotation.from_rotvec(rng.normal(0, rot, (len(w2c), 3))).as_matrix() @ c2w[:, :3, :3]
    return camera.c2w_to_w2c(camera.make_w2c(R, c2w[:, :3, 3] + rng.normal(0, pos, (len(w2c), 3))))


RNG_SIM3 = (2.7, Rotation.from_rotvec([0.3, -1.2, 0.8]).as_matrix(), np.array([5.0, -2.0, 1.0]))


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    s, R, t = RNG_SIM3
    s2, R2, t2 = metrics.umeyama(src, s * src @ R.T + t)
    assert s2 == pytest.approx(s) and np.allclose(R2, R) and np.allclose(t2, t)
    s3, R3, _ = metrics.umeyama(src, src @ R.T + t, with_scale=False)
    assert s3 == 1.0 and np.allclose(R3, R)


def test_sim3_transformed_trajectory_has_zero_error():
    gt = trajectory()
    est = sim3_transform(gt, *RNG_SIM3)
    a = metrics.ate(est, gt, align="sim3")
    assert a.rmse < 1e-9 and a.scale == pytest.approx(1 / RNG_SIM3[0])
    r = metrics.rpe(est, gt, align="sim3")
    assert r.trans_rmse < 1e-9 and r.rot_rmse_deg < 1e-6
    assert np.allclose(metrics.align(est, gt, "sim3"), gt, atol=1e-9)
    assert metrics.ate(est, gt, align="none").rmse > 1.0
    # se3 cannot undo the scale, but is exact for a rigid motion
    assert metrics.ate(est, gt, align="se3").rmse > 0.05
    assert metrics.ate(sim3_transform(gt, 1.0, *RNG_SIM3[1:]), gt, align="se3").rmse < 1e-9


def test_rpe_rotation_known_answer():
    gt = np.repeat(np.eye(4)[None], 5, 0)
    gt[:, 0, 3] = -np.arange(5.0)  # camera moving along +x, no rotation
    est = gt.copy()
    est[3, :3, :3] = Rotation.from_rotvec([0, 0, np.radians(10)]).as_matrix()  # one frame turned 10 deg
    r = metrics.rpe(est, gt, align="none")
    np.testing.assert_allclose(r.rot_errors_deg, [0, 0, 10, 10], atol=1e-9)
    assert r.rot_rmse_deg == pytest.approx(np.sqrt(200 / 4))
    assert r.pairs.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert metrics.rpe(est, gt, align="none", delta=2).pairs.tolist() == [[0, 2], [1, 3], [2, 4]]
    tiny_and_half_turn = Rotation.from_rotvec([[0, 0, 1e-9], [np.pi, 0, 0]]).as_matrix()
    np.testing.assert_allclose(metrics.rotation_angle_deg(tiny_and_half_turn), [np.degrees(1e-9), 180.0], rtol=1e-6)


def test_registered_subset_and_fill():
    gt = trajectory()
    est = noisy(gt)
    reg = np.ones(len(gt), bool)
    reg[[4, 5, 20]] = False
    est_bad = est.copy()
    est_bad[~reg] = np.nan  # unregistered rows are never read
    a = metrics.ate(est_bad, gt, registered=reg)
    assert a.registration_rate == pytest.approx(27 / 30) and len(a.errors) == 27
    assert a.rmse == pytest.approx(metrics.ate(est[reg], gt[reg]).rmse)
    r = metrics.rpe(est_bad, gt, registered=reg)
    assert len(r.pairs) == 29 - 5 and not np.isin(r.pairs, [4, 5, 20]).any()
    filled = metrics.fill_failed(est_bad, reg)
    assert np.array_equal(filled[4], est[3]) and np.array_equal(filled[5], est[6])  # nearest, earlier on ties
    assert np.array_equal(filled[20], est[19]) and np.array_equal(filled[reg], est[reg])
    assert metrics.registration_rate(reg) == pytest.approx(0.9) and metrics.registration_rate([]) == 0.0
    # a failed video: identity rotations and random centres, reproducible from the seed
    failed = metrics.fill_failed(est_bad, np.zeros(30, bool), seed=3)
    assert np.allclose(failed[:, :3, :3], np.eye(3))
    assert np.array_equal(failed, metrics.fill_failed(est, np.zeros(30, bool), seed=3))
    assert metrics.ate(failed, gt).rmse > 5 * metrics.ate(est, gt).rmse


def test_degenerate_inputs():
    gt = trajectory(10)
    static = np.repeat(np.eye(4)[None], 10, 0)
    # static estimate: lands on the ground-truth centroid, so ATE is the ground-truth spread
    c = camera.camera_centers(gt)
    spread = np.sqrt(((c - c.mean(0)) ** 2).sum(1).mean())
    assert metrics.ate(static, gt, "sim3").rmse == pytest.approx(spread)
    assert np.isfinite(metrics.rpe(static, gt, "sim3").trans_rmse)
    with pytest.raises(ValueError, match="all equal"):
        metrics.ate(gt, static, "sim3")
    assert metrics.ate(gt, static, "se3").rmse > 0
    with pytest.raises(ValueError, match="at least 3"):
        metrics.ate(gt[:2], gt[:2])
    bad = gt.copy()
    bad[2, 0, 3] = np.nan
    for f in (metrics.ate, metrics.rpe, metrics.align):
        with pytest.raises(ValueError, match="NaN"):
            f(bad, gt)
    with pytest.raises(ValueError, match="align mode"):
        metrics.ate(gt, gt, align="affine")
    with pytest.raises(ValueError, match="registered"):
        metrics.ate(gt, gt, registered=np.ones(3, bool))
    # collinear motion (evo refuses it): still exact
    line = np.repeat(np.eye(4)[None], 6, 0)
    line[:, 2, 3] = -np.arange(6.0)
    assert metrics.ate(sim3_transform(line, *RNG_SIM3), line).rmse < 1e-9


def _two_views():
    K = camera.make_K(200.0, cx=80.0, cy=48.0)
    w2c_i = camera.look_at([0, 0, 0], [0, 0, 5])
    w2c_j = camera.look_at([0.5, 0.1, 0], [0.3, 0, 5])
    X = np.random.default_rng(0).uniform([-2, -1, 4], [2, 1, 8], (50, 3))
    return K, w2c_i, w2c_j, camera.project(K, w2c_i, X)[0], camera.project(K, w2c_j, X)[0]


def test_sampson_exact_and_perturbed():
    K, w2c_i, w2c_j, uv_i, uv_j = _two_views()
    F = camera.fundamental_from(K, K, w2c_i, w2c_j)
    assert metrics.sampson_errors(F, uv_i, uv_j).max() < 1e-6
    # moving x_j by d along the normal of its epipolar line l_j = F x_i: the residual is exactly d |l_j[:2]|,
    # so the Sampson distance is d |l_j[:2]| / sqrt(|l_j[:2]|^2 + |l_i[:2]|^2) with l_i = F^T x_j (< d)
    lines = np.c_[uv_i, np.ones(50)] @ F.T
    n = lines[:, :2] / np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    moved = uv_j + 3.0 * n
    e = metrics.sampson_errors(F, uv_i, moved)
    nj = np.linalg.norm(lines[:, :2], axis=1)
    ni = np.linalg.norm((np.c_[moved, np.ones(50)] @ F)[:, :2], axis=1)
    np.testing.assert_allclose(e, 3.0 * nj / np.hypot(nj, ni), rtol=1e-6)
    # normalised to 720p: the same pixels measured on a 360-high image count double
    assert 1.5 < e.min() and e.max() < 3.0
    e360 = metrics.sampson_from_poses(K, K, w2c_i, w2c_j, uv_i, moved, (360, 640))
    np.testing.assert_allclose(e360, 2 * e)
    # no baseline: transfer error of the rotation homography, which is 0 for identity and static points
    same = metrics.sampson_from_poses(K, K, w2c_i, w2c_i, uv_i, uv_i + [4.0, 3.0], (720, 1280))
    np.testing.assert_allclose(same, 5.0)
    with pytest.raises(ValueError):
        metrics.sampson_errors(np.zeros((3, 3)), uv_i, uv_j)


def test_sampson_summary():
    s = metrics.sampson_summary([1.0, 4.0, 7.0, 20.0, 40.0])
    assert s == {"pct_lt_5": 40.0, "pct_lt_10": 60.0, "pct_lt_30": 80.0, "mean": 14.4, "count": 5}
    with pytest.raises(ValueError):
        metrics.sampson_summary([])


def test_precision_recall_toy():
    scores = [0.9, 0.8, 0.8, 0.5, 0.3, 0.1]
    labels = [1, 0, 1, 1, 0, 0]
    p, r, t = metrics.precision_recall(scores, labels)
    np.testing.assert_allclose(t, [0.9, 0.8, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(p, [1, 2 / 3, 3 / 4, 3 / 5, 3 / 6])
    np.testing.assert_allclose(r, [1 / 3, 2 / 3, 1, 1, 1])
    assert metrics.pr_at(scores, labels, 0.8) == pytest.approx((2 / 3, 2 / 3))
    assert np.isnan(metrics.pr_at(scores, labels, 0.95)[0])
    assert metrics.average_precision(scores, labels) == pytest.approx(1 / 3 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 4)
    assert metrics.threshold_for_precision(scores, labels, 0.7) == pytest.approx((0.5, 0.75, 1.0))
    assert metrics.threshold_for_precision(scores, labels, 1.0) == pytest.approx((0.9, 1.0, 1 / 3))
    with pytest.raises(ValueError, match="no positive"):
        metrics.precision_recall([0.1, 0.2], [0, 0])


def test_matches_evo(tmp_path):
    """Our ATE/RPE agree with evo run as an external tool on the same TUM files."""
    # evo's scripts sit beside this interpreter in a virtualenv, whether or not it is activated
    where = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    evo_ape, evo_rpe = shutil.which("evo_ape", path=where), shutil.which("evo_rpe", path=where)
    if not (evo_ape and evo_rpe):
        pytest.skip("evo executables (evo_ape, evo_rpe) not found: pip install evo")
    gt_w2c = trajectory(40, seed=5)
    est_w2c = sim3_transform(noisy(gt_w2c, seed=6), 0.4, *RNG_SIM3[1:])
    ts = np.arange(40) / 12.0
    camera.write_tum(tmp_path / "gt.txt", gt_w2c, ts)
    camera.write_tum(tmp_path / "est.txt", est_w2c, ts)
    env = dict(os.environ, HOME=str(tmp_path), MPLBACKEND="Agg")

    def evo(tool, *extra):
        out = tmp_path / f"{tool}{'_'.join(extra)}.zip"
        cmd = [{"evo_ape": evo_ape, "evo_rpe": evo_rpe}[tool], "tum", "gt.txt", "est.txt", "-as", *extra,
               "--save_results", str(out), "--no_warnings"]
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
        return json.loads(zipfile.ZipFile(out).read("stats.json"))["rmse"]

    gt, _ = camera.read_tum(tmp_path / "gt.txt")
    est, _ = camera.read_tum(tmp_path / "est.txt")
    r = metrics.rpe(est, gt, align="sim3", delta=1)
    assert metrics.ate(est, gt, align="sim3").rmse == pytest.approx(evo("evo_ape"), abs=1e-6)
    rpe_args = ("--delta", "1", "--delta_unit", "f", "--pose_relation")
    assert r.trans_rmse == pytest.approx(evo("evo_rpe", *rpe_args, "trans_part"), abs=1e-6)
    assert r.rot_rmse_deg == pytest.approx(evo("evo_rpe", *rpe_args, "angle_deg"), abs=1e-6)


def test_wilson_interval_scalar_and_array():
    from dynpose100k.metrics import wilson_interval

    lo, hi = wilson_interval(np.array([0, 5, 10]), 10)
    assert lo.shape == hi.shape == (3,)
    assert lo[0] == 0.0 and hi[2] == 1.0 and lo[1] < 0.5 < hi[1]
    assert (wilson_interval(5, 10)[0], wilson_interval(5, 10)[1]) == (float(lo[1]), float(hi[1]))
    assert all(np.isnan(wilson_interval(0, 0)))


def test_fit_logistic_recovers_coefficients_from_labels_and_soft_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(X @ [2.0, -1.0] + 0.5)))
    w, b = metrics.fit_logistic(X, rng.random(4000) < p, l2=0.0)
    assert np.allclose(w, [2.0, -1.0], atol=0.2) and abs(b - 0.5) < 0.15
    ws, bs = metrics.fit_logistic(X, p, l2=0.0)  # the probabilities themselves as targets: exact
    assert np.allclose(ws, [2.0, -1.0], atol=1e-6) and abs(bs - 0.5) < 1e-6
    wr, _ = metrics.fit_logistic(X, p, l2=1000.0)  # the penalty shrinks the weights
    assert np.all(np.abs(wr) < np.abs(ws))
