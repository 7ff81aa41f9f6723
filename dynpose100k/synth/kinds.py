"""Clip kinds: the suitable one and the labelled failure modes the filter must reject, and the image
effects (lighting, cartoon styling, lens distortion, background blur, on-screen overlays) that make them."""

from __future__ import annotations

import cv2
import numpy as np

#: the first kinds; a default ``mixed`` pool (style a, dev split) draws only from these, so it stays the
#: pool it always was.
CLASSIC_KINDS = ("good", "static", "cut", "zoom", "cartoon", "fisheye", "bigobject", "blur", "overlay")
#: failure kinds closer to what real footage gets wrong (harder to tell from ``good``).
REALISTIC_FAILURE_KINDS = ("zoomwalk", "slowzoom", "similarcut", "darkfisheye", "splitscreen", "stabilised",
                           "screen")
#: every kind ``render`` knows. Each failure kind otherwise looks like a ``good`` clip.
KINDS = CLASSIC_KINDS + REALISTIC_FAILURE_KINDS
#: kinds suitable for pose estimation (moving camera, dynamic scene, perspective, one continuous shot).
SUITABLE_KINDS = ("good",)
#: the ordinary moving objects of every clip (all but ``bigobject``'s card) cover at most this fraction of
#: any frame, so suitable clips keep enough static correspondences; ``bigobject`` covers > 0.5.
MAX_DYNAMIC_FRACTION = 0.4
#: what each kind is, for help texts and reports.
DESCRIPTIONS = {
    "good": "moving camera, several moving objects, pinhole perspective",
    "static": "camera does not move (the scene still moves)",
    "cut": "a shot cut mid-clip to another scene and viewpoint",
    "zoom": "strong focal-length change over the clip",
    "cartoon": "flat posterised colours and dark outlines",
    "fisheye": "strong radial (equidistant fisheye) distortion; GT K is the undistorted pinhole",
    "bigobject": "a moving object covers most of the frame for most of the clip",
    "blur": "defocused background, only the moving objects are sharp",
    "overlay": "on-screen graphics: news banner with ticker, logo, picture-in-picture",
    "zoomwalk": "zooming in or out while moving forward",
    "slowzoom": "slow, steady focal-length change (1.25-1.5x over the clip)",
    "similarcut": "a cut to another viewpoint of the same scene",
    "darkfisheye": "fisheye distortion at night (dark, noisy)",
    "splitscreen": "letterbox with an inset, or two shots side by side or stacked",
    "stabilised": "stabilised clip: a crop window moving over the frame (principal point drifts)",
    "screen": "screen recording: the clip plays in a window on a desktop, with a moving cursor",
}
#: kinds from which camera poses cannot honestly be recovered: the pose engine must refuse them with a
#: reason. Rendered by ``render`` like any kind, but kept out of ``mixed`` pools (the filter's label set).
POSE_DEGENERATE_KINDS = ("tripod", "incar", "lowres", "compressed")
DESCRIPTIONS.update({
    "tripod": "camera on a tripod: fixed position, either still or panning (pure rotation); no parallax",
    "incar": "camera fixed to a subject inside a moving vehicle: the textured cabin and the person fill most of "
             "the frame and are static in the image; only the scenery seen through the windows moves",
    "lowres": "176x144 worth of detail (area-downscaled, blurred, JPEG quality 6), scaled back to the frame size",
    "compressed": "heavy per-frame JPEG compression (quality 2) of a 4x-downscaled copy: flat 32-px blocks",
})


def degrade(frames: np.ndarray, size: tuple[int, int] | None, quality: int, scale: float = 1.0,
            blur_px: float = 0.0) -> None:
    """In place: area-downscale each frame to ``size`` ``(w, h)`` (or by ``scale``), blur by ``blur_px``,
    JPEG-encode at ``quality`` and scale back up (bilinear): a low-resolution, badly compressed upload."""
    h, w = frames.shape[1:3]
    sw, sh = size if size is not None else (max(8, round(w * scale)), max(8, round(h * scale)))
    sw, sh = min(sw, w), min(sh, h)
    for k in range(len(frames)):
        img = cv2.resize(frames[k], (sw, sh), interpolation=cv2.INTER_AREA) if (sw, sh) != (w, h) else frames[k]
        if blur_px > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur_px)
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        frames[k] = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR) if (sw, sh) != (w, h) else img


