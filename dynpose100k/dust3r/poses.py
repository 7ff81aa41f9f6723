"""Camera poses of a whole video from pairwise DUSt3R predictions, in bounded memory.

Global alignment over all pairs is the usual way, and its memory grows with pairs x pixels (it runs out of
GPU memory beyond a few dozen frames). Here the pair graph is a sliding window: frame ``j`` is paired with
its ``window`` predecessors ``a = j-1 .. j-window``. For each edge ``(a, j)`` the network gives view ``a``'s
points in its own frame and view ``j``'s points in ``a``'s frame. Then:

1. focal: least-squares fit of ``u = f x/z`` to view ``a``'s own pointmap (principal point at the centre),
   shared by the video (running median over edges);
2. scale: the edge's pointmap is brought to the video's scale by the median ratio between frame ``a``'s
   depth already in that scale and the edge's depth of ``a``;
3. pose: ``cv2.solvePnPRansac`` of view ``j``'s pixels against its (scaled) points in ``a``'s frame gives
   ``T_a->j``, so ``w2c_j = T_a->j @ w2c_a``;
4. the edges' candidates are averaged (chordal rotation mean, mean camera centre, weighted by PnP inliers)
   and frame ``j``'s depth in the video scale is kept for the next ``window`` frames only.

Nothing is registered on trust. An edge is rejected when view ``a``'s confident points are not a plausible
depth map (too few, not finite, behind the camera, or spread over more than ``max_depth_ratio``), when its
focal falls outside ``focal_range`` x the long side, or when PnP explains too small a fraction of the points.
A frame with several accepted edges is registered only if they agree (the largest group of candidates
within ``max_rot_disagree_deg`` and ``max_center_disagree`` of each other, which must hold at least two of
them); frame 0 counts as registered only when another frame was registered against it. The result says in
one line why frames stayed unregistered, so a broken model yields unregistered frames and a reason, never
poses made of noise.

Memory is O(window) pointmaps whatever the video length; the model runs ``N x window`` pairs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from .. import camera
from .data import crop_geometry, resize_crop

__all__ = ["ModelPoseConfig", "ModelPoseResult", "estimate_focal", "poses_from_predictor", "model_predictor",
           "poses_from_model", "infer_pair"]

log = logging.getLogger(__name__)

# predictor(pairs) -> per pair (X_aa (h,w,3), X_ja (h,w,3), conf_a (h,w), conf_j (h,w)), frame a's camera frame
Predictor = Callable[[Sequence[tuple[int, int]]], list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class ModelPoseConfig:
    """Settings of poses-from-pairs."""

    size: tuple[int, int] = (288, 512)
    """Model input ``(H, W)``; frames are scaled and centre-cropped to it."""
    window: int = 3
    """Each frame is paired with this many predecessors."""
    conf_quantile: float = 0.3
    """Pixels below this quantile of a confidence map are ignored."""
    min_conf: float = 1.5
    """... and so are pixels with confidence below this (confidence is always > 1)."""
    pnp_reproj_px: float = 3.0
    """RANSAC inlier threshold of PnP, model pixels."""
    min_inliers: int = 12
    """An edge with fewer PnP inliers is rejected."""
    max_points: int = 4000
    """Confident pixels per edge given to PnP (random subset)."""
    batch_pairs: int = 8
    """Pairs per forward pass."""
    focal_range: tuple[float, float] = (0.2, 5.0)
    """Plausible focal as a multiple of the model input's long side (about 137 to 11 degrees of field of
    view); an edge whose focal falls outside is rejected."""
    min_front: float = 0.9
    """Smallest fraction of a view's confident points in front of its own camera (finite, ``z > 0``)."""
    max_depth_ratio: float = 100.0
    """Largest ratio of the 95th to the 5th percentile of a view's confident depths."""
    min_inlier_ratio: float = 0.3
    """Smallest fraction of the points given to PnP that must be inliers."""
    max_rot_disagree_deg: float = 5.0
    """Two candidate poses of a frame agree when their rotations differ by at most this ..."""
    max_center_disagree: float = 0.1
    """... and their camera centres by at most this fraction of the median scene depth of the edge's
    reference frame."""


