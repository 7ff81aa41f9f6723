"""Pose engine robustness: the same dev clips seen through worse cameras and other lenses.

Footage from elsewhere differs from the clips the engine was tuned on in two ways this benchmark can vary
one at a time, on dev seeds, without spending the held-out or style-b clips:

* the image: five degradations of :func:`dynpose100k.synth.degrade` (blur, noise, compression, flat
  contrast, low resolution) applied to the clean frames; the geometry is unchanged;
* the lens: the same scene and camera path rendered with a long lens (20-35 degrees across) and a wide
  one (85-100 degrees); dev clips draw 55-75 (the movers are the same unless the coverage cap redraws
  them for the new view);
* the camera: the clean frames recorded through :func:`dynpose100k.synth.consumer_camera` (motion blur,
  exposure lag, vignetting, noise, JPEG; day, dusk or night), the camera model style ``b`` uses;
* the content: the same scene, path and movers with thin structures (poles, fences, railings) beside the
  path and a crowd of small walkers added (``render(clutter=True)``);
* the frame: the clean frames inside letterbox bars or pillarbox bars around the portrait middle of the view
  (:func:`dynpose100k.synth.bars`; the same camera, a narrower picture), as Internet clips come;
* the speed: ``fast``, the clip's seed rendered over twice its length at half its rate (the same number of
  frames, about twice the motion between two of them; the scene and path are drawn for the longer clip) and
  recorded through the consumer camera, whose motion blur then doubles too: fast turns in a worse camera,
  by day, dusk or night, where style-b clips lose their tracks.

Per condition, beside the clean clips of the same run (the baseline): good clips (ATE below 2% of the path
length and >= 80% of frames registered), median ATE over the path length, frames registered, and how the
``confidence`` flags the result (bad clips below 0.5, good clips at or above it, Spearman rank correlation
with ATE). Scoring is :func:`dynpose100k.bench.pose._run_clip`'s, the same as ``bench pose``. Clips: dev
seeds from :data:`SEED0` (beyond ``bench pose``'s dev clips and the confidence calibration's seeds 0-39),
640x360, 5 s, 12 fps, the second half hard. Saves ``<out>/pose_robustness.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CONDITIONS: dict[str, dict] = {
    "clean": {},
    "blur": {"degrade": "blur"},
    "noise": {"degrade": "noise"},
    "jpeg": {"degrade": "jpeg"},
    "contrast": {"degrade": "contrast"},
    "lowres": {"degrade": "lowres"},
    "long_lens": {"hfov_deg": (20.0, 35.0)},
    "wide_lens": {"hfov_deg": (85.0, 100.0)},
    "camera": {"camera": True},
    "clutter": {"clutter": True},
    "letterbox": {"bars": "letterbox"},
    "portrait": {"bars": "portrait"},
    "fast": {"speed": 2.0, "camera": True},
}
"""Condition name -> what it changes in the clip spec (``degrade``: a :data:`dynpose100k.synth.DEGRADATIONS`
entry; ``hfov_deg``: the field-of-view range the render draws from; ``camera``: the consumer-camera model;
``clutter``: thin structures and a crowd in the render; ``bars``: a :data:`dynpose100k.synth.BAR_LAYOUTS` entry;
``speed``: the render over ``speed`` times the clip's length at 12 / ``speed`` fps)."""
SEED0 = 40
"""First render seed (dev split) of the clips."""


def _specs(quick: bool, clips: int, conditions=tuple(CONDITIONS)) -> list[dict]:
    from .pose import _base_clips

    base = _base_clips(quick, clips)  # clip by clip, so a render serves every degradation of it
    specs = [{**c, "seed": SEED0 + c["seed"], "set": name, "style": "a", **CONDITIONS[name]}
             for c in base for name in conditions]
    for s in specs:
        if "speed" in s:
            speed = s.pop("speed")
            s.update(fps=12.0 / speed, duration=s["duration"] * speed)
    return specs


def _condition(rows: list[dict]) -> dict:
    """Figures of one condition's rows (see the module docstring)."""
    from .pose import _self_assessment

    rel = [r["ours"]["ate"] / r["path_length"] if r["path_length"] > 0 else float("nan") for r in rows]
    return {
        "clips": len(rows),
        "good": sum(r["ours"]["good"] for r in rows),
        "median_ate_path_pct": float(100 * np.nanmedian(rel)),
        "frames_registered_pct": float(100 * np.mean([r["ours"]["registration_rate"] for r in rows])),
        **{k: v for k, v in _self_assessment(rows).items() if k != "ate_ratio_vs_colmap"},
    }


def run(out: Path, quick: bool = False, clips: int = 12, conditions=None) -> dict:
    """The benchmark on ``clips`` clips per condition (half of them hard); ``quick``: two small clips;
    ``conditions``: names of :data:`CONDITIONS` to run (default all; ``clean``, the baseline, always runs)."""
    from ..errors import DynPoseError
    from .pose import _render, _run_clip

    if clips < 2:
        raise DynPoseError(f"need at least 2 clips per condition, got {clips}")
    unknown = sorted(set(conditions or ()) - set(CONDITIONS))
    if unknown:
        raise DynPoseError(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    conditions = [n for n in CONDITIONS if conditions is None or n == "clean" or n in conditions]
    rows, rendered = [], {}
    for spec in _specs(quick, clips, conditions):
        key = (spec["seed"], spec.get("hfov_deg"), spec.get("clutter", False), spec.get("fps"), spec["duration"])
        if key not in rendered:  # the degradations of a clip share its render; one clip in memory at a time
            rendered = {key: _render(spec)}
        rows.append({**_run_clip(spec, baselines=False, video=rendered[key]), "seed": spec["seed"]})
        o = rows[-1]["ours"]
        print(f"  [{spec['set']}] {rows[-1]['video_id']}: ATE {100 * o['ate'] / rows[-1]['path_length']:.2f}% of the "
              f"path, {100 * o['registration_rate']:.0f}% registered, confidence {o['confidence']:.2f}", flush=True)
    table = {name: _condition([r for r in rows if r["set"] == name]) for name in conditions}
    result = {
        "protocol": f"dev 'good' clips from seed {SEED0}, second half hard; conditions: "
                    + "; ".join(f"{k} {CONDITIONS[k] or 'baseline'}" for k in conditions)
                    + "; good = ATE < 2% of the path and >= 80% of frames registered (failed frames filled)",
        "conditions": table,
        "videos": rows,
    }
    _print(table)
    (Path(out) / "pose_robustness.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {Path(out) / 'pose_robustness.json'}")
    return result


def _print(table: dict) -> None:
    base = table["clean"]["good"]
    print(f"\n{'condition':<11} {'good':>7} {'vs clean':>8} {'ATE/path':>9} {'%frm reg':>8} "
          f"{'bad flagged':>11} {'good passed':>11} {'Spearman':>8}")
    for name, t in table.items():
        ratio = t["good"] / base if base else float("nan")
        print(f"{name:<11} {t['good']:>3d} / {t['clips']:<2d} {ratio:8.2f} {t['median_ate_path_pct']:8.2f}% "
              f"{t['frames_registered_pct']:8.1f} {t['bad_flagged']:>6d} / {t['bad']:<3d} "
              f"{t['good_passed']:>6d} / {t['good']:<3d} {t['spearman_confidence_ate']:8.2f}")
