"""``render``: one synthetic dynamic clip of a given kind, deterministic from its seed, with exact ground
truth (poses, intrinsics, depth, dynamic masks, static correspondences)."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .. import camera
from . import kinds as kd
from . import scene as sn
from .raster import NEAR, Shot, depth_from_planes, render_shot
from .truth import GroundTruth, SynthError, SynthVideo

log = logging.getLogger(__name__)

CAMERA_MODES = ("walk", "orbit", "pan", "handheld", "follow")
_CHECK_WIDTH = 160  # width of the mask render that checks the moving-object coverage cap
_CHECK_MARGIN = 0.03  # stricter cap at that width, so the full-size clip stays under the cap
_REDRAWS = 4  # tries at drawing a population of moving objects that respects the cap


def render(
    kind: str = "good",
    seed: int = 0,
    *,
    height: int = 360,
    width: int = 640,
    fps: float = 12.0,
    duration: float = 5.0,
    hard: bool = False,
    video_id: str | None = None,
    pairs: int = 16,
    per_pair: int = 50,
) -> SynthVideo:
    """Render a clip of ``kind`` (see :data:`KINDS`) from ``seed``.

    ``hard`` makes objects larger and faster, pans faster and (half of the time) sets the clip at night.
    ``pairs`` frame pairs with varied gaps get up to ``per_pair`` ground-truth static correspondences each.
    The same arguments always give the same frames and ground truth.
    """
    known = kd.KINDS + kd.POSE_DEGENERATE_KINDS
    if kind not in known:
        raise SynthError(f"unknown kind {kind!r} (choose from {', '.join(known)})")
    if seed < 0:
        raise SynthError(f"seed must be non-negative, got {seed}")
    if height < 16 or width < 16 or fps <= 0 or duration <= 0:
        raise SynthError(f"bad size/fps/duration: {width}x{height}, {fps} fps, {duration} s")
    rng = np.random.default_rng([int(seed), known.index(kind), int(hard)])
    n = max(2, int(round(duration * fps)))
    t = np.arange(n) / fps
    if kind == "cut":
        k = int(np.clip(round(n * rng.uniform(0.35, 0.65)), 1, n - 1))
        shots = [_shot(rng, t[:k], kind, height, width, hard), _shot(rng, t[k:], kind, height, width, hard)]
        starts = [0, k]
    else:
        shots, starts = [_shot(rng, t, kind, height, width, hard)], [0]
    frames = np.concatenate([s.frames for s in shots])
    surface = np.concatenate([s.surface for s in shots])
    dynamic = np.concatenate([s.dynamic[s.surface] for s in shots])
    smax = max(s.planes.shape[1] for s in shots)
    planes = np.concatenate([np.pad(s.planes, ((0, 0), (0, smax - s.planes.shape[1]), (0, 0))) for s in shots])
    corr = [_correspondences(s, rng, max(1, pairs // len(shots)), per_pair, off) for s, off in zip(shots, starts)]
    corr_i, corr_j, uv_i, uv_j = (np.concatenate(c) for c in zip(*corr))

    night = hard and rng.random() < 0.5
    kd.apply_lighting(frames, rng, t, night)
    if kind == "cartoon":
        kd.cartoon(frames, surface)
    elif kind == "fisheye":
        kd.fisheye(frames, rng)
    elif kind == "blur":
        kd.background_blur(frames, dynamic)
    elif kind == "overlay":
        kd.overlay(frames, rng)
    elif kind == "lowres":
        kd.degrade(frames, (176, 144) if width >= height else (144, 176), quality=6, blur_px=1.2)
    elif kind == "compressed":
        kd.degrade(frames, None, quality=4, scale=0.5)

    gt = GroundTruth(
        video_id=video_id or f"{kind}_s{seed}",
        kind=kind,
        suitable=kind in kd.SUITABLE_KINDS,
        w2c=np.concatenate([s.w2c for s in shots]),
        K=np.concatenate([s.K for s in shots]),
        timestamps=t,
        depth=depth_from_planes(surface, planes),
        dynamic_mask=dynamic,
        corr_i=corr_i,
        corr_j=corr_j,
        corr_uv_i=uv_i,
        corr_uv_j=uv_j,
        surface=surface,
        planes=planes,
    )
    log.debug("rendered %s: %d frames %dx%d, %d correspondences", gt.video_id, n, width, height, len(corr_i))
    return SynthVideo(frames, gt)


def _shot(rng: np.random.Generator, t: np.ndarray, kind: str, h: int, w: int, hard: bool) -> Shot:
    """Build a scene, a camera path and moving objects for times ``t`` and rasterise them."""
    tex_side = int(np.clip(2 * max(h, w), 128, 512))
    sc = (sn.room if rng.random() < 0.5 else sn.street)(rng, cartoon=kind == "cartoon", tex_side=tex_side)
    if kind == "static":
        mode = "still"
    elif kind == "tripod":
        mode = str(rng.choice(["still", "tripod_pan"]))
    elif kind == "incar":
        mode = "walk"
    else:
        p = [0.25, 0.2, 0.25, 0.15, 0.15] if not hard else [0.15, 0.15, 0.4, 0.1, 0.2]
        mode = str(rng.choice(CAMERA_MODES, p=p))
    w2c = sn.camera_path(rng, sc, t, mode, hard, tex_side)
    hfov = np.deg2rad(rng.uniform(55.0, 75.0))
    f = np.full(len(t), (w / 2) / np.tan(hfov / 2))
    if kind == "zoom":
        ratio = rng.uniform(2.0, 3.0)
        s = t - t[0]
        s = s / max(s[-1], 1e-9)
        ramp = 1 + (ratio - 1) * (3 * s**2 - 2 * s**3)
        f = f * (ramp if rng.random() < 0.5 else ramp[::-1])
    K = np.stack([camera.make_K(fi, fi, (w - 1) / 2, (h - 1) / 2) for fi in f])
    _populate_capped(rng, sc, w2c, K, t, hard, tex_side, h, w)
    if kind == "bigobject":
        sn.big_object(rng, sc, w2c, t)
    elif kind == "incar":
        sn.cabin(rng, sc, w2c, np.tan(hfov / 2), h / w, tex_side)
    return render_shot(sc, w2c, K, h, w, sky_seed=int(rng.integers(2**31)))


def _coverage(sc: sn.Scene, w2c: np.ndarray, K: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fraction of each frame covered by each moving object, ``(N, O)``, from a mask render at most
    :data:`_CHECK_WIDTH` pixels wide."""
    s = min(1.0, _CHECK_WIDTH / w)
    hs, ws = max(8, round(h * s)), max(8, round(w * s))
    Ks = K.copy()
    Ks[:, 0, 0] *= ws / w
    Ks[:, 1, 1] *= hs / h
    Ks[:, 0, 2], Ks[:, 1, 2] = (ws - 1) / 2, (hs - 1) / 2
    surface = render_shot(sc, w2c, Ks, hs, ws).surface
    obj_of = np.array([-1] + [p.obj for p in sc.planes])[surface] + 1  # 0 = static or sky
    n_obj = len(sc.obj_poses) + 1
    counts = np.stack([np.bincount(o.ravel(), minlength=n_obj) for o in obj_of])
    return counts[:, 1:] / float(hs * ws)