@dataclass(frozen=True)
class ModelPoseResult:
    """Poses of one video in the project convention."""

    w2c: np.ndarray
    """``(N, 4, 4)`` world-to-camera (world = first frame's camera, arbitrary scale); identity when failed."""
    K: np.ndarray
    """``(N, 3, 3)`` intrinsics in pixels of the input frames (shared focal)."""
    registered: np.ndarray
    """``(N,)`` bool: frames whose accepted edges agree (frame 0 when any other frame is registered)."""
    inliers: np.ndarray
    """``(N,)`` int, PnP inliers summed over a frame's accepted edges."""
    focal_model_px: float
    """Shared focal in model-input pixels (``max(H, W)`` when no edge gave an estimate)."""
    num_pairs: int
    """Pairs run through the predictor."""
    reason: str = ""
    """One line saying why frames stayed unregistered (rejected edges by cause, disagreeing frames);
    empty when every frame is registered."""


def _mask(conf: np.ndarray, cfg: ModelPoseConfig) -> np.ndarray:
    return conf >= max(cfg.min_conf, float(np.quantile(conf, cfg.conf_quantile)))


def estimate_focal(X: np.ndarray, mask: np.ndarray) -> float:
    """Focal (pixels) of a pointmap ``(h, w, 3)`` in its own camera: least squares of ``(u, v) - c = f (x, y)/z``
    over ``mask`` pixels, principal point ``c`` at the image centre; ``nan`` when undetermined."""
    h, w = X.shape[:2]
    v, u = np.nonzero(mask & (X[..., 2] > 1e-6))
    if len(u) < 3:
        return float("nan")
    p = X[v, u]
    xy = p[:, :2] / p[:, 2:]
    uv = np.c_[u - (w - 1) / 2, v - (h - 1) / 2]
    den = float((xy**2).sum())
    return float((uv * xy).sum() / den) if den > 0 else float("nan")


def _rotation_mean(Rs: np.ndarray, w: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(np.einsum("k,kij->ij", w, Rs))
    return U @ np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))]) @ Vt


def _depth_problem(z: np.ndarray, cfg: ModelPoseConfig) -> str | None:
    """Why the confident depths ``z`` of a view in its own camera are not a plausible depth map, or ``None``."""
    if len(z) < cfg.min_inliers:
        return "too few confident points"
    if not np.isfinite(z).all():
        return "non-finite points"
    front = z[z > 0]
    if len(front) < cfg.min_front * len(z):
        return "points behind the camera"
    lo, hi = np.quantile(front, [0.05, 0.95])
    if not hi <= cfg.max_depth_ratio * lo:
        return "depth spread"
    return None


def _consensus(cands: list[tuple[np.ndarray, int, np.ndarray, float]], cfg: ModelPoseConfig) -> list[int]:
    """Indices of the largest group of candidate poses that agree with its best-supported member (most
    agreeing candidates, then most inliers); a lone candidate is its own group."""
    from ..metrics import rotation_angle_deg

    n = len(cands)
    T = np.stack([c[0] for c in cands])
    C = camera.camera_centers(T)
    R = T[:, :3, :3]
    scale = np.array([c[3] for c in cands])
    agree = np.zeros((n, n), bool)
    for i in range(n):
        dr = rotation_angle_deg(R[i].T @ R)
        dc = np.linalg.norm(C - C[i], axis=1) / np.maximum(scale, scale[i])
        agree[i] = (dr <= cfg.max_rot_disagree_deg) & (dc <= cfg.max_center_disagree)
    best = max(range(n), key=lambda i: (int(agree[i].sum()), cands[i][1]))
    return [i for i in range(n) if agree[best, i]]


def _reason(num_frames: int, reg: np.ndarray, rejected: dict[str, int], n_edges: int, disagree: int,
            orphans: int, bad_focals: list[float], focal_bounds: tuple[float, float]) -> str:
    if reg.all():
        return ""
    causes = []
    for cause, k in sorted(rejected.items(), key=lambda kv: -kv[1]):
        if cause == "focal":
            med = float(np.median(bad_focals)) if bad_focals else float("nan")
            cause = f"focal outside [{focal_bounds[0]:.3g}, {focal_bounds[1]:.3g}] px (median {med:.3g} px)"
        causes.append(f"{cause}: {k}")
    n_rej = sum(rejected.values())
    msg = f"{int((~reg).sum())} of {num_frames} frames unregistered; {n_rej} of {n_edges} edges rejected"
    if causes:
        msg += " (" + ", ".join(causes) + ")"
    if disagree:
        msg += f"; edges disagree at {disagree} frame(s)"
    if orphans:
        msg += f"; {orphans} frame(s) without a registered frame in the window before them"
    if num_frames > 1 and not reg[1:].any():
        msg += "; no frame could be registered against frame 0"
    return msg


