"""Calibrated confidence of a pose result, from evidence the engine has without ground truth.

The reprojection error of bundle adjustment says how well the cameras explain the tracks they kept, not
whether the trajectory is right: a drifting walk or a wrong focal can keep every frame registered at a
sub-pixel error. The confidence combines evidence that does see such failures:

* **split-half agreement** -- the static points are split into two disjoint halves (alternating track
  ids) and each half re-estimates every camera by a bundle adjustment of the keyframes (the frames between
  follow by motion-only refinement) that starts from the map's cameras and freshly triangulated points
  (:func:`dynpose100k.pose.sfm.refine`); the two trajectories are Sim(3)-aligned
  (:func:`dynpose100k.metrics.umeyama`) and their RMS camera-centre gap, divided by the estimated path
  length, is a ground-truth-free stand-in for ATE / path length (a bootstrap of how well the data pin
  the trajectory down). The per-frame gap feeds ``frame_confidence``.
* **support and coverage** -- registered fraction, longest unregistered run, share of the static-track
  observations the final map keeps, 3D points shared by consecutive frames (weakest link), track length.
* **geometry** -- median triangulation angle of the points, focal in units of the long image side and its
  gap to the self-calibrated focal, the reprojection error.
* **residual structure** -- the epipolar excess: on frame pairs 8 frames apart, the median Sampson error
  of the shared static tracks under the pair's fundamental matrix from the reconstructed poses over that
  under a free robust fit (near 1 when the poses are right; a wrong focal or a bent trajectory explains
  the tracks worse than free two-view geometry does, even at a low reprojection error); a per-frame
  scale mismatch fitted to the residuals (a focal change); the worst frame's error over the median's.

:func:`confidence_evidence` gathers these into a flat dict of features (stored in ``result.json`` as
``confidence_evidence`` so the calibration can be refitted from saved results). A logistic model
(:class:`ConfidenceModel`, packaged per tracker as ``confidence_<tracker>.json``) maps them to the probability that the
video's ATE is below 2 % of its path length with >= 80 % of frames registered: ``confidence >= 0.5``
means "probably good". Two physical checks cap it (:func:`score`): a focal that changes over the clip
(:data:`ZOOM_CONFIDENCE`) and a camera that jumps between consecutive frames (:func:`step_jump`,
:data:`JUMP_CONFIDENCE`). ``frame_confidence`` (N,) is the video's confidence scaled down for frames whose
split-half gap is large or whose pose rests on few points, and 0 for unregistered frames (relative within
a video, not separately calibrated).

The packaged model (:data:`MODEL_FEATURES`, bad videos weighted :data:`BAD_WEIGHT`:1) was fitted on
synthetic "good" clips, normal and hard, 640x360, 5 s at 12 fps, seeds 0-39; its ``info`` records the
data and the in-sample figures. The evidence costs about 5% of the engine's time, most of it the two
split-half adjustments.

Refit the packaged calibration from pose results of synthetic clips with ground truth::

    python -m dynpose100k.pose.fit_confidence fit POSE_DIR GT_DIR [OUT.json]
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..camera import camera_centers
from ..metrics import fit_logistic, path_length

log = logging.getLogger(__name__)

__all__ = [
    "ATE_PATH_FRACTION",
    "FEATURES",
    "FRAME_GAP_WINDOW",
    "MIN_REGISTERED",
    "MODEL_FEATURES",
    "PINNED_FOCAL",
    "TRACKER_CONFIDENCE",
    "ConfidenceModel",
    "calibration_path",
    "calibration_report",
    "calibration_rows",
    "CAPS",
    "cap_figures",
    "capped",
    "confidence_caps",
    "confidence_evidence",
    "confidence_limit",
    "fit_confidence",
    "frame_confidence",
    "is_good",
    "load_confidence_model",
    "moving_fraction",
    "score",
    "self_assessment",
    "split_half_gap",
    "step_jump",
]

TRACKER_CONFIDENCE = {t: Path(__file__).with_name(f"confidence_{t}.json") for t in ("dis", "klt")}
"""The packaged calibrations by ``PoseConfig.tracker``, each fitted on the dev clips of seeds 0-39 posed with
that tracker: the evidence depends on the tracks (their lengths, how many a map keeps). A tracker with none of
its own (a learned one) takes Lucas-Kanade's."""
ATE_PATH_FRACTION = 0.02
"""A video is good when its ATE is below this fraction of its (ground-truth) path length ..."""
MIN_REGISTERED = 0.8
"""... and at least this fraction of its frames is registered (the dataset's registration filter)."""
TRUSTED = 0.5
"""The calibration's cut: ``confidence >= TRUSTED`` means "probably good" (the default of ``subset`` and of
the curator's pose check)."""
PINNED_FOCAL = 1.3
"""``focal_pin >= PINNED_FOCAL`` (:func:`dynpose100k.pose.sfm.focal_pin`) means the tracks pin the focal down
(the value ``subset --min-focal-pin`` is documented with; ``bench pose`` counts focal errors on either side)."""

