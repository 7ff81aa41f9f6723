"""Structure from motion on static tracks: keyframe SfM built from the tracks, PnP for the other frames,
pycolmap bundle adjustment with ONE shared camera.

Camera model: COLMAP ``SIMPLE_PINHOLE`` by default (one focal ``f``, principal point at the image centre;
``SIMPLE_RADIAL`` adds ``k1``), ONE camera shared by all frames of a video; the focal starts from
self-calibration (equal singular values of ``K^T F K``) and from a prior, the better reconstruction is
kept, and bundle adjustment refines it (the principal point stays at the image centre). Robust loss:
Cauchy (``PoseConfig.ba_loss``).

Steps: (1) keyframes every ``keyframe_step`` frames; (2) initial pair = a keyframe and a later frame with
enough parallax, relative pose from the essential matrix; (3) keyframes registered one by one by PnP
(``cv2.solvePnPRansac``), then any frame when no keyframe can be; new points triangulated (widest
baseline); bundle adjustment whenever the adjusted set grew by half (every registered frame while the map
is young, later the keyframes, with motion-only refinement of the frames between); when PnP stalls (new tracks not
yet triangulated), the next frame is bridged by two-view geometry with its registered neighbour, scale from
shared 3D points; (4) all other frames registered by PnP; (5) remaining tracks triangulated; (6) final
bundle adjustment over every frame, observations above ``max_reproj_px_720p`` dropped, adjusted again if
that dropped over 1% of them; (7) a frame left with fewer than ``min_pnp_inliers`` supporting observations
is registered again by PnP against the final map, or unregistered (its pose would be unconstrained).
Inside, poses are ``w2c`` and pixels follow the project's convention (pixel centres at integers); the
conversion to COLMAP's happens only in the pycolmap adapter (:mod:`dynpose100k.pose.colmap`). Two-view
geometry (fundamental and essential matrices, relative pose, self-calibration) is :mod:`dynpose100k.geometry`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .. import camera as cam
from .. import geometry
from ..video import evenly_spaced
from . import colmap
from .config import PoseConfig

log = logging.getLogger(__name__)

__all__ = ["SfmResult", "reconstruct", "reconstruct_global", "refine", "estimate_focal", "focal_change", "focal_pin"]

INIT_PARALLAX_DEG = 2.0
"""Median parallax (degrees) that ends the search for the initial pair."""

SFM_MODELS = ("SIMPLE_PINHOLE", "SIMPLE_RADIAL")
"""Camera models of the shared camera (one focal, principal point at the image centre)."""

SELF_CAL_GAP = 4
"""Frames between the two views of each self-calibration pair (:func:`self_calibrated_focal`). Fixed in
frames, not keyframe steps, so that a map made again with denser keyframes starts from the same focal."""

INIT_MAX_GAP = 16
"""The initial pair's second frame is at most this many frames after its first (fixed in frames, as
:data:`SELF_CAL_GAP`)."""

FULL_BA_MAX_FRAMES = 40
"""Up to this many registered frames, incremental bundle adjustments include every registered frame (a
young map needs all the support it has); beyond it, the keyframes (see :meth:`_State.adjust`)."""


@dataclass(frozen=True)
class SfmResult:
    """Output of :func:`reconstruct`."""

    w2c: np.ndarray
    """``(N, 4, 4)`` float64 world-to-camera; identity where not registered."""
    registered: np.ndarray
    """``(N,)`` bool."""
    K: np.ndarray
    """``(3, 3)`` float64 shared intrinsics in input pixels (distortion in ``camera_params``)."""
    camera_model: str
    """COLMAP camera model name."""
    camera_params: np.ndarray
    """COLMAP parameters of the shared camera (COLMAP pixel convention, e.g. ``f, cx, cy, k1``)."""
    points3d: np.ndarray
    """``(P, 3)`` float64 triangulated static points (world)."""
    track_ids: np.ndarray
    """``(P,)`` int: index of each point's track in the input ``uv``."""
    obs: np.ndarray
    """``(N, P)`` bool: observation of point ``p`` in frame ``n`` used by the final bundle adjustment."""
    reproj_error_px: float
    """Mean reprojection error (input pixels) over used observations; NaN on failure."""
    failure_reason: str | None
    """None when frames were registered, else why not."""

    @property
    def k1(self) -> float:
        """Radial distortion of the shared camera (``SIMPLE_RADIAL``; 0 for a pinhole model)."""
        return float(self.camera_params[3]) if len(self.camera_params) > 3 else 0.0


