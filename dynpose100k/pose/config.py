"""Configuration of the dynamic pose engine: one frozen dataclass and named presets.

Preset names become output folder names (``outputs/poses-<preset>``), so two configurations never
overwrite each other's results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["PoseConfig", "PRESETS", "DEFAULT_PRESET", "get_preset", "setting_changes"]


@dataclass(frozen=True)
class PoseConfig:
    """All knobs of :func:`dynpose100k.pose.estimate_poses`. Pixel values are in pixels of the analysed
    frames (the input, or its ``work_short_side`` copy) unless a field says ``_720p`` (then they are scaled by
    ``H / 720`` for the analysed frame height)."""

    preset: str = "dis-own-12fps"
    """Name recorded in ``result.json`` and used for output folder names."""
    fps: float = 12.0
    """Sampling rate (frames per second) used when decoding a video."""
    dense_fps: float = 0.0
    """When above :attr:`fps`: a video whose map at :attr:`fps` is doubted (``confidence`` under 0.5) is
    decoded and posed again at this rate, if its source has that many frames a second, and the denser map
    replaces the first when its confidence reaches 0.5 (``evidence.dense_fps``; ``config`` keeps these
    settings). A fast turn carries the view past in a few frames at 12 fps, too few to map (docs/pose-engine.md,
    known limits). Off (0) by default: a doubted clip costs about three times its pose time again.
    :func:`dynpose100k.pose.pose_video` and the curator (``curate --dense-fps``), which decode the source
    themselves (:func:`dynpose100k.pose.pipeline.second_look`); frames given to ``estimate_poses`` are final."""
    short_side: int | None = None
    """Resize decoded frames so their short side has this many pixels (None: keep the source size). This
    sets the stored frames that ``K`` refers to; the analysis itself runs at ``work_short_side``."""
    work_short_side: int | None = 360
    """Working resolution: frames whose short side is larger are area-downscaled to this short side for
    tracking, masking and SfM; ``K``, observations and reprojection errors are reported in pixels of the
    input (stored) frames, the dynamic masks on a grid of them. Pixel fields below then apply to the working
    frames. None: analyse at the input size. 360 was chosen by measurement on 1280x720 synthetic clips:
    same accuracy as analysing at 720, several times faster (docs/pose-engine.md, working resolution)."""
    crop_bars: bool = True
    """Analyse the picture inside letterbox or pillarbox bars (:func:`dynpose100k.video.picture_box`) and
    bring the result back to the whole frame (``K``'s principal point at the picture's centre, the masks
    false on the bars, ``evidence.bars_*`` the bars in input pixels). Flat dark bars hold no tracks, but the
    focal starts and the image centre would be the whole frame's."""

    skip_fades: bool = True
    """Analyse the frames between fades from and to black at the clip's start and end
    (:func:`dynpose100k.video.faded_ends`) and return the faded ones unregistered (``evidence.fade_head`` /
    ``fade_tail``: how many): tracks followed through a fade drift with its brightness and bend the map, and
    its frames would count as lost ones in the confidence. Nor do they count in ``registered_fraction``."""

    # --- tracking -------------------------------------------------------------------------------
    tracker: str = "dis"
    """Point tracker backend: ``dis`` (points carried along OpenCV's DIS dense optical flow,
    :class:`~dynpose100k.pose.tracking.DISTracker`; CPU, no weights; the default), ``klt`` (OpenCV pyramidal
    Lucas-Kanade, CPU, no weights; the former default, kept for comparison) or
    ``cotracker3`` (the learned CoTracker3 offline model, :class:`dynpose100k.models.cotracker.CoTrackerTracker`,
    weights from :attr:`tracker_model`; a GPU makes it practical). Any object of the
    :class:`~dynpose100k.pose.tracking.Tracker` protocol can also be handed to
    :func:`~dynpose100k.pose.estimate_poses` directly."""
    tracker_model: str | None = None
    """Local path of the learned tracker's weights (CoTracker3's ``scaled_offline.pth``), for ``tracker``
    ``cotracker3``; nothing is downloaded."""
    device: str = "auto"
    """Torch device of the learned backends (``tracker_model``, ``semantic_model``): ``auto`` (``cuda`` when a
    GPU is visible, else ``cpu``), ``cpu``, ``cuda``, ``cuda:1``. Unused by the default pipeline."""
    grid_step: int = 20
    """Spacing (px) of the query grid; a new query is added in every empty grid cell of each window."""
    window: int = 6
    """Frames per tracking window; queries are re-seeded at each window start."""
    window_stride: int = 5
    """Window start spacing; ``window - window_stride`` frames overlap so tracks link across windows."""
    reseed_fraction: float = 0.5
    """A window ends early (and the next one re-seeds empty cells) at the first frame where fewer than this
    fraction of its queries are still tracked (0: fixed windows). Keeps the map fed through fast pans and
    occluders: on the hard synthetic clips it took ATE from 0.347 to 0.005 and 0.023 to 0.007 at no cost on
    the easy ones."""
    lk_win: int = 21
    """Lucas-Kanade search window (px)."""
    lk_levels: int = 3
    """Pyramid levels of Lucas-Kanade."""
    track_gain: float = 4.0
    """A dark tracking window's grey frames are stretched first (:func:`dynpose100k.video.stretch_grey`:
    their 1st-99th percentile to 0-255, gain at most this; 0 or 1: off). Lucas-Kanade refuses points whose
    gradients are weak in absolute grey levels, so at night (grey levels 0-50) it lost tracks that the same
    scene lit keeps. Only windows that need more than ``track_dark_gain`` are stretched."""
    track_dark_gain: float = 3.0
    """A window whose 1st-99th percentile spans less than 255 / this grey levels is dark (night clips of the
    renderer need 3.5-4x, lit ones at most 2.7x). Lit windows are tracked as they are: their thresholds
    already hold, and stretching them only moved maps both ways at random (docs/pose-engine.md, step 1)."""
    fb_max_px: float = 1.0
    """Forward-backward consistency: a track ends when re-tracking back misses by more than this (px)."""
    flow_shift_below: float = 0.25
    """DIS only: where fewer than this share of a frame pair's pixels come back within ``fb_max_px``, and the
    whole image moved at least 8 px (phase correlation), the pair's flow is computed again from that shift and
    kept when more pixels come back (0: off). DIS's pyramid cannot reach the 70-100 px a fast turn through a
    narrow lens moves a 640 px frame; started from the shift it follows most of them."""
    min_texture: float = 1e-5
    """Minimum cv2.cornerMinEigenVal (block 7, uint8 input) of the best corner in a cell for it to be seeded."""
    min_track_len: int = 3
    """Tracks observed in fewer frames are discarded."""
    bridge_max_gap: int = 24
    """Breaks in the chain of frames (every usable track lost at once: a pan too fast to follow, a pillar or
    a passer-by covering the view) are bridged by appearance matches when the well-tracked frames on either
    side are at most this many frames apart (:func:`dynpose100k.pose.tracking.bridge_breaks`; 0: never).
    Without a bridge the map holds one side of the break only."""
    bridge_below: int = 30
    """Two consecutive well-tracked frames sharing fewer usable tracks than this are a break."""

    # --- dynamic masking ------------------------------------------------------------------------
    pair_gaps: tuple[int, ...] = (3, 9)
    """Frame gaps of the pairs (t, t+gap) on which two-view geometry and Sampson errors are measured;
    several gaps change the epipolar geometry, so objects moving along one pair's epipolar lines are caught."""
    sampson_px_720p: float = 3.0
    """A track observation pair is dynamic evidence when its Sampson error exceeds this (720p px)."""
    dynamic_score: float = 0.2
    """A track is dynamic when this fraction of its measured pairs is dynamic evidence."""
    pose_check_median_ratio: float = 5.0
    """In the pose check (Sampson errors under the reconstructed cameras), an observation pair is dynamic
    evidence only when its error also exceeds this multiple of the pair's median error over the tracks the
    map was built from (0: off). On a fast clip the first map's cameras can be off on a stretch of frames by
    enough that every track there passes :attr:`sampson_px_720p`; the refinement then lost those frames
    (hard dev seed 4: 57 of 60 frames registered at ATE 1.5% of the path before the check, 25 after). On 35
    dev clips (seeds 0-5 and 100-119, and 9 hard clips of seeds 14-141 under 80% registered): clips >= 80%
    registered 30 against 24 when off, good maps 24 against 22, 22 passed against 21, no wrong map passed,
    the same time. (The median over all of a pair's tracks gave 27 good maps, but where movers outnumber
    the map's tracks their errors set it and they stop being evidence.)"""
    mask_scale: float = 0.25
    """Dynamic pixel masks are computed and stored at this fraction of the input resolution."""
    min_static_per_frame: int = 60
    """A frame the exclusion zones would leave with fewer static-track observations than this keeps the ones
    inside its motion zones (tracks classified dynamic and a segmenter's objects stay out), so a margin drawn
    too wide around large movers does not cut the chain of frames (0: never; chosen on the hard dev clips)."""
    mask_dilate_px_720p: float = 24.0
    """Radius (720p px) of the disc around each dynamic-track observation in the zones SfM takes no static
    observation from (:func:`dynpose100k.pose.masking.exclusion_masks`; generous, not the released masks)."""
    mask_seed_px_720p: float = 24.0
    """Radius (720p px) of the seed disc drawn around each observation of a seeding track in the released
    dynamic masks."""
    mask_seed_score: float = 0.5
    """A track seeds the released mask when more than this fraction of its observations lies off its
    triangulation (:attr:`mask_seed_reproj_px_720p`); without reconstructed cameras, when more than this
    fraction of its measured pairs is dynamic evidence (unmeasured tracks never seed: they count as dynamic
    for SfM, but most lie on the background)."""
    mask_seed_reproj_px_720p: float = 10.0
    """With reconstructed cameras, a track seeds the released mask when more than :attr:`mask_seed_score` of its
    observations lie farther than this (720p px) from the reprojection of its triangulation."""
    mask_static_reproj_px_720p: float = 2.0
    """... and an observation of the other tracks bounds the mask as static within this (720p px)."""
    dense_flow: bool = True
    """Use dense DIS-flow Sampson evidence in the SfM exclusion zones (not in the released masks)."""
    mask_grow_px_720p: float = 240.0
    """The seeds of the released masks grow along colour edges (watershed against static-track points) at most
    this far (720p px)."""
    pose_check: bool = True
    """Second pass: re-score every track by its Sampson error under the reconstructed cameras, update the
    masks and refine the reconstruction (warm start) on the cleaner static tracks."""
    semantic_model: str | None = None
    """Local path of a ``transformers`` universal-segmentation model (Mask2Former/OneFormer); its movable
    classes are added to the masks by union. None: motion evidence only."""

    # --- structure from motion ------------------------------------------------------------------
    keyframe_step: int = 4
    """Every ``keyframe_step``-th frame is a keyframe; keyframes are reconstructed first, the other frames
    are then registered by PnP and everything is refined by one final bundle adjustment (a doubted map is
    made again at ``doubt_keyframe_step``)."""
    focal_starts: tuple[float, ...] = (1.2, 0.85, 0.6)
    """Starting focals tried, in this order, when the self-calibrated start explains too little, as multiples
    of the long image side (about 45, 61 and 80 degrees across it); see
    :func:`dynpose100k.pose.sfm.reconstruct`."""
    focal_accept_support: float = 0.8
    """A start is accepted when its map keeps at least this fraction of all static-track observations
    (within ``max_reproj_px_720p``); below it the other starts are tried and the map with the most support
    wins. A wrong focal often keeps 0.2-0.59, a right one 0.7-0.97, but through a long lens a map can settle
    at a wrong focal and still keep more than 0.6 while another start's map keeps more (dev seed 107 through
    a 50 degree lens: 0.78 at a focal 28% short, 0.93 at 2% from the next start); 0.6 accepted those. Trying every
    start (0.99) was measured too: one more right map of 80 narrow-lens dev clips, 3 s more on a 10 s clip."""
    focal_trial_frames: int = 96
    """On clips longer than ``focal_trial_after`` frames the other ``focal_starts`` compete on a window of this
    many frames (the one with the most static observations) instead of the whole clip, and the whole clip is
    reconstructed again only from a start that wins there; 0: every start on the whole clip."""
    focal_trial_after: int = 240
    """Clips up to this many frames (20 s at 12 fps) try every focal start on the whole clip: a 96-frame
    window chose a worse focal on a 10 s near-planar clip (ATE 0.292 against 0.032 on the whole clip)."""
    global_ba_max_frames: int = 240
    """Bundle adjustments over every registered frame adjust all their poses up to this many frames; beyond,
    the keyframes' poses, the frames between held at their motion-only refined poses (a 720-frame
    adjustment took 80 s on a loaded 2-core machine; its cost grows faster than the frame count)."""
    hfov_deg: float | None = None
    """The lens's horizontal field of view (degrees across the frame's width) when it is known, e.g. from a
    calibration (``2 * atan(W / (2 * fx))`` with ``W`` and ``fx`` in the same pixels) or from the camera's
    metadata: the focal is then held at ``(w / 2) / tan(hfov_deg / 2)`` for the analysed width ``w`` and not
    estimated. Only for footage that is neither cropped nor zoomed after capture (a digital crop or a
    stabiliser's crop narrows the view). None (default): the focal is estimated (self-calibration, then
    bundle adjustment)."""
    camera_model: str = "SIMPLE_PINHOLE"
    """COLMAP camera model of the ONE camera shared by all frames: ``SIMPLE_PINHOLE`` (focal; principal
    point fixed at the centre) so ``K`` alone projects exactly, or ``SIMPLE_RADIAL`` (adds ``k1``, kept in
    ``camera_params`` only; ``K`` then ignores the distortion)."""
    min_parallax_deg: float = 0.2
    """Minimum triangulation angle (degrees) for a new 3D point (low: short video tracks need points early;
    bundle adjustment refines them as the tracks grow)."""
    max_reproj_px_720p: float = 4.0
    """Observations with a larger reprojection error (720p px) are dropped before the final refinement."""
    ba_loss: str = "CAUCHY"
    """Robust loss of bundle adjustment (pycolmap LossFunctionType name)."""
    ba_loss_scale_px: float = 1.0
    """Scale (px) of the robust loss."""
    ba_function_tolerance: float = 1e-5
    """Bundle adjustment stops when an iteration lowers the cost by less than this fraction (COLMAP's global
    mapper uses the same). Against 1e-6, on 35 dev clips (5 s, 640x360): SfM time -22%, whole run -10%, good
    maps 24 -> 26, passed 22 -> 23, wrong maps passed 0 -> 0; 10 s clips 11-26% faster."""
    global_fallback_below: float = 0.5
    """When the confidence of the incremental reconstruction is below this, the same static tracks are also
    mapped by COLMAP's global mapper (:func:`dynpose100k.pose.sfm.reconstruct_global`), and the result with the
    higher confidence is kept; a clip the incremental path refused (e.g. too few static tracks) takes the
    global map only when its confidence reaches this value; a clip refused for no parallax (a camera that did
    not move) is not mapped again (0: never; needs ``confidence``). Costs about 4 s on a 5 s 640x360 clip (see
    ``global_frame_step``), only on clips the engine already doubts."""
    doubt_keyframe_step: int = 2
    """A doubted map (confidence below ``global_fallback_below``, or refused for anything but no parallax) is
    first made again from the same static tracks with keyframes every this-many frames, and that map is kept
    when its confidence is higher; the global second opinion then runs only if the clip is still doubted. On
    fast turns the tracks live 5-7 frames and keyframes 4 frames apart share few of them. On 160 dev clips
    (seeds 100-139, normal and hard, two lenses) good maps passed 104 -> 112, bad maps passed 0 -> 0, at 8-14%
    more pose time; as the step of every map it let wrong focals through on long lenses (docs/pose-engine.md,
    "Keyframes every second frame"). 0: off."""
    global_max_frames: int = 240
    """The global second opinion runs only on clips of at most this many frames (240: 20 s at 12 fps; 0: no
    limit); a longer doubted clip keeps its map and its low confidence (``evidence.global_skipped`` 1). The
    global mapper's cost grows much faster than the clip: a 60 s 1280x720 clip (720 frames) spent 330 s of
    476 s in it, against 5-12 s on 10 s clips, and its map was as wrong as before. On 10 s clips it is worth
    its cost: on the 12 hard dev clips of seeds 200-211, good maps 4 -> 6 and clips >= 80% registered 7 -> 9
    with it, in 214 s against 128 s."""
    global_max_gap: int = 12
    """Global mapping matches frames up to this many frames apart (by shared track)."""
    global_frame_step: int = 2
    """Global mapping maps every this-many-th frame; the others are then registered by PnP against its points
    before the final adjustment. On 27 doubted dev clips (seeds 0-20, 100 and 120-139; clean, other lens,
    degraded) 2 cut the second opinion from a median 9.0 to 3.8 s, and the clips it left wrong at a confidence
    >= 0.5 from 3 to 0 (good maps 4 -> 5, good maps passed 1 -> 0); 1 maps every frame."""
    min_pnp_inliers: int = 12
    """A frame is registered only with at least this many PnP inliers."""
    threads: int = 2
    """CPU threads for the robust two-view fits and the dense flow of the motion masks (OpenCV releases the
    GIL there; pycolmap's bundle adjustment does not, so adjustments run one at a time)."""
    ba_threads: int = 1
    """CPU threads of each bundle adjustment and of COLMAP's global mapper. One keeps results bit-reproducible
    (the same frames and config give the same poses); Ceres on more threads sums in a varying order, and on
    clips near a tipping point that can change the map (seed 0, hard, 10 s: ATE 7% or 19% of the path in two
    runs). Two threads made bundle adjustment about 5-10% faster on two free cores."""
    confidence: bool = True
    """Compute the calibrated ``confidence`` / ``frame_confidence`` (:mod:`dynpose100k.pose.confidence`;
    two split-half bundle adjustments). False: ``confidence`` is NaN (unknown)."""
    confidence_model: str | None = None
    """Calibration JSON of the confidence (:func:`dynpose100k.pose.confidence.load_confidence_model`); None: the
    one packaged for :attr:`tracker`: ``dis`` and ``klt`` each have their own, fitted on their maps, a learned
    tracker takes ``klt``'s. The evidence depends on the tracks (their lengths, how many a map keeps), so a
    learned tracker needs its own (``python -m dynpose100k.pose.fit_confidence pool OUT --preset P``, then ``fit``)."""

    # --- minimum evidence (see dynpose100k.pose.evidence) ---------------------------------------
    # Chosen on synthetic clips analysed at 640x360 (5 s, 12 fps): 9 good clips vs tripod, in-car, low-
    # resolution (176x144) and heavily compressed clips, 3 seeds each; margins in docs/pose-engine.md (step 4).
    min_static_points: int = 60
    """Below this many triangulated static points no frame counts as registered ("too few static tracks").
    Good clips: 646-2342 points (94 on a 256x144, 2 s clip); compressed clips: 6-7 (and 92); 176x144
    low-quality clips: 53-54."""
    min_points_per_frame: float = 20.0
    """Below this median number of points per registered frame no frame counts as registered ("too few
    static tracks"). Good clips: 65-857 (49 on a 256x144, 2 s clip; 26 on a 10 s clip upscaled to 1080p);
    compressed clips: 0-21; 176x144 low-quality clips: 14-22."""
    min_median_angle_deg: float = 0.35
    """Below this median triangulation angle (degrees; rays from the first and last frame seeing each point)
    no frame counts as registered ("no parallax"). Good clips: 0.68-7.1; tripod and in-car clips: 0.01-0.18
    whatever their reprojection error (0.1-0.3 px)."""
    min_obs_per_point: float = 3.0
    """Below this median number of frames observing a point no frame counts as registered ("too little
    redundancy": a point seen twice is fitted exactly and checks nothing). Good clips: 4-25; compressed: 2."""
    max_focal_change: float = 0.1
    """Beyond this change of the focal length over the clip (absolute log ratio, see
    :func:`dynpose100k.pose.sfm.focal_change`; 0.1: about 10%) the confidence is capped at
    :data:`dynpose100k.pose.confidence.ZOOM_CONFIDENCE` (and the global second opinion runs): the shared-focal
    map of a zooming clip reprojects well on a wrong trajectory, with confidence up to 1.0. A doubt, not a
    refusal: the change is also seen on some correct maps, where focal and motion along the optical axis
    trade off (2 of 24 style-b and 1 of 3 speed-bench clips refused when it was a refusal). 0 turns the
    check (one more adjustment with a focal per frame) off."""
    mend_jumps: bool = True
    """Mend a map whose camera jumps beyond ``max_step_jump`` (:func:`dynpose100k.pose.sfm.mend_jump`: the
    shorter stretch moved so that the camera keeps its speed, or unregistered when it is the first or last
    few frames, then adjusted again), and keep the mended map when its camera no longer jumps and it
    registers at most 5% fewer frames besides those dropped. A moved stretch keeps the confidence capped at
    :data:`dynpose100k.pose.confidence.JUMP_CONFIDENCE`: the trajectory is nearer the truth, but the link
    rests on the camera's speed, not on the tracks; a map that only lost its ends is scored as it is."""
    max_step_jump: float = 7.0
    """Beyond this jump of the camera between consecutive frames (a step over the median of its neighbours',
    or the change of speed across a weak link, :func:`dynpose100k.pose.confidence.step_jump`; good dev maps
    reach 3.1 on the latter, 74 maps) the confidence is capped at
    :data:`dynpose100k.pose.confidence.JUMP_CONFIDENCE` (and the global second opinion runs). Good maps of dev
    clips reach 5.0 (357 maps, 5 and 10 s, several lenses); 40 of 121 bad ones exceed 7, among them 8 of
    the 15 that the calibrated confidence passed. 0 turns the check off."""
    max_map_disagreement: float = 0.05
    """When the global second opinion's map wins over a doubted incremental map, and the two (the same static
    tracks) disagree beyond this (:func:`dynpose100k.pose.confidence.map_disagreement`: RMS distance of the
    aligned camera centres over the path length), the confidence is capped at
    :data:`dynpose100k.pose.confidence.DISAGREEMENT_CONFIDENCE`: at most one of them is right. On 32 dev clips
    whose global map won, the good maps disagreed by 0.001-0.047 but one (0.121), the bad ones by 0.012-0.256.
    0 turns the check off."""
    max_moving_fraction: float = 0.5
    """Beyond this share of the registered frames' pixels marked moving by the released masks, the confidence
    is capped at :data:`dynpose100k.pose.confidence.MOVER_CONFIDENCE`. A large object that travels with the
    camera keeps its tracks for the whole clip while the background's are short, so over long frame gaps it
    can be the largest rigid group and the map is built on it; such a map is self-consistent, explains its
    tracks at a low error and passes every other check, but under its cameras the background moves. On 120
    dev clips (seeds 0-39 and 100-119, normal and hard) the good maps reach at most 0.48 and 12 wrong ones
    exceed 0.5; two maps built on a box carried ahead of the camera (hard seeds 149 and 169) measure 0.55 and
    0.65. 0 turns the check off."""
    weak_parallax_deg: float = 1.2
    """A map whose points are seen under a median triangulation angle (first to last observing camera,
    ``confidence_evidence.parallax_log``) under this many degrees, in a median of at most
    :attr:`weak_parallax_track_len` frames (``confidence_evidence.track_len_median``), has its confidence capped at
    :data:`dynpose100k.pose.confidence.WEAK_PARALLAX_CONFIDENCE`: short tracks that barely see the scene from
    two places leave the positions to the bundle adjustment's noise, and a fast pan nearly in place maps
    with the right turn and a wrong path at a low error. Of 176 dev maps (seeds 100-123 clean and through the
    consumer camera, hard seeds 100-139 through a 35-55 degree lens, seeds 200-219 through a 20-35 degree
    one, seeds 140-163) 20 fall in that corner, 18 of them wrong; the calibration passes none of the 20.
    0 turns the check off."""
    weak_parallax_track_len: float = 6.0
    """See :attr:`weak_parallax_deg`."""
    remap_movers: bool = True
    """When the frame moves under a map (:attr:`max_moving_fraction`), map the tracks that map leaves out
    (the same pose check and second opinion follow) and keep that map when at most
    :attr:`max_moving_fraction` moves under it; otherwise the first map is kept with its confidence capped.
    A map refused for no parallax gets the same check: an object carried with the camera hardly moves in the
    view, so a map built on it has no parallax, and the background moves under it; the refusal stands unless
    the map of the rest is kept.
    On the 17 dev clips whose maps were over 0.5 (seeds above), 10 maps of the rest were kept: 5 good, 4
    of them passed by the confidence, the other 5 flagged; before, none of the 17 was good."""

    def __post_init__(self):
        from ..errors import DynPoseError, check_range
        from ..models import check_device

        check_range("hfov_deg", self.hfov_deg, 0, 180, low_open=True, high_open=True)
        check_range("fps", self.fps, 0, low_open=True)
        check_range("dense_fps", self.dense_fps, 0)  # 0: off
        check_range("short_side", self.short_side, 16)
        check_range("work_short_side", self.work_short_side, 16)
        check_device(self.device)  # (here too: the default pipeline never loads a model that would)
        if self.tracker not in TRACKERS:
            raise DynPoseError(f"unknown tracker {self.tracker!r}; choose from {', '.join(TRACKERS)}")
        if self.tracker in LEARNED_TRACKERS and not self.tracker_model:
            raise DynPoseError(f"tracker {self.tracker} needs its weights: set tracker_model to a local file")

    def differences(self, recorded: dict) -> list[str]:
        """:func:`setting_changes` from ``recorded`` (the ``config`` of a saved result) to this configuration,
        ignoring :attr:`threads` and :attr:`device`, which change only the speed; a field the record lacks
        (written before the field existed) counts as its default, a field it has that no longer exists is left
        out."""
        default = dataclasses.asdict(PoseConfig())
        now = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("threads", "device")}
        return setting_changes({k: v for k, v in {**default, **recorded}.items() if k in now}, now)

    def known_focal(self, hw: tuple[int, int]) -> float | None:
        """The focal (px) of frames ``hw`` ``(h, w)`` given by :attr:`hfov_deg`; None when it is estimated."""
        from ..camera import focal_from_hfov

        return None if self.hfov_deg is None else float(focal_from_hfov(self.hfov_deg, hw[1]))


