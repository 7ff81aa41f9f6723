"""Style b, the held-out split and the newer failure kinds: exact ground truth everywhere, disjoint seeds,
and the properties each kind promises."""

import csv

import cv2
import numpy as np
import pytest

from dynpose100k import camera
from dynpose100k.cli import main
from dynpose100k.synth import (
    BAR_LAYOUTS,
    CLASSIC_KINDS,
    DEGRADATIONS,
    HELDOUT_SEED_BASE,
    KINDS,
    MAX_DYNAMIC_FRACTION,
    POSE_DEGENERATE_KINDS,
    SynthError,
    bars,
    consumer_camera,
    contact_sheet,
    degrade,
    load_gt,
    pool_plan,
    render,
    save_gt,
    split_of,
)
from dynpose100k.synth import textures as tx

TINY = dict(height=48, width=64, duration=0.75, fps=8.0)
VARIANTS = [("a", 7), ("a", HELDOUT_SEED_BASE + 7), ("b", 7)]


def _reprojection_error(g) -> np.ndarray:
    """|project(unproject(corr_uv_i, depth_i), frame j) - corr_uv_j| for every stored correspondence, after
    checking the points are static and visible at the projected depth in frame j."""
    errs = []
    for i, j in set(zip(g.corr_i.tolist(), g.corr_j.tolist())):
        sel = (g.corr_i == i) & (g.corr_j == j)
        px = g.corr_uv_i[sel].astype(int)
        assert not g.dynamic_mask[i][px[:, 1], px[:, 0]].any()
        X = camera.unproject(g.K[i], g.w2c[i], g.corr_uv_i[sel], g.depth[i][px[:, 1], px[:, 0]])
        proj, zj = camera.project(g.K[j], g.w2c[j], X)
        q = np.round(g.corr_uv_j[sel]).astype(int)
        zmap = g.depth[j][q[:, 1], q[:, 0]]
        assert np.median(np.abs(zmap - zj) / zj) < 0.05  # visible there, not behind something
        errs.append(np.linalg.norm(proj - g.corr_uv_j[sel], axis=1))
    return np.concatenate(errs) if errs else np.zeros(0)


@pytest.mark.parametrize("style,seed", VARIANTS, ids=["a-dev", "a-heldout", "b"])
@pytest.mark.parametrize("kind", KINDS)
def test_ground_truth_exact_for_every_kind_and_style(kind, style, seed):
    """GT depth reprojected through GT poses lands on the stored correspondences (< 0.5 px), for every kind
    of every style and split; the moving-object cap holds (except bigobject)."""
    v = render(kind, seed, style=style, **TINY)
    g = v.gt
    assert v.frames.shape == (6, 48, 64, 3) and g.depth.shape == (6, 48, 64)
    assert (g.style, g.split, g.kind) == (style, split_of(seed), kind)
    np.testing.assert_allclose(np.linalg.det(g.w2c[:, :3, :3]), 1.0, atol=1e-9)
    err = _reprojection_error(g)
    assert len(err) >= (20 if kind != "bigobject" else 0)  # (a card may leave no static pair on 64x48)
    assert len(err) == 0 or err.max() < 0.5
    cover = g.dynamic_mask.mean(axis=(1, 2))
    if kind == "bigobject":
        assert np.mean(cover > 0.5) > 0.5
    else:
        assert cover.max() <= MAX_DYNAMIC_FRACTION


@pytest.mark.parametrize("seed", [7, HELDOUT_SEED_BASE + 7], ids=["a-dev", "a-heldout"])
@pytest.mark.parametrize("kind", POSE_DEGENERATE_KINDS)
def test_ground_truth_exact_for_pose_degenerate_kinds(kind, seed):
    """The kinds the pose engine must refuse (style a only) keep exact ground truth too; in ``incar`` the cabin
    travels with the camera, so it is dynamic and covers most of the frame; the others are refused in style b."""
    v = render(kind, seed, **TINY)
    g = v.gt
    assert g.kind == kind and g.depth.shape == (6, 48, 64)
    err = _reprojection_error(g)
    assert len(err) == 0 or err.max() < 0.5
    if kind == "incar":
        assert g.dynamic_mask.mean() > 0.4
    with pytest.raises(SynthError, match="style a only"):
        render(kind, seed, style="b", **TINY)


