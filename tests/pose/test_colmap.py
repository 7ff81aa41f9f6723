import numpy as np
import pytest

from dynpose100k import camera as cam
from dynpose100k.pose import colmap

pytest.importorskip("pycolmap")


@pytest.mark.parametrize("model,k1", [("SIMPLE_PINHOLE", 0.0), ("SIMPLE_RADIAL", -0.05), ("PINHOLE", 0.0)])
def test_camera_params_roundtrip(model, k1):
    K = cam.make_K(420.0, 420.0 if model != "PINHOLE" else 410.0, 159.5, 119.5)
    p = colmap.camera_params(model, K, k1)
    assert p[-2 if model == "SIMPLE_RADIAL" else -1] == 120.0  # cy + 0.5: COLMAP's pixel-corner origin
    K2, k2 = colmap.camera_from_params(model, p)
    np.testing.assert_allclose(K2, K)
    assert k2 == k1
    c = colmap.make_camera(model, K, (240, 320), camera_id=3, k1=k1)
    assert (c.model.name, c.width, c.height, c.camera_id) == (model, 320, 240, 3)
    np.testing.assert_allclose(c.params, p)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unsupported camera model"):
        colmap.camera_params("OPENCV", np.eye(3))


def _scene(n=6, m=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform([-2, -1, 4], [2, 1, 8], (m, 3))
    K = cam.make_K(150.0, cx=79.5, cy=59.5)
    w2c = cam.make_w2c(np.tile(np.eye(3), (n, 1, 1)), np.c_[-0.1 * np.arange(n), np.zeros(n), np.zeros(n)])
    uv, _ = cam.project(K, w2c, X)
    use = rng.random((n, m)) < 0.8
    return uv, use, X, w2c, K


def test_reconstruction_roundtrip():
    uv, use, X, w2c, K = _scene()
    frames, points = np.array([1, 2, 4]), np.arange(5, 60)
    rec, pids = colmap.to_reconstruction(uv, use, X, w2c, K, (120, 160), "SIMPLE_RADIAL", 0.01, frames, points)
    assert sorted(rec.images) == [2, 3, 5] and len(pids) == len(points) == rec.num_points3D()
    img = rec.image(3)
    ids = points[use[2, points]]
    np.testing.assert_allclose(np.array([p.xy for p in img.points2D]), uv[2, ids] + 0.5)  # COLMAP pixels
    assert len(rec.point3D(int(pids[0])).track.elements) == use[frames, points[0]].sum()
    w2, X2, K2, k1 = colmap.from_reconstruction(rec, frames, pids, "SIMPLE_RADIAL")
    np.testing.assert_allclose(w2, w2c[frames], atol=1e-12)
    np.testing.assert_allclose(X2, X[points])
    np.testing.assert_allclose(K2, K)
    assert k1 == 0.01


def test_bundle_adjust_recovers_a_perturbed_scene():
    uv, use, X, w2c, K = _scene()
    rng = np.random.default_rng(1)
    noisy = w2c.copy()
    noisy[2:, :3, 3] += rng.normal(0, 0.01, (len(w2c) - 2, 3))
    rec, pids = colmap.to_reconstruction(uv, use, X + rng.normal(0, 0.02, X.shape), noisy, K, (120, 160),
                                         "SIMPLE_PINHOLE")
    colmap.bundle_adjust(rec, np.arange(len(w2c)), refine_focal=False, refine_extra=False, iters=100,
                         loss="TRIVIAL", loss_scale_px=1.0, threads=1, function_tolerance=1e-6)
    w2, X2, K2, _ = colmap.from_reconstruction(rec, np.arange(len(w2c)), pids, "SIMPLE_PINHOLE")
    # the first two cameras fix the gauge (their poses and the scale): exact scene recovered
    np.testing.assert_allclose(K2, K)
    np.testing.assert_allclose(w2, w2c, atol=1e-4)
    np.testing.assert_allclose(X2, X, atol=1e-3)
    # held frames keep their pose exactly
    rec, pids = colmap.to_reconstruction(uv, use, X, noisy, K, (120, 160), "SIMPLE_PINHOLE")
    colmap.bundle_adjust(rec, np.arange(3), np.arange(3, len(w2c)), refine_focal=False, refine_extra=False,
                         iters=20, loss="CAUCHY", loss_scale_px=1.0, threads=1, function_tolerance=1e-6)
    w3, *_ = colmap.from_reconstruction(rec, np.arange(len(w2c)), pids, "SIMPLE_PINHOLE")
    np.testing.assert_allclose(w3[3:], noisy[3:], atol=1e-12)
    assert np.abs(w3[2] - noisy[2]).max() > 1e-4  # the varied frame moved


def test_global_map_recovers_a_rotating_and_moving_camera():
    from dynpose100k import metrics

    rng = np.random.default_rng(3)
    n, hw = 14, (240, 320)
    X = rng.uniform([-3, -2, 5], [3, 2, 10], (400, 3))
    K = cam.make_K(260.0, cx=159.5, cy=119.5)
    ang = np.deg2rad(1.5) * np.arange(n)  # yaw 1.5 deg per frame while moving sideways and forward
    R = np.stack([[[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]] for a in ang])
    w2c = cam.make_w2c(R, np.c_[-0.12 * np.arange(n), np.zeros(n), -0.03 * np.arange(n)])
    uv, z = cam.project(K, w2c, X)
    uv = uv + rng.normal(0, 0.3, uv.shape)
    out = (z <= 0) | (uv[..., 0] < 0) | (uv[..., 0] > hw[1] - 1) | (uv[..., 1] < 0) | (uv[..., 1] > hw[0] - 1)
    uv[out] = np.nan
    # start 30% off the true focal: the mapper adjusts it
    est, reg, K2, k1 = colmap.global_map(uv, hw, "SIMPLE_PINHOLE", cam.make_K(340.0, cx=159.5, cy=119.5), 6)
    assert reg.all() and k1 == 0.0
    assert abs(K2[0, 0] / 260.0 - 1) < 0.05 and K2[0, 2] == pytest.approx(159.5)
    assert metrics.ate(est, w2c).rmse < 0.02 * metrics.path_length(cam.camera_centers(w2c))
    # every second frame only: the others stay unregistered, the mapped ones are as right
    est, reg, _, _ = colmap.global_map(uv, hw, "SIMPLE_PINHOLE", cam.make_K(340.0, cx=159.5, cy=119.5), 6, step=2)
    assert (reg == (np.arange(n) % 2 == 0)).all()
    assert metrics.ate(est[reg], w2c[reg]).rmse < 0.02 * metrics.path_length(cam.camera_centers(w2c))
    # nothing shared between frames: nothing registered, no error
    lonely = np.full((4, 10, 2), np.nan)
    for i in range(4):
        lonely[i, i] = (100.0, 100.0)
    est, reg, _, _ = colmap.global_map(lonely, hw, "SIMPLE_PINHOLE", K, 3)
    assert not reg.any() and np.allclose(est, np.eye(4))


def test_global_map_is_reproducible(monkeypatch):
    """COLMAP seeds each two-view RANSAC from the clock unless told otherwise: the verification gets a fixed
    seed, so on one thread (as the pipeline runs it, ``PoseConfig.ba_threads``) a scene with outlier tracks
    maps to the same cameras twice."""
    rng = np.random.default_rng(5)
    n, hw = 12, (240, 320)
    X = rng.uniform([-3, -2, 5], [3, 2, 10], (300, 3))
    K = cam.make_K(260.0, cx=159.5, cy=119.5)
    w2c = cam.make_w2c(np.tile(np.eye(3), (n, 1, 1)), np.c_[-0.15 * np.arange(n), np.zeros(n), np.zeros(n)])
    uv, _ = cam.project(K, w2c, X)
    uv = uv + rng.normal(0, 0.3, uv.shape)
    uv[:, :75] += rng.normal(0, 8.0, (n, 75, 2))  # a quarter of the tracks wander: RANSAC has outliers to drop
    pycolmap = colmap.import_pycolmap()
    seeds, real = [], pycolmap.verify_matches

    def spy(db, pairs, options, *a, **k):
        seeds.append(options.ransac.random_seed)
        return real(db, pairs, options, *a, **k)

    monkeypatch.setattr(pycolmap, "verify_matches", spy)
    a = colmap.global_map(uv, hw, "SIMPLE_PINHOLE", K, 4)  # the defaults: one thread, seed 0
    b = colmap.global_map(uv, hw, "SIMPLE_PINHOLE", K, 4)
    assert seeds == [0, 0] and a[1].sum() >= n - 1
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])


