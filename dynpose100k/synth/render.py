"""``render``: one synthetic dynamic clip of a given kind, deterministic from its seed, with exact ground
truth (poses, intrinsics, depth, dynamic masks, static correspondences)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .. import camera
from . import effects as ef
from . import kinds as kd
from . import scene as sn
from . import styleb as sb
from . import textures as tx
from .raster import NEAR, Shot, depth_from_planes, render_shot
from .truth import GroundTruth, SynthError, SynthVideo

log = logging.getLogger(__name__)

CAMERA_MODES = ("walk", "orbit", "pan", "handheld", "follow")
_CHECK_WIDTH = 160  # width of the mask render that checks the moving-object coverage cap
_CHECK_MARGIN = 0.03  # stricter cap at that width, so the full-size clip stays under the cap
_REDRAWS = 4  # tries at drawing a population of moving objects that respects the cap
_CLUTTER_STREAM = 7919  # appended to a clip's seed key for the random stream of ``render(clutter=True)``

#: scene families: ``a`` (the one everything is tuned on) and ``b`` (other textures, light, objects,
#: cameras and movers; never used for tuning).
STYLES = ("a", "b")
#: seed ranges: ``dev`` seeds are ``[0, HELDOUT_SEED_BASE)``, ``heldout`` seeds ``[HELDOUT_SEED_BASE, 2**32)``.
SPLITS = ("dev", "heldout")
HELDOUT_SEED_BASE = 1_000_000_000


def split_of(seed: int) -> str:
    """``dev`` or ``heldout``: which seed range ``seed`` lies in (held-out seeds also vary the scene)."""
    return "heldout" if int(seed) >= HELDOUT_SEED_BASE else "dev"


@dataclass(frozen=True)
class Variation:
    """Scene parameters of style ``a`` that the split sets (``dev`` = the values everything was tuned on), and
    the options of :func:`render` that change them (``hfov_deg``, ``clutter``)."""

    hfov_deg: tuple[float, float] = (55.0, 75.0)
    """Range of the horizontal field of view, degrees."""
    mode_p: tuple[float, ...] = (0.25, 0.2, 0.25, 0.15, 0.15)
    """Probabilities of the camera modes walk, orbit, pan, handheld, follow (normal clips)."""
    mode_p_hard: tuple[float, ...] = (0.15, 0.15, 0.4, 0.1, 0.2)
    """The same for ``hard`` clips."""
    mosaic: bool = False
    """Whether surfaces get mosaic textures (a random crop, flip and colour per tile) instead of one image."""
    tile_scale: float = 1.0
    """Factor on the distance after which a surface's texture repeats (2-4 m in rooms, 3-6 m on streets)."""
    realism: float = 0.0
    """Strength of the camera effects of :func:`effects.realism` (0 = none)."""
    clutter: np.random.Generator | None = None
    """The random stream thin structures and a crowd are drawn from (:func:`scene.clutter`,
    :func:`scene.crowd`), or None for none."""


DEV_A = Variation()
HELDOUT_A = Variation(hfov_deg=(38.0, 90.0), mode_p=(0.2, 0.2, 0.2, 0.25, 0.15),
                      mode_p_hard=(0.2, 0.15, 0.3, 0.2, 0.15), mosaic=True, tile_scale=3.0, realism=0.5)


DEFAULT_FPS, DEFAULT_DURATION = 12.0, 5.0
"""The frame rate and length (seconds) of a clip :func:`render` makes when not told."""


def frame_count(duration: float, fps: float) -> int:
    """Frames of a rendered clip of ``duration`` seconds at ``fps`` (at least 2)."""
    return max(2, int(round(duration * fps)))


