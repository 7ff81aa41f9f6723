"""Non-planar geometry for the scenes, built from flat faces so depth stays exact: textured triangles,
closed boxes, low-poly spheres and cylinders, heightfield terrain, and articulated figures (people- and
animal-like) whose limbs are separate moving objects of one mover.

Every face is a :class:`~dynpose100k.synth.scene.Plane`; a triangle is a plane whose outline repeats a
corner. Texture coordinates are chosen per vertex (continuous across a mesh), so a sphere or a hill shows
one unbroken texture rather than one copy per face.
"""

from __future__ import annotations

import numpy as np

from .. import camera
from .scene import Plane, Scene, _rot_y

SUN = np.array([0.45, -0.8, 0.35]) / np.linalg.norm([0.45, -0.8, 0.35])
"""Default direction *towards* the sun (world frame, y down)."""


def lambert(normal: np.ndarray, sun: np.ndarray = SUN, ambient: float = 0.45) -> float:
    """Brightness of a face with unit ``normal`` lit by a directional light (towards ``sun``) plus ambient."""
    return float(ambient + (1.0 - ambient) * max(0.0, float(normal @ sun)))


def triangle(sc: Scene, p: np.ndarray, st: np.ndarray, tex: int, obj: int = -1, shade: float | None = None,
             outward: np.ndarray | None = None, sun: np.ndarray = SUN) -> None:
    """Add the triangle ``p`` ``(3, 3)`` (object frame) with texture coordinates ``st`` ``(3, 2)`` (in
    texture repeats). With ``outward`` (a direction the visible side faces) the face is one-sided and
    culled from behind; ``shade`` None = Lambert shading from its normal."""
    p, st = np.asarray(p, float), np.asarray(st, float)
    n = np.cross(p[1] - p[0], p[2] - p[0])
    if np.linalg.norm(n) < 1e-12:
        return
    if outward is not None and n @ outward < 0:
        p, st, n = p[[0, 2, 1]], st[[0, 2, 1]], -n
    A = np.c_[np.ones(3), st]
    if abs(np.linalg.det(A)) < 1e-9:  # degenerate texture mapping: map the triangle itself
        st = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        A = np.c_[np.ones(3), st]
    o, u, v = np.linalg.solve(A, p)  # p_i = o + s_i u + t_i v
    if shade is None:
        nn = n / np.linalg.norm(n)
        shade = lambert(nn if outward is not None else (nn if nn @ sun >= 0 else -nn), sun)
    corners = tuple(map(tuple, st.tolist())) + (tuple(st[2].tolist()),)
    sc.planes.append(Plane(o, u, v, tex, (1.0, 1.0), obj, shade, outward is None, corners))


def box(sc: Scene, size, tex: int, obj: int = -1, centre=(0.0, 0.0, 0.0), bottom: bool = True,
        sun: np.ndarray = SUN, tile: float | None = None) -> None:
    """A closed box of ``size`` (x, y, z extents) centred at ``centre`` (object frame), one-sided faces.
    ``tile``: metres per texture repeat (None = the texture once per face)."""
    a, b, c = (s / 2 for s in size)
    faces = [  # origin, u, v with u x v outward
        ((-a, -b, -c), (2 * a, 0, 0), (0, 0, 2 * c)),  # -y (top: y points down)
        ((-a, -b, c), (2 * a, 0, 0), (0, 2 * b, 0)),  # +z
        ((a, -b, -c), (-2 * a, 0, 0), (0, 2 * b, 0)),  # -z
        ((-a, -b, -c), (0, 0, 2 * c), (0, 2 * b, 0)),  # -x
        ((a, -b, c), (0, 0, -2 * c), (0, 2 * b, 0)),  # +x
    ]
    if bottom:
        faces.append(((-a, b, c), (2 * a, 0, 0), (0, 0, -2 * c)))  # +y
    for o, u, v in faces:
        o, u, v = np.array(o, float) + centre, np.array(u, float), np.array(v, float)
        n = np.cross(u, v)
        n /= np.linalg.norm(n)
        reps = (1.0, 1.0) if tile is None else (max(1.0, np.linalg.norm(u) / tile), max(1.0, np.linalg.norm(v) / tile))
        sc.planes.append(Plane(o, u, v, tex, reps, obj, lambert(n, sun), False))


