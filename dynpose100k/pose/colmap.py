"""pycolmap adapter: cameras and reconstructions from our arrays and back, and bundle adjustment.

Our side follows :mod:`dynpose100k.camera` (``w2c``, ``K`` in pixels with pixel centres at integers); COLMAP's
``cam_from_world`` equals ``w2c`` and its pixel origin is the top-left pixel's corner, so principal points
and keypoints are shifted by :data:`dynpose100k.camera.COLMAP_PIXEL_SHIFT` here and nowhere else. Images get
id ``frame + 1``. pycolmap is imported on first use.
"""

from __future__ import annotations

import functools
import logging
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .. import camera as cam

log = logging.getLogger(__name__)

__all__ = ["MODELS", "import_pycolmap", "camera_params", "camera_from_params", "make_camera", "to_reconstruction",
           "from_reconstruction", "bundle_adjust", "global_map"]

MODELS = ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "PINHOLE")
"""COLMAP camera models the adapter converts."""


@functools.cache
def import_pycolmap():
    """pycolmap, imported on first use, its log quieted. Importing it installs glog's failure handler, which
    also catches SIGTERM and prints a stack trace: a worker stopped by its pool (``pose --workers``, Ctrl-C) or
    a job ended by a scheduler would leave pages of it. SIGTERM gets back the handler Python had (the default,
    or one of the caller's); only the main thread can, so an import from another thread leaves glog's."""
    import pycolmap

    pycolmap.logging.minloglevel = 2
    handler = signal.getsignal(signal.SIGTERM)
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
    return pycolmap


def camera_params(model: str, K: np.ndarray, k1: float = 0.0) -> list[float]:
    """Our ``K`` ``(3, 3)`` (and SIMPLE_RADIAL's ``k1``) -> the COLMAP parameter list of ``model``:
    ``f, cx, cy`` (SIMPLE_PINHOLE, ``f = fx``), ``f, cx, cy, k1`` (SIMPLE_RADIAL), ``fx, fy, cx, cy`` (PINHOLE)."""
    fx, fy, cx, cy = cam.K_to_colmap(K).tolist()
    if model == "SIMPLE_PINHOLE":
        return [fx, cx, cy]
    if model == "SIMPLE_RADIAL":
        return [fx, cx, cy, float(k1)]
    if model == "PINHOLE":
        return [fx, fy, cx, cy]
    raise ValueError(f"unsupported camera model {model!r} ({', '.join(MODELS)})")


def camera_from_params(model: str, params) -> tuple[np.ndarray, float]:
    """COLMAP ``model`` and its ``params`` -> (our ``K`` ``(3, 3)``, ``k1``; 0 for a model without one)."""
    if model not in MODELS:
        raise ValueError(f"unsupported camera model {model!r} ({', '.join(MODELS)})")
    p = np.asarray(params, np.float64)
    return cam.K_from_colmap(model, p), float(p[3]) if model == "SIMPLE_RADIAL" else 0.0


def make_camera(model: str, K: np.ndarray, hw: tuple[int, int], camera_id: int = 1, k1: float = 0.0):
    """``pycolmap.Camera`` of ``model`` for frames of ``hw`` ``(H, W)`` from our ``K`` (and ``k1``)."""
    pycolmap = import_pycolmap()
    return pycolmap.Camera(model=model, width=int(hw[1]), height=int(hw[0]), params=camera_params(model, K, k1),
                           camera_id=camera_id)


