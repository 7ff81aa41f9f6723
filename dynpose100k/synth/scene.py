"""Procedural scenes made of textured rectangles: static rooms and streets, moving boxes and billboards,
and smooth camera trajectories.

World frame: metres, y points *down* (so the ground is ``y = 0`` and things above it have ``y < 0``),
which matches :func:`dynpose100k.camera.look_at`'s default up vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import camera
from . import textures as tx


@dataclass
class Plane:
    """A textured rectangle ``origin + s * u + t * v`` for ``s, t`` in ``[0, 1]``."""

    origin: np.ndarray
    """``(3,)`` corner, in its object's frame (world frame for static planes)."""
    u: np.ndarray
    """``(3,)`` first edge (texture x direction)."""
    v: np.ndarray
    """``(3,)`` second edge (texture y direction)."""
    tex: int
    """Index into :attr:`Scene.textures`."""
    reps: tuple[float, float] = (1.0, 1.0)
    """How many times the texture repeats along ``u`` and ``v``."""
    obj: int = -1
    """Moving object index into :attr:`Scene.obj_poses`, or -1 for static scenery."""
    shade: float = 1.0
    """Brightness factor of this face (fake diffuse lighting)."""
    two_sided: bool = True
    """False for closed-box faces, whose outward normal is ``u x v``: culled when facing away."""
    corners: tuple | None = None
    """The face's outline as four ``(s, t)`` points (a repeated point makes a triangle), or None for the
    whole rectangle. Meshes (spheres, cylinders, terrain, limbs) are built from triangles this way."""


@dataclass
class Scene:
    """Everything needed to render a shot."""

    planes: list[Plane] = field(default_factory=list)
    textures: list[list[np.ndarray]] = field(default_factory=list)
    """Mip-map pyramids (RGB uint8), one per texture."""
    obj_poses: list[np.ndarray] = field(default_factory=list)
    """Per moving object, object-to-world transforms ``(N, 4, 4)``."""
    sky: bool = False
    """Whether the scene is open (pixels hitting nothing show a sky gradient, depth 0)."""
    bounds: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
    """Walkable area ``(xmin, xmax, zmin, zmax)`` of the ground plane."""
    obj_group: list[int] = field(default_factory=list)
    """Per moving object, the mover it is part of (limbs of one figure share a group); empty = each object
    is its own mover. The coverage cap drops whole movers."""
    sky_colours: tuple | None = None
    """``(top, bottom)`` RGB of the sky gradient, or None for a random daylight sky."""
    ground: object = None
    """``ground(x, z) -> y`` of uneven terrain (arrays in, array out), or None for the flat ``y = 0``."""
    scale: float = 1.0
    """Size of the scene's things relative to a human-scale scene (close-ups are smaller)."""

    def ground_y(self, x, z) -> np.ndarray:
        return np.zeros(np.broadcast(x, z).shape) if self.ground is None else self.ground(x, z)

    def group_of(self, obj: int) -> int:
        return self.obj_group[obj] if obj < len(self.obj_group) else obj

    def add_texture(self, img: np.ndarray) -> int:
        self.textures.append(tx.pyramid(img))
        return len(self.textures) - 1