FEATURES = (
    "split_half_log",
    "registered_fraction",
    "gap_fraction",
    "support",
    "shared_p10_log",
    "track_len_median",
    "parallax_log",
    "focal_log",
    "focal_self_gap",
    "reproj_720p",
    "zoom_residual_log",
    "residual_peak",
    "epipolar_excess_log",
    "step_jump",
)
"""Evidence features computed for every video (see :func:`confidence_evidence`; all stored in ``result.json``)."""
MODEL_FEATURES = (
    "split_half_log",
    "registered_fraction",
    "gap_fraction",
    "support",
    "residual_peak",
    "epipolar_excess_log",
)
"""Features the packaged calibration uses: the ones that carry no prior of the footage, only ratios of the
map's own evidence. The focal in image widths (a lens prior: the calibration clips span 55-75 degrees),
the count of points shared by consecutive frames (texture and resolution) and the radial residual in pixels
(noise level) were dropped: on 80 dev validation clips (seeds 100-119, the dev lens and a 20-100 degree
lens) the six did as well as the nine (bad flagged 30 of 31 against 29, good passed 45 of 49 against 44),
and on other footage the nine held good maps down for their lens alone (long lenses sit far outside the
calibration's range, and the linear map extrapolates)."""
BAD_WEIGHT = 3.0
"""Default weight of a bad video in the fit (see :func:`fit_confidence`)."""
EVIDENCE_KEYFRAME_STEP = 4
"""Keyframe step of the evidence (the split halves' keyframes, the epipolar excess's frame gaps), whatever
``PoseConfig.keyframe_step`` the map was built with: the packaged calibrations were fitted on evidence at
this step, and the features change with it (a map built every second frame and scored at its own step
passed a dev map at 2.4% of the path that scores 0.09 at this step)."""


def is_good(ate: float, path_length: float, registered_fraction: float) -> bool:
    """The calibration target: ATE below :data:`ATE_PATH_FRACTION` of the path, enough frames registered."""
    return bool(registered_fraction >= MIN_REGISTERED and math.isfinite(ate) and ate < ATE_PATH_FRACTION * path_length)


# ------------------------------------------------------------------------------------------ evidence


def split_half_gap(static: np.ndarray, hw: tuple[int, int], config, sfm) -> tuple[float, np.ndarray]:
    """``(gap, per_frame)``: RMS camera-centre distance between the trajectories re-estimated from two
    disjoint halves of the static tracks (Sim(3)-aligned to each other) over the estimated path length, and
    the per-frame distance ``(N,)`` on the same scale (NaN where a frame is not registered). ``(inf,
    NaN...)`` when a half cannot be adjusted or aligned.

    Each half starts from the cameras of ``sfm`` but triangulates its points afresh before its bundle
    adjustment: warm-started points would hold both halves in the minimum the map settled in. Where the map
    rests on a weak link (a few points join two stretches of the clip), that minimum can be wrong by several
    degrees and both warm halves stay in it, while fresh points let them part. The adjustment moves the
    keyframes (:meth:`~dynpose100k.pose.sfm._State.ba_frames`) and the frames between follow each half's
    points by motion-only refinement, as during mapping: the gaps come out about 1.6 times those of an
    adjustment of every frame and rank the clips alike, at 0.4 times the cost."""
    import cv2

    from ..metrics import umeyama
    from .sfm import refine

    config = replace(config, keyframe_step=EVIDENCE_KEYFRAME_STEP)
    N = len(sfm.registered)
    reg = sfm.registered
    out = np.full(N, np.nan)
    if reg.sum() < 3:
        return float("inf"), out
    # alternate the reconstructed tracks between the halves (neighbouring ids are spatial neighbours from
    # the seeding grid, so each half covers the whole frame); the rest follow their id's parity
    half = np.arange(static.shape[1]) % 2 == 0
    half[sfm.track_ids] = np.arange(len(sfm.track_ids)) % 2 == 0

    cameras = replace(sfm, points3d=np.zeros((0, 3)), track_ids=np.zeros(0, int), obs=np.zeros((N, 0), bool))

    def centres(h):
        uv = static.copy()
        uv[:, ~h] = np.nan
        try:
            return camera_centers(refine(uv, hw, config, cameras, full=False).w2c)
        except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
            log.debug("split half failed: %s", e)
            return None

    # one after the other: pycolmap's bundle adjustment holds the GIL (4.2: two threads took 3.41 s for the
    # halves of a 120-frame map, one thread 3.54 s)
    cs = [centres(half), centres(~half)]
    if cs[0] is None or cs[1] is None:
        return float("inf"), out
    a, b = cs[0][reg], cs[1][reg]
    try:
        s, R, t = umeyama(a, b)
    except ValueError:
        return float("inf"), out
    d = np.linalg.norm(a @ (s * R).T + t - b, axis=1)
    path = path_length(b)
    if not path > 0:
        return float("inf"), out
    out[reg] = d / path
    return float(np.sqrt(np.mean(d**2)) / path), out


