"""Camera realism for style ``b`` (and held-out style ``a``): time-of-day light, auto-exposure drift,
white-balance drift, vignetting, camera motion blur, sensor noise, optional rolling shutter and JPEG-like
compression. All are image effects: the geometry (poses, intrinsics, depth) is unchanged, except that with
a rolling shutter each row is seen a little earlier or later than the frame's timestamp. :func:`degrade`
applies one fixed degradation (blur, noise, compression, flat contrast, low resolution) to any clip, for
robustness measurements."""

from __future__ import annotations

import cv2
import numpy as np

from .. import camera
from ..geometry import warp_back


def image_motion(depth: np.ndarray, w2c: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Per frame, the mean image motion ``(N, 2)`` in pixels per frame of a 6 x 6 grid of pixels (static
    geometry at its true depth; sky at 1 km), central differences."""
    n, h, w = depth.shape
    gx, gy = np.meshgrid(np.linspace(0.1, 0.9, 6) * (w - 1), np.linspace(0.1, 0.9, 6) * (h - 1))
    uv = np.stack([gx.ravel(), gy.ravel()], 1)
    px = np.round(uv).astype(int)
    out = np.zeros((n, 2))
    for k in range(n):
        z = depth[k][px[:, 1], px[:, 0]].astype(np.float64)
        z = np.where(z > 0, z, 1000.0)
        X = camera.unproject(K[k], w2c[k], uv, z)
        a, b = max(k - 1, 0), min(k + 1, n - 1)
        if a == b:
            continue
        pa, za = camera.project(K[a], w2c[a], X)
        pb, zb = camera.project(K[b], w2c[b], X)
        ok = (za > 0) & (zb > 0)
        if ok.any():
            out[k] = np.median((pb[ok] - pa[ok]) / (b - a), axis=0)
    return out


def motion_blur(img: np.ndarray, flow: np.ndarray, exposure: float) -> np.ndarray:
    """Blur along the image motion ``flow`` (pixels per frame) over ``exposure`` (fraction of a frame)."""
    L = float(np.hypot(*flow)) * exposure
    if L < 1.0:
        return img
    size = int(np.ceil(L)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    d = flow / max(np.hypot(*flow), 1e-9)
    for s in np.linspace(-L / 2, L / 2, 4 * size):
        k[int(round(c + s * d[1])), int(round(c + s * d[0]))] += 1
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def rolling_shutter(frames: np.ndarray, flow: np.ndarray, readout: float) -> None:
    """In place: each row ``r`` shifted by the image motion over its readout delay
    ``readout * (r / H - 0.5)`` frames (top rows earlier, bottom rows later)."""
    n, h, w = frames.shape[:3]
    ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    delay = (readout * (ys / max(h - 1, 1) - 0.5)).astype(np.float32)
    for k in range(n):
        frames[k] = warp_back(frames[k], -delay[..., None] * np.asarray(flow[k, :2], np.float32), cv2.BORDER_REFLECT)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress like a low-bitrate stream (8x8 blocks, chroma subsampling)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img


def realism(frames: np.ndarray, rng: np.random.Generator, t: np.ndarray, depth: np.ndarray, w2c: np.ndarray,
            K: np.ndarray, tod: str = "day", strength: float = 1.0, rolling: float = 0.0) -> dict:
    """In place: the camera and light effects of style ``b`` (``strength`` scales them; 0.5 for held-out
    style ``a``). ``tod`` in day | dusk | night. ``rolling``: rolling-shutter readout time as a fraction of
    a frame (0 = global shutter). Returns the drawn settings."""
    n, h, w = frames.shape[:3]
    base = {"day": rng.uniform(0.9, 1.15), "dusk": rng.uniform(0.45, 0.7), "night": rng.uniform(0.15, 0.3)}[tod]
    tint = {"day": np.ones(3), "dusk": np.array([1.15, 0.95, 0.8]), "night": np.array([1.1, 0.9, 0.75])}[tod]
    tint = tint * (1 + 0.05 * strength * rng.standard_normal(3))
    wb_amp, wb_f, wb_ph = 0.06 * strength * rng.random(), rng.uniform(0.03, 0.2), rng.uniform(0, 2 * np.pi)
    vig = strength * rng.uniform(0.1, 0.45)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
    vmap = (1.0 - vig * r2)[..., None]
    # shutter time (s): short by day, long at night; blur = image motion during it
    shutter = float(np.exp(rng.uniform(np.log(1 / 400), np.log(1 / 40)))) if tod == "day" else \
        float(np.exp(rng.uniform(np.log(1 / 60), np.log(1 / 15))))
    fps = 1.0 / max(float(np.median(np.diff(t))), 1e-6) if n > 1 else 30.0
    exposure = strength * shutter * fps  # fraction of the frame interval
    flow = image_motion(depth, w2c, K)
    read_noise = strength * (rng.uniform(1.0, 3.0) if tod == "day" else rng.uniform(2.5, 5.0))
    ae_lag = rng.uniform(0.08, 0.3)
    quality = int(rng.integers(25, 80)) if rng.random() < 0.7 * strength else 0
    gain = None
    for k in range(n):
        lin = (frames[k].astype(np.float32) / 255.0) ** 2.2
        wb = 1 + wb_amp * np.sin(2 * np.pi * wb_f * t[k] + wb_ph) * np.array([1.0, 0.0, -1.0])
        lin = lin * (base * tint * wb).astype(np.float32) * vmap
        lin = motion_blur(lin, flow[k], exposure)
        target = float(np.clip(0.18 / max(float(lin.mean()), 1e-4), 0.5, 4.0 if tod == "night" else 2.0))
        gain = target if gain is None else gain + ae_lag * (target - gain)  # auto exposure catches up slowly
        lin = lin * gain
        shot = np.sqrt(np.maximum(lin, 0) / max(gain, 1e-3)) * 0.02 * strength * gain
        lin = lin + shot * rng.standard_normal(lin.shape, dtype=np.float32)
        img = 255.0 * np.clip(lin, 0, 1) ** (1 / 2.2) + read_noise * gain * rng.standard_normal(lin.shape,
                                                                                             dtype=np.float32)
        frames[k] = np.clip(img, 0, 255).astype(np.uint8)
    if rolling > 0:
        rolling_shutter(frames, flow, rolling)
    if quality:
        for k in range(n):
            frames[k] = jpeg(frames[k], quality)
    return {"tod": tod, "vignetting": vig, "shutter_s": shutter, "jpeg_quality": quality, "rolling": rolling}


def consumer_camera(frames: np.ndarray, gt, seed: int, variant: int = 0) -> np.ndarray:
    """A copy of a clip's ``frames`` as a consumer camera records them: :func:`realism` at full strength
    (motion blur over the shutter time, auto-exposure lag, vignetting, white-balance drift, sensor noise,
    JPEG) on the clip's ground truth ``gt`` (:class:`~dynpose100k.synth.GroundTruth`, for the image motion);
    the time of day cycles day, dusk, night over ``seed + variant``, which also seed the draws. For
    robustness measurements on dev clips: the same geometry through the camera model style ``b`` uses."""
    out = np.array(frames, copy=True)
    realism(out, np.random.default_rng([int(seed), int(variant)]), gt.timestamps, gt.depth, gt.w2c, gt.K,
            ("day", "dusk", "night")[(int(seed) + int(variant)) % 3])
    return out


DEGRADATIONS = ("blur", "noise", "jpeg", "contrast", "lowres")
"""Image degradations of :func:`degrade` (robustness tests: the same geometry seen through a worse camera)."""


def degrade(frames: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A degraded copy of ``frames`` ``(N, H, W[, 3])`` uint8: ``blur`` (Gaussian, sigma 1.5 px at 360p,
    scaled with the height: defocus or a soft lens), ``noise`` (Gaussian, sigma 8 grey levels),
    ``jpeg`` (quality 25: a low-bitrate stream), ``contrast`` (gamma 1.6 into 60% of the range: dim, flat
    footage), ``lowres`` (a third of the resolution, upscaled back: an upscaled low-quality source). The
    geometry (poses, intrinsics, depth) is unchanged; ``seed`` draws the noise."""
    frames = np.asarray(frames)
    s = frames.shape[1] / 360.0
    if kind == "blur":
        return np.stack([cv2.GaussianBlur(f, (0, 0), 1.5 * s) for f in frames])
    if kind == "noise":
        noisy = frames + np.random.default_rng(seed).normal(0.0, 8.0, frames.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    if kind == "jpeg":
        return np.stack([jpeg(f, 25) for f in frames])
    if kind == "contrast":
        x = frames.astype(np.float32) / 255.0
        return np.clip(255.0 * (0.6 * x**1.6) + 20.0, 0, 255).astype(np.uint8)
    if kind == "lowres":
        h, w = frames.shape[1:3]
        small = (max(1, round(w / 3)), max(1, round(h / 3)))
        return np.stack([cv2.resize(cv2.resize(f, small, interpolation=cv2.INTER_AREA), (w, h),
                                    interpolation=cv2.INTER_LINEAR) for f in frames])
    raise ValueError(f"unknown degradation {kind!r} (choose from {', '.join(DEGRADATIONS)})")


BAR_LAYOUTS = ("letterbox", "portrait", "fourthree", "portrait_fill")
"""Layouts of :func:`bars`."""

#: the picture's aspect ratio (width over height) in each layout of :func:`bars`
_BAR_ASPECT = {"letterbox": 2.35, "portrait": 9 / 16, "fourthree": 4 / 3, "portrait_fill": 9 / 16}


def bars(frames: np.ndarray, layout: str) -> np.ndarray:
    """A copy of a landscape clip's ``frames`` ``(N, H, W[, 3])`` with the middle of the view kept as the
    picture and the rest made bars, as Internet clips come: ``letterbox`` (a 2.35:1 picture, black bars above
    and below), ``portrait`` (a phone's 9:16 picture between black bars at the sides), ``fourthree`` (a 4:3
    picture between black bars at the sides) or ``portrait_fill`` (the portrait picture, its sides filled with
    a blurred, enlarged, darkened copy of it, as phone clips are often published). The picture is the same
    camera (same focal and centre, a narrower view), so the geometry is unchanged."""
    if layout not in _BAR_ASPECT:
        raise ValueError(f"unknown bar layout {layout!r} (choose from {', '.join(BAR_LAYOUTS)})")
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    ph, pw = min(h, round(w / _BAR_ASPECT[layout])), min(w, round(h * _BAR_ASPECT[layout]))
    y0, x0 = (h - ph) // 2, (w - pw) // 2
    out = np.zeros_like(frames)
    for i, f in enumerate(frames):
        pic = f[y0:y0 + ph, x0:x0 + pw]
        if layout == "portrait_fill":
            big = cv2.resize(pic, (w, round(w * ph / pw)), interpolation=cv2.INTER_LINEAR)
            top = (big.shape[0] - h) // 2
            out[i] = (0.7 * cv2.GaussianBlur(big[top:top + h], (0, 0), 0.03 * w)).astype(frames.dtype)
        out[i, y0:y0 + ph, x0:x0 + pw] = pic
    return out


#: the fades of :func:`fade` a bench pool cycles through: (seconds in from black, seconds out to black)
FADES = ((1.0, 0.0), (0.0, 1.0), (0.5, 0.5))


def fade(frames: np.ndarray, timestamps: np.ndarray, fade_in: float = 0.0, fade_out: float = 0.0) -> np.ndarray:
    """A copy of ``frames`` ``(N, H, W[, 3])`` uint8 at ``timestamps`` ``(N,)`` seconds that fades in from black
    over its first ``fade_in`` seconds and out to black over its last ``fade_out`` (linear gain ramps, as
    editors make them); the geometry is unchanged."""
    frames = np.asarray(frames)
    t = np.asarray(timestamps, np.float64) - float(timestamps[0])
    gain = np.ones(len(frames))
    if fade_in > 0:
        gain = np.minimum(gain, t / fade_in)
    if fade_out > 0:
        gain = np.minimum(gain, (t[-1] - t) / fade_out)
    shape = (-1,) + (1,) * (frames.ndim - 1)
    return (frames * np.clip(gain, 0.0, 1.0).reshape(shape)).astype(frames.dtype)


def recorded(frames: np.ndarray, gt, seed: int, variant: int = 0, *, degradation: str | None = None,
             camera: bool = False, layout: str | None = None,
             fades: tuple[float, float] | None = None) -> np.ndarray:
    """A clip's rendered ``frames`` as a worse camera and an upload would hand them over, each step only when
    asked and always in this order: :func:`degrade` by ``degradation``, recorded through
    :func:`consumer_camera` (``camera``; ``seed`` and ``variant`` draw it), put inside :func:`bars` of
    ``layout``, faded in from and out to black by ``fades`` ``(seconds in, seconds out)`` (:func:`fade`). The
    geometry of ``gt`` is unchanged. ``frames`` itself is returned when nothing is asked."""
    if degradation:
        frames = degrade(frames, degradation, seed)
    if camera:
        frames = consumer_camera(frames, gt, seed, variant)
    if layout:
        frames = bars(frames, layout)
    if fades:
        frames = fade(frames, gt.timestamps, *fades)
    return frames