def to_reconstruction(uv: np.ndarray, use: np.ndarray, X: np.ndarray, w2c: np.ndarray, K: np.ndarray,
                      hw: tuple[int, int], model: str, k1: float = 0.0, frames: np.ndarray | None = None,
                      points: np.ndarray | None = None, per_frame_camera: bool = False):
    """A ``pycolmap.Reconstruction`` with ONE camera (id 1) shared by ``frames`` (``per_frame_camera``: each
    frame ``n`` its own copy, id ``n + 1``, so that an adjustment fits one focal per frame).

    ``uv`` ``(N, M, 2)``: track pixels; ``use`` ``(N, M)`` bool: observations to include; ``X`` ``(M, 3)``:
    points; ``w2c`` ``(N, 4, 4)``; ``frames``: frame indices to include (default all), image ``n + 1`` with
    name ``str(n)``; ``points``: track indices to add as 3D points (default all), each with the used
    observations of ``frames``. Returns ``(reconstruction, point_ids)`` with the pycolmap id of each of
    ``points`` ``(P,)``.
    """
    pycolmap = import_pycolmap()
    frames = np.arange(len(uv)) if frames is None else np.asarray(frames)
    points = np.arange(uv.shape[1]) if points is None else np.asarray(points)
    rec = pycolmap.Reconstruction()
    for c in [int(n) + 1 for n in frames] if per_frame_camera else [1]:
        rec.add_camera_with_trivial_rig(make_camera(model, K, hw, c, k1))
    elems: dict[int, list] = {int(m): [] for m in points}
    for n in frames:
        ids = points[use[n, points]]
        img = pycolmap.Image(name=str(n), keypoints=cam.pixels_to_colmap(uv[n, ids]),
                             camera_id=int(n) + 1 if per_frame_camera else 1, image_id=int(n) + 1)
        rec.add_image_with_trivial_frame(img, pycolmap.Rigid3d(w2c[n, :3]))
        for k, m in enumerate(ids.tolist()):
            elems[m].append(pycolmap.TrackElement(int(n) + 1, k))
    point_ids = np.array([rec.add_point3D(X[m], pycolmap.Track(elems[m])) for m in points.tolist()], int)
    return rec, point_ids