def _rot_y(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.zeros(np.shape(yaw) + (3, 3))
    R[..., 0, 0], R[..., 0, 2], R[..., 1, 1], R[..., 2, 0], R[..., 2, 2] = c, s, 1.0, -s, c
    return R


def room_walls(wx: float, hy: float, dz: float) -> dict[str, tuple[tuple, tuple, tuple]]:
    """The six faces of a room ``x`` in [-wx, wx], ``y`` in [-hy, 0] (y down: the floor at 0), ``z`` in
    [-dz, dz], as name -> (corner, u edge, v edge), every face seen from inside."""
    return {
        "floor": ((-wx, 0, -dz), (2 * wx, 0, 0), (0, 0, 2 * dz)),
        "ceiling": ((-wx, -hy, -dz), (2 * wx, 0, 0), (0, 0, 2 * dz)),
        "back": ((-wx, -hy, dz), (2 * wx, 0, 0), (0, hy, 0)),
        "front": ((wx, -hy, -dz), (-2 * wx, 0, 0), (0, hy, 0)),
        "left": ((-wx, -hy, -dz), (0, 0, 2 * dz), (0, hy, 0)),
        "right": ((wx, -hy, dz), (0, 0, -2 * dz), (0, hy, 0)),
    }


def room(rng: np.random.Generator, cartoon: bool = False, tex_side: int = 512, texture=None,
         tile_scale: float = 1.0) -> Scene:
    """A closed box-shaped room: floor, ceiling and four walls, each with its own texture (longest side
    ``tex_side`` pixels; ``texture(rng, max_side)`` draws them, default :func:`textures.random_texture`),
    repeating every 2-4 metres times ``tile_scale``."""
    texture = texture or (lambda r, max_side: tx.random_texture(r, max_side=max_side))
    wx, dz, hy = rng.uniform(4.0, 6.0), rng.uniform(5.0, 8.0), rng.uniform(2.8, 4.0)
    sc = Scene(sky=False, bounds=(-wx, wx, -dz, dz))
    for o, u, v in room_walls(wx, hy, dz).values():
        t = sc.add_texture(_maybe_cartoon(texture(rng, tex_side), cartoon))
        lu, lv = np.linalg.norm(u), np.linalg.norm(v)
        tile = rng.uniform(2.0, 4.0) * tile_scale
        sc.planes.append(
            Plane(np.array(o, float), np.array(u, float), np.array(v, float), t,
                  (max(1.0, lu / tile), max(1.0, lv / tile)), shade=rng.uniform(0.65, 1.0))
        )
    return sc


def street(rng: np.random.Generator, cartoon: bool = False, tex_side: int = 512, texture=None,
           tile_scale: float = 1.0) -> Scene:
    """An open street: a long ground plane lined with building facades of varied height, set-back and
    material (drawn from a palette of textures with longest side ``tex_side``, by ``texture`` as in
    :func:`room`)."""
    texture = texture or (lambda r, max_side: tx.random_texture(r, max_side=max_side))
    half, z0, z1 = rng.uniform(6.0, 9.0), -20.0, 100.0
    sc = Scene(sky=True, bounds=(-half + 1.0, half - 1.0, z0 + 5.0, z1 - 10.0))
    for _ in range(9):
        sc.add_texture(_maybe_cartoon(texture(rng, tex_side), cartoon))
    sc.planes.append(Plane(np.array([-half - 4, 0, z0]), np.array([2 * half + 8, 0, 0]), np.array([0, 0, z1 - z0]),
                           0, ((2 * half + 8) / (3.0 * tile_scale), (z1 - z0) / (3.0 * tile_scale)), shade=0.9))
    for side in (-1.0, 1.0):
        z = z0
        while z < z1:
            length, height = rng.uniform(6.0, 16.0), rng.uniform(5.0, 18.0)
            x = side * (half + rng.uniform(0.0, 2.0))
            tile = rng.uniform(3.0, 6.0) * tile_scale
            sc.planes.append(Plane(np.array([x, -height, z]), np.array([0, 0, length]), np.array([0, height, 0]),
                                   int(rng.integers(1, 9)), (length / tile, height / tile),
                                   shade=rng.uniform(0.6, 1.0)))
            z += length
    sc.planes.append(Plane(np.array([-half - 4, -20.0, z1]), np.array([2 * half + 8, 0, 0]), np.array([0, 20.0, 0]),
                           int(rng.integers(1, 9)), (6.0 / tile_scale, 6.0 / tile_scale), shade=0.8))
    return sc


def _maybe_cartoon(img: np.ndarray, cartoon: bool) -> np.ndarray:
    return tx.posterise(img) if cartoon else img


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, dims: int, freqs=(0.3, 2.5)) -> np.ndarray:
    """Sum of three random sinusoids per dimension, roughly in ``[-1, 1]``: ``(len(t), dims)``."""
    f = rng.uniform(*freqs, size=(3, dims))
    ph = rng.uniform(0, 2 * np.pi, size=(3, dims))
    return np.sin(2 * np.pi * f[None] * t[:, None, None] + ph[None]).sum(1) / 3.0