def sphere(sc: Scene, radius, tex: int, obj: int = -1, centre=(0.0, 0.0, 0.0), n_lon: int = 8, n_lat: int = 5,
           sun: np.ndarray = SUN) -> None:
    """A low-poly (latitude-longitude) sphere or ellipsoid (``radius`` scalar or ``(rx, ry, rz)``)."""
    r = np.broadcast_to(np.asarray(radius, float), (3,))
    c = np.asarray(centre, float)
    lon = np.linspace(0, 2 * np.pi, n_lon + 1)
    lat = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 1)

    def pt(i, j):
        return c + r * np.array([np.cos(lat[j]) * np.cos(lon[i]), np.sin(lat[j]), np.cos(lat[j]) * np.sin(lon[i])])

    for i in range(n_lon):
        for j in range(n_lat):
            q = [pt(i, j), pt(i + 1, j), pt(i + 1, j + 1), pt(i, j + 1)]
            st = [(i / n_lon, j / n_lat), ((i + 1) / n_lon, j / n_lat), ((i + 1) / n_lon, (j + 1) / n_lat),
                  (i / n_lon, (j + 1) / n_lat)]
            mid = np.mean(q, 0) - c
            for a, b_, d in ((0, 1, 2), (0, 2, 3)):
                if np.linalg.norm(np.cross(q[b_] - q[a], q[d] - q[a])) > 1e-9:
                    triangle(sc, [q[a], q[b_], q[d]], [st[a], st[b_], st[d]], tex, obj, outward=mid, sun=sun)


def cylinder(sc: Scene, radius: float, height: float, tex: int, obj: int = -1, base=(0.0, 0.0, 0.0),
             sides: int = 8, cap: bool = True, sun: np.ndarray = SUN) -> None:
    """An upright prism approximating a cylinder standing on ``base`` (its bottom centre; y points down)."""
    b = np.asarray(base, float)
    ang = np.linspace(0, 2 * np.pi, sides + 1)
    ring = np.stack([radius * np.cos(ang), np.zeros_like(ang), radius * np.sin(ang)], 1)
    for i in range(sides):
        p0 = b + ring[i] + [0, -height, 0]
        u = ring[i + 1] - ring[i]
        v = np.array([0.0, height, 0.0])
        n = np.cross(u, v)
        if n @ (ring[i] + ring[i + 1]) < 0:
            p0, u = b + ring[i + 1] + [0, -height, 0], -u
            n = -n
        sc.planes.append(Plane(p0, u, v, tex, (1.0, 1.0), obj, lambert(n / np.linalg.norm(n), sun), False))
    if cap:
        top = b + [0, -height, 0]
        for i in range(sides):
            triangle(sc, [top, top + ring[i], top + ring[i + 1]],
                     [(0.5, 0.5), (0.5 + 0.5 * np.cos(ang[i]), 0.5 + 0.5 * np.sin(ang[i])),
                      (0.5 + 0.5 * np.cos(ang[i + 1]), 0.5 + 0.5 * np.sin(ang[i + 1]))],
                     tex, obj, outward=np.array([0.0, -1.0, 0.0]), sun=sun)


def terrain(sc: Scene, height_fn, x_range, z_range, cells: int, tex: int, tile: float,
            sun: np.ndarray = SUN) -> None:
    """Uneven ground: a ``cells`` x ``cells`` heightfield ``y = height_fn(x, z)`` of triangles, texture
    repeating every ``tile`` metres (continuous across triangles)."""
    xs = np.linspace(*x_range, cells + 1)
    zs = np.linspace(*z_range, cells + 1)
    X, Z = np.meshgrid(xs, zs, indexing="ij")
    Y = height_fn(X, Z)
    P = np.stack([X, Y, Z], -1)
    ST = np.stack([X / tile, Z / tile], -1)
    up = np.array([0.0, -1.0, 0.0])
    for i in range(cells):
        for j in range(cells):
            q = [P[i, j], P[i + 1, j], P[i + 1, j + 1], P[i, j + 1]]
            s = [ST[i, j], ST[i + 1, j], ST[i + 1, j + 1], ST[i, j + 1]]
            for a, b, c in ((0, 1, 2), (0, 2, 3)):
                triangle(sc, [q[a], q[b], q[c]], [s[a], s[b], s[c]], tex, outward=up, sun=sun)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(np.shape(a) + (4, 4))
    R[..., 0, 0] = R[..., 3, 3] = 1.0
    R[..., 1, 1], R[..., 1, 2], R[..., 2, 1], R[..., 2, 2] = c, -s, s, c
    return R