def test_style_b_geometry_movers_and_roundtrip(tmp_path):
    """Style b is another family: triangles (spheres, cylinders, terrain), articulated figures whose limbs
    move relative to each other, more than 254 surfaces (uint16 ids) surviving a save/load round trip."""
    from dynpose100k.synth import render as render_mod
    from dynpose100k.synth import styleb

    rng = np.random.default_rng(0)
    sc = styleb.outdoor(rng, "day", 64)
    assert any(p.corners is not None for p in sc.planes) and sc.sky and sc.ground is not None
    t = np.arange(12) / 6.0
    w2c = styleb.camera_path(rng, sc, t, "walkpan")
    n_obj = len(sc.obj_poses)
    styleb.populate(rng, sc, w2c, t, True, 64)
    groups = [sc.group_of(o) for o in range(n_obj, len(sc.obj_poses))]
    assert len(set(groups)) < len(groups)  # some movers have several parts
    # a figure's limbs swing: the relative pose of two parts of one mover changes over time
    first = groups[0]
    parts = [o for o in range(n_obj, len(sc.obj_poses)) if sc.group_of(o) == first]
    rel = [np.linalg.inv(sc.obj_poses[parts[0]][k]) @ sc.obj_poses[parts[-1]][k] for k in range(len(t))]
    if len(parts) > 2:
        assert np.abs(rel[0] - rel[-1]).max() > 1e-3
    v = render_mod("good", 3, style="b", height=64, width=96, duration=1.0)
    a = render_mod("good", 3, style="a", height=64, width=96, duration=1.0)
    assert not np.array_equal(v.frames, a.frames)
    g2 = load_gt(save_gt(tmp_path / "b.gt.npz", v.gt))
    assert g2.style == "b" and g2.split == "dev"
    np.testing.assert_array_equal(g2.depth, v.gt.depth)
    np.testing.assert_array_equal(g2.surface, v.gt.surface)