def poses_from_predictor(predict: Predictor, num_frames: int, size: tuple[int, int],
                         cfg: ModelPoseConfig = ModelPoseConfig(), seed: int = 0) -> ModelPoseResult:
    """Chain windowed pair predictions into per-frame ``w2c`` at model resolution ``size`` (``K`` returned in
    model pixels; :func:`poses_from_model` maps it back to the input frames). Edges and frames failing the
    checks in the module docstring stay unregistered; ``reason`` says why."""
    h, w = size
    rng = np.random.default_rng(seed)
    vv, uu = np.mgrid[0:h, 0:w]
    pix = np.c_[uu.ravel(), vv.ravel()].astype(np.float64)
    w2c = np.tile(np.eye(4), (num_frames, 1, 1))
    reg = np.zeros(num_frames, bool)
    inl = np.zeros(num_frames, np.int64)
    reg[0] = True  # the reference; it stays registered only if another frame registers against it
    f_lo, f_hi = cfg.focal_range[0] * max(h, w), cfg.focal_range[1] * max(h, w)
    depth: dict[int, np.ndarray] = {}  # frame -> (h, w) depth in the video's scale, recent frames only
    focals: list[float] = []
    bad_focals: list[float] = []
    rejected: dict[str, int] = {}
    disagree = orphans = 0
    n_pairs = 0

    def reject(cause: str) -> None:
        rejected[cause] = rejected.get(cause, 0) + 1

    for j in range(1, num_frames):
        edges = [(a, j) for a in range(j - 1, max(-1, j - 1 - cfg.window), -1) if reg[a]]
        orphans += not edges
        cands = []
        for b0 in range(0, len(edges), cfg.batch_pairs):
            chunk = edges[b0:b0 + cfg.batch_pairs]
            preds = predict(chunk)
            n_pairs += len(chunk)
            for (a, _), (Xaa, Xja, ca, cj) in zip(chunk, preds):
                ma, mj = _mask(ca, cfg), _mask(cj, cfg)
                za = Xaa[..., 2]
                problem = _depth_problem(za[ma], cfg)
                if problem:
                    reject(problem)
                    continue
                ma = ma & (za > 0)
                f = estimate_focal(Xaa, ma)
                if not (np.isfinite(f) and f_lo <= f <= f_hi):
                    bad_focals.append(f)
                    reject("focal")
                    continue
                focals.append(f)
                fm = float(np.median(focals))
                if a not in depth:  # the first frame fixes the video's scale
                    depth[a] = np.where(ma, za, 0.0)
                ok = ma & (depth[a] > 0)
                if ok.sum() < 3:
                    reject("no overlap with the reference depth")
                    continue
                ref = depth[a][ok]
                s = float(np.median(ref / za[ok]))
                idx = np.flatnonzero(mj.ravel() & np.isfinite(Xja).all(-1).ravel())
                if len(idx) < cfg.min_inliers:
                    reject("too few confident points")
                    continue
                if len(idx) > cfg.max_points:
                    idx = rng.choice(idx, cfg.max_points, replace=False)
                Kf = camera.make_K(fm, fm, (w - 1) / 2, (h - 1) / 2)
                obj = s * Xja.reshape(-1, 3)[idx].astype(np.float64)
                try:
                    okp, rvec, tvec, inliers = cv2.solvePnPRansac(
                        obj, pix[idx], Kf, None, iterationsCount=200, reprojectionError=cfg.pnp_reproj_px,
                        confidence=0.999, flags=cv2.SOLVEPNP_SQPNP)
                except cv2.error as e:  # degenerate point sets (e.g. a barely trained model): reject the edge
                    log.debug("frames %d-%d: PnP failed: %s", a, j, str(e).splitlines()[-1])
                    reject("PnP failed")
                    continue
                ni = 0 if inliers is None else len(inliers)
                if not okp or ni < max(cfg.min_inliers, cfg.min_inlier_ratio * len(idx)):
                    reject("PnP inliers")
                    continue
                T = camera.make_w2c(cv2.Rodrigues(rvec)[0], tvec.ravel())
                Xj = camera.transform_points(T, s * Xja.reshape(-1, 3)).reshape(h, w, 3)
                cands.append((T @ w2c[a], ni, np.where(mj & (Xj[..., 2] > 0), Xj[..., 2], 0.0),
                              float(np.median(ref))))
        if not cands:
            log.debug("frame %d: no accepted edge", j)
            continue
        keep = _consensus(cands, cfg)
        if len(cands) > 1 and len(keep) < 2:
            log.debug("frame %d: its %d accepted edges disagree", j, len(cands))
            disagree += 1
            continue
        cands = [cands[i] for i in keep]
        wts = np.array([c[1] for c in cands], np.float64)
        R = _rotation_mean(np.stack([c[0][:3, :3] for c in cands]), wts)
        C = np.average(camera.camera_centers(np.stack([c[0] for c in cands])), axis=0, weights=wts)
        w2c[j] = camera.make_w2c(R, -R @ C)
        reg[j], inl[j] = True, int(wts.sum())
        depth[j] = cands[int(np.argmax(wts))][2]
        for old in [k for k in depth if k < j - cfg.window]:
            del depth[old]
    reg[0] = num_frames == 1 or bool(reg[1:].any())
    reason = _reason(num_frames, reg, rejected, n_pairs, disagree, orphans, bad_focals, (f_lo, f_hi))
    if reason:
        log.info("poses from pairs: %s", reason)
    # no plausible focal at all (e.g. an untrained network): report max(h, w), ~53 deg field of view
    fm = float(np.median(focals)) if focals else float(max(h, w))
    K = np.tile(camera.make_K(fm, fm, (w - 1) / 2, (h - 1) / 2), (num_frames, 1, 1))
    return ModelPoseResult(w2c, K, reg, inl, fm, n_pairs, reason)