def _translate(p) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = p
    return T


def figure(sc: Scene, rng: np.random.Generator, root: np.ndarray, speed: np.ndarray, texs: list[int],
           height: float = 1.75, animal: bool = False, sun: np.ndarray = SUN) -> None:
    """An articulated walker moving with ``root`` poses ``(N, 4, 4)`` (object-to-world of a point on the
    ground under it, facing +z) at ``speed`` m/s per frame ``(N,)`` (sets the swing amplitude): a person (torso, head,
    two arms, two legs) or, with ``animal``, a four-legged body with a head. Each limb is its own moving object swinging
    about its hip or shoulder with a gait phase that advances with the distance walked, so the figure
    deforms; all parts share one mover group."""
    group = max([sc.group_of(o) for o in range(len(sc.obj_poses))], default=-1) + 1
    n = len(root)
    dist = np.linalg.norm(np.diff(root[:, :3, 3], axis=0), axis=1)
    dist = np.r_[0.0, np.cumsum(dist)]
    h = height
    stride = (0.55 if not animal else 0.7) * h
    phase = 2 * np.pi * dist / stride + rng.uniform(0, 2 * np.pi)
    amp = np.clip(speed / 1.2, 0.0, 1.0) * 0.55

    def part(local_pose: np.ndarray, build) -> None:
        obj = len(sc.obj_poses)
        sc.obj_poses.append(root @ local_pose)
        while len(sc.obj_group) < obj:
            sc.obj_group.append(len(sc.obj_group))
        sc.obj_group.append(group)
        build(obj)

    skin, cloth, cloth2 = texs[0], texs[1 % len(texs)], texs[2 % len(texs)]
    eye = np.broadcast_to(np.eye(4), (n, 4, 4))
    if not animal:
        leg, torso = 0.48 * h, 0.32 * h
        hip_y, sh_y = -leg, -leg - torso * 0.92
        part(eye, lambda o: box(sc, (0.36 * h / 1.75, torso, 0.2 * h / 1.75), cloth, o,
                                (0.0, hip_y - torso / 2, 0.0), sun=sun))
        part(eye, lambda o: box(sc, (0.2 * h / 1.75, 0.24 * h / 1.75, 0.21 * h / 1.75), skin, o,
                                (0.0, hip_y - torso - 0.14 * h / 1.75, 0.0), sun=sun))
        for side, sgn in ((-1, 1.0), (1, -1.0)):
            swing = sgn * amp * np.sin(phase)
            hip = np.stack([_translate((side * 0.09 * h / 1.75, hip_y, 0.0))] * n) @ _rot_x(swing)
            part(hip, lambda o: box(sc, (0.13 * h / 1.75, leg, 0.14 * h / 1.75), cloth2, o, (0.0, leg / 2, 0.0),
                                    sun=sun))
            sh = np.stack([_translate((side * 0.24 * h / 1.75, sh_y, 0.0))] * n) @ _rot_x(-0.8 * swing)
            part(sh, lambda o: box(sc, (0.09 * h / 1.75, 0.4 * h, 0.1 * h / 1.75), cloth, o, (0.0, 0.2 * h, 0.0),
                                   sun=sun))
    else:  # height = shoulder height
        leg, body_l = 0.55 * h, 1.4 * h
        part(eye, lambda o: box(sc, (0.45 * h, 0.45 * h, body_l), cloth, o, (0.0, -leg - 0.2 * h, 0.0), sun=sun))
        part(eye, lambda o: box(sc, (0.3 * h, 0.3 * h, 0.45 * h), skin, o,
                                (0.0, -leg - 0.55 * h, body_l / 2 + 0.15 * h), sun=sun))
        for k, (sx, sz) in enumerate(((-1, 1), (1, 1), (-1, -1), (1, -1))):
            swing = (1.0 if k in (0, 3) else -1.0) * amp * np.sin(phase)
            hip = np.stack([_translate((sx * 0.15 * h, -leg, sz * 0.4 * body_l))] * n) @ _rot_x(swing)
            part(hip, lambda o: box(sc, (0.12 * h, leg, 0.12 * h), skin, o, (0.0, leg / 2, 0.0), sun=sun))


def yaw_poses(pos: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Object-to-world ``(N, 4, 4)`` at positions ``pos`` ``(N, 3)`` rotated by ``yaw`` about -y (facing +z at 0)."""
    return camera.make_w2c(_rot_y(yaw), pos)