class _State:
    """Mutable reconstruction state (private): poses, points, used observations, camera."""

    def __init__(self, uv: np.ndarray, hw: tuple[int, int], f: float, config: PoseConfig):
        if config.camera_model not in SFM_MODELS:
            raise ValueError(f"unsupported camera model {config.camera_model!r} ({', '.join(SFM_MODELS)})")
        self.uv = uv.astype(np.float64)
        self.seen = ~np.isnan(uv[..., 0])
        N, M = uv.shape[:2]
        self.hw = hw
        self.config = config
        self.params = np.array([f, (hw[1] - 1) / 2, (hw[0] - 1) / 2, 0.0])  # ours: f, cx, cy, k1
        self.R = np.tile(np.eye(3), (N, 1, 1))
        self.t = np.zeros((N, 3))
        self.reg = np.zeros(N, bool)
        self.X = np.full((M, 3), np.nan)
        self.use = np.zeros((N, M), bool)  # observation used by the reconstruction
        self.thr = config.max_reproj_px_720p * hw[0] / 720.0
        step = max(1, config.keyframe_step)
        self.is_kf = np.zeros(N, bool)
        self.is_kf[np.r_[np.arange(0, N, step), N - 1] if N else []] = True

    @property
    def K(self) -> np.ndarray:
        return cam.make_K(self.params[0], None, self.params[1], self.params[2])

    @property
    def dist(self) -> np.ndarray:
        return np.array([self.params[3], 0, 0, 0], np.float64)

    def undistort(self, pts: np.ndarray) -> np.ndarray:
        """Pixels -> normalised camera coordinates ``(M, 2)``."""
        return cv2.undistortPoints(pts.reshape(-1, 1, 2), self.K, self.dist).reshape(-1, 2)

    def project(self, frames, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(..., P, 2)`` and depths ``(..., P)`` of points ``X`` ``(P, 3)`` in frame(s) ``frames``."""
        return cam.project(self.K, cam.make_w2c(self.R[frames], self.t[frames]), X, self.params[3])

    def has3d(self) -> np.ndarray:
        return ~np.isnan(self.X[:, 0])

    # --- registration ---------------------------------------------------------------------------
    def pnp(self, n: int) -> bool:
        ids = np.flatnonzero(self.seen[n] & self.has3d())
        if len(ids) < self.config.min_pnp_inliers:
            return False
        obj, img = self.X[ids], self.uv[n, ids]
        try:
            ok, rvec, tvec, inl = cv2.solvePnPRansac(
                obj, img, self.K, self.dist, iterationsCount=200, reprojectionError=self.thr,
                confidence=0.999, flags=cv2.SOLVEPNP_SQPNP,
            )
        except cv2.error:  # degenerate points (a map collapsed to one spot) trip SQPnP's internal assertion
            log.debug("frame %d: PnP on degenerate points refused", n)
            return False
        if not ok or inl is None or len(inl) < self.config.min_pnp_inliers:
            return False
        inl = inl.ravel()
        rvec, tvec = cv2.solvePnPRefineLM(obj[inl], img[inl], self.K, self.dist, rvec, tvec)
        self.R[n], self.t[n] = cv2.Rodrigues(rvec)[0], tvec.ravel()
        err, z = self._err(n, ids)
        good = (err < self.thr) & (z > 0)
        if good.sum() < self.config.min_pnp_inliers:
            return False
        self.reg[n] = True
        self.use[n, ids[good]] = True
        log.debug("frame %d: PnP %d of %d inliers", n, int(good.sum()), len(ids))
        return True

    def repose(self, frames: np.ndarray) -> None:
        """Motion-only refinement (Levenberg-Marquardt from the current pose) of registered ``frames``
        against their used observations of the current points; frames with too few keep their pose."""
        for n in frames:
            ids = np.flatnonzero(self.use[n] & self.has3d())
            if len(ids) < self.config.min_pnp_inliers:
                continue
            rvec, tvec = cv2.Rodrigues(self.R[n])[0], self.t[n].reshape(3, 1).copy()
            rvec, tvec = cv2.solvePnPRefineLM(self.X[ids], self.uv[n, ids], self.K, self.dist, rvec, tvec)
            self.R[n], self.t[n] = cv2.Rodrigues(rvec)[0], tvec.ravel()

    def bridge(self, n: int) -> bool:
        """Register frame ``n`` from 2D-2D geometry with its nearest registered frame ``r`` (structure-less
        fallback when PnP has too few 3D points): relative pose from the essential matrix, translation scale
        from the 3D points both see (median). Refused when fewer than 6 such points exist or fewer than half
        of the frame's 3D points reproject within the threshold (a pose the map cannot confirm)."""
        regs = np.flatnonzero(self.reg)
        r = regs[np.argmin(np.abs(regs - n))]
        both = np.flatnonzero(self.seen[r] & self.seen[n])
        if len(both) < 2 * self.config.min_pnp_inliers:
            return False
        xr, xn = self.undistort(self.uv[r, both]), self.undistort(self.uv[n, both])
        E, inl = geometry.essential_ransac(xr, xn, self.thr / self.params[0])
        if E is None:
            return False
        R, t, _ = geometry.pose_from_essential(E, xr, xn, inl)
        n_in = int(inl.sum())  # the in-front count leaves out far points, i.e. all of them at small baselines
        if n_in < self.config.min_pnp_inliers:
            return False
        pts = both[self.has3d()[both] & inl]
        if len(pts) < 6:  # the scale and the pose could not be checked against the map
            return False
        # x_n ~ R X_r + s t  =>  s from the cross-product constraint, per point
        Xr = self.X[pts] @ self.R[r].T + self.t[r]
        xh = np.c_[self.undistort(self.uv[n, pts]), np.ones(len(pts))]
        a, b = np.cross(xh, Xr @ R.T), np.cross(xh, np.broadcast_to(t, xh.shape))
        scale = float(np.median(-(a * b).sum(1) / np.maximum((b * b).sum(1), 1e-12)))
        log.debug("bridge %d<-%d: %d inliers, %d 3D points, scale %.3g", n, r, n_in, len(pts), scale)
        if not np.isfinite(scale) or scale <= 0:
            return False
        self.R[n] = R @ self.R[r]
        self.t[n] = R @ self.t[r] + scale * t
        ids = np.flatnonzero(self.seen[n] & self.has3d())
        err, z = self._err(n, ids)
        good = (err < self.thr) & (z > 0)
        if good.mean() < 0.5:  # the pose contradicts the map: not registered
            return False
        self.use[n, ids] = good
        self.reg[n] = True
        log.debug("frame %d bridged from %d (%d inliers, %d 3D points)", n, r, n_in, len(pts))
        return True

    def _err(self, n: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, z = self.project(n, self.X[ids])
        return np.linalg.norm(p - self.uv[n, ids], axis=1), z

    # --- triangulation --------------------------------------------------------------------------
    def triangulate(self, frames: np.ndarray, via: int | None = None) -> int:
        """Triangulate tracks without a point that are seen in >= 2 of the registered ``frames`` (and, with
        ``via``, in that newly registered frame: only its tracks gained an observation, which keeps the cost
        of each registration independent of the clip length): DLT on each track's first and last
        observation (widest baseline), kept when the rays' angle reaches ``min_parallax_deg`` and at least
        two registered frames see it within the reprojection threshold."""
        frames = frames[self.reg[frames]]
        pool = np.flatnonzero(~self.has3d() & self.seen[via]) if via is not None else np.flatnonzero(~self.has3d())
        cand = pool[self.seen[np.ix_(frames, pool)].sum(0) >= 2]
        if not len(cand):
            return 0
        S = self.seen[np.ix_(frames, cand)]
        a = frames[np.argmax(S, axis=0)]
        b = frames[len(frames) - 1 - np.argmax(S[::-1], axis=0)]
        xa = self.undistort(self.uv[a, cand])
        xb = self.undistort(self.uv[b, cand])
        Pa = np.concatenate([self.R[a], self.t[a, :, None]], axis=2)  # (C, 3, 4)
        Pb = np.concatenate([self.R[b], self.t[b, :, None]], axis=2)
        A = np.stack([xa[:, :1] * Pa[:, 2] - Pa[:, 0], xa[:, 1:] * Pa[:, 2] - Pa[:, 1],
                      xb[:, :1] * Pb[:, 2] - Pb[:, 0], xb[:, 1:] * Pb[:, 2] - Pb[:, 1]], axis=1)
        Xh = np.linalg.svd(A)[2][:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            X = Xh[:, :3] / Xh[:, 3:]
        ca = -np.einsum("cji,cj->ci", self.R[a], self.t[a])
        cb = -np.einsum("cji,cj->ci", self.R[b], self.t[b])
        da, db = X - ca, X - cb
        cosang = (da * db).sum(1) / (np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1) + 1e-12)
        ok = np.isfinite(X).all(1) & (cosang < np.cos(np.deg2rad(self.config.min_parallax_deg)))
        ids, X = cand[ok], X[ok]
        # reprojection check in every registered frame at once: (F, P)
        p, z = self.project(frames, X)
        err = np.linalg.norm(p - self.uv[np.ix_(frames, ids)], axis=-1)
        use = self.seen[np.ix_(frames, ids)] & (err < self.thr) & (z > 0)
        good = use.sum(0) >= 2
        self.X[ids[good]] = X[good]
        self.use[np.ix_(frames, ids[good])] = use[:, good]
        return int(good.sum())

    def prune(self) -> None:
        """Drop observations above the reprojection threshold and points left with < 2 observations."""
        for n in np.flatnonzero(self.reg):
            ids = np.flatnonzero(self.use[n])
            if len(ids):
                err, z = self._err(n, ids)
                self.use[n, ids[(err > self.thr) | (z <= 0)]] = False
        few = self.use.sum(0) < 2
        self.X[few] = np.nan
        self.use[:, few] = False

    # --- bundle adjustment ----------------------------------------------------------------------
    def adjust(self, refine_intrinsics: bool, iters: int, full: bool = False) -> None:
        """Bundle adjustment, then outlier pruning, over every registered frame (``full``) or :meth:`ba_frames`;
        the other registered frames follow by motion-only refinement against the adjusted points (video
        frames between keyframes add little to the structure and most of the cost). A ``full`` adjustment
        of more than ``config.global_ba_max_frames`` frames adjusts the :meth:`ba_frames` with the others
        held at their motion-only refined poses (their observations still constrain the points), then
        refines those again."""
        anchored = full and self.reg.sum() > self.config.global_ba_max_frames
        ba = self.reg if full and not anchored else self.ba_frames()
        fixed = np.flatnonzero(self.reg & ~ba)
        if anchored:
            self.repose(fixed)
        self.bundle_adjust(refine_intrinsics, iters, frames=np.flatnonzero(ba), fixed=fixed if anchored else None)
        self.repose(fixed)
        self.prune()

    def ba_frames(self) -> np.ndarray:
        """``(N,)`` bool: the frames of an incremental bundle adjustment: every registered frame while there
        are at most :data:`FULL_BA_MAX_FRAMES`, else the registered keyframes and registered frames with no
        registered keyframe within half a keyframe step."""
        N = len(self.reg)
        if self.reg.sum() <= FULL_BA_MAX_FRAMES:
            return self.reg.copy()
        half = max(1, self.config.keyframe_step) // 2
        kf_reg = self.reg & self.is_kf
        idx = np.arange(N)
        near_kf = np.zeros(N, bool)
        for d in range(-half, half + 1):
            near_kf |= np.roll(kf_reg, d) & (idx - d >= 0) & (idx - d < N)
        return self.reg & (self.is_kf | ~near_kf)

    def mean_error(self) -> float:
        """Mean reprojection error (px) over the used observations of points; NaN when there are none."""
        errs = [self._err(n, np.flatnonzero(self.use[n] & self.has3d()))[0] for n in np.flatnonzero(self.reg)]
        errs = np.concatenate(errs) if errs else np.zeros(0)
        return float(errs.mean()) if len(errs) else float("nan")

    def bundle_adjust(self, refine_intrinsics: bool, iters: int = 50, frames: np.ndarray | None = None,
                      fixed: np.ndarray | None = None) -> None:
        """pycolmap bundle adjustment over registered ``frames`` (default: all registered) and their used
        observations of points seen at least twice among them; registered frames ``fixed`` join with
        constant poses (they fix the gauge then)."""
        frames = np.flatnonzero(self.reg) if frames is None else np.asarray(frames)
        fixed = np.zeros(0, int) if fixed is None else np.asarray(fixed)
        every = np.r_[frames, fixed]
        pts = np.flatnonzero(self.has3d() & (self.use[every].sum(0) >= 2))
        rec, pids = colmap.to_reconstruction(self.uv, self.use, self.X, cam.make_w2c(self.R, self.t), self.K,
                                             self.hw, self.config.camera_model, self.params[3], every, pts)
        colmap.bundle_adjust(rec, frames, fixed, refine_focal=refine_intrinsics and self.config.hfov_deg is None,
                             refine_extra=refine_intrinsics and self.config.camera_model != "SIMPLE_PINHOLE",
                             iters=iters, **_solver(self.config))
        w2c, self.X[pts], K, k1 = colmap.from_reconstruction(rec, frames, pids, self.config.camera_model)
        self.R[frames], self.t[frames] = w2c[:, :3, :3], w2c[:, :3, 3]
        self.params = np.array([K[0, 0], K[0, 2], K[1, 2], k1])


def _solver(config: PoseConfig) -> dict:
    """The solver settings of every bundle adjustment (:func:`colmap.bundle_adjust` keywords) from ``config``."""
    return dict(loss=config.ba_loss, loss_scale_px=config.ba_loss_scale_px, threads=config.ba_threads,
                function_tolerance=config.ba_function_tolerance)


def estimate_focal(uv: np.ndarray, hw: tuple[int, int], pairs: list[tuple[int, int]]) -> float:
    """Focal (px) by self-calibration: for candidate focals ``f`` (principal point at the centre) the
    essential matrix ``K^T F K`` of a true ``f`` has two equal singular values; the candidate with the
    smallest summed relative gap over the fundamental matrices of ``pairs`` wins, each pair's gap curve
    divided by its own maximum first (its shape votes, not its size: a pair whose ``F`` fits no single focal
    well, e.g. one fitted to noise or to movers, would otherwise outweigh the rest). Falls back to
    ``1.2 * max(H, W)`` when no pair has a fundamental matrix."""
    H, W = hw
    cands = np.geomspace(0.3, 5.0, 120) * max(H, W)
    cost = np.zeros(len(cands))
    used = 0
    for i, j in pairs:
        both = ~np.isnan(uv[i, :, 0]) & ~np.isnan(uv[j, :, 0])
        if both.sum() < 30:
            continue
        F, _ = geometry.fundamental_ransac(uv[i, both].astype(np.float64), uv[j, both].astype(np.float64), 1.0)
        if F is None:
            continue
        r = geometry.essential_singular_ratio(F, cands, ((W - 1) / 2, (H - 1) / 2))
        gap = (1 - r) / (1 + r)  # (s1 - s2) / (s1 + s2)
        cost += gap / max(float(gap.max()), 1e-12)
        used += 1
    return float(cands[np.argmin(cost)]) if used else 1.2 * max(H, W)


def _init_pair(st: _State, kf: np.ndarray, max_gap: int) -> bool:
    """Register the first frame pair (a keyframe and a later frame at most ``max_gap`` away) whose
    triangulation angles are large enough; else the best-scoring pair seen."""
    best = None
    N = len(st.reg)
    for a in kf[:: max(1, len(kf) // 6)]:
        for b in range(a + 1, min(a + max_gap, N - 1) + 1):
            both = np.flatnonzero(st.seen[a] & st.seen[b])
            if len(both) < 30:
                break
            xa, xb = st.undistort(st.uv[a, both]), st.undistort(st.uv[b, both])
            E, inl = geometry.essential_ransac(xa, xb, st.thr / st.params[0])
            if E is None:
                continue
            R, t, front = geometry.pose_from_essential(E, xa, xb, inl)
            n_in = int(front.sum())
            # median parallax of inliers: angle between rays after removing the rotation
            ra = np.c_[xa, np.ones(len(xa))] @ R.T
            rb = np.c_[xb, np.ones(len(xb))]
            cosang = (ra * rb).sum(1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1))
            par = np.degrees(np.median(np.arccos(np.clip(cosang[front], -1, 1)))) if n_in else 0.0
            score = min(par, INIT_PARALLAX_DEG) * n_in
            if best is None or score > best[0]:
                best = (score, a, b, R, t)
            if par >= INIT_PARALLAX_DEG:
                break
        if best is not None and best[0] >= INIT_PARALLAX_DEG * 100:
            break
    if best is None:
        return False
    _, a, b, R, t = best
    st.reg[a] = st.reg[b] = True
    st.R[b], st.t[b] = R, t
    return st.triangulate(np.array([a, b])) >= 20


def self_calibrated_focal(uv: np.ndarray, hw: tuple[int, int]) -> float:
    """Focal (px) from the fundamental matrices of at most 24 frame pairs :data:`SELF_CAL_GAP` frames apart,
    spread over the tracks ``uv`` ``(N, M, 2)`` (:func:`estimate_focal`; unclipped)."""
    N = len(uv)
    step = SELF_CAL_GAP
    pairs = [(i, min(i + step, N - 1)) for i in range(0, max(N - step, 1), step)]
    return estimate_focal(uv, hw, pairs[:: -(-len(pairs) // 24)])


def start_focal(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig) -> float:
    """The focal (px) a reconstruction of tracks ``uv`` ``(N, M, 2)`` of frames ``hw`` starts from: the known
    one (``config.hfov_deg``), else self-calibration kept within a plausible field of view (about 28-90
    degrees across the long side)."""
    known = config.known_focal(hw)
    if known is not None:
        return known
    return float(np.clip(self_calibrated_focal(uv, hw), 0.5 * max(hw), 2.0 * max(hw)))


def reconstruct(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig, final_ba: bool = True) -> SfmResult:
    """Reconstruct cameras from static tracks ``uv`` ``(N, M, 2)`` (NaN = unobserved) of frames ``hw``.

    Self-calibration from fundamental matrices is ill-conditioned (near-planar scenes, short baselines,
    forward motion) and a start more than about 30% from the true focal can stall registration or converge
    to a wrong map, which explains far fewer of the observations. So the reconstruction starts from
    self-calibration (clipped to a plausible field of view); when its map keeps less than
    ``config.focal_accept_support`` of all static observations, the starts ``config.focal_starts``
    (multiples of ``max(H, W)``; those within 15% of a tried one skipped) are tried in turn until one
    reaches it, and the map with the most support wins. On clips longer than ``config.focal_trial_after``
    the other starts compete on a window of ``config.focal_trial_frames``, and the whole clip is
    reconstructed at most twice (self-calibrated start, then the window's winner when that is another
    start). ``final_ba``: end with a bundle adjustment over every frame (False: over the keyframes, when a
    :func:`refine` pass follows). With a known focal (``config.hfov_deg``) that focal is the only start and
    no adjustment moves it.
    """
    N, M = uv.shape[:2]
    f_start = start_focal(uv, hw, config)
    starts = [f_start] + ([g * max(hw) for g in config.focal_starts] if config.hfov_deg is None else [])
    L = config.focal_trial_frames
    if not L or N <= max(L, config.focal_trial_after):
        best, reason = _try_starts(uv, hw, starts, config)
        return _finish(best[1], full=final_ba) if best else _failed(_State(uv, hw, f_start, config), reason)
    # long clip: the self-calibrated start on the whole clip; when its map explains too little, the starts
    # compete on the L-frame window with the most static observations, and the whole clip is reconstructed
    # again only when another start wins there (from that window's adjusted focal); the map with the most
    # support on the whole clip is kept
    full, reason = _try_starts(uv, hw, starts[:1], config)
    if full is not None and full[0] >= config.focal_accept_support:
        return _finish(full[1], full=final_ba)
    per_frame = (~np.isnan(uv[..., 0])).sum(1)
    c = np.r_[0, np.cumsum(per_frame)]
    s0 = int(np.argmax(c[L:] - c[:-L]))
    sub = uv[s0 : s0 + L]
    sub = sub[:, (~np.isnan(sub[..., 0])).sum(0) >= config.min_track_len]
    win, _ = _try_starts(sub, hw, starts, config)
    log.debug("focal trial on frames %d-%d: %s", s0, s0 + L - 1,
              "failed" if win is None else f"start {win[2]:.1f}, support {win[0]:.3f}")
    if win is not None and (full is None or win[2] != f_start):
        other, reason2 = _try_starts(uv, hw, [float(win[1].params[0])], config, dedupe=False)
        if other is not None and (full is None or other[0] > full[0]):
            full = other
        reason = reason if full is not None or other is not None else reason2
    if full is None:
        return _failed(_State(uv, hw, f_start, config), reason)
    return _finish(full[1], full=final_ba)


def _try_starts(uv: np.ndarray, hw: tuple[int, int], starts: list[float], config: PoseConfig,
                dedupe: bool = True) -> tuple[tuple[float, _State, float] | None, str]:
    """Incremental reconstructions of ``uv`` from the focal ``starts`` in turn (those within 15% of a tried
    one skipped unless not ``dedupe``), every frame then offered to PnP / bridging, until one keeps
    ``config.focal_accept_support`` of the static observations; returns ``(support, state, start)`` of the
    best (None when all failed) and the last failure reason."""
    tried: list[float] = []
    best: tuple[float, _State, float] | None = None
    reason = "too few static tracks with parallax to initialise"
    for f0 in starts:
        if dedupe and any(abs(np.log(f0 / f)) < np.log(1.15) for f in tried):
            continue
        tried.append(f0)
        st = _State(uv, hw, f0, config)
        failure = _incremental(st)
        if failure:
            reason = failure
            log.debug("start focal %.1f: %s", f0, failure)
            continue
        for n in np.flatnonzero(~st.reg):
            st.pnp(n) or st.bridge(n)
        support = float(st.use.sum() / max(1, st.seen.sum()))
        log.debug("start focal %.1f: %d registered, support %.3f", f0, int(st.reg.sum()), support)
        if best is None or support > best[0]:
            best = (support, st, f0)
        if support >= config.focal_accept_support:
            break
    return best, reason


def _incremental(st: _State) -> str | None:
    """Keyframe-first incremental reconstruction from the initial pair, ending with a bundle adjustment with
    the focal refined; returns None, or the reason it failed. Bundle adjustments run on :meth:`_State.ba_frames`,
    the other registered frames follow by motion-only refinement against the adjusted points."""
    config = st.config
    N, M = st.uv.shape[:2]
    kf = np.flatnonzero(st.is_kf)
    if N < 2 or M < 20 or not _init_pair(st, kf, max_gap=INIT_MAX_GAP):
        return "too few static tracks with parallax to initialise"

    st.bundle_adjust(refine_intrinsics=False)
    # keyframes first; when none of them can be registered (short tracks), every frame becomes a candidate
    cands, last_ba = kf, 2
    while True:
        todo = cands[~st.reg[cands]]
        counts = (st.seen[todo] & st.has3d()).sum(1)
        done = False
        for n in todo[np.argsort(-counts)][:3]:
            if counts.max() >= config.min_pnp_inliers and st.pnp(n):
                st.triangulate(np.flatnonzero(st.reg), via=n)
                done = True
                break
        if not done and len(cands) < N:
            cands = np.arange(N)
            continue
        if not done:  # bridge the registered block's nearest neighbours by two-view geometry
            regs = np.flatnonzero(st.reg)
            for n in sorted({regs.min() - 1, regs.max() + 1} & set(todo.tolist()), key=lambda n: -counts[todo == n][0]):
                if st.bridge(n):
                    st.triangulate(np.flatnonzero(st.reg), via=n)
                    st.adjust(False, 10)
                    done = True
                    break
        if not done:
            break
        nba = int(st.ba_frames().sum())
        if nba >= max(last_ba + 3, 1.5 * last_ba):
            last_ba = nba
            st.adjust(nba >= 6, 30)
    if st.reg.sum() < 2:
        return "registration failed"
    st.adjust(True, 50)
    return None


def reconstruct_global(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig) -> SfmResult:
    """Cameras from static tracks ``uv`` ``(N, M, 2)`` by COLMAP's global mapper (:func:`colmap.global_map`:
    rotation averaging and global positioning of all its frames at once, from the same self-calibrated focal
    start as :func:`reconstruct`) of every ``config.global_frame_step``-th frame, then the points triangulated,
    the other frames registered by PnP against them and everything adjusted (:func:`refine`). Slower
    than the incremental path (seconds to a minute for 60 frames), with no chain of registrations for an
    error to travel along, and it settles a focal that low parallax leaves loose more often; see
    ``PoseConfig.global_fallback_below`` for when the pipeline runs it."""
    st = _State(uv, hw, start_focal(uv, hw, config), config)
    w2c, reg, K, k1 = colmap.global_map(uv, hw, config.camera_model, st.K, config.global_max_gap,
                                        min_matches=config.min_pnp_inliers, threads=config.ba_threads,
                                        step=config.global_frame_step, refine_focal=config.hfov_deg is None)
    if reg.sum() < 2:
        return _failed(st, "global mapping registered no frames")
    init = SfmResult(w2c=w2c, registered=reg, K=K, camera_model=config.camera_model,
                     camera_params=np.asarray(colmap.camera_params(config.camera_model, K, k1)),
                     points3d=np.zeros((0, 3)), track_ids=np.zeros(0, int), obs=np.zeros((len(uv), 0), bool),
                     reproj_error_px=float("nan"), failure_reason=None)
    return refine(uv, hw, config, init, register_rest=True)


#: a link between consecutive registered frames is weak when they share at most this fraction of the clip's
#: median number of shared points (:func:`step_ratios`)
WEAK_LINK = 0.25


def step_ratios(w2c: np.ndarray, registered: np.ndarray, neighbours: int = 4,
                obs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(idx, ratios)``: the registered frames ``(R,)`` and, for each step ``idx[k] -> idx[k + 1]`` ``(R - 1,)``,
    its length (camera-centre distance per frame, so a step over unregistered frames counts as their
    average) over the median of up to ``neighbours`` steps on each side, floored at a quarter of the clip's
    median step (a camera at rest moves by noise, which no ratio should magnify). No ratios with fewer than
    three registered frames or a camera that never moves. ``w2c`` ``(N, 4, 4)``, ``registered`` ``(N,)``.

    With the map's used observations ``obs`` ``(N, P)``, a weak link (two frames sharing at most
    :data:`WEAK_LINK` of the clip's median number of shared points) also gets the change of speed across
    it: the median of the ``neighbours`` steps after it over that of the steps before it (or the inverse,
    same floor), when that is larger. The stretch beyond a weak link can sit at another scale; the camera
    then changes speed over a few frames rather than in one step, which the ratio to both sides hides (its
    neighbours on the far side are as large as it is). A camera at rest for most of the clip that starts to
    move at a weak link also reads as a change of scale (the floor is then noise)."""
    idx = np.flatnonzero(registered)
    if len(idx) < 3:
        return idx, np.zeros(0)
    steps = np.linalg.norm(np.diff(cam.camera_centers(w2c)[idx], axis=0), axis=1) / np.diff(idx)
    floor = 0.25 * float(np.median(steps))
    if not floor > 0:
        return idx, np.zeros(0)
    ratios = np.empty(len(steps))
    for k, step in enumerate(steps):
        around = np.r_[steps[max(0, k - neighbours):k], steps[k + 1:k + 1 + neighbours]]
        ratios[k] = step / max(float(np.median(around)), floor)
    if obs is not None and obs.shape[1]:
        shared = (obs[idx[:-1]] & obs[idx[1:]]).sum(1)
        for k in np.flatnonzero(shared <= WEAK_LINK * np.median(shared)):
            before, after = steps[max(0, k - neighbours):k], steps[k + 1:k + 1 + neighbours]
            if len(before) and len(after):
                change = max(float(np.median(after)), floor) / max(float(np.median(before)), floor)
                ratios[k] = max(ratios[k], change, 1.0 / change)
    return idx, ratios


def mend_jump(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig, sfm: SfmResult, min_jump: float,
              span: int = 5) -> tuple[SfmResult, int] | None:
    """``(map, dropped)``: the map ``sfm`` of tracks ``uv`` ``(N, M, 2)`` with its largest camera jump
    (:func:`step_ratios`) mended, and how many frames the mend unregistered (0 when it moved a stretch); None
    when no step exceeds ``min_jump``.

    A jump splits the registered frames into the stretch before and the stretch after it. Each stretch is
    usually right on its own, joined to the other across a weak link (few shared points, most of them far)
    at the wrong offset and scale. The shorter stretch is moved, orientations kept, so that the camera
    keeps its speed across the jump: scaled to the other stretch's speed over ``span`` frames next to the
    jump, and placed one average step on. A stretch shorter than ``span`` frames is the first or last few
    registered frames; it has no speed of its own, and the points that place it are seen from it and its
    few neighbours only, so PnP against them would pose it as wrongly again: its frames are unregistered,
    from the jump among those few steps farthest from the clip's end on. Points are triangulated afresh from
    the cameras kept and the whole map is adjusted again (:func:`refine`)."""
    idx, ratios = step_ratios(sfm.w2c, sfm.registered, obs=sfm.obs)
    if not len(ratios) or ratios.max() <= min_jump:
        return None
    k = int(np.argmax(ratios))
    before, after = idx[: k + 1], idx[k + 1 :]
    w2c, reg = sfm.w2c.copy(), sfm.registered.copy()
    c = cam.camera_centers(w2c)
    # ``a``: the stretch kept, ``b``: the shorter one, moved or dropped; both in the order that walks from ``a``
    # across the jump into ``b`` (time reversed when ``b`` is the stretch before the jump)
    tail = len(after) <= len(before)
    a, b = (before, after) if tail else (after[::-1], before[::-1])
    drop = len(b) < span
    if drop:  # every jump among the last (or first) few steps: the end stretch starts at the innermost one
        jumps = np.flatnonzero(ratios > min_jump)
        if tail:
            b = idx[min(j for j in jumps if len(idx) - 1 - j < span) + 1 :]
        else:
            b = idx[: max(j for j in jumps if j + 1 < span) + 1]
        reg[b] = False
    else:
        def velocity(frames: np.ndarray) -> np.ndarray:  # per frame, in the order of ``frames``
            return (c[frames[-1]] - c[frames[0]]) / max(abs(frames[-1] - frames[0]), 1)

        v_a, v_b = velocity(a[-span:]), velocity(b[:span])
        s = float(np.linalg.norm(v_a) / max(np.linalg.norm(v_b), 1e-12))
        new = c[a[-1]] + abs(b[0] - a[-1]) * (v_a + s * v_b) / 2 + s * (c[b] - c[b[0]])
        w2c[b, :3, 3] = -np.einsum("nij,nj->ni", w2c[b, :3, :3], new)
    log.debug("mending the jump %.1f between frames %d and %d: %s %d frames", ratios[k], before[-1], after[0],
              "dropping" if drop else "moving", len(b))
    cameras = replace(sfm, w2c=w2c, registered=reg, points3d=np.zeros((0, 3)), track_ids=np.zeros(0, int),
                      obs=np.zeros((len(uv), 0), bool))
    return refine(uv, hw, config, cameras, register_rest=not drop), len(b) if drop else 0


def _readjust_subset(uv: np.ndarray, sfm: SfmResult, max_frames: int, max_points: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a check adjusts the map ``sfm`` again on, to stay cheap: ``(frames, points, use)``, at most
    ``max_frames`` evenly spread registered frames, at most ``max_points`` of the map's points seen twice
    among them (evenly spread; track indices of ``uv`` ``(N, M, 2)``), and the map's used observations as
    ``(N, M)`` bool."""
    reg = np.flatnonzero(sfm.registered)
    frames = reg[evenly_spaced(len(reg), max_frames)]
    pts = sfm.track_ids[sfm.obs[frames].sum(0) >= 2]
    use = np.zeros((len(uv), uv.shape[1]), bool)
    use[:, sfm.track_ids] = sfm.obs
    return frames, pts[evenly_spaced(len(pts), max_points)], use


def focal_change(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig, sfm: SfmResult,
                 max_frames: int = 40, max_points: int = 1500) -> float:
    """How much the focal length changes over the clip, as a log ratio (0: constant; log 1.25 = 0.22: a
    25% zoom in, the negative for a zoom out): the map ``sfm`` (built on tracks ``uv`` ``(N, M, 2)`` of
    frames ``hw``) is adjusted once more with one focal per frame (at most ``max_frames`` evenly spread
    registered frames), and a line fitted to log focal over time from the first to the last registered
    frame gives the change.

    The shared-focal map of a zooming clip can reproject well (the zoom is absorbed into motion along the
    optical axis) while its trajectory is wrong; freed, the per-frame focals follow the zoom. At most
    ``max_points`` points (evenly spread over the map's) keep the adjustment cheap. NaN when fewer than 8
    frames are registered."""
    if sfm.registered.sum() < 8:
        return float("nan")
    frames, pts, use = _readjust_subset(uv, sfm, max_frames, max_points)
    X = np.zeros((uv.shape[1], 3))
    X[sfm.track_ids] = sfm.points3d
    rec, _ = colmap.to_reconstruction(uv, use, X, sfm.w2c, sfm.K, hw, sfm.camera_model, sfm.k1, frames, pts,
                                      per_frame_camera=True)
    colmap.bundle_adjust(rec, frames, refine_focal=True, refine_extra=False, iters=30, **_solver(config))
    log_f = np.log([rec.camera(int(n) + 1).params[0] for n in frames])
    t = (frames - frames[0]) / max(frames[-1] - frames[0], 1)
    return float(np.polyfit(t, log_f, 1)[0])


def focal_pin(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig, sfm: SfmResult, factor: float = 1.5,
              max_frames: int = 20, max_points: int = 400) -> float:
    """How firmly the static tracks pin the map's focal down: the map ``sfm`` (built on tracks ``uv`` ``(N, M,
    2)`` of frames ``hw``) is adjusted again (poses and freshly triangulated points; at most ``max_frames``
    evenly spread registered frames and ``max_points`` points) with the focal held at its own value, at
    ``factor`` times it and at 1 / ``factor`` times it, and the lower median reprojection error of the two
    other focals is divided by the one at the map's own.

    Well above 1 (2-3 on most dev clips): a focal ``factor`` off does not explain the tracks. Near 1: it
    explains them as well, so the focal, and with it how the map turns the camera, is a guess: a walk or drive
    straight ahead with hardly a turn, where a longer focal and a faster forward motion trade off. NaN when
    fewer than 8 frames are registered, fewer than 8 points remain, or the focal was given (``config.hfov_deg``)."""
    if sfm.registered.sum() < 8 or config.hfov_deg is not None:
        return float("nan")
    frames, pts, use = _readjust_subset(uv, sfm, max_frames, max_points)
    sub = np.where(use[:, pts, None], uv[:, pts], np.nan)  # the map's observations of those points
    only = np.zeros(len(uv), bool)
    only[frames] = True

    def median_error(f: float) -> float:
        K = cam.make_K(f, None, sfm.K[0, 2], sfm.K[1, 2])
        X, _ = geometry.triangulate_tracks(sub, K, sfm.w2c, sfm.k1, frames=only)
        ok = np.flatnonzero(np.isfinite(X).all(1) & (use[frames][:, pts].sum(0) >= 2))
        if len(ok) < 8:
            return float("nan")
        full = np.zeros((uv.shape[1], 3))
        full[pts[ok]] = X[ok]
        rec, pids = colmap.to_reconstruction(uv, use, full, sfm.w2c, K, hw, sfm.camera_model, sfm.k1, frames,
                                             pts[ok])
        colmap.bundle_adjust(rec, frames, refine_focal=False, refine_extra=False, iters=30, **_solver(config))
        w2c, Xb, Kb, k1 = colmap.from_reconstruction(rec, frames, pids, sfm.camera_model)
        p, _ = cam.project(Kb, w2c, Xb, k1)  # (F, P, 2)
        err = np.linalg.norm(p - uv[np.ix_(frames, pts[ok])], axis=-1)[use[np.ix_(frames, pts[ok])]]
        return float(np.median(err)) if len(err) else float("nan")

    f = float(sfm.K[0, 0])
    own = median_error(f)
    return float(min(median_error(f * factor), median_error(f / factor)) / max(own, 1e-9))


def refine(uv: np.ndarray, hw: tuple[int, int], config: PoseConfig, init: SfmResult,
           register_rest: bool = False, full: bool = True) -> SfmResult:
    """Warm-started re-estimation from ``init`` on (cleaner) tracks ``uv`` ``(N, M, 2)`` indexed like the
    tracks ``init`` was built from: points of tracks that are gone are dropped, the rest re-triangulated,
    then bundle adjustment as at the end of :func:`reconstruct`. ``register_rest``: frames ``init`` left
    unregistered are first registered by PnP against the points triangulated from the others (in time order,
    each adding its points), or stay unregistered. ``full=False``: the bundle adjustment moves the keyframes
    only and the other frames follow by motion-only refinement (:meth:`_State.adjust`), as in mapping."""
    st = _State(uv, hw, float(init.camera_params[0]), config)
    st.params[3] = init.k1
    st.R, st.t = init.w2c[:, :3, :3].copy(), init.w2c[:, :3, 3].copy()
    st.reg = init.registered.copy()
    keep = ~np.isnan(uv[:, init.track_ids, 0]).all(0)
    st.X[init.track_ids[keep]] = init.points3d[keep]
    st.use[:, init.track_ids[keep]] = init.obs[:, keep] & st.seen[:, init.track_ids[keep]]
    st.prune()
    if register_rest:
        st.triangulate(np.arange(len(uv)))
        for n in np.flatnonzero(~st.reg):
            if st.pnp(n):
                st.triangulate(np.flatnonzero(st.reg), via=n)
    return _finish(st, full=full)


def _finish(st: _State, full: bool) -> SfmResult:
    """Triangulate what is left, bundle-adjust (``full``: every registered frame; else keyframes, see
    :meth:`_State.adjust`), drop outliers, adjust again if that dropped over 1% of the observations, and
    package the result."""
    N = len(st.reg)
    st.triangulate(np.arange(N))
    n_obs = int(st.use.sum())
    st.adjust(True, 50, full)
    if st.use.sum() < 0.99 * n_obs:
        st.adjust(True, 20, full)
    if _relocalise(st):  # PnP refines each pose against the adjusted map; points of the new views are added
        st.triangulate(np.arange(N))
    err = st.mean_error()
    keep = st.has3d() & (st.use.sum(0) >= 2)
    w2c = cam.make_w2c(st.R, st.t)
    w2c[~st.reg] = np.eye(4)
    return SfmResult(
        w2c=w2c, registered=st.reg.copy(), K=st.K, camera_model=st.config.camera_model,
        camera_params=np.asarray(colmap.camera_params(st.config.camera_model, st.K, st.params[3])), points3d=st.X[keep],
        track_ids=np.flatnonzero(keep), obs=st.use[:, keep], reproj_error_px=err, failure_reason=None,
    )


def _relocalise(st: _State) -> bool:
    """Frames left registered with fewer than ``min_pnp_inliers`` supporting observations (pruning removed
    the rest: their pose no longer agrees with the map) are registered again by PnP against the final map,
    or unregistered: a frame the map does not support has a pose nothing constrains. Returns whether any
    frame changed."""
    weak = np.flatnonzero(st.reg & ((st.use & st.has3d()).sum(1) < st.config.min_pnp_inliers))
    for n in weak:
        st.reg[n], st.use[n] = False, False
        if not st.pnp(n):
            log.debug("frame %d: unregistered (the final map does not support its pose)", n)
    return len(weak) > 0


def _failed(st: _State, reason: str) -> SfmResult:
    N = len(st.reg)
    return SfmResult(
        w2c=np.tile(np.eye(4), (N, 1, 1)), registered=np.zeros(N, bool), K=st.K, camera_model=st.config.camera_model,
        camera_params=np.asarray(colmap.camera_params(st.config.camera_model, st.K, st.params[3])),
        points3d=np.zeros((0, 3)),
        track_ids=np.zeros(0, int), obs=np.zeros((N, 0), bool), reproj_error_px=float("nan"), failure_reason=reason,
    )
