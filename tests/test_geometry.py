import numpy as np
import pytest

from dynpose100k import camera as cam
from dynpose100k import geometry as geo
from dynpose100k import metrics

W, H, F_TRUE = 320, 240, 260.0


def _scene(step=(-0.4, 0.05, 0.1), yaw=0.05, n=600, seed=0):
    """Points in front of two cameras: view j yaws by ``yaw`` rad and moves by ``step``; returns K, the two
    w2c, the points and their pixels in both views (all inside the frames)."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.uniform(-4, 4, n), rng.uniform(-3, 3, n), rng.uniform(5, 15, n)]
    K = cam.make_K(F_TRUE, cx=(W - 1) / 2, cy=(H - 1) / 2)
    w2c_i = np.eye(4)
    w2c_j = cam.make_w2c(cam.quat_to_rotmat(np.r_[0, np.sin(yaw / 2), 0, np.cos(yaw / 2)]), step)
    xi, xj = cam.project(K, w2c_i, X)[0], cam.project(K, w2c_j, X)[0]
    inside = ((xi >= 0) & (xi < [W, H])).all(1) & ((xj >= 0) & (xj < [W, H])).all(1)
    return K, w2c_i, w2c_j, X[inside], xi[inside], xj[inside]


def test_sampson_of_exact_matches_is_zero_and_agrees_with_metrics():
    K, wi, wj, _, xi, xj = _scene()
    F = cam.fundamental_from(K, K, wi, wj)
    assert geo.sampson_error(F, xi, xj).max() < 1e-6
    moved = xj + np.random.default_rng(1).normal(0, 2, xj.shape)
    np.testing.assert_allclose(geo.sampson_error(F, xi, moved), metrics.sampson_errors(F, xi, moved))


def test_sampson_is_the_distance_to_the_constraint_for_a_rectified_pair():
    # pure x-translation: epipolar lines are the rows (y_i = y_j); a vertical offset d needs each point moved
    # by d / 2, a total displacement of d / sqrt(2)
    F = np.array([[0, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    xi = np.array([[10.0, 20.0], [50.0, 7.0]])
    xj = xi + [[5.0, 3.0], [-2.0, -1.0]]
    np.testing.assert_allclose(geo.sampson_error(F, xi, xj), [3 / np.sqrt(2), 1 / np.sqrt(2)])


def test_fundamental_ransac_rejects_outliers():
    K, wi, wj, _, xi, xj = _scene()
    rng = np.random.default_rng(2)
    xj = xj + rng.normal(0, 0.2, xj.shape)
    bad = rng.random(len(xi)) < 0.3
    xj[bad] += rng.uniform(-40, 40, (bad.sum(), 2))
    F, inl = geo.fundamental_ransac(xi, xj, 1.0)
    assert F.shape == (3, 3) and inl.dtype == bool and inl.shape == (len(xi),)
    far = bad & (geo.sampson_error(cam.fundamental_from(K, K, wi, wj), xi, xj) > 3)
    assert not inl[far].any() and inl[~bad].mean() > 0.95
    assert np.median(geo.sampson_error(F, xi[~bad], xj[~bad])) < 0.5
    # too few matches, or an inlier floor that is not reached
    assert geo.fundamental_ransac(xi[:14], xj[:14], 1.0)[0] is None
    assert geo.fundamental_ransac(xi[:14], xj[:14], 1.0, min_points=12, min_inliers=0)[0] is not None
    assert geo.fundamental_ransac(xi, xj, 1.0, min_inliers=len(xi) + 1)[0] is None



def test_static_fundamental_prefers_the_background_to_a_larger_compact_mover():
    K, wi, wj, _, xi, xj = _scene(n=300)
    # a mover: a compact cluster holding most matches, moving rigidly against the camera's own motion
    rng = np.random.default_rng(3)
    Xm = np.c_[rng.uniform(-0.5, 0.5, 600), rng.uniform(-0.4, 0.4, 600), rng.uniform(6, 7, 600)]
    other = cam.make_w2c(cam.quat_to_rotmat(np.r_[np.sin(0.1), 0, 0, np.cos(0.1)]), (0.6, -0.3, 0.2))
    mi, mj = cam.project(K, wi, Xm)[0], cam.project(K, other, Xm)[0]
    xi_all, xj_all = np.r_[xi, mi], np.r_[xj, mj]
    background = np.r_[np.ones(len(xi), bool), np.zeros(len(mi), bool)]
    err = lambda F: geo.sampson_error(F, xi_all, xj_all)  # noqa: E731
    F_major, _ = geo.fundamental_ransac(xi_all, xj_all, 1.0)
    assert np.median(err(F_major)[background]) > 0.5  # the plain fit follows the mover's majority
    F = geo.static_fundamental(xi_all, xj_all, (H, W), 1.0)
    assert np.median(err(F)[background]) < 0.1 and np.median(err(F)[~background]) > 5
    # one rigid motion: the first fit stands; too few matches: none
    F1 = geo.static_fundamental(xi, xj, (H, W), 1.0)
    assert geo.sampson_error(F1, xi, xj).max() < 0.5
    assert geo.static_fundamental(xi[:10], xj[:10], (H, W), 1.0) is None

def test_focal_recovered_from_fundamental():
    K, wi, wj, *_ = _scene()
    F = cam.fundamental_from(K, K, wi, wj)
    cands = np.geomspace(0.3, 5.0, 120) * W
    f, gap = geo.focal_from_fundamental(F, cands, (K[0, 2], K[1, 2]))
    assert abs(f / F_TRUE - 1) < 0.03 and gap < 1e-3
    r = geo.essential_singular_ratio(F, np.array([F_TRUE, 0.5 * F_TRUE, 2 * F_TRUE]), (K[0, 2], K[1, 2]))
    assert r[0] == pytest.approx(1.0, abs=1e-9) and r[1] < 0.99 and r[2] < 0.99
    # F is defined up to scale: the answer does not depend on it
    assert geo.focal_from_fundamental(-1e3 * F, cands, (K[0, 2], K[1, 2]))[0] == f


def test_relative_pose_recovered_from_essential():
    K, wi, wj, _, xi, xj = _scene()
    ni = np.linalg.solve(K, np.c_[xi, np.ones(len(xi))].T).T[:, :2]
    nj = np.linalg.solve(K, np.c_[xj, np.ones(len(xj))].T).T[:, :2]
    rng = np.random.default_rng(3)
    bad = rng.random(len(ni)) < 0.2
    nj[bad] += rng.uniform(-0.2, 0.2, (bad.sum(), 2))
    E, inl = geo.essential_ransac(ni, nj, 1.0 / F_TRUE)
    assert E.shape == (3, 3) and inl[~bad].all() and inl.sum() < len(inl)
    R, t, front = geo.pose_from_essential(E, ni, nj, inl)
    T = cam.relative_pose(wi, wj)
    # MAGSAC's model is fitted to a minimal sample and refined, not exact: within a fraction of a degree
    dR = np.degrees(np.arccos(np.clip((np.trace(R.T @ T[:3, :3]) - 1) / 2, -1, 1)))
    dt = np.degrees(np.arccos(np.clip(t @ T[:3, 3] / np.linalg.norm(T[:3, 3]), -1, 1)))
    assert dR < 0.3 and dt < 2.0, (dR, dt)
    assert t.shape == (3,) and front.dtype == bool and not (front & ~inl).any() and front[~bad].mean() > 0.95


def test_essential_of_too_few_points_is_none():
    assert geo.essential_ransac(np.zeros((3, 2)), np.zeros((3, 2)), 1e-3)[0] is None


def _track_cameras(n=6):
    """n cameras stepping along +x, looking down +z, and their K."""
    K = cam.make_K(F_TRUE, cx=(W - 1) / 2, cy=(H - 1) / 2)
    return K, np.stack([cam.make_w2c(np.eye(3), [-0.3 * k, 0.0, 0.0]) for k in range(n)])


def test_triangulated_static_tracks_reproject_exactly_and_unseen_stays_nan():
    K, w2c = _track_cameras()
    rng = np.random.default_rng(1)
    X = np.c_[rng.uniform(-2, 2, 50), rng.uniform(-1.5, 1.5, 50), rng.uniform(5, 12, 50)]
    uv = cam.project(K, w2c, X)[0]  # (N, M, 2)
    uv[0, :10] = np.nan  # not seen by the first camera
    uv[1:, 10] = np.nan  # seen once: no point
    Xt, err = geo.triangulate_tracks(uv, K, w2c)
    good = np.arange(50) != 10
    assert np.allclose(Xt[good], X[good], atol=1e-6) and np.nanmax(err) < 1e-6
    assert np.isnan(err[0, :10]).all() and np.isnan(Xt[10]).all() and np.isnan(err[:, 10]).all()
    skip = np.arange(len(w2c)) != 2  # a frame left out counts as unobserved
    hidden = uv.copy()
    hidden[2] = np.nan
    Xs, es = geo.triangulate_tracks(uv, K, w2c, frames=skip)
    assert np.array_equal(np.isnan(es), np.isnan(geo.triangulate_tracks(hidden, K, w2c)[1]))
    assert np.allclose(Xs[good], X[good], atol=1e-6)
    k1 = -0.1  # radial distortion is undone before triangulating
    uvd = cam.project(K, w2c, X, k1)[0]
    assert np.nanmax(geo.triangulate_tracks(uvd, K, w2c, k1)[1]) < 1e-6
    assert np.nanmax(geo.triangulate_tracks(uvd, K, w2c)[1]) > 0.1


def test_triangulation_sees_motion_along_the_epipolar_lines():
    """A point that speeds up along the cameras' own direction of travel stays on every pair's epipolar line
    (zero Sampson error) yet no fixed point explains its track; one whose image moves against the parallax
    is explained by no point in front of the cameras, and at infinity only with errors as large as its motion."""
    K, w2c = _track_cameras()
    t = np.arange(len(w2c))
    Xt = np.stack([np.array([0.5 + 0.08 * k**2, 0.3, 6.0]) for k in t])  # accelerating along +x
    uv = np.stack([cam.project(K, w2c[k], Xt[k:k + 1])[0][0] for k in t])[:, None]
    for i, j in [(0, 2), (1, 4), (2, 5)]:
        F = cam.fundamental_from(K, K, w2c[i], w2c[j])
        assert geo.sampson_error(F, uv[i], uv[j])[0] < 1e-6
    assert np.max(geo.triangulate_tracks(uv, K, w2c)[1]) > 3.0
    static = np.stack([cam.project(K, w2c[k], np.array([[0.5, 0.3, 6.0]]))[0][0] for k in t])
    against = 2 * static[0] - static  # mirrored about the first frame: it moves the other way
    err = geo.triangulate_tracks(against[:, None], K, w2c)[1]
    assert np.median(err) > 10.0 and np.min(err) > 3.0  # it moves 13 px per frame


def test_distant_static_points_show_their_noise_not_a_point_behind_the_cameras():
    """Points 2000 units away seen over a short baseline with 0.5 px noise: the linear solution puts some of
    them behind a camera (an infinite error, which would mark them as moving); their point at infinity
    explains them to within the noise."""
    K, w2c = _track_cameras()
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(-200, 200, 200), rng.uniform(-100, 100, 200), np.full(200, 2000.0)]
    uv = cam.project(K, w2c, X)[0] + rng.normal(0, 0.5, (len(w2c), 200, 2))
    err = geo.triangulate_tracks(uv, K, w2c)[1]
    assert np.isfinite(err).all() and np.median(err, axis=0).max() < 1.5


def test_warp_back_carries_an_image_along_the_flow_and_fills_outside():
    """A flow of +3 px in x from view i to view j: view i sees at x what view j has at x + 3; beyond view j's edge
    the constant border gives 0, the replicated one the edge value."""
    import cv2

    from dynpose100k.geometry import warp_back

    image = np.tile(np.arange(10, dtype=np.float32), (4, 1))  # value = x
    flow = np.zeros((4, 10, 2), np.float32)
    flow[..., 0] = 3.0
    out = warp_back(image, flow)
    assert np.allclose(out[:, :7], image[:, 3:]) and not out[:, 7:].any()
    assert np.allclose(warp_back(image, flow, cv2.BORDER_REPLICATE)[:, 7:], 9.0)
    assert np.allclose(warp_back(image, np.zeros_like(flow)), image)
