"""Strongly textured images for the synthetic scenes: natural photos shipped with scikit-image and
matplotlib (offline), plus procedural noise, checker and stripe patterns. All RGB ``uint8``."""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: scikit-image sample images that ship with the package (others download at run time).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel", "camera", "moon", "grace_hopper")
#: photos that look like a subject (used on moving billboards).
SUBJECTS = ("astronaut", "chelsea", "coffee", "rocket", "grace_hopper", "camera")


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A named sample photo as RGB ``(H, W, 3)`` uint8 (grey images are replicated to 3 channels)."""
    if name == "grace_hopper":
        import matplotlib.cbook

        img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    img.flags.writeable = False
    return img


def _value_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multi-scale value noise in ``[0, 1]``, ``(size, size, 3)`` float32."""
    out = np.zeros((size, size, 3), np.float32)
    for octave, amp in ((4, 0.6), (16, 0.6), (64, 0.6), (size, 0.5)):
        small = rng.random((octave, octave, 3)).astype(np.float32)
        out += amp * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    out -= out.min()
    return out / max(float(out.max()), 1e-6)


def noise(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Multi-scale coloured value noise ``(size, size, 3)``."""
    return _colourise(rng, _value_noise(rng, size))


def checker(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Checkerboard with random colours and cell size, modulated by multi-scale noise so that cells are
    distinguishable (a pure periodic pattern would make point tracks jump between cells)."""
    cell = int(rng.integers(16, 49))
    yy, xx = np.mgrid[0:size, 0:size]
    board = (((yy // cell) + (xx // cell)) % 2).astype(np.float32)[..., None]
    img = board * rng.random(3) + (1 - board) * rng.random(3)
    img = img * (0.2 + 0.8 * _value_noise(rng, size)[..., :1])
    return np.clip(img * 300, 0, 255).astype(np.uint8)


def stripes(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Oblique sinusoidal stripes with two random frequencies, modulated by multi-scale noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    f1, f2 = rng.uniform(0.05, 0.25), rng.uniform(0.01, 0.05)
    s = 0.5 + 0.35 * np.sin(f1 * (np.cos(ang) * xx + np.sin(ang) * yy)) + 0.15 * np.sin(f2 * (xx - yy))
    return _colourise(rng, s[..., None] * (0.2 + 0.8 * _value_noise(rng, size)[..., :1]))


def _colourise(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    tint = 0.5 + 0.5 * rng.random(3)
    return np.clip(x * tint * 255, 0, 255).astype(np.uint8)


def random_texture(rng: np.random.Generator, photos_only: bool = False, max_side: int = 512) -> np.ndarray:
    """A random strongly textured image (longest side at most ``max_side``): a colour-jittered crop of a
    sample photo or a procedural pattern."""
    if photos_only or rng.random() < 0.65:
        img = photo(str(rng.choice(PHOTOS)))
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img = _fit(img[y0 : y0 + ch, x0 : x0 + cw], max_side)
        return cv2.transform(img, np.diag(0.6 + 0.6 * rng.random(3)).astype(np.float32))
    size = min(256, max_side)
    return [noise, checker, stripes][int(rng.integers(3))](rng, size)


def _fit(img: np.ndarray, max_side: int) -> np.ndarray:
    s = max_side / max(img.shape[:2])
    if s >= 1:
        return np.ascontiguousarray(img)
    return cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                      interpolation=cv2.INTER_AREA)


def pyramid(img: np.ndarray, levels: int = 5) -> list[np.ndarray]:
    """Mip-map levels of a texture (level 0 = full size), used to avoid aliasing on far surfaces."""
    out = [np.ascontiguousarray(img)]
    while len(out) < levels and min(out[-1].shape[:2]) >= 16:
        out.append(cv2.pyrDown(out[-1]))
    return out


def posterise(img: np.ndarray, levels: int = 3) -> np.ndarray:
    """Cartoon look: smooth the texture and quantise each channel to ``levels`` flat tones."""
    smooth = cv2.bilateralFilter(cv2.medianBlur(img, 7), 9, 60, 9)
    step = 256 // levels
    return ((smooth // step) * step + step // 2).astype(np.uint8)
