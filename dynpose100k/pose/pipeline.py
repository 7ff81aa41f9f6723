"""The dynamic pose engine: tracks -> dynamic masks -> static tracks -> SfM + bundle adjustment ->
pose check (every track re-scored by its Sampson error under the reconstructed cameras, masks updated)
-> warm-started refinement on the cleaner static tracks -> calibrated confidence
(:mod:`dynpose100k.pose.confidence`).

:func:`estimate_poses` is arrays in, :class:`PoseResult` out; :func:`pose_video` is the resumable stage
(streaming decode at ``config.fps``, each frame brought to the working size as it arrives; estimate; save
to ``<out_dir>/<video_id>/``; skipped when the result exists). The analysis runs at
``config.work_short_side``; K, observations and errors are reported in pixels of the input frames.
Bad input (one frame, no texture, no static background, reconstruction failure) and reconstructions
without the minimum evidence (:mod:`dynpose100k.pose.evidence`: too few static points, no parallax, too
little redundancy) give a result with all frames unregistered and ``failure_reason`` set, never an
exception.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..camera import resize_K, resize_pixels
from ..geometry import triangulate_tracks
from ..ids import video_id_of
from ..video import faded_ends, picture_box
from .confidence import (
    TRUSTED,
    cap_figures,
    capped,
    confidence_caps,
    confidence_limit,
    map_disagreement,
    moving_fraction,
    score,
    step_jump,
)
from .config import PoseConfig
from .evidence import NO_PARALLAX
from .evidence import measure as measure_evidence
from .evidence import verdict as evidence_verdict
from .masking import exclusion_masks, mask_shape, motion_evidence, off_map, pixel_masks
from .result import PoseResult, read_summary, result_exists, save_pose_result
from .sfm import focal_change, focal_pin, mend_jump, reconstruct, reconstruct_global, refine
from .tracking import FrameFeed, Tracker, bridge_breaks, make_tracker, track_video

log = logging.getLogger(__name__)

__all__ = ["estimate_poses", "analyse", "pose_video", "pose_fundamentals", "static_tracks", "video_id_of", "work_shape"]


def static_tracks(uv: np.ndarray, dynamic: np.ndarray, masks: np.ndarray, image_hw: tuple[int, int],
                  min_len: int, min_per_frame: int = 0, semantic: np.ndarray | None = None) -> np.ndarray:
    """Tracks ``uv`` ``(N, M, 2)`` with dynamic tracks and observations inside ``masks`` ``(N, h, w)``
    removed (set to NaN); tracks left with fewer than ``min_len`` observations are removed too. A frame the
    masks would leave with fewer than ``min_per_frame`` observations keeps those inside them (the motion
    masks are a generous margin), except inside ``semantic`` ``(N, h, w)`` (a segmenter's movable objects);
    tracks classified dynamic always stay out."""
    out = uv.copy()
    out[:, dynamic] = np.nan
    N, h, w = masks.shape
    n, m = np.nonzero(~np.isnan(out[..., 0]))
    H, W = image_hw
    px = resize_pixels(out[n, m], (H, W), (h, w)).round().astype(int)
    x, y = np.clip(px[:, 0], 0, w - 1), np.clip(px[:, 1], 0, h - 1)
    inside = masks[n, y, x]
    if min_per_frame > 0:
        starved = np.bincount(n[~inside], minlength=N) < min_per_frame
        inside &= ~starved[n] | (False if semantic is None else semantic[n, y, x])
    out[n[inside], m[inside]] = np.nan
    out[:, (~np.isnan(out[..., 0])).sum(0) < min_len] = np.nan
    return out


def _in_picture(uv: np.ndarray, offset: tuple[int, int], hw: tuple[int, int], min_len: int) -> np.ndarray:
    """Tracks ``uv`` ``(N, M, 2)`` of whole frames in pixels of the picture of size ``hw`` whose top left
    corner is at ``offset`` ``(top, left)``: observations outside it (on the bars, or at their edge) dropped,
    and tracks left shorter than ``min_len``."""
    out = uv - np.float32([offset[1], offset[0]])
    h, w = hw
    out[~((out[..., 0] >= 0) & (out[..., 0] <= w - 1) & (out[..., 1] >= 0) & (out[..., 1] <= h - 1))] = np.nan
    return out[:, (~np.isnan(out[..., 0])).sum(0) >= min_len]


def _in_frame(masks: np.ndarray, box: tuple[int, int, int, int], hw: tuple[int, int],
              grid: tuple[int, int]) -> np.ndarray:
    """Masks ``(N, h, w)`` of the picture inside bars ``box`` ``(top, bottom, left, right)`` of frames ``hw``,
    placed in the whole frames' mask ``grid`` ``(gh, gw)`` (the bars are not moving)."""
    (top, bottom, left, right), (H, W), (gh, gw) = box, hw, grid
    y0, y1 = round(top * gh / H), max(round(top * gh / H) + 1, round((H - bottom) * gh / H))
    x0, x1 = round(left * gw / W), max(round(left * gw / W) + 1, round((W - right) * gw / W))
    out = np.zeros((len(masks), gh, gw), bool)
    for n, m in enumerate(masks):
        out[n, y0:y1, x0:x1] = cv2.resize(m.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out


def work_shape(image_hw: tuple[int, int], config: PoseConfig) -> tuple[int, int]:
    """``(h, w)`` of the frames the engine analyses for input frames of ``image_hw``: the input size, or
    its downscaled copy with short side ``config.work_short_side`` when the input is larger."""
    H, W = image_hw
    s = config.work_short_side
    if s is None or min(H, W) <= s:
        return int(H), int(W)
    scale = s / min(H, W)
    return max(1, round(H * scale)), max(1, round(W * scale))


def to_work(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``frame`` area-downscaled to ``hw`` (returned as is when it has that size already)."""
    if frame.shape[:2] == tuple(hw):
        return frame
    return cv2.resize(frame, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def estimate_poses(
    frames: np.ndarray,
    timestamps: np.ndarray,
    config: PoseConfig = PoseConfig(),
    video_id: str = "video",
    tracker: Tracker | None = None,
    segmenter=None,
) -> PoseResult:
    """Camera poses and shared intrinsics of ``frames`` ``(N, H, W, 3)`` uint8 RGB (or ``(N, H, W)`` grey, without
    a segmenter) at ``timestamps`` ``(N,)``.

    The analysis runs at :func:`work_shape` (``config.work_short_side``); the result is in pixels of
    ``frames``. ``segmenter`` (optional) is a callable ``frames -> (N, h, w) bool`` movable-class masks,
    e.g. :class:`dynpose100k.models.segmentation.MovableSegmenter`; built from ``config.semantic_model``
    when that is set and no segmenter is given. Fewer than 2 frames give a result with nothing registered
    and the reason; frames that are not uint8 images, or timestamps not one per frame, raise ValueError.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames must be (N, H, W, 3) or (N, H, W) uint8, got {frames.shape} {frames.dtype}")
    if np.shape(timestamps) != (len(frames),):
        raise ValueError(f"timestamps must be one per frame, (N,) = ({len(frames)},), got {np.shape(timestamps)}")
    if len(frames) < 2:
        return analyse(frames, timestamps, config, video_id, frames.shape[1:3])
    hw = work_shape(frames.shape[1:3], config)
    work = frames if hw == frames.shape[1:3] else np.stack([to_work(f, hw) for f in frames])
    return analyse(work, timestamps, config, video_id, frames.shape[1:3], tracker, segmenter)


def _with_fades(res: PoseResult, head: int, tail: int, timestamps: np.ndarray) -> PoseResult:
    """``res`` of the frames between the fades, with ``head`` faded frames before them and ``tail`` after
    (unregistered, identity poses, no observations or masks) at the whole clip's ``timestamps``."""

    def pad(a: np.ndarray | None, fill) -> np.ndarray | None:
        if a is None:
            return None
        return np.concatenate([np.full((head, *a.shape[1:]), fill, a.dtype), a,
                               np.full((tail, *a.shape[1:]), fill, a.dtype)])

    w2c = np.concatenate([np.tile(np.eye(4), (head, 1, 1)), res.w2c, np.tile(np.eye(4), (tail, 1, 1))])
    K = np.concatenate([np.tile(res.K[0], (head, 1, 1)), res.K, np.tile(res.K[0], (tail, 1, 1))])
    return dataclasses.replace(
        res, w2c=w2c, K=K, registered=pad(res.registered, False), timestamps=np.asarray(timestamps, np.float64),
        dynamic_masks=pad(res.dynamic_masks, False), frame_confidence=pad(res.frame_confidence, 0.0),
        obs_frame=None if res.obs_frame is None else (res.obs_frame + head).astype(np.int32),
        evidence={**res.evidence, "fade_head": float(head), "fade_tail": float(tail)})


def analyse(
    frames: np.ndarray,
    timestamps: np.ndarray,
    config: PoseConfig,
    video_id: str,
    input_hw: tuple[int, int],
    tracker: Tracker | None = None,
    segmenter=None,
    tracks: np.ndarray | None = None,
) -> PoseResult:
    """:func:`estimate_poses` on frames already at the working size: ``frames`` ``(N, h, w, 3)`` RGB or
    ``(N, h, w)`` grey (no ``segmenter`` then) downscaled from input frames of ``input_hw`` ``(H, W)``; the
    result (K, observations, reprojection error) is in pixels of the input frames. ``tracks``: the
    :func:`track_video` tracks of ``frames`` when the caller already has them (tracked while decoding).
    Fades from and to black at the ends are left out (:attr:`PoseConfig.skip_fades`)."""
    t_start = time.perf_counter()
    frames = np.asarray(frames)
    N = len(frames)
    ok_shape = frames.ndim in (3, 4) and N >= 2
    H0, W0 = frames.shape[1:3] if frames.ndim in (3, 4) else (0, 0)  # the frames as given
    # letterbox or pillarbox bars: the analysis runs on the picture between them (its own centre, size and
    # focal starts), and the result is brought back to the whole frame; fades are found in the picture too
    top, bottom, left, right = picture_box(frames) if ok_shape and config.crop_bars else (0, 0, 0, 0)
    head, tail = (faded_ends(frames[:, top:H0 - bottom, left:W0 - right])
                  if config.skip_fades and ok_shape and N >= 4 else (0, 0))
    if (head or tail) and N - head - tail >= 2:
        keep = slice(head, len(frames) - tail)  # tracks made while decoding went through the fades: made again
        inner = analyse(frames[keep], np.asarray(timestamps)[keep], dataclasses.replace(config, skip_fades=False),
                        video_id, input_hw, tracker, segmenter)
        return _with_fades(dataclasses.replace(inner, config=dataclasses.asdict(config)), head, tail, timestamps)
    Hi, Wi = (int(input_hw[0]), int(input_hw[1])) if H0 and W0 else (H0, W0)
    sx, sy = (Wi / W0, Hi / H0) if H0 and W0 else (1.0, 1.0)
    timings: dict[str, float] = {}
    evidence: dict[str, float] = {}
    if top or bottom or left or right:
        frames = np.ascontiguousarray(frames[:, top:H0 - bottom, left:W0 - right])
        if tracks is not None:
            tracks = _in_picture(tracks, (top, left), frames.shape[1:3], config.min_track_len)
        evidence.update(bars_top=top * sy, bars_bottom=bottom * sy, bars_left=left * sx, bars_right=right * sx)
    H, W = frames.shape[1:3] if frames.ndim in (3, 4) else (0, 0)  # the picture
    hm, wm = mask_shape((max(H, 1), max(W, 1)), config)
    masks = np.zeros((N, hm, wm), bool)

    def whole_K(K: np.ndarray) -> np.ndarray:
        """Intrinsics ``(3, 3)`` of the picture in pixels of the input frames."""
        K = np.array(K, np.float64)
        K[:2, 2] += (left, top)
        return resize_K(K, (H0, W0), (Hi, Wi))

    def whole_uv(uv: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` of the picture in pixels of the input frames."""
        return resize_pixels(uv + np.float32([left, top]), (H0, W0), (Hi, Wi))

    def result(reason: str | None, sfm=None, uv=None, conf: dict | None = None) -> PoseResult:
        nonlocal masks
        timings["total"] = time.perf_counter() - t_start
        K0 = np.eye(3) if sfm is None else whole_K(sfm.K)
        if (H, W) != (H0, W0):  # the picture's masks inside the whole frame's mask grid
            masks = _in_frame(masks, (top, bottom, left, right), (H0, W0), mask_shape((H0, W0), config))
        common = dict(
            video_id=video_id, K=np.tile(K0, (N, 1, 1)), timestamps=np.asarray(timestamps, np.float64),
            image_size=(Hi, Wi), dynamic_masks=masks, preset=config.preset, version=__version__,
            timings=dict(timings), config=dataclasses.asdict(config), evidence=dict(evidence),
        )
        if reason is not None:
            log.info("%s: %s", video_id, reason)
            return PoseResult(confidence=0.0, frame_confidence=np.zeros(N, np.float32),
                w2c=np.tile(np.eye(4), (N, 1, 1)), registered=np.zeros(N, bool), points3d=np.zeros((0, 3), np.float32),
                obs_track=np.zeros(0, np.int32), obs_frame=np.zeros(0, np.int32), obs_uv=np.zeros((0, 2), np.float32),
                reproj_error_px=float("nan"), camera_model=config.camera_model, failure_reason=reason, **common,
            )
        f, p = np.nonzero(sfm.obs)
        obs_uv = whole_uv(uv[f, sfm.track_ids[p]])
        params = np.asarray(sfm.camera_params, np.float64).copy()  # COLMAP convention: f, cx, cy[, k1]
        params[1:3] += (left, top)
        params[0] *= (sx + sy) / 2
        params[1:3] *= (sx, sy)
        caps = ()
        if conf:  # the checks named and the limit applied come from the same final figures
            figures = cap_figures(evidence, conf["confidence_evidence"])
            caps = confidence_caps(config, **figures)
            conf = capped(conf, confidence_limit(config, **figures))
        return PoseResult(**(conf or {}), confidence_caps=caps,
            w2c=sfm.w2c, registered=sfm.registered, points3d=sfm.points3d.astype(np.float32),
            obs_track=p.astype(np.int32),
            obs_frame=f.astype(np.int32), obs_uv=obs_uv.astype(np.float32),
            reproj_error_px=sfm.reproj_error_px * (sx + sy) / 2, camera_model=sfm.camera_model,
            camera_params=tuple(float(x) for x in params), failure_reason=None, **common,
        )

    if not ok_shape:
        return result(f"need at least 2 frames of shape (H, W, 3), got {frames.shape}")

    tracker = tracker or make_tracker(config)  # one for the tracks and the bridges (a learned one loads once)
    if tracks is None:
        t = time.perf_counter()
        uv = track_video(frames, config, tracker)
        timings["track"] = time.perf_counter() - t
    else:
        uv = tracks
    if uv.shape[1] < 20:
        return result(f"no trackable texture ({uv.shape[1]} tracks)")

    t = time.perf_counter()
    ev = motion_evidence(uv, (H, W), config)
    dynamic = ~(ev.score <= config.dynamic_score)  # unmeasured tracks (NaN) count as dynamic
    bridged = bridge_breaks(uv, ~dynamic, frames, config, tracker)
    if bridged is not None:  # tracks across a break, judged with the rest
        evidence["bridge_tracks"] = float(bridged.shape[1] - uv.shape[1])
        uv = bridged
        ev = motion_evidence(uv, (H, W), config)
        dynamic = ~(ev.score <= config.dynamic_score)
    semantic = None
    if segmenter is None and config.semantic_model:
        from ..models.segmentation import cached_segmenter

        segmenter = cached_segmenter(config.semantic_model, config.device)
    if segmenter is not None:
        if frames.ndim != 4:
            raise ValueError("a segmenter needs RGB frames")
        semantic = np.stack([cv2.resize(s.astype(np.uint8), (wm, hm), interpolation=cv2.INTER_NEAREST)
                             for s in segmenter(frames)]).astype(bool)
    flows: dict = {}  # dense flow per frame pair, shared by both exclusion passes
    zones = exclusion_masks(frames, uv, dynamic, ev, config, semantic, flows)
    static = static_tracks(uv, dynamic, zones, (H, W), config.min_track_len, config.min_static_per_frame, semantic)
    timings["mask"] = time.perf_counter() - t
    n_static = int((~np.isnan(static[..., 0])).any(0).sum())
    evidence["static_tracks"] = float(n_static)
    log.debug("%s: %d tracks, %d dynamic, %d static", video_id, uv.shape[1], int(dynamic.sum()), n_static)
    last_ev = ev  # the motion evidence the released masks are built from: the pose check's when it runs

    def masks_under(sfm, dyn, ev) -> tuple[np.ndarray, np.ndarray | None]:
        """``(masks, residuals)``: dynamic masks from each observation's residual under its track's
        triangulation with the cameras of ``sfm`` (and those residuals), or without one from the motion
        evidence ``ev`` and the dynamic labels ``dyn``."""
        t = time.perf_counter()
        res = None
        if sfm is not None and not sfm.failure_reason and sfm.registered.sum() >= 3:
            res = triangulate_tracks(uv, sfm.K, sfm.w2c, sfm.k1, frames=sfm.registered)[1]
        out = pixel_masks(frames, uv, dyn, ev, config, semantic, res)
        timings["mask"] += time.perf_counter() - t
        return out, res

    def release_masks(sfm=None) -> np.ndarray | None:
        """The released dynamic masks, built once (SfM used the zones), under the cameras of ``sfm``; returns
        the residuals they were built from (None without cameras)."""
        nonlocal masks
        masks, res = masks_under(sfm, dynamic, last_ev)
        return res

    if n_static < 20:
        release_masks()
        # a track seen in too few frames for the shortest pair gap is never judged (and counts as moving):
        # when most are, the cause is tracking (a fast turn, motion blur), not a scene that all moves
        unjudged = int(np.isnan(ev.score).sum())
        why = (f"; {unjudged} of them too short to judge, seen in under {min(config.pair_gaps) + 1} frames: "
               "a fast turn or motion blur?") if unjudged > uv.shape[1] / 2 else ""
        return result(f"no static background ({n_static} static of {uv.shape[1]} tracks{why})")

    def checked_map(tracks: np.ndarray, dyn: np.ndarray, ev, keep_labels: bool):
        """Reconstruct ``tracks``; with ``config.pose_check``, score every track again by its Sampson error
        under the reconstructed cameras (exact epipolar geometry, no degenerate robust fit that can absorb a
        large mover) and refine on the cleaner static set. ``dyn`` ``(M,)``: the dynamic labels ``tracks``
        came from, kept (``keep_labels``) or replaced by the new evidence. Returns ``(sfm, tracks, dyn, ev)``,
        the last three as the refinement used them."""
        sfm = reconstruct(tracks, (H, W), config, final_ba=not config.pose_check)
        if config.pose_check and not sfm.failure_reason:
            Fs = pose_fundamentals(sfm.w2c, sfm.K, sfm.registered, config.pair_gaps)
            if Fs:
                ev = motion_evidence(uv, (H, W), config, fundamentals=Fs, reference=~dyn)
                # unmeasured tracks (NaN) keep their label, or count as dynamic when the labels are replaced
                dyn = dyn | (ev.score > config.dynamic_score) if keep_labels else ~(ev.score <= config.dynamic_score)
                zones = exclusion_masks(frames, uv, dyn, ev, config, semantic, flows)
                tracks = static_tracks(uv, dyn, zones, (H, W), config.min_track_len, config.min_static_per_frame,
                                       semantic)
                sfm = refine(tracks, (H, W), config, sfm)
        return sfm, tracks, dyn, ev

    t = time.perf_counter()
    try:
        sfm, static, dynamic, last_ev = checked_map(static, dynamic, ev, keep_labels=True)
    except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
        log.warning("%s: reconstruction error: %s", video_id, e)
        timings["sfm"] = time.perf_counter() - t
        release_masks()
        return result(f"reconstruction error: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    timings["sfm"] = time.perf_counter() - t

    def assess(sfm, static: np.ndarray) -> tuple[str | None, dict, dict | None]:
        """(failure reason, evidence figures, confidence fields) of a reconstruction of the tracks ``static``: the
        minimum evidence first (a low reprojection error alone proves nothing, see
        dynpose100k.pose.evidence), then the confidence."""
        if sfm.failure_reason:
            return sfm.failure_reason, {}, None
        figures = measure_evidence(sfm.w2c, sfm.registered, sfm.points3d, sfm.obs)
        reason = evidence_verdict({**evidence, **figures}, config)
        if reason or not config.confidence:
            return reason, figures, None
        if config.max_focal_change > 0:  # is the focal constant? (a zoom caps the confidence)
            t = time.perf_counter()
            figures["focal_change"] = focal_change(static, (H, W), config, sfm)
            timings["focal"] = timings.get("focal", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        c, fc, cev = score(sfm, static, (H, W), config, focal_change=figures.get("focal_change", float("nan")))
        timings["confidence"] = timings.get("confidence", 0.0) + time.perf_counter() - t
        return None, figures, dict(confidence=c, frame_confidence=fc, confidence_evidence=cev)

    def mend(sfm, tracks, reason, figures, conf):
        """When the camera of the map of ``tracks`` jumps (``step_jump`` beyond ``config.max_step_jump``), the
        map with the jump mended (:func:`mend_jump`) if its camera no longer jumps and it registers at most 5%
        fewer frames besides those the mend dropped: ``(sfm, reason, figures, conf)``. A moved stretch keeps
        the confidence capped (``confidence_limit``'s ``mended_jump``: the move rests on the camera keeping its
        speed, not on evidence in the tracks); a map whose first or last few frames were dropped rests on the
        tracks alone and is scored as it is (``evidence.dropped_frames`` counts them)."""
        jump = conf["confidence_evidence"].get("step_jump", 0.0) if conf else 0.0
        if not (config.mend_jumps and 0 < config.max_step_jump < jump):
            return sfm, reason, figures, conf
        t = time.perf_counter()
        try:
            other, dropped = mend_jump(tracks, (H, W), config, sfm, config.max_step_jump) or (None, 0)
        except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
            log.warning("%s: mending a jump failed: %s", video_id, e)
            other, dropped = None, 0
        timings["mend"] = timings.get("mend", 0.0) + time.perf_counter() - t
        if other is None or other.failure_reason:
            return sfm, reason, figures, conf
        jump2 = step_jump(other.w2c, other.registered, obs=other.obs)
        log.info("%s: jump %.1f mended: jump %.1f, %.0f%% registered", video_id, jump, jump2,
                 100 * other.registered.mean())
        # the cheap checks first: the full assessment (focal check, split halves) only for a map that is kept
        if jump2 > config.max_step_jump or other.registered.sum() + dropped < sfm.registered.sum() - 0.05 * N:
            return sfm, reason, figures, conf
        reason2, figures2, conf2 = assess(other, tracks)
        if conf2 is None:
            return sfm, reason, figures, conf
        if dropped:
            figures2["dropped_frames"] = float(dropped)
            return other, reason2, figures2, conf2
        figures2["mended_jump"] = 1.0
        return other, reason2, figures2, capped(conf2, confidence_limit(config, mended_jump=1.0))

    def second_opinion(sfm, tracks, reason, figures, conf):
        """A mended jump first (:func:`mend`); then, while the map of ``tracks`` is probably wrong (``conf`` below
        ``config.global_fallback_below``), map the same tracks again with keyframes every
        ``config.doubt_keyframe_step`` frames, then globally (each with its jump mended), keeping the most
        trusted: ``(sfm, reason, figures, conf)``."""
        sfm, reason, figures, conf = mend(sfm, tracks, reason, figures, conf)

        def doubted() -> bool:
            return bool(config.confidence and 0 < config.global_fallback_below and not (reason or "").startswith(
                NO_PARALLAX) and (conf is None or conf["confidence"] < config.global_fallback_below))

        def trusted_more(conf2) -> bool:  # a refused clip keeps its reason unless the other map is trusted
            return conf2 is not None and conf2["confidence"] > (conf["confidence"] if conf else
                                                                config.global_fallback_below)

        step = config.doubt_keyframe_step
        if doubted() and 0 < step != config.keyframe_step:
            t = time.perf_counter()
            dense = dataclasses.replace(config, keyframe_step=step)
            try:
                other = reconstruct(tracks, (H, W), dense, final_ba=not config.pose_check)
                if config.pose_check and not other.failure_reason:
                    other = refine(tracks, (H, W), dense, other)
            except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
                log.warning("%s: mapping with denser keyframes failed: %s", video_id, e)
                other = None
            if other is not None:
                other, reason2, figures2, conf2 = mend(other, tracks, *assess(other, tracks))
                if trusted_more(conf2):
                    sfm, reason, figures, conf = other, reason2, {**figures2, "dense_keyframes": 1.0}, conf2
            timings["dense_keyframes"] = timings.get("dense_keyframes", 0.0) + time.perf_counter() - t
        if not doubted():
            return sfm, reason, figures, conf
        if 0 < config.global_max_frames < len(tracks):  # too long: the global mapper would cost minutes
            log.info("%s: doubted, but %d frames are too many for the global second opinion", video_id, len(tracks))
            return sfm, reason, {**figures, "global_skipped": 1.0}, conf
        t = time.perf_counter()
        try:
            other = reconstruct_global(tracks, (H, W), config)
        except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
            log.warning("%s: global mapping error: %s", video_id, e)
            other = None
        timings["global"] = timings.get("global", 0.0) + time.perf_counter() - t
        if other is not None:
            other, reason2, figures2, conf2 = mend(other, tracks, *assess(other, tracks))
            if conf2 is not None and not sfm.failure_reason:  # two maps of the same tracks: do they agree?
                figures2["map_disagreement"] = map_disagreement(sfm.w2c, sfm.registered, other.w2c, other.registered)
                conf2 = capped(conf2, confidence_limit(config, map_disagreement=figures2["map_disagreement"]))
            if trusted_more(conf2):
                return other, reason2, {**figures2, "global_mapper": 1.0}, conf2
        return sfm, reason, figures, conf

    def map_the_rest(rest: np.ndarray):
        """A map of the tracks ``rest`` ``(M,)`` bool alone (those a map built on a mover leaves out), with the
        same pose check: ``(sfm, static tracks, evidence figures, confidence fields, masks, moving fraction)``,
        or None when it fails."""
        zones0 = np.zeros_like(masks)
        tracks = static_tracks(uv, ~rest, zones0, (H, W), config.min_track_len, config.min_static_per_frame, semantic)
        n_rest = int((~np.isnan(tracks[..., 0])).any(0).sum())
        if n_rest < 20:
            return None
        try:  # as for the first map, but the evidence under the new cameras alone decides what is static
            other, tracks, dyn, ev_o = checked_map(tracks, ~rest, last_ev, keep_labels=False)
        except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError) as e:
            log.warning("%s: mapping the rest failed: %s", video_id, e)
            return None
        other, reason_o, figures_o, conf_o = second_opinion(other, tracks, *assess(other, tracks))
        if reason_o or conf_o is None:
            log.info("%s: the map of the rest: %s", video_id, reason_o)
            return None
        masks_o = masks_under(other, dyn, ev_o)[0]
        mf = moving_fraction(masks_o, other.registered)
        log.info("%s: the map of the rest: confidence %.2f, %.2f moving", video_id, conf_o["confidence"], mf)
        return other, tracks, {**figures_o, "static_tracks": float(n_rest)}, conf_o, masks_o, mf

    sfm, reason, figures, conf = second_opinion(sfm, static, *assess(sfm, static))
    before = dict(evidence)
    evidence.update(figures)
    residuals = release_masks(sfm)  # under the cameras kept (the global second opinion's when it won)
    # a map built on an object that travels with the camera either passes with the background moving under it
    # or, when the object hardly moves in the view, is refused for want of parallax: both get the mover check
    if reason and not reason.startswith(NO_PARALLAX):
        return result(reason)
    evidence["moving_fraction"] = moving_fraction(masks, sfm.registered)
    mover_cap = confidence_limit(config, moving_fraction=evidence["moving_fraction"])
    if mover_cap < 1.0:
        # the map rests on a mover: the background moves under it. Map the tracks it leaves out instead;
        # keep that map when the frame stays still under it
        t = time.perf_counter()
        other = map_the_rest(off_map(residuals, H, config)) if config.remap_movers and residuals is not None else None
        timings["remap"] = time.perf_counter() - t
        if other is not None and other[5] <= config.max_moving_fraction:
            sfm, static, figures, conf, masks, mf = other
            evidence = {**before, **figures, "moving_fraction": mf, "remapped": 1.0}
            reason = None
    if reason:  # no parallax, and not a map on a mover (or none of the rest could be mapped)
        return result(reason)
    t = time.perf_counter()  # how far to trust the focal: of the map kept only (no choice between maps reads it)
    if math.isfinite(pin := focal_pin(static, (H, W), config, sfm)):  # NaN: a given lens, too few frames
        evidence["focal_pin"] = pin
    timings["focal"] = timings.get("focal", 0.0) + time.perf_counter() - t
    return result(None, sfm, static, conf)  # (a map left on a mover is capped there, by its moving fraction)


def pose_fundamentals(w2c: np.ndarray, K: np.ndarray, registered: np.ndarray,
                      gaps) -> dict[tuple[int, int], np.ndarray]:
    """Fundamental matrices ``x_j^T F x_i = 0`` of registered frame pairs ``(i, i + gap)`` from poses."""
    from ..camera import fundamental_from

    N = len(w2c)
    return {(i, i + g): fundamental_from(K, K, w2c[i], w2c[i + g]) for g in gaps for i in range(N - g)
            if registered[i] and registered[i + g]}


def source_rate(path) -> float:
    """The frame rate of the video at ``path`` (0 when it cannot be read or is a frames folder)."""
    from ..errors import VideoError
    from ..video import probe

    try:
        info = probe(path)
    except (VideoError, OSError):
        return 0.0
    return 0.0 if info.is_frames_dir else float(info.fps)


def second_look(res: PoseResult, config: PoseConfig, path, pose_at: Callable[[PoseConfig], PoseResult]) -> PoseResult:
    """The second opinion of :attr:`PoseConfig.dense_fps`: ``res``, posed at ``config.fps``, when it is trusted,
    when no denser rate is set or when the source ``path`` lacks its frames (:func:`source_rate`); otherwise the
    map that ``pose_at(config at dense_fps)`` gives if that one is trusted (``evidence.dense_fps``; ``config``
    keeps the settings given), or ``res``. Either way the timings of both passes are kept (``dense_*``).

    ``pose_at`` decodes the source again at the denser rate and poses it; the one rule for both
    :func:`pose_video` and the curator. A :class:`~dynpose100k.errors.VideoError` it raises leaves ``res``."""
    from ..errors import VideoError

    dense_fps = config.dense_fps
    if not (dense_fps > config.fps and res.confidence < TRUSTED and source_rate(path) >= 0.99 * dense_fps):
        return res
    log.info("%s: doubted at %g fps (confidence %.2f): posing again at %g fps", res.video_id, config.fps,
             res.confidence, dense_fps)
    try:
        dense = pose_at(dataclasses.replace(config, fps=dense_fps))
    except VideoError as e:  # the first map stands
        log.warning("%s: decoding again at %g fps failed: %s", res.video_id, dense_fps, e)
        return res
    timings = {**res.timings, **{f"dense_{k}": v for k, v in dense.timings.items()},
               "total": res.timings["total"] + dense.timings["total"]}
    if dense.confidence >= TRUSTED:  # the denser map, recorded under the settings given
        res = dataclasses.replace(dense, evidence={**dense.evidence, "dense_fps": float(dense_fps)},
                                  config=dataclasses.asdict(config))
    return dataclasses.replace(res, timings=timings)


def second_look_taken(res: PoseResult) -> tuple[bool, bool]:
    """``(posed again, denser map kept)``: what :func:`second_look` did for the result ``res`` it returned
    (read from its ``dense_*`` timings and ``evidence.dense_fps``)."""
    return "dense_total" in res.timings, "dense_fps" in res.evidence


def decode_and_estimate(path, config: PoseConfig, video_id: str, segmenter=None) -> PoseResult:
    """The poses of the video (or frames folder) ``path`` decoded at ``config.fps``, not saved and without the
    second look of :func:`second_look`: decoded on a thread while tracking (full-size frames are never held
    together), then :func:`analyse`. Raises :class:`~dynpose100k.errors.VideoError` when it cannot be decoded."""
    from ..errors import VideoError
    from ..video import cut_short, iter_frames, probe

    # streaming decode on a thread: each frame is brought to the working size (grey unless a segmenter needs
    # colour) as it arrives, so full-resolution frames are never held together, and tracked as soon as its
    # window is complete (decoding and resizing release the GIL, so both cores work)
    tracker = make_tracker(config)  # for the tracks made while decoding and the bridges of analyse
    rgb_needed = segmenter is not None or bool(config.semantic_model) or bool(getattr(tracker, "colour", False))
    feed, stamps, shapes, decode = FrameFeed(), [], [], [0.0]

    def produce():
        t = time.perf_counter()
        try:
            hw = (0, 0)
            for ts, rgb in iter_frames(path, fps=config.fps, short_side=config.short_side):
                if not stamps:
                    shapes.append(rgb.shape[:2])
                    hw = work_shape(rgb.shape[:2], config)
                if feed.cancelled:
                    break
                small = to_work(rgb, hw)
                stamps.append(ts)
                feed.put(small if rgb_needed else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
            feed.close()
        except BaseException as e:  # handed to the consumer, which raises it
            feed.close(e)
        decode[0] = time.perf_counter() - t

    t = time.perf_counter()
    worker = threading.Thread(target=produce, name=f"decode-{video_id}", daemon=True)
    worker.start()
    try:
        uv = track_video(feed, config, tracker)
    except BaseException:
        feed.cancelled = True  # no need to decode the rest
        raise
    finally:
        worker.join()
    track = time.perf_counter() - t
    if len(stamps) < 2:
        raise VideoError(path, f"only {len(stamps)} frame(s) decoded, at least 2 needed")
    frames = feed.take()
    res = analyse(frames, np.asarray(stamps, np.float64), config, video_id, shapes[0], tracker, segmenter,
                  tracks=uv)
    info = probe(path)
    if cut_short(info, stamps[-1], config.fps):  # the poses are of the frames before the damage: say so
        res = dataclasses.replace(res, evidence={**res.evidence, "decoded_s": float(stamps[-1]),
                                                 "duration_s": float(info.duration)})
    # decode and track overlap: "track" is the wall time until both were done
    return dataclasses.replace(res, timings={"decode": decode[0], "track": track, **res.timings,
                                             "total": track + res.timings["total"]})


def pose_video(path: str | Path, out_dir: str | Path, config: PoseConfig = PoseConfig(), video_id: str | None = None,
               overwrite: bool = False, segmenter=None) -> Path:
    """Stage: decode ``path`` at ``config.fps``, estimate poses, save ``<out_dir>/<video_id>/``; returns it.
    With ``config.dense_fps``, a doubted map is posed again at that rate (:attr:`PoseConfig.dense_fps`).

    Skips the work when a complete result of the same video already exists (unless ``overwrite``). Raises
    :class:`~dynpose100k.errors.VideoError` when the video cannot be decoded, and
    :class:`~dynpose100k.errors.DynPoseError` when ``<out_dir>/<video_id>/`` holds the result of another
    video (another size or content digest, :func:`dynpose100k.video.other_source`; e.g. a clip of the same
    name from another folder), which is never overwritten
    silently nor taken for this one's.
    """
    from ..errors import DynPoseError
    from ..video import other_source, source_of

    video_id = video_id or video_id_of(path)
    source = source_of(path)
    if not overwrite and result_exists(out_dir, video_id):
        held = read_summary(Path(out_dir) / video_id)["source"]
        if other_source(held, source):
            raise DynPoseError(f"{path}: {Path(out_dir) / video_id} holds the poses of another video "
                               f"({held.get('path')}); use another --out, or --overwrite to replace them")
        log.info("%s: result exists, skipped", video_id)
        return Path(out_dir) / video_id
    res = second_look(decode_and_estimate(path, config, video_id, segmenter), config, path,
                      lambda dense: decode_and_estimate(path, dense, video_id, segmenter))
    res = dataclasses.replace(res, source=source)
    return save_pose_result(out_dir, res)
