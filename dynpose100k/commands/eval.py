"""``dynpose100k eval``: score pose results against synthetic ground truth (ATE/RPE, Sampson)."""

from __future__ import annotations

import json
from pathlib import Path

HELP = "score pose results against ground truth (ATE/RPE, Sampson, how well the confidence flags)"
EXAMPLES = """
  dynpose100k eval outputs/poses-dis-own-12fps --gt data/synth
  dynpose100k eval outputs/poses --gt data/synth --json outputs/eval.json

Ground truth is <GT_DIR>/<video_id>.gt.npz (written by `dynpose100k synth`); a result at another frame size is
scored with its intrinsics rescaled, one at a lower frame rate on the ground-truth frames at its timestamps
(one whose frames match none is skipped). Protocol (dynpose100k.evaluate.video):
unregistered frames take the nearest registered pose (failed video: identity rotation + random translation),
Sim(3)-aligned ATE and RPE (pairs i, i+1) on all frames; Sampson error of GT static correspondences under
estimated poses and K (a video with nothing registered: f = max(H, W)), normalised to 720p.
"""


def add_arguments(p):
    p.add_argument("pose_dir", type=Path, metavar="POSE_DIR", help="folder of <video_id>/ pose results")
    p.add_argument("--gt", type=Path, required=True, metavar="GT_DIR", help="folder of <video_id>.gt.npz files")
    p.add_argument("--json", type=Path, default=None, help="where to save the figures (default POSE_DIR/eval.json)")


def run(args) -> int:
    import numpy as np

    from ..errors import DynPoseError
    from ..evaluate import mask_iou, score_result, summarise, truth_of_frames
    from ..pose.confidence import ATE_PATH_FRACTION, MIN_REGISTERED, TRUSTED, is_good, self_assessment
    from ..pose.result import find_pose_results, load_pose_result
    from ..synth import load_gt

    dirs = find_pose_results(args.pose_dir, required=True)
    if not args.gt.is_dir():
        raise DynPoseError(f"--gt {args.gt}: {'not a folder' if args.gt.exists() else 'no such folder'}; give the "
                           "folder of <video_id>.gt.npz files that `dynpose100k synth` wrote")
    if not any(args.gt.glob("*.gt.npz")):
        raise DynPoseError(f"--gt {args.gt}: no ground truth in it (<video_id>.gt.npz files, written by "
                           "`dynpose100k synth`)")
    scores, rows = [], {}
    for d in dirs:
        gt_path = args.gt / f"{d.name}.gt.npz"
        if not gt_path.is_file():
            print(f"  {d.name}: no ground truth {gt_path}, skipped")
            continue
        res = load_pose_result(d)
        try:
            gt = truth_of_frames(res, load_gt(gt_path))  # the frames it posed
            score = score_result(res, gt)
        except DynPoseError as e:
            print(f"  {e}, skipped")
            continue
        scores.append(score)
        rows[d.name] = {**score.to_dict(), "mask_iou": mask_iou(res.dynamic_masks, gt.dynamic_mask),
                        "reproj_error_px_720p": res.reproj_error_px_720p, "ate_path_pct": score.ate_path_pct,
                        "confidence": res.confidence, "confidence_caps": list(res.confidence_caps),
                        "good": is_good(score.ate, score.path_length, score.registration_rate)}
    if not rows:
        raise DynPoseError(f"none of the {len(dirs)} pose results in {args.pose_dir} has its ground truth in {args.gt}")
    head = (f"{'video':<24} {'reg%':>6} {'ATE':>8} {'%path':>6} {'RPE-t':>8} {'RPE-r°':>7} {'S<5%':>6} {'S<10%':>6} "
            f"{'S<30%':>6} {'S mean':>7} {'maskIoU':>7} {'conf':>5}  capped by")
    print(head)
    for vid, r in rows.items():
        s = r.get("sampson", {})
        print(f"{vid:<24} {100 * r['registration_rate']:6.1f} {r['ate']:8.4f} {r['ate_path_pct']:6.2f} "
              f"{r['rpe_trans']:8.4f} {r['rpe_rot_deg']:7.3f} {s.get('pct_lt_5', np.nan):6.1f} "
              f"{s.get('pct_lt_10', np.nan):6.1f} {s.get('pct_lt_30', np.nan):6.1f} {s.get('mean', np.nan):7.2f} "
              f"{r['mask_iou']:7.3f} {r['confidence']:5.2f}  {', '.join(r['confidence_caps'])}")
    summary = summarise(scores)
    print(f"{'mean':<24} {summary['frames_registered_pct']:6.1f} {summary['ate']:8.4f} {'':>6} "
          f"{summary['rpe_trans']:8.4f} {summary['rpe_rot_deg']:7.3f}   ({summary['videos_registered_pct']:.0f}% of "
          f"{len(scores)} videos registered; failed videos filled, see --help)")
    v = list(rows.values())
    sa = self_assessment([r["good"] for r in v], [r["confidence"] for r in v], [r["reproj_error_px_720p"] for r in v],
                         [r["ate_path_pct"] for r in v], caps=[r["confidence_caps"] for r in v])
    print(f"confidence >= {TRUSTED:g}: {sa['good_passed']} of {sa['good']} good maps "
          f"(ATE under {100 * ATE_PATH_FRACTION:g}% of the path, >= {100 * MIN_REGISTERED:g}% registered), "
          f"{sa['bad'] - sa['bad_flagged']} of {sa['bad']} bad ones")
    if sa["good_held"]:
        print("good maps held back by: " + ", ".join(f"{k} {n}" for k, n in sa["good_held"].items())
              + " (evidence: the calibrated evidence itself, no physical check)")
    path = args.json or args.pose_dir / "eval.json"
    doc = {"protocol": "sim3 ATE/RPE on filled poses; Sampson 720p (dynpose100k.evaluate.video)",
           "summary": summary, "videos": rows}
    path.write_text(json.dumps(doc, indent=2))
    print(f"saved {path}")
    return 0
