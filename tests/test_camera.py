import numpy as np
import pytest

from dynpose100k import camera as cam


@pytest.fixture
def rig():
    rng = np.random.default_rng(0)
    w2c = np.stack([cam.look_at(rng.normal(size=3) + [0, 0, -5], [0, 0, 0]) for _ in range(5)])
    K = cam.make_K(500.0, 480.0, 319.5, 179.5)
    X = rng.normal(size=(50, 3))
    return w2c, K, X


def test_look_at_is_opencv(rig):
    w2c = cam.look_at([0, 0, -5], [0, 0, 0])
    # target straight ahead (+z), world -y appears up in the image (smaller v)
    uv, z = cam.project(cam.make_K(100, cx=50, cy=50), w2c, np.array([[0, 0, 0], [0, -1, 0], [1, 0, 0]]))
    assert z[0] == pytest.approx(5)
    assert uv[0] == pytest.approx([50, 50])
    assert uv[1, 1] < 50 and uv[2, 0] > 50


def test_project_unproject_roundtrip(rig):
    w2c, K, X = rig
    uv, z = cam.project(K, w2c[0], X)
    np.testing.assert_allclose(cam.unproject(K, w2c[0], uv, z), X, atol=1e-9)


def test_project_many_cameras_and_radial_distortion(rig):
    import cv2

    w2c, K, X = rig
    # a stack of cameras projects as each camera alone
    uv, z = cam.project(K, w2c, X)
    assert uv.shape == (len(w2c), len(X), 2) and z.shape == (len(w2c), len(X))
    for n in range(len(w2c)):
        one, zn = cam.project(K, w2c[n], X)
        np.testing.assert_allclose(uv[n], one, atol=1e-9)
        np.testing.assert_allclose(z[n], zn, atol=1e-12)
    # k1 is OpenCV's (and COLMAP SIMPLE_RADIAL's) first radial coefficient; undistorting gives the pinhole pixels
    Ks = cam.make_K(500.0, cx=319.5, cy=179.5)
    d, _ = cam.project(Ks, w2c[0], X, k1=-0.2)
    rvec = cv2.Rodrigues(w2c[0][:3, :3])[0]
    ref = cv2.projectPoints(X, rvec, w2c[0][:3, 3], Ks, np.array([-0.2, 0, 0, 0.0]))[0].reshape(-1, 2)
    np.testing.assert_allclose(d, ref, atol=1e-6)
    back = cv2.undistortPoints(d.reshape(-1, 1, 2), Ks, np.array([-0.2, 0, 0, 0.0]), P=Ks).reshape(-1, 2)
    np.testing.assert_allclose(back, cam.project(Ks, w2c[0], X)[0], atol=1e-2)  # OpenCV iterates 5 times


def test_inverse_and_centers(rig):
    w2c, _, _ = rig
    np.testing.assert_allclose(cam.invert(w2c) @ w2c, np.broadcast_to(np.eye(4), w2c.shape), atol=1e-12)
    c = cam.camera_centers(w2c)
    np.testing.assert_allclose(cam.transform_points(w2c[0], c[:1]), 0, atol=1e-12)


def test_tum_roundtrip(tmp_path, rig):
    w2c, _, _ = rig
    t = np.arange(len(w2c)) / 12.0
    cam.write_tum(tmp_path / "t.txt", w2c, t)
    w2, t2 = cam.read_tum(tmp_path / "t.txt")
    np.testing.assert_allclose(w2, w2c, atol=1e-7)
    np.testing.assert_allclose(t2, t, atol=1e-9)
    # TUM rows are camera-to-world: the position column is the camera centre
    np.testing.assert_allclose(cam.to_tum(w2c, t)[:, 1:4], cam.camera_centers(w2c), atol=1e-12)


def test_fundamental_epipolar(rig):
    w2c, K, X = rig
    F = cam.fundamental_from(K, K, w2c[0], w2c[1])
    a, _ = cam.project(K, w2c[0], X)
    b, _ = cam.project(K, w2c[1], X)
    r = np.einsum("ni,ij,nj->n", np.c_[b, np.ones(len(b))], F, np.c_[a, np.ones(len(a))])
    assert np.abs(r).max() < 1e-6 * np.abs(F).max() * 1e6


def test_resize_and_crop_follow_pixels(rig):
    w2c, K, X = rig
    uv, _ = cam.project(K, w2c[0], X)
    K2 = cam.resize_K(K, (360, 640), (180, 320))
    uv2, _ = cam.project(K2, w2c[0], X)
    np.testing.assert_allclose(uv2, (uv + 0.5) / 2 - 0.5, atol=1e-9)
    # pixels and intrinsics follow one map, also for unequal scales (640x360 -> 300x200)
    K4 = cam.resize_K(K, (360, 640), (200, 300))
    np.testing.assert_allclose(cam.project(K4, w2c[0], X)[0], cam.resize_pixels(uv, (360, 640), (200, 300)),
                               atol=1e-9)
    np.testing.assert_allclose(cam.resize_pixels(cam.resize_pixels(uv, (360, 640), (200, 300)), (200, 300),
                                                 (360, 640)), uv, atol=1e-9)
    assert np.isnan(cam.resize_pixels(np.array([[np.nan, 1.0]]), (2, 2), (4, 4))[0, 0])
    K3 = cam.crop_K(K, 10, 20)
    uv3, _ = cam.project(K3, w2c[0], X)
    np.testing.assert_allclose(uv3, uv - [10, 20], atol=1e-9)


def test_colmap_intrinsics_roundtrip(rig):
    _, K, _ = rig
    np.testing.assert_allclose(cam.K_from_colmap("PINHOLE", cam.K_to_colmap(K)), K)
    Ks = cam.make_K(400, cx=100, cy=50)
    f, _, cx, cy = cam.K_to_colmap(Ks)
    np.testing.assert_allclose(cam.K_from_colmap("SIMPLE_PINHOLE", [f, cx, cy]), Ks)
    # COLMAP's origin is the top-left pixel's corner: a principal point at our (cx, cy) is at +0.5 there, and
    # so is every keypoint
    assert (cx, cy) == (100.5, 50.5)
    np.testing.assert_allclose(cam.pixels_to_colmap([[0.0, 0.0], [3.0, 4.0]]), [[0.5, 0.5], [3.5, 4.5]])


def test_field_of_view_and_focal_convert_both_ways():
    assert cam.focal_from_hfov(90.0, 640) == pytest.approx(320.0)
    assert cam.hfov_from_focal(320.0, 640) == pytest.approx(90.0)
    f = np.array([200.0, 555.5, 1800.0])
    np.testing.assert_allclose(cam.focal_from_hfov(cam.hfov_from_focal(f, 1280), 1280), f)