def _residual_structure(sfm, static: np.ndarray, hw: tuple[int, int]) -> dict:
    """``zoom_residual_log``: log of the RMS over frames of the per-frame scale mismatch ``s_n`` (least
    squares ``residual ~ s_n (uv - centre)``) times the half-diagonal, in 720p pixels (a frame whose
    true focal differs from the shared one has residuals pointing radially); ``residual_peak``: the
    95th-percentile per-frame mean reprojection error over the median frame's."""
    from ..camera import project

    H, W = hw
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    half_diag = 0.5 * math.hypot(H, W)
    scales, errs = [], []
    for n in np.flatnonzero(sfm.registered):
        ids = np.flatnonzero(sfm.obs[n])
        if len(ids) < 6:
            continue
        uv = static[n, sfm.track_ids[ids]].astype(np.float64)
        p, _ = project(sfm.K, sfm.w2c[n], sfm.points3d[ids])
        e, d = p - uv, uv - c
        scales.append(float((e * d).sum() / max((d * d).sum(), 1e-9)))
        errs.append(float(np.linalg.norm(e, axis=1).mean()))
    if len(scales) < 3:
        return {"zoom_residual_log": float("nan"), "residual_peak": float("nan")}
    zoom = math.sqrt(float(np.mean(np.square(scales)))) * half_diag * 720.0 / H
    return {"zoom_residual_log": float(np.log(max(zoom, 1e-4))),
            "residual_peak": float(np.percentile(errs, 95) / max(np.median(errs), 1e-9))}


def _epipolar_excess(sfm, static: np.ndarray, hw: tuple[int, int], gap: int, stride: int) -> float:
    """Log of the median over registered pairs ``(i, i + gap)`` (every ``stride``-th ``i``, >= 30 shared
    points) of the median Sampson error under the poses' fundamental matrix over that under a robust free
    fit; NaN when no pair qualifies."""
    from ..camera import fundamental_from
    from ..geometry import fundamental_ransac, sampson_error

    reg = sfm.registered
    ratios = []
    for i in range(0, len(reg) - gap, max(1, stride)):
        j = i + gap
        if not (reg[i] and reg[j]):
            continue
        both = np.flatnonzero(sfm.obs[i] & sfm.obs[j])
        if len(both) < 30:
            continue
        xi = static[i, sfm.track_ids[both]].astype(np.float64)
        xj = static[j, sfm.track_ids[both]].astype(np.float64)
        F, _ = fundamental_ransac(xi, xj, hw[0] / 720.0)
        Fp = fundamental_from(sfm.K, sfm.K, sfm.w2c[i], sfm.w2c[j])
        if F is None or not np.any(Fp):
            continue
        free = float(np.median(sampson_error(F, xi, xj)))
        ratios.append(float(np.median(sampson_error(Fp, xi, xj))) / max(free, 1e-6))
    return float(np.log(np.median(ratios))) if ratios else float("nan")


def step_jump(w2c: np.ndarray, registered: np.ndarray, neighbours: int = 4, obs: np.ndarray | None = None) -> float:
    """The largest jump of the camera between consecutive registered frames, or change of its speed across
    a weak link when the map's used observations ``obs`` ``(N, P)`` are given
    (:func:`dynpose100k.pose.sfm.step_ratios`; 0 with fewer than three registered frames). ``w2c``
    ``(N, 4, 4)``, ``registered`` ``(N,)``.

    Video frames are closely spaced in time and a camera's speed changes smoothly, so on the maps of good
    dev clips no step is more than 5 times its neighbours'. A bigger jump is a pose the map got wrong: two
    stretches of the clip joined across a weak link, or an end frame resting on a few points."""
    from .sfm import step_ratios

    ratios = step_ratios(w2c, registered, neighbours, obs)[1]
    return float(ratios.max()) if len(ratios) else 0.0