def test_heldout_split_varies_scene_and_never_shares_seeds():
    dev = pool_plan(30, "mixed", seed=2)
    held = pool_plan(30, "mixed", seed=2, split="heldout")
    assert {s for _, _, s in dev}.isdisjoint({s for _, _, s in held})
    assert all(s < HELDOUT_SEED_BASE for _, _, s in dev) and all(s >= HELDOUT_SEED_BASE for _, _, s in held)
    assert {k for _, k, _ in dev} <= set(CLASSIC_KINDS)  # the default pool is what it always was
    assert {k for _, k, _ in pool_plan(160, "mixed", seed=0, split="heldout")} == set(KINDS)
    with pytest.raises(SynthError):
        pool_plan(3, "mixed", seed=HELDOUT_SEED_BASE // 10000)  # would run into the held-out range
    # held-out style a draws lenses outside the dev range (55-75 degrees) for some seeds
    hfov = [np.degrees(2 * np.arctan(32 / render("good", HELDOUT_SEED_BASE + s, **TINY).gt.K[0, 0, 0]))
            for s in range(8)]
    assert min(hfov) < 55 or max(hfov) > 75


def test_new_kinds_do_what_they_say():
    g = render("slowzoom", 1, **TINY).gt
    ratio = g.K[:, 0, 0].max() / g.K[:, 0, 0].min()
    assert 1.2 < ratio < 1.55
    g = render("zoomwalk", 1, style="b", **TINY).gt
    c = camera.camera_centers(g.w2c)
    assert g.K[:, 0, 0].max() / g.K[:, 0, 0].min() > 1.7 and np.linalg.norm(c[-1] - c[0]) > 0.05
    g = render("stabilised", 2, **TINY).gt
    assert np.ptp(g.K[:, 0, 2]) > 1.0 and np.ptp(g.K[:, 0, 0]) == 0
    g = render("similarcut", 4, **dict(TINY, duration=1.5)).gt
    steps = np.linalg.norm(np.diff(camera.camera_centers(g.w2c), axis=0), axis=1)
    k = int(np.argmax(steps)) + 1
    assert steps.max() > 5 * np.median(steps) and not np.any((g.corr_i < k) & (g.corr_j >= k))


def test_effects_change_images_not_geometry():
    a = render("good", 5, **TINY)
    b = render("good", 5, rolling_shutter=0.5, **TINY)
    np.testing.assert_array_equal(a.gt.depth, b.gt.depth)
    np.testing.assert_array_equal(a.gt.w2c, b.gt.w2c)
    assert not np.array_equal(a.frames, b.frames)
    s = render("screen", 5, **TINY)
    np.testing.assert_array_equal(s.gt.depth.shape, a.gt.depth.shape)


def test_lens_override_changes_the_lens_only():
    a = render("good", 3, **TINY)
    b = render("good", 3, hfov_deg=(20.0, 20.0), **TINY)
    np.testing.assert_array_equal(a.gt.w2c, b.gt.w2c)  # same path, another lens
    assert np.degrees(2 * np.arctan(32 / b.gt.K[0, 0, 0])) == pytest.approx(20.0)
    assert not 19 < np.degrees(2 * np.arctan(32 / a.gt.K[0, 0, 0])) < 21
    for bad in (dict(style="b", hfov_deg=(20.0, 30.0)), dict(hfov_deg=(30.0, 20.0)), dict(hfov_deg=(0.0, 20.0))):
        with pytest.raises(SynthError):
            render("good", 3, **bad, **TINY)


def test_clutter_adds_thin_structures_and_walkers_to_the_same_shot():
    size = dict(height=90, width=160, duration=1.0, fps=6.0)
    a = render("good", 3, **size)
    b = render("good", 3, clutter=True, **size)
    np.testing.assert_array_equal(a.gt.w2c, b.gt.w2c)  # same path and lens: only the content changes
    np.testing.assert_array_equal(a.gt.K, b.gt.K)
    assert b.gt.planes.shape[1] > a.gt.planes.shape[1] + 20  # bars of four faces each, and the walkers
    new_static = (b.gt.surface != a.gt.surface) & ~b.gt.dynamic_mask & (b.gt.surface > 0)
    assert new_static.mean() > 0.005  # the structures are in view and static
    assert b.gt.dynamic_mask.mean() > a.gt.dynamic_mask.mean()  # the crowd moves
    np.testing.assert_array_equal(render("good", 3, clutter=True, **size).frames, b.frames)
    with pytest.raises(SynthError, match="style-a option"):
        render("good", 3, style="b", clutter=True, **TINY)


def test_consumer_camera_changes_the_images_only():
    v = render("good", 4, height=90, width=160, duration=1.0, fps=6.0)
    before = v.frames.copy()
    day, night = consumer_camera(v.frames, v.gt, 3), consumer_camera(v.frames, v.gt, 5)  # seeds 3, 5: day, night
    np.testing.assert_array_equal(v.frames, before)  # a copy; the clip is untouched
    np.testing.assert_array_equal(consumer_camera(v.frames, v.gt, 3), day)  # the same draws again
    assert day.shape == before.shape and day.dtype == np.uint8
    assert np.abs(day.astype(float) - before).mean() > 3  # noise, vignetting, compression
    assert np.abs(night.astype(float) - day).mean() > 3  # another time of day, other draws


def test_bars_keep_the_middle_of_the_picture_and_black_out_the_rest():
    """Each layout keeps a centred picture of its aspect ratio, the very pixels of the clip there, black
    elsewhere; the picture_box the filter and the pose engine use finds those bars."""
    from dynpose100k.video import picture_box

    v = render("good", 4, height=180, width=320, duration=1.0, fps=6.0)
    aspect = {"letterbox": 2.35, "portrait": 9 / 16, "fourthree": 4 / 3}
    fill = bars(v.frames, "portrait_fill")  # the portrait picture, the sides a blurred copy of it
    x0 = (320 - round(180 * 9 / 16)) // 2
    np.testing.assert_array_equal(fill[:, :, x0:320 - x0 - 1], v.frames[:, :, x0:320 - x0 - 1])
    sides = fill[:, :, : x0 - 2].astype(np.float32)
    assert sides.mean() > 10 and np.abs(np.diff(sides, axis=2)).mean() < 2  # not black, but smooth
    assert abs(picture_box(fill)[2] - x0) <= 4 and abs(picture_box(fill)[3] - x0) <= 4
    for layout in (x for x in BAR_LAYOUTS if x != "portrait_fill"):
        out = bars(v.frames, layout)
        assert out.shape == v.frames.shape and out is not v.frames
        ys, xs = np.nonzero(out.any(axis=(0, 3)))
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        assert (x1 - x0) / (y1 - y0) == pytest.approx(aspect[layout], rel=0.02)
        assert abs((y0 + y1) / 2 - 90) <= 1 and abs((x0 + x1) / 2 - 160) <= 1  # centred
        np.testing.assert_array_equal(out[:, y0:y1, x0:x1], v.frames[:, y0:y1, x0:x1])
        top, bottom, left, right = picture_box(out)
        assert abs(top - y0) <= 2 and abs(left - x0) <= 2 and abs(bottom - (180 - y1)) <= 2
    with pytest.raises(ValueError, match="unknown bar layout"):
        bars(v.frames, "circle")


def test_recorded_applies_the_asked_steps_in_one_order():
    """degrade, then the consumer camera, then bars, then fades; nothing asked: the frames themselves."""
    from dynpose100k.synth import degrade, fade, recorded

    v = render("good", 4, height=90, width=160, duration=1.0, fps=6.0)
    assert recorded(v.frames, v.gt, 3) is v.frames
    want = fade(bars(consumer_camera(degrade(v.frames, "noise", 3), v.gt, 3, 1), "letterbox"), v.gt.timestamps,
                0.5, 0.0)
    got = recorded(v.frames, v.gt, 3, 1, degradation="noise", camera=True, layout="letterbox", fades=(0.5, 0.0))
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, fade(bars(degrade(consumer_camera(v.frames, v.gt, 3, 1), "noise", 3), "letterbox"),
                                        v.gt.timestamps, 0.5, 0.0))