def test_bundle_adjust_stops_at_its_function_tolerance():
    """A looser relative-decrease tolerance ends the adjustment of the same perturbed scene in fewer iterations."""
    import re

    uv, use, X, w2c, K = _scene()
    rng = np.random.default_rng(1)
    uv = uv + rng.normal(0, 0.5, uv.shape)  # noisy observations: the cost does not fall to zero
    noisy = w2c.copy()
    noisy[2:, :3, 3] += rng.normal(0, 0.05, (len(w2c) - 2, 3))
    X0 = X + rng.normal(0, 0.1, X.shape)
    iterations = {}
    for tol in (1e-10, 1e-1):
        rec, _ = colmap.to_reconstruction(uv, use, X0, noisy, K, (120, 160), "SIMPLE_PINHOLE")
        report = colmap.bundle_adjust(rec, np.arange(len(w2c)), refine_focal=False, refine_extra=False, iters=100,
                                      loss="TRIVIAL", loss_scale_px=1.0, threads=1, function_tolerance=tol)
        iterations[tol] = int(re.search(r"Iterations: (\d+)", report).group(1))
    assert iterations[1e-1] < iterations[1e-10], iterations


def _fresh_python(code: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_pycolmap_after_the_package_leaves_compression_working():
    # pycolmap's wheel carries its own zlib; loaded first, it breaks the system libz and np.savez_compressed aborts
    # (or hangs). np.savez_compressed loads zlib when first called: after pycolmap here, as in a user's script.
    out = _fresh_python("import dynpose100k, pycolmap, io, numpy as np\n"
                        "np.savez_compressed(io.BytesIO(), a=np.random.default_rng(0).random(100000))\nprint('saved')")
    assert out.returncode == 0 and "saved" in out.stdout, out.stderr[-500:]


def test_pycolmap_before_the_package_is_warned_about():
    out = _fresh_python("import warnings, pycolmap\nwarnings.simplefilter('always')\nimport dynpose100k")
    assert out.returncode == 0 and "import dynpose100k or zlib before pycolmap" in out.stderr
    out = _fresh_python("import zlib, pycolmap, warnings\nwarnings.simplefilter('error')\nimport dynpose100k")
    assert out.returncode == 0, out.stderr[-500:]


def test_a_process_using_pycolmap_ends_quietly_on_sigterm():
    """pycolmap's import installs glog's failure handler, which prints a stack trace on SIGTERM (a pool stopping
    its workers, a scheduler ending a job); the adapter gives SIGTERM back the handler Python had."""
    import subprocess
    import sys

    code = ("import os, signal, time\nimport dynpose100k\nfrom dynpose100k.pose.colmap import import_pycolmap\n"
            "import_pycolmap()\nos.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -15 and "Aborted" not in r.stderr and not r.stderr.strip(), (r.returncode, r.stderr[:300])