def confidence_evidence(sfm, static: np.ndarray, hw: tuple[int, int], config) -> tuple[dict, np.ndarray]:
    """``(features, per_frame_gap)``: the evidence features (:data:`FEATURES`, plus ``seconds``) of a
    reconstruction ``sfm`` (:class:`~dynpose100k.pose.sfm.SfmResult`) built from static tracks ``static``
    ``(N, M, 2)`` of frames ``hw``, and the per-frame split-half gap ``(N,)``."""
    from .sfm import self_calibrated_focal

    t0 = time.perf_counter()
    H, W = hw
    N = len(sfm.registered)
    reg = sfm.registered
    obs = sfm.obs
    seen = ~np.isnan(static[..., 0])
    feats: dict[str, float] = {}
    feats["registered_fraction"] = float(reg.mean())
    run = best = 0
    for r in reg:
        run = 0 if r else run + 1
        best = max(best, run)
    feats["gap_fraction"] = best / N
    feats["support"] = float(obs.sum() / max(1, seen.sum()))
    idx = np.flatnonzero(reg)
    shared = (obs[idx[:-1]] & obs[idx[1:]]).sum(1) if len(idx) > 1 else np.zeros(1)
    feats["shared_p10_log"] = float(np.log1p(np.percentile(shared, 10)))
    lens = obs.sum(0)
    feats["track_len_median"] = float(np.median(lens)) if len(lens) else 0.0
    # triangulation angle of each point between its first and last observing cameras
    if obs.shape[1]:
        c = camera_centers(sfm.w2c)
        first = np.argmax(obs, axis=0)
        last = N - 1 - np.argmax(obs[::-1], axis=0)
        da, db = sfm.points3d - c[first], sfm.points3d - c[last]
        cos = (da * db).sum(1) / (np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1) + 1e-12)
        par = float(np.degrees(np.median(np.arccos(np.clip(cos, -1, 1)))))
    else:
        par = 0.0
    feats["parallax_log"] = float(np.log(max(par, 1e-3)))
    f = float(sfm.K[0, 0])
    feats["focal_log"] = float(np.log(f / max(H, W)))
    step = EVIDENCE_KEYFRAME_STEP
    feats["focal_self_gap"] = float(abs(np.log(f / self_calibrated_focal(static, hw))))
    feats["reproj_720p"] = float(sfm.reproj_error_px * 720.0 / H) if math.isfinite(sfm.reproj_error_px) else 10.0
    feats.update(_residual_structure(sfm, static, hw))
    feats["epipolar_excess_log"] = _epipolar_excess(sfm, static, hw, 2 * step, step)
    gap, per_frame = split_half_gap(static, hw, config, sfm)
    feats["split_half_log"] = float(np.log(min(max(gap, 1e-5), 10.0))) if not math.isnan(gap) else float("nan")
    feats["step_jump"] = step_jump(sfm.w2c, reg, obs=sfm.obs)
    feats["seconds"] = time.perf_counter() - t0
    return feats, per_frame


# ----------------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic map from standardised evidence features to P(good)."""

    features: tuple[str, ...]
    """Feature names (a subset of :data:`FEATURES`)."""
    mean: tuple[float, ...]
    """Per-feature mean used for standardisation."""
    scale: tuple[float, ...]
    """Per-feature standard deviation used for standardisation."""
    weights: tuple[float, ...]
    """Logistic weights on the standardised features."""
    bias: float
    """Logistic intercept."""
    info: dict
    """How it was fitted (data, target, figures); informational."""

    def predict(self, feats: dict) -> float:
        """P(good) in [0, 1]; a missing or non-finite feature takes the training mean (no evidence)."""
        x = np.array([float(feats.get(k, float("nan"))) for k in self.features])
        mu, sd = np.array(self.mean), np.array(self.scale)
        x = np.where(np.isfinite(x), x, mu)
        z = float(np.dot(self.weights, (x - mu) / sd) + self.bias)
        return float(1.0 / (1.0 + math.exp(-z))) if z > -700 else 0.0

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "info": self.info}

    @classmethod
    def from_json(cls, d: dict) -> ConfidenceModel:
        return cls(tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["weights"]), float(d["bias"]),
                   d.get("info", {}))


_MODEL_CACHE: dict[str, ConfidenceModel] = {}