def camera_path(rng: np.random.Generator, sc: Scene, t: np.ndarray, mode: str, hard: bool = False,
                tex_side: int = 512) -> np.ndarray:
    """World-to-camera poses ``(N, 4, 4)`` for trajectory ``mode`` in walk | orbit | pan | handheld | follow |
    still | tripod_pan (fixed position, rotating). ``follow`` is a third-person chase camera behind an RC car driving
    a circle; it adds the car to ``sc``."""
    xmin, xmax, zmin, zmax = sc.bounds
    m = 1.2
    xmin, xmax, zmin, zmax = xmin + m, xmax - m, zmin + m, zmax - m
    t = t - t[0]
    dur = max(float(t[-1]), 1e-6)
    height = -rng.uniform(1.2, 1.8)
    pitch = np.full_like(t, rng.uniform(-0.05, 0.2))
    shake_amp = (0.03, 0.012) if mode == "handheld" or hard else (0.01, 0.004)
    if mode in ("walk", "handheld"):
        speed = rng.uniform(0.8, 2.0) * (0.4 if mode == "handheld" else 1.0) * (1.8 if hard else 1.0)
        heading = rng.uniform(-0.35, 0.35) + (np.pi if rng.random() < 0.5 else 0.0)
        d = np.array([np.sin(heading), 0.0, np.cos(heading)])
        span = min(speed * dur, 0.9 * (zmax - zmin))
        start = np.array([rng.uniform(xmin, xmax) * 0.5, height, 0.0])
        start[2] = (zmin + 0.05 * (zmax - zmin)) if d[2] > 0 else (zmax - 0.05 * (zmax - zmin))
        eye = start + np.outer(t / dur * span, d)
        eye[:, 0] = np.clip(eye[:, 0], xmin, xmax)
        yaw = heading + 0.2 * _smooth_noise(rng, t, 1, (0.05, 0.2))[:, 0]
    elif mode == "orbit":
        radius = rng.uniform(2.0, 4.0)
        cx = np.clip(rng.uniform(xmin, xmax), xmin + radius * 0.5, xmax - radius * 0.5) * 0.5
        cz = rng.uniform(zmin, zmax) * 0.5
        rate = rng.uniform(0.15, 0.35) * (2.0 if hard else 1.0) * rng.choice([-1, 1])  # rad/s
        ang = rng.uniform(0, 2 * np.pi) + rate * t
        eye = np.stack([cx + radius * np.sin(ang), np.full_like(t, height), cz + radius * np.cos(ang)], 1)
        yaw = ang + np.pi  # look back at the centre
        eye[:, 0] = np.clip(eye[:, 0], xmin, xmax)
        eye[:, 2] = np.clip(eye[:, 2], zmin, zmax)
    elif mode == "pan":
        amp = rng.uniform(0.5, 0.8) * (1.5 if hard else 1.0)
        freq = rng.uniform(0.05, 0.1) * (2.5 if hard else 1.0)  # Hz
        yaw = rng.uniform(-0.3, 0.3) + (np.pi if rng.random() < 0.5 else 0.0) + amp * np.sin(2 * np.pi * freq * t)
        lateral = rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
        eye = np.stack([np.clip(rng.uniform(xmin, xmax) * 0.3 + lateral * t, xmin, xmax),
                        np.full_like(t, height), np.full_like(t, rng.uniform(zmin, zmax) * 0.5)], 1)
    elif mode == "follow":
        back, up = rng.uniform(1.0, 1.6), rng.uniform(0.5, 0.9)
        half = min(xmax - xmin, zmax - zmin) / 2
        radius = float(np.clip(rng.uniform(2.0, 4.0), 1.0, max(1.0, np.sqrt(max(half**2 - back**2, 1.0)))))
        cx, cz = (xmin + xmax) / 2, (zmin + zmax) / 2
        if zmax - zmin > 2 * (radius + back):  # long streets: anywhere along them
            cz = rng.uniform(zmin + radius + back, zmax - radius - back)
        rate = min(rng.uniform(1.5, 3.0) / radius, 0.45) * (1.8 if hard else 1.0) * rng.choice([-1, 1])  # rad/s
        ang = rng.uniform(0, 2 * np.pi) + rate * t
        car = np.stack([cx + radius * np.sin(ang), np.zeros_like(t), cz + radius * np.cos(ang)], 1)
        yaw = ang + np.sign(rate) * np.pi / 2  # driving direction (tangent)
        heading = np.stack([np.sin(yaw), np.zeros_like(t), np.cos(yaw)], 1)
        eye = car - back * heading + np.array([0.0, -up, 0.0])
        pitch = np.full_like(t, np.arctan2(up - 0.15, back + 1.0))
        add_box(sc, rng, (rng.uniform(0.35, 0.6), rng.uniform(0.2, 0.35), rng.uniform(0.6, 0.9)),
                camera.make_w2c(_rot_y(yaw), car), tex_side)
    elif mode == "tripod_pan":  # fixed position, smooth pan and tilt: pure rotation
        eye = np.tile([rng.uniform(xmin, xmax) * 0.5, height, rng.uniform(zmin, zmax) * 0.5], (len(t), 1))
        yaw = rng.uniform(0, 2 * np.pi) + rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * rng.uniform(0.08, 0.15) * t)
        pitch = pitch + 0.05 * np.sin(2 * np.pi * rng.uniform(0.1, 0.2) * t)
        shake_amp = (0.0, 0.0)
    elif mode == "still":
        eye = np.tile([rng.uniform(xmin, xmax) * 0.5, height, rng.uniform(zmin, zmax) * 0.5], (len(t), 1))
        yaw = np.full_like(t, rng.uniform(0, 2 * np.pi))
        shake_amp = (0.0, 0.0)
    else:
        raise ValueError(f"unknown camera mode {mode!r}")
    eye = eye + shake_amp[0] * _smooth_noise(rng, t, 3)
    yaw = yaw + shake_amp[1] * _smooth_noise(rng, t, 1)[:, 0]
    pitch = pitch + shake_amp[1] * _smooth_noise(rng, t, 1)[:, 0]
    return look_along(eye, yaw, pitch, shake_amp[1] * 2 * _smooth_noise(rng, t, 1)[:, 0])