def apply_lighting(frames: np.ndarray, rng: np.random.Generator, t: np.ndarray, night: bool) -> None:
    """In place: smooth global gain and colour drift over time; ``night`` = dark, bluish and noisy."""
    base = rng.uniform(0.25, 0.4) if night else rng.uniform(0.85, 1.1)
    tint0 = np.array([0.8, 0.9, 1.15]) if night else 1.0 + 0.08 * rng.standard_normal(3)
    f, ph = rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
    fc, phc = rng.uniform(0.05, 0.3, 3), rng.uniform(0, 2 * np.pi, 3)
    for k, tk in enumerate(t):
        gain = base * (1 + 0.18 * np.sin(2 * np.pi * f * tk + ph))
        g = gain * tint0 * (1 + 0.06 * np.sin(2 * np.pi * fc * tk + phc))
        frames[k] = cv2.transform(frames[k], np.diag(g).astype(np.float32))
        if night:
            noise = rng.standard_normal(frames[k].shape, dtype=np.float32) * 5.0
            frames[k] = np.clip(frames[k] + noise, 0, 255).astype(np.uint8)


def cartoon(frames: np.ndarray, surface: np.ndarray) -> None:
    """In place: few flat colours and dark outlines at surface borders and strong colour edges."""
    kernel = np.ones((3, 3), np.uint8)
    for k in range(len(frames)):
        img = (frames[k] // 64) * 64 + 32
        edges = cv2.morphologyEx(surface[k], cv2.MORPH_GRADIENT, kernel) > 0
        edges |= cv2.Canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 60, 160) > 0
        img[edges] = (20, 15, 15)
        frames[k] = img