def test_fade_ramps_from_and_to_black():
    """A linear gain from black over the first seconds and to black over the last; the rest untouched."""
    from dynpose100k.synth import fade

    frames = np.full((11, 4, 6, 3), 200, np.uint8)  # 2 s at 5 fps
    out = fade(frames, np.arange(11) / 5.0, 1.0, 0.4)
    means = out.reshape(11, -1).mean(1)
    np.testing.assert_allclose(means[:6], [0, 40, 80, 120, 160, 200], atol=1)  # in over 1 s
    np.testing.assert_allclose(means[-3:], [200, 100, 0], atol=1)  # out over 0.4 s
    assert (out[6:8] == 200).all() and (frames == 200).all()  # a copy
    np.testing.assert_array_equal(fade(frames, np.arange(11) / 5.0), frames)


def test_degradations_do_what_they_say():
    rng = np.random.default_rng(0)
    clean = np.clip(rng.normal(128, 40, (2, 360, 640, 3)), 0, 255).astype(np.uint8)
    clean = np.stack([cv2.GaussianBlur(f, (0, 0), 0.7) for f in clean])  # texture with some fine detail

    def detail(x):
        return float(np.var(cv2.Laplacian(x[0].astype(np.float32), cv2.CV_32F)))

    out = {k: degrade(clean, k, seed=1) for k in DEGRADATIONS}
    for k, x in out.items():
        assert x.shape == clean.shape and x.dtype == np.uint8 and not np.array_equal(x, clean), k
    assert detail(out["blur"]) < 0.3 * detail(clean) and detail(out["lowres"]) < 0.3 * detail(clean)
    grey = np.full((1, 360, 640), 128, np.uint8)
    assert np.std(degrade(grey, "noise", 1).astype(float) - 128) == pytest.approx(8.0, abs=0.3)
    np.testing.assert_array_equal(degrade(grey, "noise", 1), degrade(grey, "noise", 1))
    assert not np.array_equal(degrade(grey, "noise", 1), degrade(grey, "noise", 2))
    ramp = np.tile(np.arange(256, dtype=np.uint8), (1, 4, 1))
    flat = degrade(ramp, "contrast")
    assert flat.min() == 20 and flat.max() == 173 and np.all(np.diff(flat[0, 0].astype(int)) >= 0)
    assert 0 < np.abs(out["jpeg"].astype(float) - clean).mean() < 20
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(clean, "fog")


