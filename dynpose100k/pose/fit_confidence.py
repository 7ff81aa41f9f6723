"""Refit or check the packaged confidence calibration on posed synthetic clips with ground truth.

``python -m dynpose100k.pose.fit_confidence fit POSE_DIR GT_DIR [OUT.json]`` fits the logistic map of
:mod:`dynpose100k.pose.confidence` from the ``confidence_evidence`` in ``POSE_DIR/<id>/result.json`` and
the ground truth ``GT_DIR/<id>.gt.npz`` (default output: the packaged ``default_confidence.json``);
``report POSE_DIR GT_DIR [--model M]`` prints the figures (rank correlations with ATE / path length, bad
and good videos on each side of 0.5) on another seed range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .confidence import (
    ATE_PATH_FRACTION,
    BAD_WEIGHT,
    DEFAULT_CONFIDENCE,
    FEATURES,
    MIN_REGISTERED,
    MODEL_FEATURES,
    ConfidenceModel,
    calibration_report,
    calibration_rows,
    fit_confidence,
    load_confidence_model,
)


def main(argv=None) -> int:
    """``python -m dynpose100k.pose.fit_confidence fit|report POSE_DIR GT_DIR [...]``."""
    from ..errors import DynPoseError

    p = argparse.ArgumentParser(prog="python -m dynpose100k.pose.fit_confidence",
                                description="refit or check the confidence calibration on posed synthetic clips")
    sub = p.add_subparsers(dest="verb", required=True)
    f = sub.add_parser("fit", help="fit the logistic calibration and save it as JSON")
    f.add_argument("pose_dir", help="pose results (<id>/result.json with confidence_evidence)")
    f.add_argument("gt_dir", help="<id>.gt.npz ground truth (dynpose100k synth)")
    f.add_argument("out", nargs="?", default=str(DEFAULT_CONFIDENCE), help="output JSON (default: the packaged one)")
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
    args = p.parse_args(argv)
    try:
        rows = calibration_rows(args.pose_dir, args.gt_dir)
        if args.verb == "fit":
            used = [x for x in rows if x["evidence"]]
            feats = tuple(f for f in args.features.split(",") if f)
            unknown = set(feats) - set(FEATURES)
            if unknown:
                raise DynPoseError(f"unknown feature(s) {sorted(unknown)}; choose from {', '.join(FEATURES)}")
            m = fit_confidence(used, features=feats, l2=args.l2, bad_weight=args.bad_weight, info={
                "target": f"ATE < {ATE_PATH_FRACTION:g} x path length and registered >= {MIN_REGISTERED:g}",
                "l2": args.l2, "note": args.note})
            rep = calibration_report(used, m)
            m = ConfidenceModel(m.features, m.mean, m.scale, m.weights, m.bias, dict(m.info, fit_report=rep))
            Path(args.out).write_text(json.dumps(m.to_json(), indent=1) + "\n")
            print(json.dumps(rep, indent=1))
            print(f"saved {args.out}")
        else:
            model = load_confidence_model(args.model) if args.model else None
            print(json.dumps(calibration_report(rows, model), indent=1))
    except DynPoseError as e:
        print(f"confidence: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
