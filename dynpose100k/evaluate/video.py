"""Score one video's estimated cameras against synthetic ground truth.

The protocol (one for every caller: the benchmarks, ``dynpose100k eval``, the demo, the quality table,
the dataset-utility script):

* Failed frames follow the paper. A frame the estimate did not register takes the pose of the nearest
  registered frame; a video with fewer than 3 registered frames (a failed video) gets identity rotations and
  random camera centres for every frame (:func:`dynpose100k.metrics.fill_failed`, ``seed``). ATE and RPE
  (Sim(3)-aligned, pairs ``(i, i + 1)``) and the Sampson errors are computed on all frames of this filled
  trajectory, so failures count against the method instead of being hidden.
* A video with no registered frame has no estimate of its intrinsics: its Sampson errors use the guess
  ``f = max(H, W)`` with the principal point at the centre (:func:`guess_K`).
* Sampson errors are those of the ground-truth static correspondences under the estimated (filled) poses and
  intrinsics, normalised to 720p (:func:`dynpose100k.metrics.sampson_from_poses`).
* Next to these, the ``*_registered`` fields give ATE and RPE over the registered frames alone (alignment
  fitted on them; ``None`` with fewer than 3), always to be read with ``registration_rate``. They are the
  same estimate seen without the filling, not another rule for failed frames.
* A ground-truth camera that does not move makes Sim(3) alignment undefined: ATE and RPE are NaN then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import metrics
from ..camera import camera_centers
from ..errors import DynPoseError

__all__ = ["VideoScore", "score_video", "score_result", "truth_of_frames", "guess_K", "registered_ate"]


@dataclass(frozen=True)
class VideoScore:
    """Ground-truth figures of one video (see the module docstring for the protocol)."""

    registration_rate: float
    """Fraction of frames the estimate registered."""
    success: bool
    """At least one frame registered."""
    ate: float
    """Sim(3)-aligned ATE RMSE of the filled trajectory, all frames, ground-truth units (NaN: still camera)."""
    rpe_trans: float
    """RPE translation RMSE of the filled trajectory, pairs ``(i, i + 1)``."""
    rpe_rot_deg: float
    """RPE rotation RMSE of the filled trajectory, degrees."""
    focal_rel_error: float
    """``|f / f_gt - 1|`` of the first frame's focal (NaN when nothing is registered)."""
    sampson: dict | None = None
    """:func:`dynpose100k.metrics.sampson_summary` of the video's correspondence errors (720p px);
    None when the ground truth has no correspondence."""
    ate_registered: float | None = None
    """ATE RMSE over registered frames only; None with fewer than 3 registered frames."""
    rpe_trans_registered: float | None = None
    """RPE translation RMSE over pairs of registered frames."""
    rpe_rot_deg_registered: float | None = None
    """RPE rotation RMSE (degrees) over pairs of registered frames."""
    path_length: float = float("nan")
    """Length of the ground-truth camera path over the scored frames (:func:`dynpose100k.metrics.path_length`),
    what the dataset's quality rule measures ATE against."""

    @property
    def ate_path_pct(self) -> float:
        """ATE as a percentage of :attr:`path_length` (NaN for a still camera)."""
        return 100 * self.ate / self.path_length if self.path_length > 0 else float("nan")

    @property
    def sampson_mean(self) -> float:
        """Mean Sampson error of the video's correspondences (720p px), NaN without correspondences."""
        return float(self.sampson["mean"]) if self.sampson else float("nan")

    def to_dict(self) -> dict:
        """The figures as a flat dict for JSON (fields that are None left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "VideoScore":
        """Inverse of :meth:`to_dict` (other keys are ignored)."""
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def guess_K(image_size: tuple[int, int]) -> np.ndarray:
    """The intrinsics assumed for a video with no registered frame: ``f = max(H, W)`` (about 53 degrees
    across the long side), principal point at the centre."""
    H, W = image_size
    return np.array([[max(H, W), 0, (W - 1) / 2], [0, max(H, W), (H - 1) / 2], [0, 0, 1]], np.float64)


def _trajectory(w2c, gt_w2c, registered=None) -> tuple[float, float, float]:
    try:
        s = metrics.trajectory_summary(w2c, gt_w2c, registered=registered)
    except ValueError:  # a still ground-truth camera: the Sim(3) scale, hence ATE and RPE, are undefined
        return float("nan"), float("nan"), float("nan")
    return s["ate"], s["rpe_trans"], s["rpe_rot_deg"]


def registered_ate(w2c, gt_w2c, registered) -> float:
    """Sim(3)-aligned ATE RMSE over the registered frames alone (alignment fitted on them); NaN with fewer
    than :data:`dynpose100k.metrics.MIN_ALIGN_FRAMES` registered frames or a still ground-truth camera."""
    if np.sum(registered) < metrics.MIN_ALIGN_FRAMES:
        return float("nan")
    return _trajectory(w2c, gt_w2c, registered)[0]


def score_video(w2c, K, registered, gt, *, image_size: tuple[int, int] | None = None, seed: int = 0) -> VideoScore:
    """Score poses ``w2c`` ``(N, 4, 4)`` and intrinsics ``K`` ``(N, 3, 3)`` with ``registered`` ``(N,)`` bool
    against a :class:`dynpose100k.synth.GroundTruth` of the same ``N`` frames.

    ``K`` is in pixels of ``image_size`` ``(H, W)`` (default: the ground truth's frame size) and is rescaled to
    the ground truth's; ``seed`` draws the random centres of a failed video."""
    w2c = np.asarray(w2c, np.float64)
    registered = np.asarray(registered, bool)
    if len(w2c) != gt.num_frames or len(registered) != gt.num_frames:
        raise DynPoseError(f"{gt.video_id}: {len(w2c)} estimated poses for {gt.num_frames} ground-truth frames")
    K = np.asarray(K, np.float64)
    if image_size is not None and tuple(image_size) != tuple(gt.image_size):
        from ..camera import resize_K

        K = resize_K(K, image_size, gt.image_size)
    if not registered.any():
        K = np.broadcast_to(guess_K(gt.image_size), (len(w2c), 3, 3))
    filled = metrics.fill_failed(w2c, registered, seed=seed)
    ate, rpe_t, rpe_r = _trajectory(filled, gt.w2c)
    reg_figures = {}
    if registered.sum() >= metrics.MIN_ALIGN_FRAMES:
        a, t, r = _trajectory(w2c, gt.w2c, registered)
        reg_figures = dict(ate_registered=a, rpe_trans_registered=t, rpe_rot_deg_registered=r)
    errs = []
    for i, j in sorted(set(zip(gt.corr_i.tolist(), gt.corr_j.tolist()))):
        sel = (gt.corr_i == i) & (gt.corr_j == j)
        errs.append(metrics.sampson_from_poses(K[i], K[j], filled[i], filled[j], gt.corr_uv_i[sel], gt.corr_uv_j[sel],
                                               gt.image_size))
    return VideoScore(
        registration_rate=metrics.registration_rate(registered), success=bool(registered.any()),
        ate=ate, rpe_trans=rpe_t, rpe_rot_deg=rpe_r,
        focal_rel_error=float(abs(K[0, 0, 0] / gt.K[0, 0, 0] - 1)) if registered.any() else float("nan"),
        sampson=metrics.sampson_summary(np.concatenate(errs)) if errs else None,
        path_length=metrics.path_length(camera_centers(gt.w2c)), **reg_figures)


def truth_of_frames(result, gt):
    """The ground truth of a pose result's frames: ``gt`` itself, or, for a result decoded at a lower rate
    than the ground truth was rendered at (12 fps poses of a 24 fps clip), :meth:`GroundTruth.at` the frames
    nearest its timestamps. Raises :class:`~dynpose100k.errors.DynPoseError` when some timestamp is more than
    half a frame (at 12 fps, or at the ground truth's rate when that is higher) from every ground-truth frame,
    or two share one."""
    ts, gts = np.asarray(result.timestamps, np.float64), np.asarray(gt.timestamps, np.float64)
    if result.num_frames == gt.num_frames and np.allclose(ts, gts, atol=0.5 / 12):
        return gt
    step = float(np.median(np.diff(gts))) if len(gts) > 1 else 1 / 12
    idx = np.abs(gts[None, :] - ts[:, None]).argmin(1) if len(gts) else np.zeros(0, np.int64)
    if not len(ts) or np.any(np.abs(gts[idx] - ts) > 0.5 * min(step, 1 / 12)) or np.any(np.diff(idx) <= 0):
        raise DynPoseError(f"{result.video_id}: {result.num_frames} pose frames do not match the {gt.num_frames} "
                           "ground-truth frames (pose at the ground truth's frame rate or a lower one)")
    return gt.at(idx)


def score_result(result, gt, seed: int = 0) -> VideoScore:
    """:func:`score_video` of a :class:`dynpose100k.pose.PoseResult` against the ground truth of its frames
    (:func:`truth_of_frames`); its intrinsics rescaled from its frame size to the ground truth's."""
    gt = truth_of_frames(result, gt)
    return score_video(result.w2c, result.K, result.registered, gt, image_size=result.image_size, seed=seed)