def setting_changes(old: dict, new: dict) -> list[str]:
    """``"name old -> new"`` for each setting whose value differs between two records (a missing one reads
    None), in the order of ``old`` then ``new``. Values compare as JSON holds them (tuples as lists)."""
    import json

    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))
    return [f"{k} {old.get(k)} -> {new.get(k)}" for k in {**old, **new} if old.get(k) != new.get(k)]


TRACKERS = ("klt", "dis", "cotracker3")
"""Names of :attr:`PoseConfig.tracker`."""
LEARNED_TRACKERS = ("cotracker3",)
"""The trackers that need weights (:attr:`PoseConfig.tracker_model`)."""

PRESETS: dict[str, PoseConfig] = {
    "dis-own-12fps": PoseConfig(),
    "dis-own-12fps-semantic": PoseConfig(preset="dis-own-12fps-semantic", semantic_model="models/segmentation"),
    "klt-own-12fps": PoseConfig(preset="klt-own-12fps", tracker="klt"),
    "cotracker3-own-12fps": PoseConfig(preset="cotracker3-own-12fps", tracker="cotracker3",
                                       tracker_model="models/cotracker3/scaled_offline.pth", window=24,
                                       window_stride=20),
    "dis-own-12fps-nomask": PoseConfig(preset="dis-own-12fps-nomask", dynamic_score=2.0, dense_flow=False,
                                       pose_check=False),
}
DEFAULT_PRESET = "dis-own-12fps"


def get_preset(name: str, **overrides) -> PoseConfig:
    """Preset ``name`` with field ``overrides`` applied (None values are ignored)."""
    from ..errors import DynPoseError

    if name not in PRESETS:
        raise DynPoseError(f"unknown pose preset {name!r}; choose from {', '.join(PRESETS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(PRESETS[name], **overrides)