def test_textures_do_not_repeat():
    """Mosaic and style-b textures: no two tiles of a mosaic are alike, masonry bricks all differ."""
    rng = np.random.default_rng(1)
    m = tx.mosaic(rng, [tx.photo("coins"), tx.photo("cat")], 96, 3).astype(float)
    tiles = [m[i * 32 : (i + 1) * 32, j * 32 : (j + 1) * 32] for i in range(3) for j in range(3)]
    diffs = [np.abs(a - b).mean() for k, a in enumerate(tiles) for b in tiles[k + 1 :]]
    assert min(diffs) > 5
    brick = tx.masonry(rng, 128, 128).astype(float)
    assert np.abs(brick[:, :64] - brick[:, 64:]).mean() > 5 and np.abs(brick[:64] - brick[64:]).mean() > 5


def test_cli_style_split_and_contact_sheet(tmp_path, capsys):
    out = tmp_path / "pool"
    assert main(["synth", "--out", str(out), "--num", "2", "--kind", "mixed", "--style", "b", "--split",
                 "heldout", "--size", "64x48", "--duration", "0.5", "--fps", "6"]) == 0
    with open(out / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["style"], r["split"]) for r in rows] == [("b", "heldout")] * 2
    assert all(int(r["video_id"].split("_s")[1].split("_")[0]) >= HELDOUT_SEED_BASE for r in rows)
    gt = load_gt(out / f"{rows[0]['video_id']}.gt.npz")
    assert (gt.style, gt.split) == ("b", "heldout")
    from dynpose100k.synth.pool import clip_crf

    assert clip_crf(5) == 18 and {clip_crf(HELDOUT_SEED_BASE + s) for s in range(30)} <= set(range(20, 35))
    assert len({clip_crf(s, "b") for s in range(30)}) > 3
    ranged = {clip_crf(s, crf_range=(18, 32)) for s in range(60)}  # a dev seed, compressed as asked
    assert ranged <= set(range(18, 33)) and len(ranged) > 5 and clip_crf(7, crf_range=(25, 25)) == 25
    png = contact_sheet(tmp_path / "sheet.png", kinds=["good", "screen"], size=(64, 36), columns=3)
    import cv2

    img = cv2.imread(str(png))
    assert img.shape == (2 * 40, 3 * 68, 3)  # 2 styles x (2 kinds + portrait good) tiles
    assert img[:36, :64].std() > 5 and img[40:76, 136:200].std() > 5  # first and last tiles are drawn
    assert main(["synth", "--num", "2"]) == 1 and "--out" in capsys.readouterr().err