def _populate_capped(rng: np.random.Generator, sc: sn.Scene, w2c: np.ndarray, K: np.ndarray, t: np.ndarray,
                     hard: bool, tex_side: int, h: int, w: int) -> None:
    """``populate`` the scene such that moving objects cover at most :data:`kinds.MAX_DYNAMIC_FRACTION` of
    every frame: redraw the whole population a few times, then drop the objects covering most of the
    violating frames one by one. Deterministic from ``rng``; draws nothing extra when the first try fits."""
    cap = kd.MAX_DYNAMIC_FRACTION - (_CHECK_MARGIN if w > _CHECK_WIDTH else 0.0)
    n_planes, n_tex, n_obj = len(sc.planes), len(sc.textures), len(sc.obj_poses)
    for _ in range(_REDRAWS):
        del sc.planes[n_planes:], sc.textures[n_tex:], sc.obj_poses[n_obj:]
        sn.populate(rng, sc, w2c, t, hard, tex_side)
        cover = _coverage(sc, w2c, K, h, w)
        if cover.sum(1).max() <= cap:
            return
    while True:
        share = cover[cover.sum(1) > cap][:, n_obj:].sum(0)
        if not share.any():  # nothing left to drop (or no violation)
            break
        worst = n_obj + int(np.argmax(share))
        sc.planes[n_planes:] = [p for p in sc.planes[n_planes:] if p.obj != worst]
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
