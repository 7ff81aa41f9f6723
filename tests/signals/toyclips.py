"""Tiny procedural clips (textured planes seen by a moving camera) that show or lack one failure mode each.

Independent of :mod:`dynpose100k.synth` so the signal tests stay small and fast: ~160x96 px, 16 frames.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data as skdata

H, W, N, FPS = 96, 160, 16, 5.0


def _texture(name: str, size: int = 256) -> np.ndarray:
    img = getattr(skdata, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return cv2.resize(np.ascontiguousarray(img[..., :3]), (size, size), interpolation=cv2.INTER_AREA)


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _plane(tex, origin, a, b, R, t, K, canvas, zbuf):
    """Paint a textured parallelogram origin + u*a + v*b (u, v in [0, 1]) with a z-buffer per plane."""
    origin, a, b = map(np.asarray, (origin, a, b))
    s = tex.shape[0]
    A = np.array([[1 / s, 0, 0], [0, 1 / s, 0], [0, 0, 1]])
    M = np.column_stack([R @ a, R @ b, R @ origin + t])
    Hm = K @ M @ A
    warped = cv2.warpPerspective(tex, Hm, (canvas.shape[1], canvas.shape[0]), flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.ones(tex.shape[:2], np.uint8), Hm, (canvas.shape[1], canvas.shape[0]),
                                flags=cv2.INTER_NEAREST) > 0
    depth = (R @ (origin + 0.5 * a + 0.5 * b) + t)[2]
    m = cover & (depth < zbuf) & (depth > 0.1)
    canvas[m] = warped[m]
    zbuf[m] = depth
    return m


def render(kind: str = "good", seed: int = 0, n: int = N, h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n, h, w, 3) uint8 RGB and timestamps (n,) of a toy clip of ``kind``.

    Kinds: good, static, cut, zoom, fisheye, cartoon, overlay, blur, bigobject, longfocal.
    """
    rng = np.random.default_rng(seed)
    wall, ground, box, mover = (_texture(x) for x in ("astronaut", "brick", "coffee", "chelsea"))
    if kind == "cartoon":
        wall, ground, box, mover = (cv2.pyrMeanShiftFiltering(t, 12, 40) // 64 * 64 + 32 for t in
                                    (wall, ground, box, mover))
    if kind == "blur":
        wall, ground, box = (cv2.GaussianBlur(t, (0, 0), 12) for t in (wall, ground, box))
    frames = []
    f0 = 0.9 * w * (4.0 if kind == "longfocal" else 1.0)
    for i in range(n):
        s = i / (n - 1)
        f = f0 * (1 + 0.8 * s) if kind == "zoom" else f0
        K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
        if kind == "static":
            R, c = np.eye(3), np.zeros(3)
        else:
            R, c = _rot_y(0.12 * s - 0.06), np.array([-0.6 + 1.2 * s, 0.05 * np.sin(3 * s), 0.4 * s])
        if kind == "cut" and i >= n // 2:
            R, c = _rot_y(0.5) @ R, c + np.array([1.5, 0.0, -1.0])
            if i == n // 2:
                wall, box = box, wall
        t = -R @ c
        canvas = np.zeros((h, w, 3), np.uint8)
        zbuf = np.full((h, w), np.inf)
        _plane(wall, [-6, -3.5, 9], [12, 0, 0], [0, 5, 0], R, t, K, canvas, zbuf)
        _plane(ground, [-6, 1.5, 2], [12, 0, 0], [0, 0, 8], R, t, K, canvas, zbuf)
        _plane(box, [-2.2, -0.8, 5], [1.2, 0, 0], [0, 2.3, 0], R, t, K, canvas, zbuf)
        _plane(box, [1.2, -1.2, 3.5], [0.9, 0, 0], [0, 2.7, 0.3], R, t, K, canvas, zbuf)
        if kind == "bigobject":
            _plane(mover, [-1.6 + 0.8 * np.sin(4 * s), -1.3, 1.6], [3.4, 0, 0], [0, 3.0, 0], R, t, K, canvas, zbuf)
        else:
            _plane(mover, [-0.8 + 1.6 * s, 0.3, 4.0], [0.7, 0, 0], [0, 1.0, 0], R, t, K, canvas, zbuf)
        frames.append(canvas)
    frames = np.stack(frames)
    if kind == "fisheye":
        frames = np.stack([_fisheye(fr) for fr in frames])
    if kind == "overlay":
        for fr in frames:
            cv2.putText(fr, "LIVE 24/7", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
            cv2.rectangle(fr, (0, h - 18), (w, h), (20, 20, 160), -1)
            cv2.putText(fr, "breaking news", (4, h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    noise = rng.normal(0, 2.0, frames.shape)
    frames = np.clip(frames + noise, 0, 255).astype(np.uint8)
    return frames, np.arange(n) / FPS


def _fisheye(img: np.ndarray, k: float = 0.45) -> np.ndarray:
    """Barrel distortion: sample the pinhole image at r_u = r_d (1 + k r_d^2) (radius normalised)."""
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (x - w / 2) / (w / 2), (y - h / 2) / (w / 2)
    scale = 1 + k * (nx**2 + ny**2)
    return cv2.remap(img, nx * scale * (w / 2) * 0.75 + w / 2, ny * scale * (w / 2) * 0.75 + h / 2,
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