def look_along(eye: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World-to-camera ``(N, 4, 4)`` of cameras at ``eye`` ``(N, 3)`` looking along ``yaw`` / ``pitch``
    ``(N,)`` (radians; yaw about the down-pointing y axis from +z, pitch towards +y) and rolled by ``roll``
    ``(N,)`` about their optical axis."""
    fwd = np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], 1)
    w2c = np.stack([camera.look_at(e, e + f) for e, f in zip(eye, fwd)])
    Rz = np.zeros((len(eye), 4, 4))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1] = np.cos(roll), -np.sin(roll), np.sin(roll), np.cos(roll)
    Rz[:, 2, 2] = Rz[:, 3, 3] = 1.0
    return Rz @ w2c


def _bounce(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + span - np.abs(y - span)


def add_box(sc: Scene, rng: np.random.Generator, size: tuple[float, float, float], poses: np.ndarray,
            tex_side: int = 512) -> None:
    """A closed box (``size`` = width x, height, length z; resting on its local ``y = 0``) moving with
    object-to-world ``poses`` ``(N, 4, 4)``; each face gets a texture and a lighting factor."""
    a, h, b = size[0] / 2, size[1], size[2] / 2
    obj = len(sc.obj_poses)
    sc.obj_poses.append(poses)
    t = sc.add_texture(tx.random_texture(rng, max_side=tex_side))
    light = np.array([0.4, -0.8, 0.3]) / np.linalg.norm([0.4, -0.8, 0.3])
    faces = [  # (origin, u, v); u x v points outward
        ((-a, -h, -b), (2 * a, 0, 0), (0, 0, 2 * b)),  # top (normal -y)
        ((-a, -h, b), (2 * a, 0, 0), (0, h, 0)),  # back +z
        ((a, -h, -b), (-2 * a, 0, 0), (0, h, 0)),  # front -z
        ((-a, -h, -b), (0, 0, 2 * b), (0, h, 0)),  # left -x
        ((a, -h, b), (0, 0, -2 * b), (0, h, 0)),  # right +x
    ]
    for o, u, v in faces:
        o, u, v = (np.array(x, float) for x in (o, u, v))
        n = np.cross(u, v)
        n /= np.linalg.norm(n)
        sc.planes.append(Plane(o, u, v, t, (1.0, 1.0), obj, 0.55 + 0.45 * max(0.0, float(n @ -light)) + 0.1, False))


def add_billboard(sc: Scene, rng: np.random.Generator, size: tuple[float, float], poses: np.ndarray,
                  lift: float = 0.0) -> None:
    """An upright two-sided textured card (``size`` = width, height) standing ``lift`` metres above its
    local origin, moving with object-to-world ``poses`` ``(N, 4, 4)``."""
    w, h = size
    obj = len(sc.obj_poses)
    sc.obj_poses.append(poses)
    t = sc.add_texture(tx.photo(str(rng.choice(tx.SUBJECTS))))
    sc.planes.append(Plane(np.array([-w / 2, -h - lift, 0.0]), np.array([w, 0, 0.0]), np.array([0, h, 0.0]), t,
                           obj=obj, shade=rng.uniform(0.8, 1.0)))


def object_poses(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray, speed: float,
                 clearance: float = 1.5, ahead: tuple[float, float] = (3.0, 10.0)) -> np.ndarray:
    """Object-to-world ``(N, 4, 4)`` for an object moving on the ground at ``speed`` m/s (straight line
    bouncing off the walkable bounds, or a circle), placed so that it is in view at a random frame (``ahead``:
    metres in front of the camera then) and (if a few tries allow) never closer than ``clearance`` metres to
    the camera."""
    xmin, xmax, zmin, zmax = sc.bounds
    c2w = camera.invert(w2c)
    eyes = c2w[:, :3, 3] * np.array([1, 0, 1])
    for _ in range(6):
        f = int(rng.integers(len(t)))
        fwd = c2w[f, :3, 2] * np.array([1, 0, 1])
        fwd /= max(np.linalg.norm(fwd), 1e-9)
        right = np.array([-fwd[2], 0.0, fwd[0]])
        p = eyes[f] + fwd * rng.uniform(*ahead) + right * rng.uniform(-3.0, 3.0)
        px, pz = np.clip(p[0], xmin + 0.5, xmax - 0.5), np.clip(p[2], zmin + 0.5, zmax - 0.5)
        tt = t - t[f]
        if rng.random() < 0.6:
            ang = rng.uniform(0, 2 * np.pi)
            x = _bounce(px + speed * np.sin(ang) * tt, xmin + 0.3, xmax - 0.3)
            z = _bounce(pz + speed * np.cos(ang) * tt, zmin + 0.3, zmax - 0.3)
        else:
            r = rng.uniform(1.0, 3.0)
            ang = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * speed / r * tt
            x = np.clip(px + r * np.sin(ang), xmin + 0.3, xmax - 0.3)
            z = np.clip(pz + r * np.cos(ang), zmin + 0.3, zmax - 0.3)
        pos = np.stack([x, np.zeros_like(x), z], 1)
        if np.linalg.norm(pos - eyes, axis=1).min() >= clearance:
            break
    vel = np.gradient(pos, axis=0)
    yaw = np.unwrap(np.arctan2(vel[:, 0], vel[:, 2] + 1e-12))
    return camera.make_w2c(_rot_y(yaw), pos)


def populate(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray, hard: bool = False,
             tex_side: int = 512) -> None:
    """Add several independently moving boxes (cars, some RC-car sized, some large) and billboards."""
    n = int(rng.integers(5, 9) if hard else rng.integers(3, 6))
    for _ in range(n):
        speed = rng.uniform(1.0, 4.0) * (2.5 if hard else 1.0)
        poses = object_poses(rng, sc, w2c, t, speed, clearance=2.5 if hard else 3.0)
        scale = rng.uniform(1.3, 2.0) if hard else 1.0
        r = rng.random()
        if r < 0.35:  # RC-car sized
            add_box(sc, rng, (rng.uniform(0.3, 0.6) * scale, rng.uniform(0.2, 0.4) * scale,
                              rng.uniform(0.5, 0.9) * scale), poses, tex_side)
        elif r < 0.7:  # car / crate
            add_box(sc, rng, (rng.uniform(0.8, 1.8) * scale, rng.uniform(0.6, 1.4) * scale,
                              rng.uniform(1.2, 3.5) * scale), poses, tex_side)
        else:  # person-like card
            add_billboard(sc, rng, (rng.uniform(0.6, 1.2) * scale, rng.uniform(1.5, 2.0) * scale), poses)


def crowd(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray, num: int) -> None:
    """``num`` narrow person-like cards walking at 0.7-1.8 m/s, 5-16 metres in front of the camera: a crowd
    of movers that are each small in the frame (a motion mask must catch many small regions, not one)."""
    for _ in range(num):
        poses = object_poses(rng, sc, w2c, t, rng.uniform(0.7, 1.8), clearance=4.0, ahead=(5.0, 16.0))
        add_billboard(sc, rng, (rng.uniform(0.35, 0.6), rng.uniform(1.5, 1.9)), poses)


def bar(sc: Scene, p0, p1, thickness: float, tex: int, shade: float = 1.0) -> None:
    """A static square-section bar (post, rail, baluster) from world point ``p0`` to ``p1``, ``thickness``
    metres across: four two-sided faces, no end caps."""
    p0, d = np.asarray(p0, float), np.asarray(p1, float) - np.asarray(p0, float)
    a = np.cross(d, [0.0, 1.0, 0.0] if abs(d[1]) < 0.9 * np.linalg.norm(d) else [1.0, 0.0, 0.0])
    a *= thickness / np.linalg.norm(a)
    b = np.cross(d, a)
    b *= thickness / np.linalg.norm(b)
    c = p0 - (a + b) / 2
    for o, v, k in ((c, a, 1.0), (c, b, 0.8), (c + a, b, 0.9), (c + b, a, 0.7)):
        sc.planes.append(Plane(o, d.copy(), v.copy(), tex, (max(1.0, np.linalg.norm(d) / 0.5), 1.0),
                               shade=shade * k))


CLUTTER_KINDS = ("pole", "fence", "railing")
"""Thin static structures :func:`clutter` draws: a pole (with a crossbar half of the time), a fence of
posts under one or two rails, a railing of close balusters."""


def clutter(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, tex_side: int = 512, num: int = 3) -> None:
    """Add ``num`` groups of thin static structures (:data:`CLUTTER_KINDS`) beside the camera's path, 2-9
    metres ahead of it at a random frame and at least a metre from every camera centre: depth edges,
    occlusions and thin repeated bars that break tracks, as street furniture and railings do in footage."""
    xmin, xmax, zmin, zmax = sc.bounds
    c2w = camera.invert(w2c)
    eyes = c2w[:, :3, 3]
    top = -5.0 if sc.sky else -2.6
    for _ in range(num):
        kind = str(rng.choice(CLUTTER_KINDS))
        tex = sc.add_texture(tx.random_texture(rng, max_side=max(32, tex_side // 4)))
        shade = rng.uniform(0.5, 1.0)
        for _try in range(6):
            f = int(rng.integers(len(eyes)))
            fwd = c2w[f, :3, 2] * np.array([1, 0, 1])
            fwd /= max(np.linalg.norm(fwd), 1e-9)
            right = np.array([-fwd[2], 0.0, fwd[0]])
            p = eyes[f] * np.array([1, 0, 1]) + fwd * rng.uniform(2.0, 9.0) + right * rng.uniform(-4.0, 4.0)
            p = np.array([np.clip(p[0], xmin + 0.3, xmax - 0.3), 0.0, np.clip(p[2], zmin + 0.3, zmax - 0.3)])
            yaw = rng.uniform(0, np.pi)
            along = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
            length = {"pole": 0.0, "fence": rng.uniform(2.0, 7.0), "railing": rng.uniform(1.5, 4.0)}[kind]
            ends = p + np.outer(np.linspace(-0.5, 0.5, 5), along * length)
            gap = np.linalg.norm((ends[:, None, :] - eyes[None]) * np.array([1, 0, 1]), axis=2).min()
            if gap >= 1.0:
                break
        else:
            continue
        if kind == "pole":
            height = rng.uniform(2.0, -top)
            bar(sc, p, p + [0.0, -height, 0.0], rng.uniform(0.06, 0.2), tex, shade)
            if rng.random() < 0.5:
                arm = along * rng.uniform(0.6, 1.5)
                bar(sc, p + [0.0, -0.9 * height, 0.0] - arm, p + [0.0, -0.9 * height, 0.0] + arm, 0.05, tex, shade)
            continue
        height = rng.uniform(0.8, 1.4)
        spacing = rng.uniform(0.8, 2.0) if kind == "fence" else rng.uniform(0.1, 0.25)
        thick = rng.uniform(0.05, 0.12) if kind == "fence" else rng.uniform(0.02, 0.05)
        a, b = p - along * length / 2, p + along * length / 2
        for s in np.arange(0.0, length + 1e-6, spacing):
            q = a + along * s
            bar(sc, q, q + [0.0, -height, 0.0], thick, tex, shade)
        for level in ([1.0] if kind == "railing" else [1.0, 0.5][: int(rng.integers(1, 3))]):
            bar(sc, a + [0.0, -level * height, 0.0], b + [0.0, -level * height, 0.0], 0.06, tex, shade)


def big_object(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, t: np.ndarray) -> None:
    """A card that stays close in front of the camera and sways, covering most of the frame."""
    c2w = camera.invert(w2c)
    dist = rng.uniform(1.2, 1.8)
    sway = 0.15 * dist * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    fwd = c2w[:, :3, 2] * np.array([1, 0, 1])
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    right = np.stack([-fwd[:, 2], np.zeros(len(t)), fwd[:, 0]], 1)
    pos = c2w[:, :3, 3] * np.array([1, 0, 1]) + fwd * dist + right * sway[:, None]
    yaw = np.arctan2(fwd[:, 0], fwd[:, 2]) + 0.2 * np.sin(2 * np.pi * 0.2 * t)
    w, h = rng.uniform(1.15, 1.3) * dist, rng.uniform(0.68, 0.76) * dist
    add_billboard(sc, rng, (w, h), camera.make_w2c(_rot_y(yaw), pos), lift=max(0.0, -c2w[0, 1, 3] - h / 2))


def cabin(rng: np.random.Generator, sc: Scene, w2c: np.ndarray, tan_half_hfov: float, aspect: float,
          tex_side: int = 512) -> None:
    """A vehicle interior rigidly attached to the camera: roof, dashboard and side pillars framing the
    windows, and a person (textured card) in front; together they fill most of the frame and never move in
    the image. ``tan_half_hfov``: ``tan`` of half the horizontal field of view; ``aspect``: ``H / W``."""
    c2w = camera.invert(w2c)
    obj = len(sc.obj_poses)
    sc.obj_poses.append(c2w)  # object frame = camera frame (x right, y down, z forward)
    a, b = tan_half_hfov, tan_half_hfov * aspect  # half extents of the view at depth 1

    def card(z: float, x0: float, x1: float, y0: float, y1: float, tex: int) -> None:
        sc.planes.append(Plane(np.array([x0 * z, y0 * z, z]), np.array([(x1 - x0) * z, 0, 0]),
                               np.array([0, (y1 - y0) * z, 0]), tex, (1.0, 1.0), obj, rng.uniform(0.6, 1.0)))

    inner = [sc.add_texture(tx.random_texture(rng, max_side=tex_side)) for _ in range(3)]
    z = rng.uniform(0.8, 1.2)
    card(z, -1.5 * a, 1.5 * a, -1.5 * b, -0.6 * b, inner[0])  # roof
    card(z, -1.5 * a, 1.5 * a, 0.5 * b, 1.5 * b, inner[1])  # dashboard
    card(z, -1.5 * a, -0.75 * a, -1.5 * b, 1.5 * b, inner[2])  # left pillar
    card(z, 0.75 * a, 1.5 * a, -1.5 * b, 1.5 * b, inner[2])  # right pillar
    person = sc.add_texture(tx.photo(str(rng.choice(tx.SUBJECTS))))
    zp = 0.6 * z
    card(zp, -0.25 * a, 0.25 * a, -0.4 * b, 1.5 * b, person)
