"""``dynpose100k pose``: estimate camera poses and intrinsics on dynamic videos (resumable)."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

HELP = "estimate camera poses and intrinsics on dynamic videos"
EXAMPLES = """
  dynpose100k pose data/synth/good_0004_s4.mp4 --out outputs/poses
  dynpose100k pose data/synth --preset dis-own-12fps --short-side 360
  dynpose100k pose clip_frames/ other.mp4 --fps 12 --out outputs/poses-dis-own-12fps
  dynpose100k pose my_phone_clips/ --hfov 69.4 --out outputs/poses-phone    # a lens of known field of view
  dynpose100k pose videos/ --workers 8 --out outputs/poses                   # 8 clips at a time

INPUT is a video file, a folder of frames (*.jpg/*.png), or a folder of videos. Each video gets
<out>/<video_id>/{poses.npz,tracks.npz,masks.npz,result.json}; existing results are skipped and counted
in the report (--overwrite recomputes). A folder with no video or frames in it is an error. Poses are
world-to-camera 4x4 (OpenCV axes), K in pixels of the decoded frames. --workers N poses N clips at a time,
each in its own process on one thread: the results are the same as with one worker (every setting that
decides them is shared; threads change only the speed).
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    from ..pose.config import DEFAULT_PRESET, PRESETS
    from . import add_dense_fps_argument, add_hfov_argument

    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="video files, frame folders or folders of clips (subfolders included)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default outputs/poses-<preset>)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS), help="configuration preset")
    p.add_argument("--fps", type=float, default=None, help="sampling rate (default: the preset's, 12)")
    add_dense_fps_argument(p)
    p.add_argument("--short-side", type=int, default=None, help="resize frames to this short side (px)")
    p.add_argument("--work-short-side", type=int, default=None,
                   help="analyse at this short side (default: the preset's, 360; 0: at the decoded size)")
    add_hfov_argument(p)
    p.add_argument("--tracker-model", default=None, metavar="PATH",
                   help="local weights of the preset's learned tracker (preset cotracker3-own-12fps: "
                        "CoTracker3's scaled_offline.pth; default models/cotracker3/scaled_offline.pth)")
    p.add_argument("--confidence-model", default=None, metavar="JSON",
                   help="confidence calibration (default: the one packaged for the preset's tracker)")
    p.add_argument("--device", default=None,
                   help="torch device of learned models: auto (default: cuda when a GPU is visible), cpu, cuda:1")
    p.add_argument("--overwrite", action="store_true", help="recompute existing results")
    p.add_argument("--workers", type=int, default=1,
                   help="clips posed at a time, each in its own single-threaded process (default 1: one clip "
                        "on the config's threads); about one per core")


def _pose_one(item) -> tuple[Path | None, str | None]:
    """Pose one clip (``pose_video``'s arguments): ``(result folder, None)``, or ``(None, error line)`` for an
    input that cannot be read (or whose id holds another video's result)."""
    from ..errors import DynPoseError
    from ..pose import pose_video

    path, out, config, vid, overwrite = item
    try:
        return pose_video(path, out, config, video_id=vid, overwrite=overwrite), None
    except DynPoseError as e:  # the message names the file (also: the result there is another video's)
        return None, str(e)


def run(args) -> int:
    from tqdm import tqdm

    from ..errors import check_range
    from ..ids import unique_ids
    from ..pose import get_preset, load_pose_result, result_exists
    from ..pose.confidence import TRUSTED
    from ..pose.pipeline import second_look_taken
    from ..pose.tracking import check_models
    from ..workers import clip_map, in_pool
    from . import check_out_dir, collect_videos

    config = get_preset(args.preset, fps=args.fps, short_side=args.short_side, hfov_deg=args.hfov,
                        dense_fps=args.dense_fps, tracker_model=args.tracker_model, device=args.device,
                        confidence_model=args.confidence_model)
    if args.work_short_side is not None:
        config = dataclasses.replace(config, work_short_side=args.work_short_side or None)
    check_range("--workers", args.workers, 1)
    out = check_out_dir(args.out or Path("outputs") / f"poses-{config.preset}")
    videos = collect_videos(args.inputs)
    parallel = in_pool(args.workers, len(videos))
    # a learned tracker's weights, a calibration: loaded once, an error before any video is posed; clips posed by
    # workers load their own, and this process keeps no copy
    check_models(config, keep=not parallel)
    ids = unique_ids(videos)
    done_before = [not args.overwrite and result_exists(out, vid) for vid in ids]
    # several clips share the cores: each process poses on one thread (threads change only the speed)
    config_run = dataclasses.replace(config, threads=1) if parallel else config
    items = [(path, out, config_run, vid, args.overwrite) for path, vid in zip(videos, ids)]
    failures: list[str] = []
    unreadable: list[str] = []
    ok = skipped = trusted = looked = kept = 0
    other: dict[str, int] = {}  # skipped results made with other settings: difference -> count
    held: dict[str, int] = {}  # untrusted maps: physical check that capped the confidence -> count
    with clip_map(_pose_one, items, args.workers) as outcomes:
        for path, done, (folder, error) in tqdm(zip(videos, done_before, outcomes), total=len(videos), desc="pose",
                                                unit="video", disable=len(videos) < 2):
            if error is not None:
                unreadable.append(error)
                continue
            res = load_pose_result(folder)
            skipped += done
            for d in config.differences(res.config) if done else ():
                other[d] = other.get(d, 0) + 1
            again, denser = second_look_taken(res)
            looked, kept = looked + again, kept + denser
            if res.failure_reason:
                failures.append(f"{path}: not registered: {res.failure_reason}")
            else:
                ok += 1
                trusted += res.confidence >= TRUSTED
                for cap in res.confidence_caps if not res.confidence >= TRUSTED else ():
                    held[cap] = held.get(cap, 0) + 1
                log.info("%s: %.0f%% registered, reprojection %.2f px (720p), confidence %.2f", res.video_id,
                         100 * res.registered_fraction, res.reproj_error_px_720p, res.confidence)
    print(f"pose: {ok}/{len(videos)} videos registered -> {out}")
    if ok:
        print(f"  {trusted} of them trusted (confidence >= {TRUSTED:g})")
    if held:  # why the others are doubted, where a physical check says it (result.json's confidence_caps)
        print("  doubted by a physical check: " + ", ".join(f"{k} {n}" for k, n in held.items())
              + (" (focal_change: a zoom, or a focal the clip cannot pin down, e.g. on a straight walk or drive)"
                 if "focal_change" in held else ""))
    if config.dense_fps > config.fps:
        print(f"  {looked} doubted at {config.fps:g} fps posed again at {config.dense_fps:g}, {kept} of those denser "
              "maps kept")
    if skipped:
        print(f"skipped {skipped} video{'s' * (skipped != 1)} already done in {out} (use --overwrite to recompute)")
    if other:
        print("  of them, made with other settings than these: "
              + ", ".join(f"{d} ({n})" for d, n in sorted(other.items())))
    for line in failures:
        print(f"  {line}")
    # videos whose reconstruction failed are results (written, registered all false); an input that could
    # not be read at all is a user error: report each on one line and exit 1 once the others are done
    for line in unreadable:
        print(f"dynpose100k pose: error: {line}", file=sys.stderr)
    return 1 if unreadable else 0