def render(
    kind: str = "good",
    seed: int = 0,
    *,
    height: int = 360,
    width: int = 640,
    fps: float = DEFAULT_FPS,
    duration: float = DEFAULT_DURATION,
    hard: bool = False,
    video_id: str | None = None,
    pairs: int = 16,
    per_pair: int = 50,
    style: str = "a",
    rolling_shutter: float = 0.0,
    movers: bool = True,
    hfov_deg: tuple[float, float] | None = None,
    clutter: bool = False,
) -> SynthVideo:
    """Render a clip of ``kind`` (see :data:`KINDS`) from ``seed``.

    ``hard`` makes objects larger and faster, pans faster and (half of the time) sets the clip at night.
    ``pairs`` frame pairs with varied gaps get up to ``per_pair`` ground-truth static correspondences each.
    ``style``: ``a`` (default) or ``b`` (:mod:`.styleb`). Seeds from :data:`HELDOUT_SEED_BASE` on are the
    held-out split: style ``a`` then also draws wider fields of view, other camera-mode mixes,
    non-repeating textures and camera effects. ``rolling_shutter``: readout time as a fraction of a frame
    (0 = global shutter; > 0 shears moving images, the ground truth stays the mid-frame pose).
    ``movers=False`` leaves the moving objects out (``bigobject``'s card and ``incar``'s cabin included): a
    static scene seen by the same kind of camera, with an all-false ``dynamic_mask``; the kind's image
    effects still apply. ``hfov_deg`` (style ``a`` only): ``(low, high)`` degrees, the range the horizontal
    field of view is drawn from instead of the split's (55-75 dev, 38-90 held-out); the scene and the camera
    path stay as the seed draws them (the movers too, unless the coverage cap redraws them for the new
    view). ``clutter`` (style ``a`` only): the same scene, camera and movers with thin static structures
    beside the path (poles, fences, railings: :func:`scene.clutter`) and a crowd of small walkers added, drawn
    from their own random stream. The same arguments always give the same frames and ground truth.
    """
    known = kd.KINDS + kd.POSE_DEGENERATE_KINDS
    if kind not in known:
        raise SynthError(f"unknown kind {kind!r} (choose from {', '.join(known)})")
    if style not in STYLES:
        raise SynthError(f"unknown style {style!r} (choose from {', '.join(STYLES)})")
    if style != "a" and kind in kd.POSE_DEGENERATE_KINDS:
        raise SynthError(f"kind {kind!r} exists in style a only")
    if seed < 0 or seed >= 2**32:
        raise SynthError(f"seed must be in [0, 2**32), got {seed}")
    if height < 16 or width < 16 or fps <= 0 or duration <= 0:
        raise SynthError(f"bad size/fps/duration: {width}x{height}, {fps} fps, {duration} s")
    if hfov_deg is not None and (style != "a" or not 0 < hfov_deg[0] <= hfov_deg[1] < 180):
        raise SynthError(f"hfov_deg needs style a and 0 < low <= high < 180 degrees, got {hfov_deg} (style {style})")
    if clutter and style != "a":
        raise SynthError(f"clutter is a style-a option (style b has its own thin structures), got style {style}")
    split = split_of(seed)
    key = [int(seed), known.index(kind), int(hard)] + ([] if style == "a" else [100 + STYLES.index(style)])
    rng = np.random.default_rng(key)
    var = HELDOUT_A if split == "heldout" else DEV_A
    if hfov_deg is not None:
        var = replace(var, hfov_deg=(float(hfov_deg[0]), float(hfov_deg[1])))
    if clutter:
        var = replace(var, clutter=np.random.default_rng(key + [_CLUTTER_STREAM]))
    n = frame_count(duration, fps)
    t = np.arange(n) / fps
    tod = None
    if kind == "cut":
        k = int(np.clip(round(n * rng.uniform(0.35, 0.65)), 1, n - 1))
        (a, tod), (b, _) = (_shot(rng, t[:k], kind, height, width, hard, style, var, movers=movers),
                            _shot(rng, t[k:], kind, height, width, hard, style, var, movers=movers))
        shots, starts = [a, b], [0, k]
    elif kind == "similarcut":
        k = int(np.clip(round(n * rng.uniform(0.35, 0.65)), 1, n - 1))
        whole, tod = _shot(rng, t, kind, height, width, hard, style, var, cut_at=k, movers=movers)
        shots, starts = [_slice(whole, 0, k), _slice(whole, k, n)], [0, k]
    else:
        shot, tod = _shot(rng, t, kind, height, width, hard, style, var, movers=movers)
        shots, starts = [shot], [0]
    frames = np.concatenate([s.frames for s in shots])
    surface = np.concatenate([s.surface for s in shots])
    dynamic = np.concatenate([s.dynamic[s.surface] for s in shots])
    smax = max(s.planes.shape[1] for s in shots)
    planes = np.concatenate([np.pad(s.planes, ((0, 0), (0, smax - s.planes.shape[1]), (0, 0))) for s in shots])
    corr = [_correspondences(s, rng, max(1, pairs // len(shots)), per_pair, off) for s, off in zip(shots, starts)]
    corr_i, corr_j, uv_i, uv_j = (np.concatenate(c) for c in zip(*corr))
    w2c = np.concatenate([s.w2c for s in shots])
    K = np.concatenate([s.K for s in shots])
    depth = depth_from_planes(surface, planes)

    if style == "a":
        night = hard and rng.random() < 0.5
        kd.apply_lighting(frames, rng, t, night or kind == "darkfisheye")
        if var.realism:
            ef.realism(frames, rng, t, depth, w2c, K, "night" if night else "day", var.realism, rolling_shutter)
        elif rolling_shutter:
            ef.rolling_shutter(frames, ef.image_motion(depth, w2c, K), rolling_shutter)
    else:
        ef.realism(frames, rng, t, depth, w2c, K, tod, 1.0, rolling_shutter)
    if kind == "cartoon":
        kd.cartoon(frames, surface)
    elif kind in ("fisheye", "darkfisheye"):
        kd.fisheye(frames, rng)
    elif kind == "blur":
        kd.background_blur(frames, dynamic)
    elif kind == "overlay":
        kd.overlay(frames, rng)
    elif kind == "splitscreen":
        other, _ = _shot(rng, t, "good", height, width, hard, style, var, movers=movers)
        kd.splitscreen(frames, other.frames, rng)
    elif kind == "screen":
        kd.screen(frames, rng)
    elif kind == "lowres":
        kd.degrade(frames, (176, 144) if width >= height else (144, 176), quality=6, blur_px=1.2)
    elif kind == "compressed":
        kd.degrade(frames, None, quality=2, scale=0.25)

    gt = GroundTruth(
        video_id=video_id or f"{kind}_s{seed}",
        kind=kind,
        suitable=kind in kd.SUITABLE_KINDS,
        w2c=w2c,
        K=K,
        timestamps=t,
        depth=depth,
        dynamic_mask=dynamic,
        corr_i=corr_i,
        corr_j=corr_j,
        corr_uv_i=uv_i,
        corr_uv_j=uv_j,
        surface=surface,
        planes=planes,
        style=style,
        split=split,
    )
    log.debug("rendered %s: %d frames %dx%d, %d correspondences", gt.video_id, n, width, height, len(corr_i))
    return SynthVideo(frames, gt)


def _slice(shot: Shot, a: int, b: int) -> Shot:
    return Shot(shot.frames[a:b], shot.surface[a:b], shot.planes[a:b], shot.dynamic, shot.w2c[a:b], shot.K[a:b])


def _focal_track(rng: np.random.Generator, kind: str, f0: float, t: np.ndarray) -> np.ndarray:
    """Per-frame focal length: constant, or the zoom of the zoom kinds (in or out at random)."""
    f = np.full(len(t), f0)
    if kind in ("zoom", "zoomwalk", "slowzoom"):
        ratio = {"zoom": (2.0, 3.0), "zoomwalk": (1.8, 2.5), "slowzoom": (1.25, 1.5)}[kind]
        ratio = rng.uniform(*ratio)
        s = t - t[0]
        s = s / max(s[-1], 1e-9)
        ramp = 1 + (ratio - 1) * ((3 * s**2 - 2 * s**3) if kind != "slowzoom" else s)
        f = f * (ramp if rng.random() < 0.5 else ramp[::-1])
    return f


def _intrinsics(rng: np.random.Generator, kind: str, f: np.ndarray, t: np.ndarray, h: int, w: int) -> np.ndarray:
    cx, cy = np.full(len(t), (w - 1) / 2), np.full(len(t), (h - 1) / 2)
    if kind == "stabilised":  # the crop window wanders: the principal point drifts over the frame
        d = sn._smooth_noise(rng, t, 2, (0.05, 0.4))
        cx, cy = cx + 0.12 * w * d[:, 0], cy + 0.1 * h * d[:, 1]
    return np.stack([camera.make_K(fi, fi, x, y) for fi, x, y in zip(f, cx, cy)])


def _shot(rng: np.random.Generator, t: np.ndarray, kind: str, h: int, w: int, hard: bool, style: str = "a",
          var: Variation = DEV_A, cut_at: int | None = None, movers: bool = True) -> tuple[Shot, str | None]:
    """Build a scene, a camera path and moving objects for times ``t`` and rasterise them; ``cut_at``: the
    camera jumps to a second path through the same scene at that frame; ``movers=False``: no moving
    objects (scene and camera path are drawn first, so they are those of the clip with movers). Returns the
    shot and (style b) its time of day."""
    tex_side = int(np.clip(2 * max(h, w), 128, 512))
    if style == "b":
        return _shot_b(rng, t, kind, h, w, hard, tex_side, cut_at, movers)
    texture = _mosaic_a if var.mosaic else None
    sc = (sn.room if rng.random() < 0.5 else sn.street)(rng, cartoon=kind == "cartoon", tex_side=tex_side,
                                                        texture=texture, tile_scale=var.tile_scale)
    if kind == "static":
        mode = "still"
    elif kind == "tripod":
        mode = str(rng.choice(["still", "tripod_pan"]))
    elif kind in ("zoomwalk", "incar"):
        mode = "walk"
    elif kind in ("similarcut", "stabilised"):
        mode = str(rng.choice(CAMERA_MODES[:4]))
    else:
        mode = str(rng.choice(CAMERA_MODES, p=var.mode_p_hard if hard else var.mode_p))
    w2c = sn.camera_path(rng, sc, t, mode, hard, tex_side)
    if cut_at is not None:
        w2c = np.concatenate([w2c[:cut_at], sn.camera_path(rng, sc, t, str(rng.choice(CAMERA_MODES[:4])), hard,
                                                           tex_side)[cut_at:]])
    hfov = np.deg2rad(rng.uniform(*var.hfov_deg))
    K = _intrinsics(rng, kind, _focal_track(rng, kind, (w / 2) / np.tan(hfov / 2), t), t, h, w)
    extra = var.clutter
    if extra is not None:
        sn.clutter(extra, sc, w2c, tex_side, int(extra.integers(2, 6)))
    if movers:
        def populate():
            sn.populate(rng, sc, w2c, t, hard, tex_side)
            if extra is not None:
                sn.crowd(extra, sc, w2c, t, int(extra.integers(6, 16)))

        _populate_capped(rng, sc, w2c, K, t, h, w, populate)
        if kind == "bigobject":
            sn.big_object(rng, sc, w2c, t)
        elif kind == "incar":
            sn.cabin(rng, sc, w2c, np.tan(hfov / 2), h / w, tex_side)
    else:
        _drop_movers(sc)
    return render_shot(sc, w2c, K, h, w, sky_seed=int(rng.integers(2**31))), "day"


def _drop_movers(sc: sn.Scene) -> None:
    """Remove every moving surface (e.g. the car a ``follow`` camera drives behind): a static scene."""
    sc.planes[:] = [p for p in sc.planes if p.obj < 0]


def _mosaic_a(rng: np.random.Generator, max_side: int) -> np.ndarray:
    """Held-out style a: a non-repeating texture from random crops of the style-a photos and patterns."""
    srcs = [tx.random_texture(rng, max_side=max_side) for _ in range(3)]
    return tx.mosaic(rng, srcs, max_side, int(rng.integers(3, 5)))


def _shot_b(rng: np.random.Generator, t: np.ndarray, kind: str, h: int, w: int, hard: bool, tex_side: int,
            cut_at: int | None, movers: bool = True) -> tuple[Shot, str]:
    tod = "night" if kind == "darkfisheye" else str(rng.choice(sb.TIMES_OF_DAY, p=[0.45, 0.25, 0.3] if hard
                                                                               else [0.6, 0.2, 0.2]))
    sc = sb.build_scene(rng, tod, tex_side)
    if kind == "static":
        mode = "still"
    elif kind == "zoomwalk":
        mode = str(rng.choice(["vehicle", "dolly"]))
    else:
        p = [0.2, 0.2, 0.1, 0.15, 0.2, 0.15] if not hard else [0.15, 0.2, 0.25, 0.2, 0.1, 0.1]
        mode = str(rng.choice(sb.CAMERA_MODES, p=p))
    w2c = sb.camera_path(rng, sc, t, mode, hard)
    if cut_at is not None:
        w2c = np.concatenate([w2c[:cut_at],
                              sb.camera_path(rng, sc, t, str(rng.choice(sb.CAMERA_MODES)), hard)[cut_at:]])
    K = _intrinsics(rng, kind, _focal_track(rng, kind, sb.focal_px(rng, w, h), t), t, h, w)
    if mode in ("walkpan", "vehicle", "dolly", "handheld") and rng.random() < 0.4:
        sb.occluder(rng, sc, w2c, tex_side)
    tan_half = float(w / 2 / K[:, 0, 0].min())
    if movers:
        _populate_capped(rng, sc, w2c, K, t, h, w, lambda: sb.populate(rng, sc, w2c, t, hard, tex_side, tan_half))
        if kind == "bigobject":
            sb.big_object(rng, sc, w2c, K, t, h, w, tex_side)
    else:
        _drop_movers(sc)
    return render_shot(sc, w2c, K, h, w, sky_seed=int(rng.integers(2**31))), tod


def _coverage(sc: sn.Scene, w2c: np.ndarray, K: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fraction of each frame covered by each moving object, ``(N, O)``, from a mask render at most
    :data:`_CHECK_WIDTH` pixels wide."""
    s = min(1.0, _CHECK_WIDTH / w)
    hs, ws = max(8, round(h * s)), max(8, round(w * s))
    Ks = K.copy()
    Ks[:, 0, 0] *= ws / w
    Ks[:, 1, 1] *= hs / h
    Ks[:, 0, 2], Ks[:, 1, 2] = (ws - 1) / 2, (hs - 1) / 2
    surface = render_shot(sc, w2c, Ks, hs, ws, textured=False).surface
    group = [-1] + [sc.group_of(p.obj) if p.obj >= 0 else -1 for p in sc.planes]
    obj_of = np.array(group)[surface] + 1  # 0 = static or sky
    n_obj = max(group + [len(sc.obj_poses) - 1]) + 2
    counts = np.stack([np.bincount(o.ravel(), minlength=n_obj) for o in obj_of])
    return counts[:, 1:] / float(hs * ws)


def _populate_capped(rng: np.random.Generator, sc: sn.Scene, w2c: np.ndarray, K: np.ndarray, t: np.ndarray,
                     h: int, w: int, populate) -> None:
    """``populate()`` the scene such that moving objects cover at most :data:`kinds.MAX_DYNAMIC_FRACTION`
    of every frame: redraw the whole population a few times, then drop the movers (an articulated figure
    is one mover) covering most of the violating frames one by one. Deterministic from ``rng``; draws
    nothing extra when the first try fits."""
    cap = kd.MAX_DYNAMIC_FRACTION - (_CHECK_MARGIN if w > _CHECK_WIDTH else 0.0)
    n_planes, n_tex, n_obj = len(sc.planes), len(sc.textures), len(sc.obj_poses)
    for _ in range(_REDRAWS):
        del sc.planes[n_planes:], sc.textures[n_tex:], sc.obj_poses[n_obj:], sc.obj_group[n_obj:]
        populate()
        cover = _coverage(sc, w2c, K, h, w)
        if cover.sum(1).max() <= cap:
            return
    while True:
        share = cover[cover.sum(1) > cap][:, n_obj:].sum(0)
        if not share.any():  # nothing left to drop (or no violation)
            break
        worst = n_obj + int(np.argmax(share))
        sc.planes[n_planes:] = [p for p in sc.planes[n_planes:] if p.obj < 0 or sc.group_of(p.obj) != worst]
        cover = _coverage(sc, w2c, K, h, w)
    log.debug("moving-object coverage capped by dropping objects; max now %.2f", cover.sum(1).max())


def _correspondences(shot: Shot, rng: np.random.Generator, pairs: int, per_pair: int, offset: int):
    """Exact correspondences between frame pairs with varied gaps, on static surfaces visible in both
    frames: integer pixels in frame i, their exact projections in frame j."""
    n, h, w = shot.surface.shape
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros((0, 2)))
    if n < 2:
        return empty
    gaps = np.unique(np.clip(np.round(np.geomspace(1, n - 1, 6)).astype(int), 1, n - 1))
    kernel = np.ones((3, 3), np.uint8)
    out = []
    for p in range(pairs):
        gap = int(gaps[p % len(gaps)])
        i = int(rng.integers(0, n - gap))
        j = i + gap
        si = shot.surface[i]
        interior = (cv2.erode(si, kernel) == si) & (cv2.dilate(si, kernel) == si)
        ok = interior & (si > 0) & ~shot.dynamic[si]
        ys, xs = np.nonzero(ok)
        if len(xs) == 0:
            continue
        pick = rng.choice(len(xs), size=min(len(xs), 8 * per_pair), replace=False)
        uv = np.stack([xs[pick], ys[pick]], 1).astype(np.float64)
        sid = si[ys[pick], xs[pick]]
        q = shot.planes[i][sid]
        z = 1.0 / (q[:, 0] * uv[:, 0] + q[:, 1] * uv[:, 1] + q[:, 2])
        X = camera.unproject(shot.K[i], shot.w2c[i], uv, z)
        uvj, zj = camera.project(shot.K[j], shot.w2c[j], X)
        good = (zj > NEAR) & (uvj[:, 0] >= 0) & (uvj[:, 0] <= w - 1) & (uvj[:, 1] >= 0) & (uvj[:, 1] <= h - 1)
        uvj_c = np.where(good[:, None], uvj, 0.0)
        sj = shot.surface[j]
        for fx in (np.floor, np.ceil):  # the 4 pixels around the projection show the same static plane
            for fy in (np.floor, np.ceil):
                good &= sj[fy(uvj_c[:, 1]).astype(int), fx(uvj_c[:, 0]).astype(int)] == sid
        keep = np.nonzero(good)[0][:per_pair]
        out.append((np.full(len(keep), i + offset), np.full(len(keep), j + offset), uv[keep], uvj[keep]))
    if not out:
        return empty
    return tuple(np.concatenate(c) for c in zip(*out))
