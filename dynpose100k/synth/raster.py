"""Z-buffered rasteriser of textured rectangles with exact per-pixel depth.

Each rectangle is warped from its texture with one homography (``cv2.warpPerspective``, restricted to
the rectangle's bounding box and a mip-map level matched to its on-screen scale). Depth is exact: on a
plane, inverse z-depth is affine in pixel coordinates, ``1/z = a*u + b*v + c``, so the z-test runs on
inverse depth and the per-frame plane coefficients are kept as ground truth (``planes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .scene import Scene

NEAR = 0.05  # metres; geometry closer than this to the camera plane is clipped


@dataclass(frozen=True)
class Shot:
    """A rendered shot (one scene, one continuous camera)."""

    frames: np.ndarray
    """``(N, H, W, 3)`` uint8 RGB, before lighting and post effects."""
    surface: np.ndarray
    """``(N, H, W)`` surface index per pixel (0 = nothing/sky, else plane index + 1); uint8, uint16 past 254 planes."""
    planes: np.ndarray
    """``(N, S + 1, 3)`` float64 inverse-depth plane ``(a, b, c)`` of each surface in each frame."""
    dynamic: np.ndarray
    """``(S + 1,)`` bool, whether a surface index belongs to a moving object."""
    w2c: np.ndarray
    """``(N, 4, 4)`` world-to-camera."""
    K: np.ndarray
    """``(N, 3, 3)`` intrinsics."""


def _clip(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Sutherland-Hodgman: keep the part of convex polygon ``(P, D)`` where ``poly @ normal + offset >= 0``."""
    out = []
    d = poly @ normal + offset
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if d[i] >= 0:
            out.append(poly[i])
        if (d[i] >= 0) != (d[j] >= 0):
            out.append(poly[i] + (poly[j] - poly[i]) * (d[i] / (d[i] - d[j])))
    return np.array(out).reshape(-1, poly.shape[1])


