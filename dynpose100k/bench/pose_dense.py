"""Pose engine: the second look at a denser frame rate (``PoseConfig.dense_fps``), through the video path.

Each clip of ``bench pose``'s sets (the same seeds, sizes and hardness; ``--seed`` draws others) is rendered
at :data:`DENSE_FPS`, stored as an H.264 mp4 (CRF 18) and posed from that file as ``pose`` and ``curate`` do
it: decoded at 12 fps (the baseline arm), then, for the clips doubted there (``confidence`` under 0.5),
decoded again at the denser rate and that map kept when it is trusted
(:func:`dynpose100k.pose.pipeline.second_look`; the second arm). Both arms come from the same run, each
scored against the ground truth of the frames it posed (:func:`dynpose100k.evaluate.truth_of_frames`). Per set
and arm: good clips (ATE under 2% of the path, >= 80% registered), clips >= 80% registered, bad clips
flagged, good clips passed, bad clips passed, the Spearman rank correlations of the confidence and of the
reprojection error with the ATE over the path, and the pose time (decoding included) against the baseline's.
Saves ``<out>/pose_dense.json``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

DENSE_FPS = 24.0
"""The render rate and the second look's rate."""
ARMS = ("fps12", "second_look")


def _score(res, gt) -> dict:
    from ..evaluate import score_result
    from ..pose.confidence import is_good

    s = score_result(res, gt)
    return {"ate": s.ate, "ate_path_pct": s.ate_path_pct, "path_length": s.path_length,
            "registration_rate": s.registration_rate, "good": is_good(s.ate, s.path_length, s.registration_rate),
            "confidence": float(res.confidence), "confidence_caps": list(res.confidence_caps),
            "reproj_error_px_720p": float(res.reproj_error_px_720p), "frames": int(res.num_frames),
            "seconds": float(res.timings.get("total", float("nan")))}


def _run_clip(spec: dict, folder: Path) -> dict:
    """Render the clip of ``spec`` at :data:`DENSE_FPS`, store it as mp4 in ``folder`` and pose it both ways."""
    from ..pose import PoseConfig
    from ..pose.pipeline import decode_and_estimate, second_look, second_look_taken
    from ..video import write_video
    from .pose import _render

    v = _render({**spec, "fps": DENSE_FPS})
    gt = v.gt
    path = write_video(folder / f"{gt.video_id}.mp4", v.frames, DENSE_FPS)
    del v
    plain = decode_and_estimate(path, PoseConfig(), gt.video_id)
    dense = second_look(plain, PoseConfig(dense_fps=DENSE_FPS), path,
                        lambda config: decode_and_estimate(path, config, gt.video_id))
    path.unlink()
    row = {"video_id": gt.video_id + ("" if spec["style"] == "a" else "_" + spec["style"]), "set": spec["set"],
           "hard": spec["hard"], "fps12": _score(plain, gt), "second_look": _score(dense, gt)}
    row["second_look"]["looked"], row["second_look"]["kept"] = second_look_taken(dense)
    return row


def _arm(rows: list[dict], arm: str) -> dict:
    """Figures of one arm over ``rows`` (see the module docstring)."""
    from ..pose.confidence import self_assessment

    r = [x[arm] for x in rows]
    sa = self_assessment([x["good"] for x in r], [x["confidence"] for x in r], [x["reproj_error_px_720p"] for x in r],
                         [x["ate_path_pct"] for x in r], caps=[x["confidence_caps"] for x in r])
    return {"clips": len(r), "registered_80": sum(x["registration_rate"] >= 0.8 for x in r), **sa,
            "median_ate_path_pct": float(np.nanmedian([x["ate_path_pct"] for x in r])) if r else float("nan"),
            "seconds": float(np.nansum([x["seconds"] for x in r]))}


def run(out: Path, quick: bool = False, sets: tuple[str, ...] = ("dev", "heldout", "style_b"), clips: int = 6,
        seed: int = 0) -> dict:
    """The benchmark on ``clips`` clips per set of ``sets`` (half of them hard), ``seed`` added to every clip's
    seed as in ``bench pose``; ``quick``: two small clips per set."""
    from .pose import _clips

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in _clips(quick, tuple(sets), clips, seed):
            rows.append(_run_clip(spec, Path(tmp)))
            a, b = rows[-1]["fps12"], rows[-1]["second_look"]
            print(f"  [{spec['set']}] {rows[-1]['video_id']}: 12 fps {a['ate_path_pct']:.2f}% of the path, confidence "
                  f"{a['confidence']:.2f}" + (f"; at {DENSE_FPS:g} fps {'kept' if b['kept'] else 'not kept'}: "
                                                f"{b['ate_path_pct']:.2f}%, confidence {b['confidence']:.2f}"
                                                if b["looked"] else ""), flush=True)
    table = {name: {arm: _arm([r for r in rows if r["set"] == name], arm) for arm in ARMS} for name in sets}
    protocol = (f"clips rendered at {DENSE_FPS:g} fps, stored as mp4 (CRF 18), posed from the file at 12 fps; "
                f"second_look: clips with confidence < 0.5 posed again at {DENSE_FPS:g} fps, kept when trusted; "
                "good = ATE < 2% of the path and >= 80% of frames registered")
    result = {"protocol": protocol,
              "seed": seed, "clips": clips, "sets": table, "videos": rows}
    _print(table)
    (Path(out) / "pose_dense.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {Path(out) / 'pose_dense.json'}")
    return result


def _print(table: dict) -> None:
    print(f"\n{'set':<8} {'arm':<12} {'good':>7} {'>=80% reg':>9} {'bad flagged':>11} {'good passed':>11} "
          f"{'bad passed':>10} {'rho conf / reproj':>17} {'pose s':>7} {'vs 12 fps':>9}")
    for name, arms in table.items():
        base = arms["fps12"]["seconds"] or float("nan")
        for arm, t in arms.items():
            print(f"{name:<8} {arm:<12} {t['good']:>3d} / {t['clips']:<2d} {t['registered_80']:>9d} "
                  f"{t['bad_flagged']:>6d} / {t['bad']:<3d} {t['good_passed']:>6d} / {t['good']:<3d} "
                  f"{t['bad'] - t['bad_flagged']:>10d} {t['spearman_confidence_ate']:>+8.2f} / "
                  f"{t['spearman_reproj_ate']:<+6.2f} {t['seconds']:7.0f} {t['seconds'] / base:9.2f}")