def infer_pair(model, rgb1: np.ndarray, rgb2: np.ndarray, size: tuple[int, int] | None = None, device="cpu"):
    """Run ``model`` on two RGB ``uint8`` frames ``(H, W, 3)``, scaled and centre-cropped to ``size``
    (default: the model's ``img_size``) and normalised to ``[-1, 1]`` with ``true_shape`` as in the official
    code. Returns the official ``(res1, res2)`` dicts (tensors on CPU): ``res1["pts3d"]``,
    ``res2["pts3d_in_other_view"]`` ``(1, h, w, 3)`` in camera 1's frame, ``conf`` ``(1, h, w)``."""
    import torch

    from .model import normalize_images

    size = tuple(size or model.cfg.img_size)
    crops = [resize_crop(np.asarray(x), np.eye(3), size)[0] for x in (rgb1, rgb2)]
    x1, x2 = (normalize_images(torch.from_numpy(c)[None]).to(device) for c in crops)
    ts = torch.tensor([size])
    with torch.no_grad():
        r1, r2 = model.eval().to(device)(x1, x2, ts, ts)
    return {k: v.cpu() for k, v in r1.items()}, {k: v.cpu() for k, v in r2.items()}


def model_predictor(model, frames: Sequence[np.ndarray], size: tuple[int, int], device="cpu") -> Predictor:
    """A :data:`Predictor` running a DUSt3R ``model`` on centre crops of ``frames`` (RGB uint8, any size);
    crops are made on demand and only the last few are cached."""
    import torch

    cache: dict[int, torch.Tensor] = {}

    def crop(i: int):
        if i not in cache:
            img, _ = resize_crop(np.asarray(frames[i]), np.eye(3), size)
            cache[i] = torch.from_numpy(img).permute(2, 0, 1).float().div(127.5).sub(1.0)
            for k in [k for k in cache if k < i - 16]:
                del cache[k]
        return cache[i]

    @torch.no_grad()
    def predict(pairs):
        x1 = torch.stack([crop(a) for a, _ in pairs]).to(device)
        x2 = torch.stack([crop(b) for _, b in pairs]).to(device)
        r1, r2 = model(x1, x2)
        g = lambda t: t.float().cpu().numpy()  # noqa: E731
        return list(zip(g(r1["pts3d"]).astype(np.float64), g(r2["pts3d_in_other_view"]).astype(np.float64),
                        g(r1["conf"]), g(r2["conf"])))

    return predict


def poses_from_model(model, frames: Sequence[np.ndarray], cfg: ModelPoseConfig = ModelPoseConfig(),
                     device="cpu") -> ModelPoseResult:
    """Poses of a video (``frames`` ``(N, H, W, 3)`` uint8, or a list) from a DUSt3R model; ``K`` is returned
    in pixels of the input frames."""
    model.eval().to(device)
    H, W = np.asarray(frames[0]).shape[:2]
    res = poses_from_predictor(model_predictor(model, frames, cfg.size, device), len(frames), cfg.size, cfg)
    h2, w2, x0, y0 = crop_geometry((H, W), cfg.size)
    K = camera.resize_K(camera.crop_K(res.K, -x0, -y0), (h2, w2), (H, W))
    return dataclasses.replace(res, K=K)
