"""Style ``b``: a second family of scenes, cameras and movers, built from other texture sources, another
lighting model and another object set than style ``a``, and never used to tune anything (it estimates
how the toolkit does on footage it was not built for).

Scenes: open terrain with a far background (sky, distant buildings and hills, trees, lamp posts, rocks),
halls with columns, furniture and balls, and table-top close-ups. Cameras: walking pans, long handheld
drifts, fast pans, vehicle forward motion, orbits and slow dollies, 20-100 mm equivalent lenses. Movers:
articulated people and animals, rolling and bouncing balls, cars, movers that cross the view (enter and
leave), stop and stay, circle, or travel with the camera, and crowds of small walkers. Faces are lit by
a sun or ceiling light (Lambert + ambient) at day, dusk or night.
"""

from __future__ import annotations

import numpy as np

from .. import camera
from . import shapes as sh
from . import textures as tx
from .scene import Plane, Scene, _bounce, _smooth_noise, look_along, room_walls

SCENES = ("outdoor", "hall", "closeup")
CAMERA_MODES = ("walkpan", "handheld", "fastpan", "vehicle", "orbit", "dolly")
TIMES_OF_DAY = ("day", "dusk", "night")
_SKIES = {"day": ((70, 120, 200), (185, 210, 235)), "dusk": ((40, 50, 110), (240, 150, 90)),
          "night": ((5, 8, 20), (25, 30, 50))}


def _tex(sc: Scene, rng: np.random.Generator, side: int, kind: str | None = None) -> int:
    return sc.add_texture(tx.random_texture_b(rng, side, kind))


def _sun(rng: np.random.Generator, tod: str) -> np.ndarray:
    elev = rng.uniform(0.6, 1.2) if tod == "day" else rng.uniform(0.1, 0.3)
    az = rng.uniform(0, 2 * np.pi)
    return np.array([np.cos(elev) * np.sin(az), -np.sin(elev), np.cos(elev) * np.cos(az)])