def render_shot(sc: Scene, w2c: np.ndarray, K: np.ndarray, height: int, width: int, sky_seed: int = 0,
                textured: bool = True) -> Shot:
    """Render every frame of ``sc`` seen by cameras ``w2c`` ``(N, 4, 4)`` with intrinsics ``K`` ``(N, 3, 3)``;
    ``textured=False`` fills only the surface ids and planes (the frames stay black)."""
    n, S = len(w2c), len(sc.planes)
    if S > 65534:
        raise ValueError("too many planes for uint16 surface ids")
    frames = np.empty((n, height, width, 3), np.uint8)
    surface = np.zeros((n, height, width), np.uint8 if S <= 254 else np.uint16)
    planes = np.zeros((n, S + 1, 3))
    dynamic = np.array([False] + [p.obj >= 0 for p in sc.planes])
    us = np.arange(width, dtype=np.float32)
    vs = np.arange(height, dtype=np.float32)
    sky = _sky(height, width, sky_seed, sc.sky_colours) if sc.sky else np.zeros((height, width, 3), np.uint8)
    local = np.array([_outline(p) for p in sc.planes]).reshape(S, 4, 3)
    frame = np.array([[p.origin, p.u, p.v] for p in sc.planes]).reshape(S, 3, 3)  # origin, u, v (object frame)
    objs = np.array([p.obj for p in sc.planes])
    for f in range(n):
        img, sid = frames[f], surface[f]
        img[:] = sky
        ibuf = np.zeros((height, width), np.float32)  # inverse depth, 0 = infinitely far
        Kf = K[f]
        T = np.repeat(w2c[f][None], S, axis=0)
        for o, poses in enumerate(sc.obj_poses):
            T[objs == o] = w2c[f] @ poses[f]
        C = np.einsum("pij,pkj->pki", T[:, :3, :3], local) + T[:, None, :3, 3]  # (S, 4, 3) camera-frame corners
        x, y, z = C[..., 0], C[..., 1], C[..., 2]
        fx, fy, cx, cy = Kf[0, 0], Kf[1, 1], Kf[0, 2], Kf[1, 2]
        outside = ((z < NEAR).all(1) | (fx * x + (cx + 1) * z < 0).all(1) | (fx * x - (width - cx) * z > 0).all(1)
                   | (fy * y + (cy + 1) * z < 0).all(1) | (fy * y - (height - cy) * z > 0).all(1))
        order = np.argsort(np.maximum(z, NEAR).min(1))  # nearest first: occluded planes skip texturing
        for k in order[~outside[order]].tolist():
            pl = sc.planes[k]
            if pl.corners is None:
                o, u, v = C[k, 0], C[k, 1] - C[k, 0], C[k, 3] - C[k, 0]
            else:
                o = T[k, :3, :3] @ frame[k, 0] + T[k, :3, 3]
                u, v = T[k, :3, :3] @ frame[k, 1], T[k, :3, :3] @ frame[k, 2]
            nrm = np.array([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]])
            d = float(nrm @ o)
            if abs(d) < 1e-12 or (not pl.two_sided and d >= 0):
                continue
            poly = C[k] if (C[k, :, 2] >= NEAR).all() else _clip(C[k], np.array([0.0, 0.0, 1.0]), -NEAR)
            if len(poly) < 3:
                continue
            uv = (poly[:, :2] / poly[:, 2:]) @ Kf[:2, :2].T + Kf[:2, 2]
            if not ((uv[:, 0] >= -1.0).all() and (uv[:, 0] <= width).all() and (uv[:, 1] >= -1.0).all()
                    and (uv[:, 1] <= height).all()):  # (clipping a polygon that is inside changes nothing)
                for nx, ny, off in ((1, 0, 1.0), (-1, 0, width), (0, 1, 1.0), (0, -1, height)):
                    uv = _clip(uv, np.array([nx, ny], float), off)
                    if len(uv) < 3:
                        break
                if len(uv) < 3:
                    continue
            x0, y0 = max(int(np.floor(uv[:, 0].min())), 0), max(int(np.floor(uv[:, 1].min())), 0)
            x1, y1 = min(int(np.ceil(uv[:, 0].max())), width - 1), min(int(np.ceil(uv[:, 1].max())), height - 1)
            if x1 < x0 or y1 < y0:
                continue
            w, h = x1 - x0 + 1, y1 - y0 + 1
            mask = np.zeros((h, w), np.uint8)
            cv2.fillConvexPoly(mask, np.round((uv - [x0, y0]) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
            q = np.linalg.solve(Kf.T, nrm) / d  # 1/z = q . (u, v, 1)
            planes[f, k + 1] = q
            inv = (q[0] * us[x0 : x1 + 1])[None, :] + (q[1] * vs[y0 : y1 + 1] + q[2])[:, None]
            ib = ibuf[y0 : y1 + 1, x0 : x1 + 1]
            m = (mask > 0) & (inv > ib)
            if not m.any():
                continue
            np.copyto(ib, inv, where=m)
            np.copyto(sid[y0 : y1 + 1, x0 : x1 + 1], k + 1, where=m)
            if not textured:
                continue
            # homography texture pixel -> image pixel, at the right mip level
            H0 = Kf @ np.stack([u, v, o], 1)
            pyr = sc.textures[pl.tex]
            th, tw = pyr[0].shape[:2]
            A = np.array([[1 / (pl.reps[0] * tw), 0, 0], [0, 1 / (pl.reps[1] * th), 0], [0, 0, 1.0]])
            A[:2, 2] = 0.5 * A[[0, 1], [0, 1]]
            img2tex = np.linalg.inv(H0 @ A)
            roi = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
            M0 = img2tex @ roi  # ROI pixel -> level-0 texture pixel
            warped = _sample(pyr, M0, w, h, tw, th, uv - [x0, y0])
            if pl.shade != 1.0:
                warped = cv2.convertScaleAbs(warped, alpha=pl.shade)
            np.copyto(img[y0 : y1 + 1, x0 : x1 + 1], warped, where=m[..., None])
    return Shot(frames, surface, planes, dynamic, np.asarray(w2c, np.float64), np.asarray(K, np.float64))


def _sample(pyr: list[np.ndarray], M0: np.ndarray, w: int, h: int, tw: int, th: int, poly: np.ndarray
            ) -> np.ndarray:
    """Texture a ``(h, w)`` region through homography ``M0`` (region pixel -> level-0 texel), picking the
    mip level per pixel from the local texel footprint ``|det J| = |det M0| / w'^3`` (``w'`` = the
    homogeneous coordinate), so near and far parts of a large plane are both sharp and alias-free.
    ``poly`` ``(P, 2)``: the visible polygon in region pixels (``w'`` is affine, so its extremes are there)."""
    det = abs(np.linalg.det(M0))
    wp = np.c_[poly, np.ones(len(poly))] @ M0[2]  # w' has one sign over the visible polygon
    sgn = 1.0 if wp.mean() >= 0 else -1.0
    lv = 0.5 * np.log2(det / np.maximum(np.abs(wp), 1e-12) ** 3)
    lo, hi = (int(np.clip(np.floor(x), 0, len(pyr) - 1)) for x in (lv.min(), lv.max()))
    out = np.zeros((h, w, 3), np.uint8)
    for L in range(lo, hi + 1):
        # level L covers lo < L: |w'| <= thr(L) and (L < hi): |w'| > thr(L + 1), thr(L) = (det / 4^L)^(1/3)
        band = poly
        if L > lo:
            band = _clip(band, -sgn * M0[2, :2], (det / 4.0**L) ** (1 / 3) - sgn * M0[2, 2])
        if L < hi and len(band) >= 3:
            band = _clip(band, sgn * M0[2, :2], sgn * M0[2, 2] - (det / 4.0 ** (L + 1)) ** (1 / 3))
        if len(band) < 3:
            continue
        bx0, by0 = max(int(np.floor(band[:, 0].min())) - 1, 0), max(int(np.floor(band[:, 1].min())) - 1, 0)
        bx1, by1 = min(int(np.ceil(band[:, 0].max())) + 1, w - 1), min(int(np.ceil(band[:, 1].max())) + 1, h - 1)
        if bx1 < bx0 or by1 < by0:
            continue
        tex = pyr[L]
        sL = np.array([[tex.shape[1] / tw, 0, 0], [0, tex.shape[0] / th, 0], [0, 0, 1.0]])
        sL[:2, 2] = 0.5 * sL[[0, 1], [0, 1]] - 0.5  # pixel-centre convention across levels
        shift = np.array([[1.0, 0, bx0], [0, 1.0, by0], [0, 0, 1]])
        warped = cv2.warpPerspective(tex, sL @ M0 @ shift, (bx1 - bx0 + 1, by1 - by0 + 1),
                                     flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_WRAP)
        dst = out[by0 : by1 + 1, bx0 : bx1 + 1]
        if L == lo:
            dst[:] = warped
        else:  # bands overlap only inside their bounding boxes: finer levels are overwritten where coarser apply
            wz = sgn * ((M0[2, 0] * np.arange(bx0, bx1 + 1, dtype=np.float32))[None, :]
                        + (M0[2, 1] * np.arange(by0, by1 + 1, dtype=np.float32) + M0[2, 2])[:, None])
            np.copyto(dst, warped, where=(wz <= (det / 4.0**L) ** (1 / 3))[..., None])
    return out


def _outline(p) -> np.ndarray:
    """The four corners of a plane's face in its object frame."""
    st = ((0, 0), (1, 0), (1, 1), (0, 1)) if p.corners is None else p.corners
    return np.array([p.origin + s * p.u + t * p.v for s, t in st])


def _sky(height: int, width: int, seed: int, colours=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top, bottom = rng.uniform([60, 90, 160], [120, 150, 230]), rng.uniform([170, 190, 210], [220, 230, 250])
    if colours is not None:
        top, bottom = (np.asarray(c, float) for c in colours)
    a = np.linspace(0, 1, height)[:, None, None]
    return np.broadcast_to(top * (1 - a) + bottom * a, (height, width, 3)).astype(np.uint8)


def depth_from_planes(surface: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Exact z-depth ``(N, H, W)`` float32 from surface ids ``(N, H, W)`` and inverse-depth planes
    ``(N, S, 3)``; 0 where no surface was hit."""
    n, h, w = surface.shape
    us = np.arange(w, dtype=np.float64)[None, :]
    vs = np.arange(h, dtype=np.float64)[:, None]
    out = np.zeros((n, h, w), np.float32)
    for f in range(n):
        s = surface[f]
        inv = planes[f, :, 0][s] * us + planes[f, :, 1][s] * vs + planes[f, :, 2][s]
        np.divide(1.0, inv, out=out[f], where=s > 0, casting="unsafe")
    return out