def test_style_b_movers_and_lenses():
    """Movers that stop stay put, movers that chase keep their distance to a travelling camera, crossing
    movers leave the view; lenses span 20-100 mm equivalent."""
    from dynpose100k.synth import styleb

    rng = np.random.default_rng(3)
    sc = styleb.outdoor(rng, "day", 64)
    t = np.arange(60) / 12.0
    w2c = styleb.camera_path(rng, sc, t, "vehicle")
    eyes = camera.camera_centers(w2c)
    assert np.linalg.norm(eyes[-1] - eyes[0]) > 5.0  # the vehicle travels
    pos, v = styleb.mover_path(rng, sc, w2c, t, 1.5, "stop", 1.5)
    assert v[0] == 1.5 and v[-1] == 0.0 and np.abs(pos[-10:] - pos[-1]).max() < 1e-9
    pos, _ = styleb.mover_path(rng, sc, w2c, t, 1.5, "chase", 1.5)
    gap = np.linalg.norm((pos - eyes)[:, [0, 2]], axis=1)
    assert np.ptp(gap) < 1.0 and np.linalg.norm(pos[-1] - pos[0]) > 5.0
    pos, _ = styleb.mover_path(rng, sc, w2c, t, 1.5, "cross", 1.5, tan_half=64 / 100)
    K = camera.make_K(100.0, 100.0, 63.5, 35.5)
    uv, z = zip(*(camera.project(K, w2c[k], pos[k][None] + [0, -0.9, 0]) for k in range(len(t))))
    inside = [(zk[0] > 0) and (0 <= u[0, 0] < 128) for u, zk in zip(uv, z)]
    assert any(inside) and not all(inside)
    f = np.array([styleb.focal_px(np.random.default_rng(s), 640, 360) for s in range(200)]) / 640 * 36
    assert 20 <= f.min() < 25 and 85 < f.max() <= 100


@pytest.mark.parametrize("seed", [0, 1])
def test_style_b_hard_respects_cap_and_sizes_vary(seed, tmp_path):
    cover = render("good", seed, style="b", hard=True, height=48, width=80, duration=1.0, fps=6).gt.dynamic_mask
    assert cover.mean(axis=(1, 2)).max() <= MAX_DYNAMIC_FRACTION
    if seed == 0:
        from dynpose100k.synth import write_pool

        ids = write_pool(tmp_path, 4, "good", seed=1, sizes=[(64, 48), (48, 64)], duration=0.5, fps=4)
        shapes = {load_gt(tmp_path / f"{i}.gt.npz").image_size for i in ids}
        assert shapes == {(48, 64), (64, 48)}  # landscape and portrait


def test_style_b_balls_roll_on_the_ground():
    """A rolling ball spins about its own centre: it never sinks into the ground however far it rolls."""
    from dynpose100k.synth import styleb

    found = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        sc = styleb.outdoor(rng, "day", 64)
        t = np.arange(24) / 6.0
        w2c = styleb.camera_path(rng, sc, t, "walkpan")
        styleb.populate(rng, sc, w2c, t, True, 64)
        balls = {p.obj for p in sc.planes if p.obj >= 0 and p.corners is not None}
        for o in balls:
            found += 1
            pts = np.concatenate([[p.origin + s * p.u + q * p.v for s, q in p.corners]
                                  for p in sc.planes if p.obj == o])
            world = np.einsum("nij,pj->npi", sc.obj_poses[o][:, :3, :3], pts) + sc.obj_poses[o][:, None, :3, 3]
            below = world[..., 1] - sc.ground_y(world[..., 0], world[..., 2])  # y points down
            assert below.max() < 0.05
    assert found >= 1


@pytest.mark.parametrize("style,seed,kind", [("a", 7, "good"), ("a", HELDOUT_SEED_BASE + 7, "good"),
                                             ("b", 7, "good"), ("a", 7, "bigobject")])
def test_no_movers_is_a_static_scene_with_exact_ground_truth(style, seed, kind):
    """movers=False: same camera path and intrinsics as the clip with movers, nothing moves (empty dynamic
    mask, no per-object planes), and GT depth reprojects exactly onto the stored correspondences."""
    moving = render(kind, seed, style=style, **TINY)
    still = render(kind, seed, style=style, movers=False, **TINY)
    assert moving.gt.dynamic_mask.any() and not still.gt.dynamic_mask.any()
    np.testing.assert_array_equal(still.gt.w2c, moving.gt.w2c)
    np.testing.assert_array_equal(still.gt.K, moving.gt.K)
    err = _reprojection_error(still.gt)
    assert len(err) >= 20 and err.max() < 0.5
    again = render(kind, seed, style=style, movers=False, **TINY)
    np.testing.assert_array_equal(again.frames, still.frames)