def calibration_path(path: str | Path | None = None, tracker: str | None = None) -> Path:
    """``path``, or without one the calibration packaged for ``tracker`` (:data:`TRACKER_CONFIDENCE`; None:
    :class:`~dynpose100k.pose.PoseConfig`'s default tracker; Lucas-Kanade's for a tracker with none of its own)."""
    if path:
        return Path(path)
    from .config import PoseConfig

    return TRACKER_CONFIDENCE.get(tracker or PoseConfig.tracker, TRACKER_CONFIDENCE["klt"])


def load_confidence_model(path: str | Path | None = None, tracker: str | None = None) -> ConfidenceModel:
    """The calibration at :func:`calibration_path` of ``path`` and ``tracker``. Raises
    :class:`~dynpose100k.errors.DynPoseError` (one line, naming the file) when it is missing or not one."""
    from ..errors import DynPoseError

    p = str(calibration_path(path, tracker))
    if p not in _MODEL_CACHE:
        try:
            _MODEL_CACHE[p] = ConfidenceModel.from_json(json.loads(Path(p).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DynPoseError(f"{p}: not a confidence calibration ({type(e).__name__}: "
                               f"{' '.join(str(e).split()) or 'unreadable'})") from e
    return _MODEL_CACHE[p]


#: Frames over which :func:`frame_confidence` takes the running median of the split-half gap (0.75 s at 12
#: fps, about two keyframe steps). The gap of a frame between keyframes comes from re-posing it on each half's
#: points alone and is noisy frame to frame, while a pose's real error changes smoothly along the clip: on the
#: validation seeds 100-119 the median within-clip rank correlation with the frames' position errors went
#: from -0.28 (no median) to -0.30, -0.35, -0.37 and -0.33 over 3, 5, 9 and 13 frames.
FRAME_GAP_WINDOW = 9


def frame_confidence(video_confidence: float, per_frame_gap: np.ndarray, registered: np.ndarray,
                     points_per_frame: np.ndarray, min_points: int) -> np.ndarray:
    """``(N,)`` per-frame confidence: ``video_confidence`` times ``exp(-gap / 0.02)`` (the frame's split-half
    gap in path lengths, its running median over :data:`FRAME_GAP_WINDOW` registered frames; 2 % costs a
    factor e) times ``min(1, points / (3 * min_points))``; 0 where not registered. Relative within a video;
    not separately calibrated."""
    from scipy.ndimage import median_filter

    g = np.where(np.isfinite(per_frame_gap), per_frame_gap, 0.0)
    reg = np.flatnonzero(registered)
    if len(reg):
        g[reg] = median_filter(g[reg], size=min(FRAME_GAP_WINDOW, len(reg)), mode="nearest")
    w = np.exp(-g / ATE_PATH_FRACTION) * np.minimum(1.0, points_per_frame / max(1.0, 3.0 * min_points))
    return np.where(registered, video_confidence * w, 0.0).astype(np.float32)


#: The confidence of a map whose focal changes beyond ``PoseConfig.max_focal_change``: on the dev clips none
#: of the 3 good clips with such a change had a correct map (the other such clips were zooms); (0 + 1) / (3 + 2).
ZOOM_CONFIDENCE = 0.2

#: The confidence of a map whose camera jumps (:func:`step_jump` beyond ``PoseConfig.max_step_jump``): on 357 good
#: maps of dev clips (seeds 0-39, 100-119 and 140-159 through several builds, lenses and lengths) no step is more
#: than 5 times its neighbours'; the cap takes the value of the zoom's.
JUMP_CONFIDENCE = 0.2

#: The confidence of a map whose released masks mark more than ``PoseConfig.max_moving_fraction`` of the
#: registered frames as moving (a map built on a mover that travels with the camera): on 120 dev clips none of
#: the 12 such maps was good; (0 + 1) / (12 + 2).
MOVER_CONFIDENCE = 0.07


#: The confidence of the global map when it and the incremental map of the same tracks disagree beyond
#: ``PoseConfig.max_map_disagreement`` (:func:`map_disagreement`): at most one of them is right. On the 32 dev
#: clips (seeds 100-119, the dev lens and a 20-100 degree one) whose global map won, 1 of the 13 beyond 0.05 was
#: good ((1 + 1) / (13 + 2) = 0.13); the cap takes the other caps' 0.2.
DISAGREEMENT_CONFIDENCE = 0.2


def map_disagreement(w2c_a: np.ndarray, registered_a: np.ndarray, w2c_b: np.ndarray, registered_b: np.ndarray
                     ) -> float:
    """How far two maps of the same clip disagree: the camera centres of map ``b`` aligned to those of map ``a``
    (similarity) over the frames both register, RMS distance over the path length of ``a`` there (scale-free;
    0 for the same trajectory). NaN with fewer than four such frames or a camera at rest. ``w2c_*``
    ``(N, 4, 4)``, ``registered_*`` ``(N,)`` bool."""
    from ..metrics import ate

    both = np.asarray(registered_a, bool) & np.asarray(registered_b, bool)
    length = path_length(camera_centers(w2c_a[both])) if both.sum() >= 4 else 0.0
    if not length > 0:
        return float("nan")
    return float(ate(w2c_b, w2c_a, registered=both).rmse / length)


def moving_fraction(masks: np.ndarray, registered: np.ndarray) -> float:
    """Share of the pixels of the registered frames that the dynamic masks ``(N, h, w)`` bool mark as moving;
    NaN without a registered frame."""
    reg = np.asarray(registered, bool)
    return float(masks[reg].mean()) if reg.any() else float("nan")


#: The confidence of a map seen under little parallax by short tracks (``PoseConfig.weak_parallax_deg`` and
#: ``weak_parallax_track_len``); the cap takes the value of the zoom's.
WEAK_PARALLAX_CONFIDENCE = ZOOM_CONFIDENCE

#: The physical checks that cap a map's confidence, in the order :func:`confidence_caps` names them, and the most
#: each one lets it be. Their figures: ``evidence.map_disagreement``, ``evidence.focal_change``,
#: ``confidence_evidence.step_jump``, ``evidence.mended_jump``, ``evidence.moving_fraction``,
#: ``confidence_evidence.parallax_log`` and ``track_len_median``.
CAPS = {"map_disagreement": DISAGREEMENT_CONFIDENCE, "focal_change": ZOOM_CONFIDENCE, "step_jump": JUMP_CONFIDENCE,
        "mended_jump": JUMP_CONFIDENCE, "moving_fraction": MOVER_CONFIDENCE, "weak_parallax": WEAK_PARALLAX_CONFIDENCE}


def confidence_caps(config, focal_change: float = float("nan"), step_jump: float = 0.0,
                    moving_fraction: float = float("nan"), map_disagreement: float = float("nan"),
                    mended_jump: float = 0.0, parallax_deg: float = float("nan"),
                    track_len: float = float("nan")) -> tuple[str, ...]:
    """The physical checks of ``config`` (a :class:`~dynpose100k.pose.PoseConfig`) that a map's figures trip
    (names of :data:`CAPS`): ``focal_change`` beyond ``max_focal_change`` (a zoom, or a focal the clip cannot
    pin down, e.g. on a straight walk or drive), ``step_jump`` (:func:`step_jump`) beyond ``max_step_jump``,
    ``mended_jump`` (a jump mended by moving a stretch, ``evidence.mended_jump`` 1), ``moving_fraction``
    beyond ``max_moving_fraction``, ``map_disagreement`` (:func:`map_disagreement`) beyond
    ``max_map_disagreement``, ``weak_parallax``: the points' median triangulation angle ``parallax_deg`` under
    ``weak_parallax_deg`` with their median track length ``track_len`` at most ``weak_parallax_track_len``.
    Empty when none applies (NaN: not measured)."""
    tripped = {
        "map_disagreement": 0 < config.max_map_disagreement < map_disagreement,
        "focal_change": 0 < config.max_focal_change < abs(focal_change),
        "step_jump": 0 < config.max_step_jump < step_jump,
        "mended_jump": mended_jump > 0,
        "moving_fraction": 0 < config.max_moving_fraction < moving_fraction,
        "weak_parallax": parallax_deg < config.weak_parallax_deg and track_len <= config.weak_parallax_track_len,
    }
    return tuple(name for name in CAPS if tripped[name])


def confidence_limit(config, **figures: float) -> float:
    """The most a map's confidence may be under the physical checks of ``config`` that its ``figures`` (the
    keyword arguments of :func:`confidence_caps`) trip, each check's cap in :data:`CAPS`; 1 when none applies."""
    return min((CAPS[name] for name in confidence_caps(config, **figures)), default=1.0)


def cap_figures(evidence: dict, confidence_evidence: dict) -> dict:
    """The figures of the physical checks (keyword arguments of :func:`confidence_caps` and
    :func:`confidence_limit`) from a result's ``evidence`` and ``confidence_evidence`` (as stored in
    ``result.json``: absent or null where not measured)."""
    def get(d, k, default):
        return default if (d or {}).get(k) is None else float(d[k])

    return {"focal_change": get(evidence, "focal_change", math.nan),
            "step_jump": get(confidence_evidence, "step_jump", 0.0),
            "moving_fraction": get(evidence, "moving_fraction", math.nan),
            "map_disagreement": get(evidence, "map_disagreement", math.nan),
            "mended_jump": get(evidence, "mended_jump", 0.0),
            "parallax_deg": math.exp(get(confidence_evidence, "parallax_log", math.nan)),
            "track_len": get(confidence_evidence, "track_len_median", math.nan)}


def capped(conf: dict, limit: float) -> dict:
    """The confidence fields ``conf`` of a result (``confidence``, ``frame_confidence``, ...) with the
    confidence at most ``limit`` and the per-frame confidence scaled down by the same factor."""
    c = conf["confidence"]
    if not c > limit:
        return conf
    return dict(conf, confidence=limit, frame_confidence=(conf["frame_confidence"] * (limit / c)).astype(np.float32))


def score(sfm, static: np.ndarray, hw: tuple[int, int], config,
          model: ConfidenceModel | None = None, focal_change: float = float("nan")) -> tuple[float, np.ndarray, dict]:
    """``(confidence, frame_confidence (N,), evidence)`` of a reconstruction (see the module docstring); a
    ``focal_change`` (:func:`dynpose100k.pose.sfm.focal_change`) beyond ``config.max_focal_change`` caps the
    confidence at :data:`ZOOM_CONFIDENCE`, a camera jump (:func:`step_jump`) beyond ``config.max_step_jump``
    at :data:`JUMP_CONFIDENCE`."""
    model = model or load_confidence_model(config.confidence_model, config.tracker)
    feats, per_frame = confidence_evidence(sfm, static, hw, config)
    c = min(model.predict(feats), confidence_limit(config, focal_change=focal_change, step_jump=feats["step_jump"]))
    fc = frame_confidence(c, per_frame, sfm.registered, sfm.obs.sum(1), config.min_pnp_inliers)
    return c, fc, feats


# ----------------------------------------------------------------------------------------- fitting
def fit_confidence(rows: list[dict], features=FEATURES, l2: float = 1.0, bad_weight: float = 1.0,
                   info: dict | None = None) -> ConfidenceModel:
    """Fit the calibration on ``rows`` (each: the evidence features and ``good`` bool). ``bad_weight``: the
    weight of a bad video in the fit relative to a good one (the cost of passing a bad video over that of
    rejecting a good one; above 1 the 0.5 cut becomes stricter and the probability conservative)."""
    from ..errors import DynPoseError

    y = np.array([bool(r["good"]) for r in rows])
    if len(rows) < 4 or y.all() or not y.any():
        raise DynPoseError(f"confidence fit: need good and bad videos, got {int(y.sum())} good of {len(rows)}")
    X = np.array([[float(r.get(k, float("nan"))) for k in features] for r in rows])
    mu = np.nanmean(X, 0)
    X = np.where(np.isfinite(X), X, mu)
    sd = X.std(0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    w, b = fit_logistic((X - mu) / sd, y, l2, sample_weight=np.where(y, 1.0, bad_weight))
    return ConfidenceModel(tuple(features), tuple(float(v) for v in mu), tuple(float(v) for v in sd),
                           tuple(float(v) for v in w), b, dict(info or {}, num_videos=len(rows), num_good=int(y.sum()),
                                                                  bad_weight=bad_weight))


# ------------------------------------------------------------------------------ calibration on data
def calibration_rows(pose_dir, gt_dir) -> list[dict]:
    """One row per ``<gt_dir>/<id>.gt.npz``: the evidence of ``<pose_dir>/<id>/result.json`` and the truth
    (``ate``, ``path``, ``registered_fraction``, ``good``, ``reproj``, ``confidence``, ``tracker``: the one
    its ``config`` records, None without). Scoring is
    :func:`dynpose100k.evaluate.quality.score_videos` (failed frames filled as in the paper)."""
    from ..evaluate.quality import score_videos
    from .result import is_pose_result, read_summary

    rows = []
    for v in score_videos(pose_dir, gt_dir):
        d = Path(pose_dir) / v.video_id
        summary = read_summary(d) if is_pose_result(d) else {}
        ev = summary.get("confidence_evidence") or {}
        ev = {k: float("nan") if x is None else float(x) for k, x in ev.items()}
        if ev:  # the figures of the physical checks that cap the confidence (confidence_limit)
            ev = {**cap_figures(summary.get("evidence"), summary.get("confidence_evidence")), **ev}
        rows.append(dict(ev, video_id=v.video_id, ate=v.ate_m, path=v.path_m, registered_fraction=v.registered_fraction,
                         reproj=v.reproj_px_720p, confidence=v.confidence, evidence=bool(ev),
                         tracker=(summary.get("config") or {}).get("tracker"),
                         good=is_good(v.ate_m, v.path_m, v.registered_fraction)))
    return rows


def calibration_report(rows: list[dict], model: ConfidenceModel | None = None, config=None) -> dict:
    """Figures of ``rows`` (see :func:`calibration_rows`; confidence re-predicted with ``model`` when given,
    under the caps of :func:`confidence_limit` with ``config``, default :class:`~dynpose100k.pose.PoseConfig`):
    Spearman rank correlation of confidence and of reprojection error with ATE / path length, share of bad
    videos with confidence < 0.5 and of good ones with confidence >= 0.5. Failed videos count with
    confidence 0 and an infinite reprojection error."""
    if model is not None:
        if config is None:
            from .config import PoseConfig

            config = PoseConfig()
        conf = np.array([min(model.predict(r), confidence_limit(config, **cap_figures(r, r)))
                         if r["evidence"] else 0.0 for r in rows])
    else:
        conf = np.array([0.0 if r["confidence"] is None else r["confidence"] for r in rows])
    reproj = np.array([np.inf if r["reproj"] is None else r["reproj"] for r in rows])
    err = np.array([r["ate"] / r["path"] if r["path"] > 0 else np.nan for r in rows])
    good = np.array([r["good"] for r in rows])
    sa = self_assessment(good, conf, reproj, err)
    return {
        "num_videos": len(rows),
        "num_good": sa["good"],
        "spearman_confidence_ate": sa["spearman_confidence_ate"],
        "spearman_reproj_ate": sa["spearman_reproj_ate"],
        "bad_below_half": sa["bad_flagged"] / sa["bad"] if sa["bad"] else float("nan"),
        "good_at_least_half": sa["good_passed"] / sa["good"] if sa["good"] else float("nan"),
        "bad_videos_missed": [r["video_id"] for r, c in zip(rows, conf) if not r["good"] and c >= TRUSTED],
    }


def self_assessment(good, confidence, reproj, error, caps=None) -> dict:
    """How well ``confidence`` flags the failures, per video (all ``(V,)``): ``good`` bool (see :func:`is_good`),
    the confidence, the reprojection error (a failed video: NaN or infinite, ranked worst) and the pose error it
    should rank (ATE, or ATE / path length). Returns counts ``bad``, ``bad_flagged`` (confidence below
    :data:`TRUSTED`, or none, as ``subset`` treats it), ``good``, ``good_passed`` and the Spearman rank
    correlations of the confidence and of the reprojection error with ``error`` over the videos where it is
    finite (NaN with fewer than three or a constant input; a useful confidence correlates negatively, the
    error positively).

    With ``caps`` (each video's ``confidence_caps``), also ``good_held``: what holds the good maps that are
    flagged, ``{check: count}`` over the names of :data:`CAPS` that capped them (a map may count under two)
    and ``evidence`` for those no check capped (the calibrated evidence itself doubts them)."""
    from scipy.stats import spearmanr

    good, conf = np.asarray(good, bool), np.asarray(confidence, float)
    reproj, error = np.asarray(reproj, float), np.asarray(error, float)
    reproj = np.where(np.isnan(reproj), np.inf, reproj)  # a failed video has no reprojection error: the worst
    ok = np.isfinite(error)

    def rho(x):
        x = x[ok]
        return float(spearmanr(x, error[ok])[0]) if ok.sum() > 2 and np.ptp(np.nan_to_num(x, posinf=1e300)) > 0 \
            else float("nan")

    out = {"bad": int((~good).sum()), "bad_flagged": int((~(conf[~good] >= TRUSTED)).sum()),  # NaN: not passed
           "good": int(good.sum()), "good_passed": int((conf[good] >= TRUSTED).sum()),
           "spearman_confidence_ate": rho(conf), "spearman_reproj_ate": rho(reproj)}
    if caps is not None:
        held = [tuple(c or ()) or ("evidence",) for c, g, x in zip(caps, good, conf) if g and not x >= TRUSTED]
        out["good_held"] = {name: sum(name in h for h in held) for name in (*CAPS, "evidence")
                            if any(name in h for h in held)}
    return out