def from_reconstruction(rec, frames: np.ndarray, point_ids: np.ndarray, model: str
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Read back what :func:`to_reconstruction` built: ``(w2c (F, 4, 4) of frames, points (P, 3) of
    point_ids, K (3, 3), k1)`` of camera 1 in our conventions."""
    w2c = np.tile(np.eye(4), (len(frames), 1, 1))
    for k, n in enumerate(frames):
        w2c[k, :3] = rec.image(int(n) + 1).cam_from_world().matrix()
    X = np.array([rec.point3D(int(p)).xyz for p in point_ids], np.float64).reshape(-1, 3)
    K, k1 = camera_from_params(model, rec.camera(1).params)
    return w2c, X, K, k1


def bundle_adjust(rec, frames: np.ndarray, fixed: np.ndarray | None = None, *, refine_focal: bool,
                  refine_extra: bool, iters: int, loss: str, loss_scale_px: float, threads: int,
                  function_tolerance: float) -> str:
    """pycolmap bundle adjustment of ``rec`` in place over the images of ``frames`` (``frame + 1``) and all
    its points, principal point held; images of ``fixed`` frames join with constant poses and fix the gauge,
    else the first two cameras fix it. ``refine_focal`` / ``refine_extra``: refine the focal / the other
    camera parameters (e.g. ``k1``); ``loss``: a ``pycolmap.LossFunctionType`` name, ``loss_scale_px`` its
    scale; ``iters``: Ceres iteration cap; ``function_tolerance``: Ceres stops when an iteration lowers the
    cost by less than this fraction. Returns Ceres' brief report."""
    pycolmap = import_pycolmap()
    opts = pycolmap.BundleAdjustmentOptions()
    opts.print_summary = False
    opts.refine_focal_length = refine_focal
    opts.refine_extra_params = refine_extra
    opts.refine_principal_point = False
    opts.ceres.loss_function_type = getattr(pycolmap.LossFunctionType, loss)
    opts.ceres.loss_function_scale = loss_scale_px
    opts.ceres.solver_options.max_num_iterations = iters
    opts.ceres.solver_options.num_threads = threads
    opts.ceres.solver_options.function_tolerance = function_tolerance
    opts.ceres.solver_options.parameter_tolerance = 1e-8
    cfg = pycolmap.BundleAdjustmentConfig()
    fixed = np.zeros(0, int) if fixed is None else np.asarray(fixed)
    for n in np.r_[np.asarray(frames), fixed]:
        cfg.add_image(int(n) + 1)
    if len(fixed):
        for n in fixed:
            cfg.set_constant_rig_from_world_pose(int(n) + 1)  # trivial frames share the image's id
    else:
        cfg.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
    t0 = time.perf_counter()
    summary = pycolmap.create_default_bundle_adjuster(opts, cfg, rec).solve()
    report = summary.brief_report()
    log.debug("BA: %d images, %d points, %s, %.2f s", len(frames) + len(fixed), rec.num_points3D(), report,
              time.perf_counter() - t0)
    return report


def global_map(uv: np.ndarray, hw: tuple[int, int], model: str, K: np.ndarray, max_gap: int, min_matches: int = 15,
               threads: int = 1, seed: int = 0, step: int = 1,
               refine_focal: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """COLMAP's global mapper (rotation averaging, then global positioning, then bundle adjustment) on tracks
    ``uv`` ``(N, M, 2)`` (NaN = unobserved) of frames ``hw``: each frame's keypoints are its track
    observations, frames up to ``max_gap`` apart that share at least ``min_matches`` tracks are matched by
    track identity and verified by COLMAP's two-view geometry, and ONE camera of ``model`` starts from ``K``
    (given as a focal prior). Returns ``(w2c (N, 4, 4), registered (N,), K, k1)`` in our conventions (the
    largest model; nothing registered when mapping failed). ``step``: only every ``step``-th frame is mapped
    (the rest stay unregistered; ``max_gap`` still counts frames of ``uv``). The mapper adjusts once and does
    not re-triangulate: its cameras are a start for a fresh triangulation and adjustment. ``threads``: the
    mapper's (its bundle adjustments sum in a varying order on more than one, so only 1 gives the same map
    every run);
    ``seed``: its two-view RANSAC's; ``refine_focal``: False holds the focal of ``K`` (a known lens). Works in a
    temporary folder; no image is read."""
    pycolmap = import_pycolmap()
    N, step = len(uv), max(1, int(step))
    seen = ~np.isnan(uv[..., 0])
    w2c, reg, k1 = np.tile(np.eye(4), (N, 1, 1)), np.zeros(N, bool), 0.0
    with tempfile.TemporaryDirectory(prefix="dynpose-global-") as tmp:
        tmp = Path(tmp)
        db = pycolmap.Database.open(tmp / "db.db")
        camera = make_camera(model, K, hw)
        camera.has_prior_focal_length = True
        cid = db.write_camera(camera)
        rig = pycolmap.Rig()
        sensor = pycolmap.sensor_t(pycolmap.SensorType.CAMERA, cid)
        rig.add_ref_sensor(sensor)
        rid = db.write_rig(rig)
        ids = {}
        for n in range(0, N, step):
            iid = db.write_image(pycolmap.Image(name=str(n), camera_id=cid))
            frame = pycolmap.Frame()
            frame.rig_id = rid
            frame.add_data_id(pycolmap.data_t(sensor, iid))
            db.write_frame(frame)
            db.write_keypoints(iid, np.nan_to_num(cam.pixels_to_colmap(uv[n])).astype(np.float32))
            ids[n] = iid
        pairs = []
        for i in ids:
            for j in range(i + step, min(N, i + max_gap + 1), step):
                m = np.flatnonzero(seen[i] & seen[j])
                if len(m) >= min_matches:
                    db.write_matches(ids[i], ids[j], np.c_[m, m].astype(np.uint32))
                    pairs.append(f"{i} {j}")
        db.close()
        if not pairs:
            return w2c, reg, K, k1
        (tmp / "pairs.txt").write_text("\n".join(pairs))
        verify = pycolmap.TwoViewGeometryOptions()
        verify.ransac.random_seed = seed  # COLMAP's default (-1) seeds each RANSAC from the clock
        pycolmap.verify_matches(tmp / "db.db", tmp / "pairs.txt", verify)
        opts = pycolmap.GlobalPipelineOptions()
        opts.num_threads = threads
        opts.random_seed = seed
        opts.mapper.bundle_adjustment.refine_focal_length = refine_focal
        # the caller triangulates afresh and adjusts everything again (sfm.refine): one round of the mapper's
        # own adjustment, and none of its re-triangulation, is enough to hand over its cameras
        opts.mapper.ba_num_iterations = 1
        opts.mapper.skip_retriangulation = True
        (tmp / "out").mkdir()
        t = time.perf_counter()
        recs = pycolmap.global_mapping(tmp / "db.db", tmp, tmp / "out", opts)
        log.debug("global mapping: %d model(s), %.2f s", len(recs), time.perf_counter() - t)
        if not recs:
            return w2c, reg, K, k1
        rec = max(recs.values(), key=lambda r: r.num_reg_images())
        for image in rec.images.values():
            if image.has_pose:
                n = int(image.name)
                w2c[n, :3] = image.cam_from_world().matrix()
                reg[n] = True
        c = rec.camera(cid)
        K, k1 = camera_from_params(model, c.params)
    return w2c, reg, K, k1
