"""Refit or check the packaged confidence calibration on posed synthetic clips with ground truth.

``python -m dynpose100k.pose.fit_confidence fit POSE_DIR GT_DIR [OUT.json]`` fits the logistic map of
:mod:`dynpose100k.pose.confidence` from the ``confidence_evidence`` in ``POSE_DIR/<id>/result.json`` and
the ground truth ``GT_DIR/<id>.gt.npz`` (default output: the packaged calibration of the tracker the clips
were posed with, ``confidence_<tracker>.json``);
``report POSE_DIR GT_DIR [--model M]`` prints the figures (rank correlations with ATE / path length, bad
and good videos on each side of 0.5) on another seed range. ``pool OUT --seeds A:B`` renders and poses the
clips such a fit needs (:func:`build_pool`): ``OUT/poses`` and ``OUT/gt``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .confidence import (
    ATE_PATH_FRACTION,
    BAD_WEIGHT,
    FEATURES,
    MIN_REGISTERED,
    MODEL_FEATURES,
    TRACKER_CONFIDENCE,
    ConfidenceModel,
    calibration_report,
    calibration_rows,
    fit_confidence,
    load_confidence_model,
)
from .config import DEFAULT_PRESET

POOL_CONDITIONS = {
    "clean": {},
    "lens": {"hfov_deg": (20.0, 100.0)},
    "degrade": {"degrade": True},
    "long": {"duration_factor": 2.0},
    "clutter": {"clutter": True},
    "camera": {"camera": True},
}
"""Conditions of a calibration pool: each seed's clip as rendered (dev lens, 55-75 degrees across); the same
scene through a lens drawn from 20-100 degrees; its clean frames through one image degradation of
:func:`dynpose100k.synth.degrade` (cycled over seeds and hardness); and the seed's clip rendered twice as
long (10 s at the default 5 s); the seed's scene with thin structures beside the path and a crowd of small
walkers added (:func:`dynpose100k.synth.render`'s ``clutter``); and the seed's clip through a consumer
camera (:func:`dynpose100k.synth.consumer_camera`: motion blur, exposure lag, vignetting, noise, JPEG),
so that a calibration can be checked (``report``) or refitted on clips whose lens, image quality, length,
content and camera vary as footage from elsewhere does."""


def build_pool(out: str | Path, seeds: range, conditions=tuple(POOL_CONDITIONS), *, height: int = 360,
               width: int = 640, duration: float = 5.0, log_each=print, config=None) -> tuple[Path, Path]:
    """Render the synthetic ``good`` clips of ``seeds`` (normal and hard; 640x360, 5 s, 12 fps by default,
    style a dev split) under each of ``conditions`` (:data:`POOL_CONDITIONS`), pose them with ``config`` (a
    :class:`~dynpose100k.pose.PoseConfig`; default: the default one) and write ``out/poses/<id>/`` and
    ``out/gt/<id>.gt.npz`` (``<id>``: ``good_s<seed>[_hard]_<condition>``). Results already there are skipped.
    Returns ``(poses, gt)``."""
    from ..synth import DEGRADATIONS, recorded, render
    from ..synth.truth import save_gt
    from .config import PoseConfig
    from .pipeline import estimate_poses
    from .result import is_pose_result, save_pose_result

    poses, gts = Path(out) / "poses", Path(out) / "gt"
    gts.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for hard in (False, True):
            for cond in conditions:
                change = POOL_CONDITIONS[cond]
                vid = f"good_s{seed}{'_hard' if hard else ''}_{cond}"
                if is_pose_result(poses / vid) and (gts / f"{vid}.gt.npz").exists():
                    continue
                v = render("good", seed, height=height, width=width, fps=12.0,
                           duration=duration * change.get("duration_factor", 1.0), hard=hard, style="a",
                           hfov_deg=change.get("hfov_deg"), clutter=change.get("clutter", False), video_id=vid)
                frames = recorded(v.frames, v.gt, seed, int(hard), camera=change.get("camera", False),
                                  degradation=DEGRADATIONS[(seed + 2 * hard) % len(DEGRADATIONS)]
                                  if change.get("degrade") else None)
                res = estimate_poses(frames, v.gt.timestamps, config or PoseConfig(), video_id=vid)
                save_gt(gts / f"{vid}.gt.npz", v.gt)
                save_pose_result(poses, res)
                log_each(f"{vid}: {100 * res.registered_fraction:.0f}% registered, confidence {res.confidence:.2f}")
    return poses, gts


def packaged_target(rows: list[dict], where="") -> Path:
    """The packaged calibration (:data:`~dynpose100k.pose.confidence.TRACKER_CONFIDENCE`) of the tracker that
    every row of :func:`~dynpose100k.pose.confidence.calibration_rows` records. Raises
    :class:`~dynpose100k.errors.DynPoseError` when they name none, several, or one with no packaged file."""
    from ..errors import DynPoseError

    found = {r["tracker"] for r in rows}
    if len(found) != 1 or next(iter(found)) not in TRACKER_CONFIDENCE:
        raise DynPoseError(f"{where}: results posed with tracker(s) {sorted(map(str, found))}, not one with a "
                           f"packaged calibration ({', '.join(TRACKER_CONFIDENCE)}); name the output JSON")
    return TRACKER_CONFIDENCE[found.pop()]


def main(argv=None) -> int:
    """``python -m dynpose100k.pose.fit_confidence fit|report POSE_DIR GT_DIR [...]``."""
    from ..errors import DynPoseError

    p = argparse.ArgumentParser(prog="python -m dynpose100k.pose.fit_confidence",
                                description="refit or check the confidence calibration on posed synthetic clips")
    sub = p.add_subparsers(dest="verb", required=True)
    f = sub.add_parser("fit", help="fit the logistic calibration and save it as JSON")
    f.add_argument("pose_dir", help="pose results (<id>/result.json with confidence_evidence)")
    f.add_argument("gt_dir", help="<id>.gt.npz ground truth (dynpose100k synth)")
    f.add_argument("out", nargs="?", default=None,
                   help="output JSON (default: the packaged calibration of the tracker the results were posed with)")
    f.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the standardised weights (default 1)")
    f.add_argument("--bad-weight", type=float, default=BAD_WEIGHT,
                   help=f"weight of a bad video relative to a good one (default {BAD_WEIGHT:g})")
    f.add_argument("--features", default=",".join(MODEL_FEATURES),
                   help=f"comma-separated evidence features (default: {','.join(MODEL_FEATURES)}; "
                        f"all: {','.join(FEATURES)})")
    f.add_argument("--note", default="", help="free text stored in the model's info (e.g. the clips used)")
    r = sub.add_parser("report", help="figures of a calibration on (held-out) posed clips")
    r.add_argument("pose_dir")
    r.add_argument("gt_dir")
    r.add_argument("--model", help="calibration JSON (default: the confidence stored in result.json)")
    b = sub.add_parser("pool", help="render and pose the synthetic clips a fit needs (OUT/poses, OUT/gt)")
    b.add_argument("out")
    b.add_argument("--seeds", default="0:40", help="render seeds A:B (default 0:40, the packaged fit's)")
    b.add_argument("--conditions", default=",".join(POOL_CONDITIONS),
                   help=f"comma-separated, from {', '.join(POOL_CONDITIONS)} (default: all)")
    b.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"pose preset the clips are posed with (default {DEFAULT_PRESET}; a calibration is per "
                        "tracker)")
    b.add_argument("--tracker-model", default=None, metavar="PATH", help="the preset's learned tracker weights")
    args = p.parse_args(argv)
    try:
        if args.verb == "pool":
            try:
                a, z = (int(x) for x in args.seeds.split(":"))
            except ValueError:
                raise DynPoseError(f"--seeds takes A:B (two integers), got {args.seeds!r}") from None
            conds = tuple(c for c in args.conditions.split(",") if c)
            if set(conds) - set(POOL_CONDITIONS) or not conds or a >= z:
                raise DynPoseError(f"--conditions from {', '.join(POOL_CONDITIONS)}; --seeds A:B with A < B")
            from .config import get_preset
            from .tracking import check_models

            config = get_preset(args.preset, tracker_model=args.tracker_model)
            check_models(config)
            poses, gts = build_pool(args.out, range(a, z), conds, config=config)
            print(f"fit with: python -m dynpose100k.pose.fit_confidence fit {poses} {gts} OUT.json")
            return 0
        rows = calibration_rows(args.pose_dir, args.gt_dir)
        if args.verb == "fit":
            used = [x for x in rows if x["evidence"]]
            feats = tuple(f for f in args.features.split(",") if f)
            unknown = set(feats) - set(FEATURES)
            if unknown:
                raise DynPoseError(f"unknown feature(s) {sorted(unknown)}; choose from {', '.join(FEATURES)}")
            out = Path(args.out) if args.out else packaged_target(used, args.pose_dir)  # refused before any fit
            m = fit_confidence(used, features=feats, l2=args.l2, bad_weight=args.bad_weight, info={
                "target": f"ATE < {ATE_PATH_FRACTION:g} x path length and registered >= {MIN_REGISTERED:g}",
                "l2": args.l2, "note": args.note})
            rep = calibration_report(used, m)
            m = ConfidenceModel(m.features, m.mean, m.scale, m.weights, m.bias, dict(m.info, fit_report=rep))
            out.write_text(json.dumps(m.to_json(), indent=1) + "\n")
            print(json.dumps(rep, indent=1))
            print(f"saved {out}")
        else:
            model = load_confidence_model(args.model) if args.model else None
            print(json.dumps(calibration_report(rows, model), indent=1))
    except DynPoseError as e:
        print(f"confidence: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