def outdoor(rng: np.random.Generator, tod: str, tex_side: int) -> Scene:
    """Uneven open ground with trees, lamp posts, rocks and crates, ringed by distant buildings and hills
    under a sky (depth 0)."""
    sun = _sun(rng, tod)
    amp = rng.uniform(0.15, 0.5)
    f1, f2, ph = rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.3), rng.uniform(0, 2 * np.pi, 2)

    def ground(x, z):
        r = np.hypot(x, z)
        hill = -np.clip((r - 22.0) / 18.0, 0, None) ** 2 * 4.0
        return -amp * (np.sin(f1 * x + ph[0]) * np.cos(f2 * z + ph[1]) + 0.5 * np.sin(f2 * x - f1 * z)) + hill

    sc = Scene(sky=True, bounds=(-20.0, 20.0, -20.0, 20.0), sky_colours=_SKIES[tod], ground=ground)
    sh.terrain(sc, ground, (-40, 40), (-40, 40), 8, _tex(sc, rng, tex_side, "natural"), rng.uniform(8, 20), sun)
    # far background: building fronts and hills 80-250 m away, facing the centre
    for k in range(int(rng.integers(6, 12))):
        a = 2 * np.pi * (k + rng.uniform(0, 0.6)) / 10
        dist, width, height = rng.uniform(80, 250), rng.uniform(20, 60), rng.uniform(15, 70)
        c = np.array([np.sin(a), 0.0, np.cos(a)]) * dist
        u = np.array([np.cos(a), 0.0, -np.sin(a)]) * width
        sc.planes.append(Plane(c - u / 2 + [0, -height, 0], u, np.array([0.0, height + 5, 0.0]),
                               _tex(sc, rng, tex_side // 2, "facade"), shade=rng.uniform(0.6, 1.0)))
    hill_tex = _tex(sc, rng, tex_side // 2, "natural")
    for _ in range(int(rng.integers(3, 6))):
        a = rng.uniform(0, 2 * np.pi)
        dist, width, height = rng.uniform(300, 500), rng.uniform(150, 300), rng.uniform(30, 90)
        c, side = np.array([np.sin(a), 0.0, np.cos(a)]) * dist, np.array([np.cos(a), 0.0, -np.sin(a)]) * width / 2
        sh.triangle(sc, [c - side + [0, 5, 0], c + side + [0, 5, 0], c + [0, -height, 0]], [(0, 1), (4, 1), (2, 0)],
                    hill_tex, shade=rng.uniform(0.5, 0.8))
    bark, leaves, metal = (_tex(sc, rng, tex_side // 2, k) for k in ("natural", "natural", "masonry"))
    for _ in range(int(rng.integers(3, 8))):  # trees
        x, z = rng.uniform(-30, 30, 2)
        y = float(ground(x, z))
        h = rng.uniform(2.5, 6.0)
        sh.cylinder(sc, rng.uniform(0.12, 0.3), h, bark, base=(x, y + 0.2, z), sides=6, cap=False, sun=sun)
        r = rng.uniform(1.2, 2.5)
        sh.sphere(sc, (r, r * rng.uniform(0.7, 1.1), r), leaves, centre=(x, y - h - 0.6 * r, z), n_lon=6, n_lat=3,
                  sun=sun)
    for _ in range(int(rng.integers(2, 6))):  # lamp posts: thin structures
        x, z = rng.uniform(-22, 22, 2)
        sh.cylinder(sc, 0.06, rng.uniform(3.5, 5.0), metal, base=(x, float(ground(x, z)) + 0.1, z), sides=5,
                    sun=sun)
    for _ in range(int(rng.integers(2, 6))):  # rocks and crates
        x, z = rng.uniform(-20, 20, 2)
        y = float(ground(x, z))
        if rng.random() < 0.5:
            r = rng.uniform(0.3, 1.0)
            sh.sphere(sc, (r, 0.6 * r, r * rng.uniform(0.8, 1.3)), _tex(sc, rng, tex_side // 2, "natural"),
                      centre=(x, y - 0.3 * r, z), n_lon=6, n_lat=4, sun=sun)
        else:
            s = rng.uniform(0.5, 1.4, 3)
            sh.box(sc, s, _tex(sc, rng, tex_side // 2), centre=(x, y - s[1] / 2 + 0.1, z), bottom=False, sun=sun)
    return sc


def hall(rng: np.random.Generator, tod: str, tex_side: int) -> Scene:
    """A large room with non-repeating wall textures, rows of columns, furniture boxes, shelves and balls,
    lit from the ceiling."""
    wx, dz, hy = rng.uniform(6, 10), rng.uniform(8, 14), rng.uniform(4, 7)
    light = np.array([0.2, -0.95, 0.1]) / np.linalg.norm([0.2, -0.95, 0.1])
    sc = Scene(sky=False, bounds=(-wx, wx, -dz, dz))
    for name, (o, u, v) in room_walls(wx, hy, dz).items():
        t = _tex(sc, rng, tex_side)
        reps = (1.0, 1.0) if rng.random() < 0.6 else (2.0, 1.0)
        shade = 0.95 if name == "floor" else (0.55 if name == "ceiling" else rng.uniform(0.65, 0.9))
        sc.planes.append(Plane(np.array(o, float), np.array(u, float), np.array(v, float), t, reps, shade=shade))
    col_tex = _tex(sc, rng, tex_side // 2, "masonry")
    n_cols = int(rng.integers(0, 4))
    for k in range(n_cols):
        for side in (-1, 1):
            x, z = side * wx * rng.uniform(0.4, 0.6), -dz + (k + 1) * 2 * dz / (n_cols + 1)
            sh.cylinder(sc, rng.uniform(0.25, 0.45), hy, col_tex, base=(x, 0.0, z), sides=8, cap=False, sun=light)
    for _ in range(int(rng.integers(3, 8))):  # furniture, shelves, balls
        x, z = rng.uniform(-wx + 1, wx - 1), rng.uniform(-dz + 1, dz - 1)
        r = rng.random()
        if r < 0.45:
            s = np.array([rng.uniform(0.6, 2.0), rng.uniform(0.4, 1.2), rng.uniform(0.5, 1.5)])
            sh.box(sc, s, _tex(sc, rng, tex_side // 2), centre=(x, -s[1] / 2, z), bottom=False, sun=light)
        elif r < 0.7:  # shelf: thin boards on thin legs
            wdt, t_ = rng.uniform(1.0, 2.0), _tex(sc, rng, tex_side // 2, "natural")
            for lvl in range(int(rng.integers(2, 4))):
                sh.box(sc, (wdt, 0.04, 0.4), t_, centre=(x, -0.5 - 0.45 * lvl, z), sun=light)
            for lx in (-wdt / 2, wdt / 2):
                sh.box(sc, (0.04, 1.5, 0.04), t_, centre=(x + lx, -0.75, z), bottom=False, sun=light)
        else:
            rad = rng.uniform(0.2, 0.6)
            sh.sphere(sc, rad, _tex(sc, rng, tex_side // 2), centre=(x, -rad, z), sun=light)
    return sc


def closeup(rng: np.random.Generator, tod: str, tex_side: int) -> Scene:
    """A table top seen from close by: cups, balls and books on a table, a wall behind; everything is
    about a sixth of human scale (the movers are toys)."""
    s = 1.0 / 6
    light = np.array([0.3, -0.9, -0.2]) / np.linalg.norm([0.3, -0.9, -0.2])
    wx, dz = rng.uniform(0.7, 1.2), rng.uniform(0.5, 0.9)
    sc = Scene(sky=False, bounds=(-wx, wx, -dz, dz), scale=s)
    table = _tex(sc, rng, tex_side, "natural")
    sc.planes.append(Plane(np.array([-3 * wx, 0, -3 * dz]), np.array([6 * wx, 0, 0]), np.array([0, 0, 6 * dz]),
                           table, (2.0, 2.0), shade=0.9))
    for z, yaw_u in ((3 * dz, np.array([6 * wx, 0, 0])), (-3 * dz, np.array([-6 * wx, 0, 0]))):
        o = np.array([-yaw_u[0] / 2, -2.0, z])
        sc.planes.append(Plane(o, yaw_u, np.array([0, 2.0, 0]), _tex(sc, rng, tex_side), shade=0.75))
    for x in (-3 * wx, 3 * wx):
        sc.planes.append(Plane(np.array([x, -2.0, -3 * dz]), np.array([0, 0, 6 * dz]), np.array([0, 2.0, 0]),
                               _tex(sc, rng, tex_side), shade=0.7))
    for _ in range(int(rng.integers(4, 9))):
        x, z = rng.uniform(-wx, wx), rng.uniform(-dz, dz)
        r = rng.random()
        if r < 0.35:  # cup / can
            sh.cylinder(sc, rng.uniform(0.03, 0.05), rng.uniform(0.08, 0.14), _tex(sc, rng, tex_side // 2),
                        base=(x, 0.0, z), sides=8, sun=light)
        elif r < 0.7:  # book / box
            b = np.array([rng.uniform(0.12, 0.25), rng.uniform(0.02, 0.06), rng.uniform(0.15, 0.3)])
            sh.box(sc, b, _tex(sc, rng, tex_side // 2, "photos"), centre=(x, -b[1] / 2, z), bottom=False, sun=light)
        else:
            rad = rng.uniform(0.03, 0.07)
            sh.sphere(sc, rad, _tex(sc, rng, tex_side // 2), centre=(x, -rad, z), n_lon=6, n_lat=4, sun=light)
    return sc


def build_scene(rng: np.random.Generator, tod: str, tex_side: int) -> Scene:
    name = str(rng.choice(SCENES, p=[0.5, 0.3, 0.2]))
    return {"outdoor": outdoor, "hall": hall, "closeup": closeup}[name](rng, tod, tex_side)


def focal_px(rng: np.random.Generator, w: int, h: int, lo_mm: float = 20.0, hi_mm: float = 100.0) -> float:
    """Focal length in pixels of a 35 mm-equivalent lens drawn log-uniformly in ``[lo_mm, hi_mm]`` (the
    36 mm film width maps to the frame's longer side)."""
    f_mm = float(np.exp(rng.uniform(np.log(lo_mm), np.log(hi_mm))))
    return f_mm / 36.0 * max(w, h)


def camera_path(rng: np.random.Generator, sc: Scene, t: np.ndarray, mode: str, hard: bool = False) -> np.ndarray:
    """World-to-camera ``(N, 4, 4)`` for style-b trajectory ``mode`` (see :data:`CAMERA_MODES`, or
    ``still``), scaled to the scene and following its ground."""
    xmin, xmax, zmin, zmax = sc.bounds
    s = sc.scale
    m = 0.8 * s
    xmin, xmax, zmin, zmax = xmin + m, xmax - m, zmin + m, zmax - m
    t = t - t[0]
    dur = max(float(t[-1]), 1e-6)
    eye_h = rng.uniform(1.2, 1.8) * s
    pitch = np.full_like(t, rng.uniform(-0.1, 0.25))
    shake = (0.004 * s, 0.003)
    heading = rng.uniform(0, 2 * np.pi)
    d = np.array([np.sin(heading), 0.0, np.cos(heading)])
    centre = np.array([(xmin + xmax) / 2, 0.0, (zmin + zmax) / 2])
    half = 0.5 * min(xmax - xmin, zmax - zmin)
    fast = 1.6 if hard else 1.0
    if mode in ("walkpan", "vehicle", "dolly"):
        speed = {"walkpan": rng.uniform(0.4, 1.0), "vehicle": rng.uniform(4.0, 12.0),
                 "dolly": rng.uniform(0.15, 0.5)}[mode] * s * fast
        if mode == "vehicle":
            speed = min(speed, 1.8 * half / dur)  # stay on the ground that exists
        span = min(speed * dur, 1.8 * half)
        start = centre - d * span / 2 + np.cross(d, [0, 1.0, 0]) * rng.uniform(-0.3, 0.3) * half
        eye = start + np.outer(t / dur * span, d)
        yaw = heading + 0.1 * _smooth_noise(rng, t, 1, (0.03, 0.1))[:, 0]
        if mode == "walkpan":  # looks around while walking slowly: rotation dominates, low parallax
            yaw = yaw + rng.uniform(0.5, 1.2) * np.sin(2 * np.pi * rng.uniform(0.08, 0.2) * t + rng.uniform(0, 6.3))
            shake = (0.015 * s, 0.008)
        elif mode == "vehicle":
            eye_h = rng.uniform(1.2, 2.2) * s
            shake = (0.01 * s, 0.004)
        else:
            yaw = yaw + rng.uniform(-0.3, 0.3) * t / dur
            shake = (0.0015 * s, 0.001)
    elif mode == "handheld":  # long handheld shot: slow wander, breathing, drift of the view
        base = centre + rng.uniform(-0.4, 0.4, 3) * [half, 0, half]
        eye = base + 0.5 * s * _smooth_noise(rng, t, 3, (0.02, 0.1)) * [1, 0.2, 1]
        yaw = heading + 0.6 * _smooth_noise(rng, t, 1, (0.02, 0.08))[:, 0]
        shake = (0.02 * s, 0.012)
    elif mode == "fastpan":
        rate = rng.uniform(0.8, 1.8) * fast * rng.choice([-1, 1])
        eye = centre + rng.uniform(-0.4, 0.4, 3) * [half, 0, half] + np.outer(t, d) * rng.uniform(0.1, 0.4) * s
        yaw = heading + rate * t
        shake = (0.008 * s, 0.004)
    elif mode == "orbit":
        radius = rng.uniform(0.3, 0.7) * half
        rate = rng.uniform(0.1, 0.35) * fast * rng.choice([-1, 1])
        ang = rng.uniform(0, 2 * np.pi) + rate * t
        eye = centre + np.stack([radius * np.sin(ang), np.zeros_like(t), radius * np.cos(ang)], 1)
        yaw = ang + np.pi
        pitch = pitch + 0.1
    elif mode == "still":
        eye = np.tile(centre + rng.uniform(-0.4, 0.4, 3) * [half, 0, half], (len(t), 1))
        yaw = np.full_like(t, heading)
        shake = (0.0, 0.0)
    else:
        raise ValueError(f"unknown camera mode {mode!r}")
    eye = eye.astype(float)
    eye[:, 0] = np.clip(eye[:, 0], xmin, xmax)
    eye[:, 2] = np.clip(eye[:, 2], zmin, zmax)
    eye[:, 1] = sc.ground_y(eye[:, 0], eye[:, 2]) - eye_h
    if mode != "still":
        eye = eye + shake[0] * _smooth_noise(rng, t, 3, (0.5, 4.0))
        yaw = yaw + shake[1] * _smooth_noise(rng, t, 1, (0.5, 4.0))[:, 0]
        pitch = pitch + shake[1] * _smooth_noise(rng, t, 1, (0.5, 4.0))[:, 0]
    roll = (2 * shake[1] * _smooth_noise(rng, t, 1, (0.3, 3.0))[:, 0]) if mode != "still" else np.zeros_like(t)
    return look_along(eye, yaw, pitch, roll)


def _ground_path(sc: Scene, xz: np.ndarray) -> np.ndarray:
    return np.stack([xz[:, 0], sc.ground_y(xz[:, 0], xz[:, 1]), xz[:, 1]], 1)


def mover_path(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray, speed: float, pattern: str,
               clearance: float, tan_half: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Ground positions ``(N, 3)`` and per-frame speeds ``(N,)`` of a mover following ``pattern``: cross
    (walks across the view mid-clip, entering and leaving it when the clip is long enough), stop (walks,
    then stops and stays), circle, bounce, approach (comes towards the camera and turns away) or chase
    (travels with the camera, ahead of it). ``tan_half``: tangent of the camera's half horizontal field of
    view."""
    s = sc.scale
    xmin, xmax, zmin, zmax = sc.bounds
    c2w = camera.invert(w2c)
    eyes = c2w[:, :3, 3] * [1, 0, 1]
    n = len(t)
    for _ in range(6):
        f = int(rng.integers(n))
        fwd = c2w[f, :3, 2] * [1, 0, 1]
        fwd = fwd / max(np.linalg.norm(fwd), 1e-9)
        right = np.array([-fwd[2], 0.0, fwd[0]])
        tt = t - t[f]
        p = eyes[f] + fwd * rng.uniform(3.0, 12.0) * s + right * rng.uniform(-2.5, 2.5) * s
        v = np.full(n, speed)
        if pattern == "cross":  # near enough to cross the whole view in the clip, centred on its middle
            f = n // 2
            fwd = c2w[f, :3, 2] * [1, 0, 1]
            fwd = fwd / max(np.linalg.norm(fwd), 1e-9)
            right = np.array([-fwd[2], 0.0, fwd[0]])
            tt = t - t[f]
            reach = (0.8 * speed * (t[-1] - t[0]) - 1.0 * s) / (2 * tan_half)
            p = eyes[f] + fwd * float(np.clip(rng.uniform(3.0, 12.0) * s, 2.0 * s, max(reach, 2.0 * s)))
        if pattern == "chase":  # same velocity as the camera, a few metres ahead along its travel
            travel = eyes[-1] - eyes[0]
            head = travel / np.linalg.norm(travel) if np.linalg.norm(travel) > 0.5 * s else fwd
            side = np.array([-head[2], 0.0, head[0]])
            drift = rng.uniform(-0.3, 0.3, 2) * s * (tt / max(t[-1] - t[0], 1e-9))[:, None]
            xz = (eyes + head * rng.uniform(2.5, 6.0) * s + side * rng.uniform(-1.5, 1.5) * s)[:, [0, 2]] + drift
            pos = _ground_path(sc, xz)
            v = np.linalg.norm(np.gradient(pos, axis=0), axis=1) / max(float(np.mean(np.diff(t))), 1e-9) if n > 1 \
                else np.zeros(n)
            return pos, v
        if pattern == "cross":
            dirn = right * rng.choice([-1, 1]) + fwd * rng.uniform(-0.3, 0.3)
            xz = (p + np.outer(tt * speed, dirn / np.linalg.norm(dirn)))[:, [0, 2]]
        elif pattern == "stop":
            ang = rng.uniform(0, 2 * np.pi)
            ts = rng.uniform(0.2, 0.6) * (t[-1] - t[0]) + t[0]
            v = speed * np.clip((ts - t) / max(0.4, 1e-9) + 1.0, 0.0, 1.0)  # decelerates over 0.4 s to 0
            dist = np.r_[0.0, np.cumsum(0.5 * (v[1:] + v[:-1]) * np.diff(t))]
            dist -= dist[f]
            xz = (p + np.outer(dist, [np.sin(ang), 0, np.cos(ang)]))[:, [0, 2]]
        elif pattern == "circle":
            r = rng.uniform(1.0, 3.0) * s
            ang = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * speed / r * tt
            xz = np.stack([p[0] + r * np.sin(ang), p[2] + r * np.cos(ang)], 1)
        elif pattern == "approach":
            to_cam = eyes - p
            dist0 = np.linalg.norm(to_cam[f])
            k = np.clip(1.0 - np.abs(tt) * speed / max(dist0, 1e-9), 0.0, 1.0) * 0.7
            xz = (p + to_cam * k[:, None])[:, [0, 2]]
        else:  # bounce: straight lines reflected at the bounds
            ang = rng.uniform(0, 2 * np.pi)
            x = _bounce(p[0] + speed * np.sin(ang) * tt, xmin + 0.3 * s, xmax - 0.3 * s)
            z = _bounce(p[2] + speed * np.cos(ang) * tt, zmin + 0.3 * s, zmax - 0.3 * s)
            xz = np.stack([x, z], 1)
        if pattern != "cross" or not sc.sky:  # outdoors, crossing movers may walk off (they leave the view)
            xz[:, 0] = np.clip(xz[:, 0], xmin + 0.3 * s, xmax - 0.3 * s)
            xz[:, 1] = np.clip(xz[:, 1], zmin + 0.3 * s, zmax - 0.3 * s)
        pos = _ground_path(sc, xz)
        if np.linalg.norm((pos - eyes)[:, [0, 2]], axis=1).min() >= clearance * s:
            break
    return pos, v


def _heading(pos: np.ndarray, fallback: float) -> np.ndarray:
    vel = np.gradient(pos, axis=0) if len(pos) > 1 else np.zeros_like(pos)
    moving = np.linalg.norm(vel[:, [0, 2]], axis=1) > 1e-6
    yaw = np.where(moving, np.arctan2(vel[:, 0], vel[:, 2]), np.nan)
    idx = np.where(moving, np.arange(len(pos)), 0)
    np.maximum.accumulate(idx, out=idx)  # a stopped mover keeps its last heading
    yaw = np.where(np.isnan(yaw[idx]), fallback, yaw[idx])
    return np.unwrap(yaw)


def populate(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray, hard: bool, tex_side: int,
             tan_half: float = 0.6) -> None:
    """Add style-b movers: people and animals (articulated), balls, cars, a crowd of small walkers, and
    sometimes a mover that travels with the camera (``tan_half``: see :func:`mover_path`)."""
    s = sc.scale
    texs = [sc.add_texture(tx.mosaic(rng, [tx.photo(str(n)) for n in rng.choice(tx.SUBJECTS_B, 2, replace=False)],
                                     tex_side // 2, 2)) for _ in range(3)]
    n = int(rng.integers(3, 7) if hard else rng.integers(2, 5))
    fast = 1.8 if hard else 1.0
    for _ in range(n):
        r = rng.random()
        pattern = str(rng.choice(["cross", "stop", "circle", "bounce", "approach", "chase"],
                                 p=[0.3, 0.15, 0.15, 0.2, 0.1, 0.1]))
        if r < 0.45:  # person
            speed = rng.uniform(0.8, 1.8) * s * fast
            pos, v = mover_path(rng, sc, w2c, t, speed, pattern, 1.5, tan_half)
            sh.figure(sc, rng, sh.yaw_poses(pos, _heading(pos, rng.uniform(0, 6.3))), v / s,
                      [texs[int(i)] for i in rng.permutation(3)], rng.uniform(1.5, 1.9) * s)
        elif r < 0.6:  # animal
            speed = rng.uniform(0.8, 3.0) * s * fast
            pos, v = mover_path(rng, sc, w2c, t, speed, pattern, 1.5, tan_half)
            sh.figure(sc, rng, sh.yaw_poses(pos, _heading(pos, rng.uniform(0, 6.3))), v / s,
                      [texs[int(i)] for i in rng.permutation(3)], rng.uniform(0.35, 1.2) * s, animal=True)
        elif r < 0.8:  # ball: rolls and bounces
            rad = rng.uniform(0.15, 0.45) * s
            pos, _ = mover_path(rng, sc, w2c, t, rng.uniform(1.0, 4.0) * s * fast, pattern, 1.5, tan_half)
            hop = rng.uniform(0.0, 1.0) * s * np.abs(np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t))
            roll = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pos, axis=0), axis=1))] / rad
            centre = pos - (hop + rad)[:, None] * [0, 1, 0]  # the ball spins about its centre
            P = sh.yaw_poses(centre, _heading(pos, 0.0)) @ sh._rot_x(roll)
            obj = len(sc.obj_poses)
            sc.obj_poses.append(P)
            sh.sphere(sc, rad, _tex(sc, rng, tex_side // 2), obj, n_lon=8, n_lat=5)
        else:  # car or cart
            size = np.array([rng.uniform(1.5, 2.0), rng.uniform(1.2, 1.7), rng.uniform(3.5, 4.8)]) * s
            pos, _ = mover_path(rng, sc, w2c, t, rng.uniform(2.0, 8.0) * s * fast, pattern, 3.0, tan_half)
            obj = len(sc.obj_poses)
            sc.obj_poses.append(sh.yaw_poses(pos, _heading(pos, 0.0)))
            sh.box(sc, size, _tex(sc, rng, tex_side // 2, "photos"), obj, centre=(0.0, -size[1] / 2 - 0.2 * s, 0.0))
    if rng.random() < (0.5 if hard else 0.3):  # a crowd of small far walkers
        c2w = camera.invert(w2c)
        f = len(t) // 2
        fwd = c2w[f, :3, 2] * [1, 0, 1]
        fwd /= max(np.linalg.norm(fwd), 1e-9)
        centre = c2w[f, :3, 3] + fwd * rng.uniform(12, 25) * s
        xmin, xmax, zmin, zmax = sc.bounds
        for _ in range(int(rng.integers(4, 10))):
            p0 = centre + rng.uniform(-5, 5, 3) * [1, 0, 1] * s
            ang = rng.uniform(0, 2 * np.pi)
            xz = (p0 + np.outer(t * rng.uniform(0.6, 1.5) * s, [np.sin(ang), 0, np.cos(ang)]))[:, [0, 2]]
            xz[:, 0] = np.clip(xz[:, 0], xmin, xmax)
            xz[:, 1] = np.clip(xz[:, 1], zmin, zmax)
            pos = _ground_path(sc, xz)
            v = np.r_[np.linalg.norm(np.diff(pos, axis=0), axis=1) / np.maximum(np.diff(t), 1e-9), 0.0]
            sh.figure(sc, rng, sh.yaw_poses(pos, _heading(pos, ang)), v / s, texs, rng.uniform(1.5, 1.9) * s)


def occluder(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, tex_side: int) -> None:
    """A static pillar, tree trunk or parked van close beside the camera's path, so that it covers a large
    part of the frame while the camera passes it."""
    c2w = camera.invert(w2c)
    f = int(rng.integers(len(w2c)))
    fwd = c2w[f, :3, 2] * [1, 0, 1]
    fwd /= max(np.linalg.norm(fwd), 1e-9)
    right = np.array([-fwd[2], 0.0, fwd[0]])
    s = sc.scale
    p = c2w[f, :3, 3] + fwd * rng.uniform(0.8, 1.6) * s + right * rng.choice([-1, 1]) * rng.uniform(0.3, 0.7) * s
    y = float(sc.ground_y(p[0], p[2]))
    t_ = _tex(sc, rng, tex_side // 2)
    if rng.random() < 0.5:
        sh.cylinder(sc, rng.uniform(0.2, 0.4) * s, 3.0 * s, t_, base=(p[0], y, p[2]), sides=8)
    else:
        sh.box(sc, np.array([0.6, 2.2, 0.6]) * s, t_, centre=(p[0], y - 1.1 * s, p[2]), bottom=False)


def big_object(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, K: np.ndarray, t: np.ndarray, h: int, w: int,
               tex_side: int) -> None:
    """A card held close in front of the camera at eye height, swaying, sized from the lens so that it
    covers most of the frame (style b's ``bigobject``)."""
    c2w = camera.invert(w2c)
    dist = rng.uniform(0.8, 1.2) * sc.scale
    sway = 0.06 * dist * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    cw = dist * w / K[:, 0, 0].min() * rng.uniform(0.85, 1.0)
    ch = dist * h / K[:, 1, 1].min() * rng.uniform(0.8, 0.95)
    local = np.tile(np.eye(4), (len(t), 1, 1))
    local[:, 0, 3], local[:, 2, 3] = sway, dist
    obj = len(sc.obj_poses)
    sc.obj_poses.append(c2w @ local)  # carried in front of the lens
    sc.planes.append(Plane(np.array([-cw / 2, -ch / 2, 0.0]), np.array([cw, 0, 0.0]), np.array([0, ch, 0.0]),
                           _tex(sc, rng, tex_side, "photos"), obj=obj, shade=rng.uniform(0.8, 1.0)))