def fisheye(frames: np.ndarray, rng: np.random.Generator) -> None:
    """In place: equidistant-fisheye look (``r = f * theta``) resampled from the pinhole frames, scaled so
    the image corners stay at the corners; the centre shrinks and the edges stretch (barrel)."""
    h, w = frames.shape[1:3]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    rc = np.hypot(cx, cy)
    theta_c = rng.uniform(1.0, 1.25)  # field angle at the corner, radians
    f_out = rc / theta_c
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(xx - cx, yy - cy)
    theta = r / f_out
    scale = np.where(r > 1e-9, np.tan(theta) * f_out * (rc / (np.tan(theta_c) * f_out)) / np.maximum(r, 1e-9), 1.0)
    mx = (cx + (xx - cx) * scale).astype(np.float32)
    my = (cy + (yy - cy) * scale).astype(np.float32)
    for k in range(len(frames)):
        frames[k] = cv2.remap(frames[k], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def background_blur(frames: np.ndarray, dynamic: np.ndarray) -> None:
    """In place: defocus everything except the moving objects."""
    sigma = 0.02 * frames.shape[2]
    for k in range(len(frames)):
        blurred = cv2.GaussianBlur(frames[k], (0, 0), sigma)
        np.copyto(frames[k], blurred, where=~dynamic[k][..., None])


_TICKER = "  MARKETS RALLY  +++  WEATHER: SUNNY 24C  +++  SPORTS: LATE GOAL WINS FINAL  +++  TRAFFIC UPDATE  "


def overlay(frames: np.ndarray, rng: np.random.Generator) -> None:
    """In place: a lower-third banner with a scrolling ticker, a channel logo and (often) an inset
    picture-in-picture of a delayed copy of the clip."""
    n, h, w = frames.shape[:3]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = h / 360.0
    band = int(0.17 * h)
    colour = tuple(int(c) for c in rng.integers(0, 200, 3))
    title = str(rng.choice(["BREAKING NEWS", "LIVE", "TOP STORY", "EXCLUSIVE"]))
    pip = rng.random() < 0.6
    originals = frames.copy() if pip else None
    speed = rng.uniform(4, 10) * scale
    for k in range(n):
        img = frames[k]
        img[h - band :] = colour
        img[h - band : h - band + max(2, band // 10)] = (255, 255, 255)
        cv2.putText(img, title, (int(10 * scale), h - band + int(0.45 * band)), font, 0.9 * scale,
                    (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
        x = int(w - (k * speed) % (w + 40 * len(_TICKER) * scale))
        cv2.putText(img, _TICKER, (x, h - int(0.12 * band)), font, 0.6 * scale, (255, 255, 0),
                    max(1, int(scale)), cv2.LINE_AA)
        lx, ly = w - int(90 * scale), int(10 * scale)
        cv2.rectangle(img, (lx, ly), (w - int(10 * scale), ly + int(36 * scale)), (230, 30, 30), -1)
        cv2.putText(img, "TV 24", (lx + int(6 * scale), ly + int(26 * scale)), font, 0.7 * scale,
                    (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
        if pip:
            ph, pw = h // 4, w // 4
            inset = cv2.resize(originals[(k * 3 + n // 2) % n], (pw, ph), interpolation=cv2.INTER_AREA)
            y0, x0 = int(12 * scale), int(12 * scale)
            cv2.rectangle(img, (x0 - 2, y0 - 2), (x0 + pw + 1, y0 + ph + 1), (255, 255, 255), -1)
            img[y0 : y0 + ph, x0 : x0 + pw] = inset


def splitscreen(frames: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> str:
    """In place: letterbox bars with a picture-in-picture of ``other`` (another shot), or ``other`` side by
    side with / stacked under the clip. Returns the layout drawn."""
    n, h, w = frames.shape[:3]
    layout = str(rng.choice(["letterbox", "side", "stack"]))
    bar = int(h * rng.uniform(0.12, 0.18))
    for k in range(n):
        img, o = frames[k], other[k % len(other)]
        if layout == "letterbox":
            img[:bar] = 0
            img[h - bar :] = 0
            ph, pw = h // 3, w // 3
            img[bar + 4 : bar + 4 + ph, w - pw - 6 : w - 6] = cv2.resize(o, (pw, ph), interpolation=cv2.INTER_AREA)
        elif layout == "side":
            half = cv2.resize(o[:, w // 4 : w // 4 + w // 2], (w - w // 2, h), interpolation=cv2.INTER_AREA)
            img[:, w // 2 :] = half
            img[:, w // 2 - 1 : w // 2 + 1] = 255
        else:
            img[h // 2 :] = cv2.resize(o[h // 4 : h // 4 + h // 2], (w, h - h // 2), interpolation=cv2.INTER_AREA)
            img[h // 2 - 1 : h // 2 + 1] = 255
    return layout


def screen(frames: np.ndarray, rng: np.random.Generator) -> None:
    """In place: a desktop screen recording: the clip shrunk into a player window (title bar, controls) on a
    flat desktop with icons and a taskbar, and a mouse cursor wandering over it."""
    n, h, w = frames.shape[:3]
    s = rng.uniform(0.55, 0.8)
    pw, ph = int(w * s), int(h * s)
    x0, y0 = (int(rng.integers(0, w - pw + 1)),
              int(rng.integers(int(0.06 * h), max(int(0.06 * h) + 1, h - ph - int(0.08 * h)))))
    desk = np.empty((h, w, 3), np.uint8)
    desk[:] = rng.integers(30, 200, 3)
    for _ in range(6):  # icons
        ix, iy = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        cv2.rectangle(desk, (ix, iy), (ix + max(4, w // 40), iy + max(4, w // 40)),
                      tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    desk[h - int(0.06 * h) :] = (40, 40, 45)
    bar = max(3, int(0.05 * h))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    vx, vy = rng.normal(0, 0.02 * w, 2)
    for k in range(n):
        img = desk.copy()
        y1 = max(0, y0 - bar)
        img[y1:y0, x0 : x0 + pw] = (225, 225, 230)
        img[y0 : y0 + ph, x0 : x0 + pw] = cv2.resize(frames[k], (pw, ph), interpolation=cv2.INTER_AREA)
        img[y0 + ph - max(2, bar // 2) : y0 + ph, x0 : x0 + pw] = (20, 20, 20)  # player controls
        prog = x0 + int(pw * (k + 1) / n)
        img[y0 + ph - max(2, bar // 4) : y0 + ph, x0:prog] = (220, 30, 30)
        vx, vy = 0.9 * vx + rng.normal(0, 0.01 * w), 0.9 * vy + rng.normal(0, 0.01 * h)
        cx, cy = float(np.clip(cx + vx, 0, w - 1)), float(np.clip(cy + vy, 0, h - 1))
        size = max(4, h // 25)
        tri = np.array([[cx, cy], [cx, cy + size], [cx + 0.7 * size, cy + 0.7 * size]], np.int32)
        cv2.fillConvexPoly(img, tri, (255, 255, 255))
        cv2.polylines(img, [tri], True, (0, 0, 0), 1)
        frames[k] = img
