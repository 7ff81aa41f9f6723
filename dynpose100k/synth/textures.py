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


#: sample images shipped by matplotlib (name -> file); every other name is a ``skimage.data`` image.
MPL_SAMPLES = {"grace_hopper": "grace_hopper.jpg", "Minduka_Present_Blue_Pack": "Minduka_Present_Blue_Pack.png"}


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A named sample photo as RGB ``(H, W, 3)`` uint8 (grey images are replicated to 3 channels, alpha is
    dropped, of a stereo pair the left image is kept)."""
    if name in MPL_SAMPLES:
        import matplotlib.cbook

        img = cv2.imread(str(matplotlib.cbook.get_sample_data(MPL_SAMPLES[name], asfileobj=False)))
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):
            img = img[0]
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3])
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


# ---- style b: other texture sources, none of them repeating ----------------------------------------------

#: sample images used only by style b (style a never sees them): scikit-image and matplotlib samples.
PHOTOS_B = ("coins", "clock", "page", "text", "hubble_deep_field", "immunohistochemistry", "retina", "cat",
            "cell", "stereo_motorcycle", "Minduka_Present_Blue_Pack")
#: style-b images that look like a subject (clothes and fur of the articulated figures).
SUBJECTS_B = ("cat", "stereo_motorcycle", "Minduka_Present_Blue_Pack", "immunohistochemistry", "coins")


_PALETTES = {  # colour ramps (dark -> light) for procedural natural materials
    "grass": ((30, 50, 20), (70, 110, 40), (150, 170, 80)),
    "earth": ((50, 35, 25), (110, 85, 60), (170, 150, 120)),
    "rock": ((45, 45, 50), (110, 105, 100), (190, 185, 175)),
    "sand": ((120, 100, 70), (190, 165, 120), (235, 215, 175)),
    "plaster": ((150, 140, 125), (200, 190, 175), (240, 235, 225)),
    "wood": ((60, 35, 20), (120, 75, 40), (185, 135, 85)),
}


def _ramp(x: np.ndarray, palette: str) -> np.ndarray:
    stops = np.array(_PALETTES[palette], np.float32)
    x = np.clip(x, 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    a = (x - i)[..., None]
    return (stops[i] * (1 - a) + stops[i + 1] * a).astype(np.uint8)


def _fbm(rng: np.random.Generator, h: int, w: int, octaves: int = 6, gain: float = 0.55) -> np.ndarray:
    """Fractal noise ``(h, w)`` in ``[0, 1]`` with random (non-periodic) content at every scale."""
    out = np.zeros((h, w), np.float32)
    amp, cells = 1.0, 3
    for _ in range(octaves):
        small = rng.random((cells + 1, int(cells * w / h) + 1)).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= gain
        cells *= 2
        if cells > max(h, w):
            break
    out -= out.min()
    return out / max(float(out.max()), 1e-6)


def natural(rng: np.random.Generator, size: int, palette: str | None = None) -> np.ndarray:
    """Grass, earth, rock, sand, plaster or wood: fractal noise through a colour ramp, with fine grain."""
    palette = palette or str(rng.choice(list(_PALETTES)))
    x = _fbm(rng, size, size, gain=0.7)
    if palette == "wood":
        yy = np.arange(size, dtype=np.float32)[:, None]
        x = 0.5 + 0.5 * np.sin(yy * rng.uniform(0.08, 0.2) + 12 * x)
    grain = rng.standard_normal((size, size)).astype(np.float32) * 0.06
    return _ramp(0.15 + 0.7 * x + grain, palette)


def masonry(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Bricks or tiles, every one with its own colour, size jitter and weathering (no two alike), and noisy
    mortar joints; rows are offset by random amounts."""
    bh = int(rng.integers(10, 28))
    bw = int(bh * rng.uniform(1.5, 3.5))
    base = np.array(rng.uniform(60, 200, 3), np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = rng.uniform(140, 210)  # mortar
    y = 0
    while y < h:
        x = -int(rng.integers(0, bw))
        rh = int(bh * rng.uniform(0.85, 1.15))
        while x < w:
            ww = int(bw * rng.uniform(0.7, 1.3))
            col = base * rng.uniform(0.7, 1.3) + rng.normal(0, 12, 3)
            img[y + 1 : y + rh - 1, max(0, x + 1) : max(0, x + ww - 1)] = col
            x += ww
        y += rh
    img *= (0.75 + 0.5 * _fbm(rng, h, w))[..., None]
    img += rng.standard_normal((h, w, 1)).astype(np.float32) * 6
    return np.clip(img, 0, 255).astype(np.uint8)


def facade(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A building front: a wall material with a grid of windows whose frames, glass and blinds vary."""
    img = masonry(rng, h, w) if rng.random() < 0.5 else natural(rng, max(h, w), "plaster")[:h, :w].copy()
    rows, cols = int(rng.integers(3, 8)), int(rng.integers(3, 9))
    for r in range(rows):
        for c in range(cols):
            if rng.random() < 0.1:
                continue
            y0, x0 = int((r + 0.25) * h / rows), int((c + 0.25) * w / cols)
            y1, x1 = int((r + 0.8) * h / rows), int((c + 0.75) * w / cols)
            glass = rng.uniform(20, 120, 3) if rng.random() < 0.7 else rng.uniform(150, 240, 3)
            img[y0:y1, x0:x1] = glass
            blind = int(y0 + (y1 - y0) * rng.uniform(0, 0.8))
            img[y0:blind, x0:x1] = img[y0:blind, x0:x1] // 2 + 100
            cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(v) for v in rng.uniform(180, 255, 3)), 2)
    return img


def mosaic(rng: np.random.Generator, sources: list[np.ndarray], size: int, tiles: int = 3) -> np.ndarray:
    """A large texture assembled from random crops of ``sources`` (random offsets, flips and colour per
    tile), so a surface shows no repeated content."""
    step = size // tiles
    out = np.empty((step * tiles, step * tiles, 3), np.uint8)
    for i in range(tiles):
        for j in range(tiles):
            src = sources[int(rng.integers(len(sources)))]
            sh, sw = src.shape[:2]
            c = int(min(sh, sw) * rng.uniform(0.35, 0.9))
            y0, x0 = int(rng.integers(0, sh - c + 1)), int(rng.integers(0, sw - c + 1))
            crop = cv2.resize(src[y0 : y0 + c, x0 : x0 + c], (step, step), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out[i * step : (i + 1) * step, j * step : (j + 1) * step] = cv2.transform(
                crop, np.diag(0.7 + 0.5 * rng.random(3)).astype(np.float32))
    return out


def random_texture_b(rng: np.random.Generator, max_side: int = 512, kind: str | None = None) -> np.ndarray:
    """A style-b texture (longest side at most ``max_side``): a large natural material, masonry, a facade
    or a mosaic of style-b photos; none of them periodic."""
    kind = kind or str(rng.choice(["natural", "masonry", "facade", "photos"], p=[0.35, 0.25, 0.15, 0.25]))
    if kind == "natural":
        return natural(rng, max_side)
    if kind == "masonry":
        return masonry(rng, max_side, max_side)
    if kind == "facade":
        return facade(rng, max_side, max_side)
    names = rng.choice(PHOTOS_B, size=3, replace=False)
    return mosaic(rng, [photo(str(n)) for n in names], max_side)
