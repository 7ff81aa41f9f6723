"""Pose benchmark: our engine vs COLMAP, COLMAP+Mask and the paper's floor on the same synthetic frames.

Lightspeed-style table (% videos registered, ATE, RPE trans, RPE rot; failed frames/videos filled as the
paper does: :mod:`dynpose100k.evaluate.video`) over all videos and over the subset every method registers;
Panda-Test-style Sampson table (per-video mean Sampson error of GT static correspondences, 720p: % < 5 / 10
/ 30 px, mean); our motion-mask IoU and static-track precision; seconds per video per method; and the
wall time + peak memory of one 10 s 640x360 12 fps clip (separate process). Saves ``<out>/pose.json``,
and our results and the ground truth of each set's clips as ``<out>/poses/<set>/`` and ``<out>/gt/<set>/``
(``python eval/quality_subsets.py <out>/poses/heldout <out>/gt/heldout`` tables them).

The same clip specs are rendered for three sets (:data:`SETS`): ``dev`` (style a, dev seeds: what the
engine is tuned on), ``heldout`` (style a, held-out seeds and scene parameters) and
``style_b`` (the other scene family, held-out seeds); ``sets`` in the JSON holds the tables, once per set,
and the printout puts the sets side by side.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..pose.config import DEFAULT_PRESET

log = logging.getLogger(__name__)

METHODS = ("ours", "colmap", "colmap_mask", "floor")
METHOD_NAMES = {"ours": "ours", "colmap": "COLMAP", "colmap_mask": "COLMAP+Mask", "floor": "floor"}
"""How the printed tables name each of :data:`METHODS`."""
#: benchmark sets: name -> (synth style, first render seed).
SETS = {"dev": ("a", 0), "heldout": ("a", 1_000_000_000), "style_b": ("b", 1_000_000_000)}


def _clips(quick: bool, sets=tuple(SETS), per_set: int = 6, seed: int = 0) -> list[dict]:
    """The clip specs of every set: the same sizes and hardness, the set's style and seed range (from the
    set's first render seed + ``seed``). Raises :class:`~dynpose100k.errors.DynPoseError` for a set that is
    not one of :data:`SETS` (or none)."""
    if set(sets) - set(SETS) or not sets:
        from ..errors import DynPoseError

        raise DynPoseError(f"unknown benchmark set(s) {sorted(set(sets) - set(SETS))}; choose from {', '.join(SETS)}")
    return [{**c, "set": name, "style": SETS[name][0], "seed": SETS[name][1] + seed + c["seed"]}
            for name in sets for c in _base_clips(quick, per_set)]


def _base_clips(quick: bool, per_set: int = 6) -> list[dict]:
    """``per_set`` clips (640x360, 5 s): seeds ``0 .. per_set - 1``, the first half normal, the rest hard
    (night, fast pans, fast objects); ``quick``: two small 3 s clips."""
    if quick:
        return [dict(seed=0, hard=False, height=180, width=320, duration=3.0),
                dict(seed=1, hard=True, height=180, width=320, duration=3.0)]
    return [dict(seed=s, hard=s >= (per_set + 1) // 2, height=360, width=640, duration=5.0) for s in range(per_set)]


def _render(spec: dict):
    """The :class:`~dynpose100k.synth.SynthVideo` of a clip spec (its ``degrade`` and ``camera`` entries are
    not applied; 12 fps unless it gives an ``fps``)."""
    from ..synth import render

    return render("good", spec["seed"], height=spec["height"], width=spec["width"], fps=spec.get("fps", 12.0),
                  duration=spec["duration"], hard=spec["hard"], style=spec["style"], hfov_deg=spec.get("hfov_deg"),
                  clutter=spec.get("clutter", False))


def _run_clip(spec: dict, baselines: bool = True, video=None, known_lens: bool = False, config=None,
              save_to: Path | None = None) -> dict:
    """Render the clip of ``spec`` (or take ``video``, its :func:`_render`), degrade its frames, record them
    through the consumer-camera model or put them inside bars when the spec says so, pose them and score every
    method on them; ``known_lens``: ours is given the clip's true horizontal field of view
    (``PoseConfig.hfov_deg``; the baselines estimate theirs); ``config``: ours's
    :class:`~dynpose100k.pose.PoseConfig` (default: the default one); ``save_to``: also write our result to
    ``save_to/poses/<set>/<id>/`` and the ground truth to ``save_to/gt/<set>/<id>.gt.npz``."""
    from ..camera import hfov_from_focal
    from ..evaluate import mask_iou, score_video, static_track_precision
    from ..pose import PoseConfig, estimate_poses
    from ..pose.baselines import colmap, floor
    from ..pose.confidence import is_good
    from ..synth import recorded

    v = video if video is not None else _render(spec)
    gt = v.gt  # the same geometry through a worse camera or inside bars (bench pose-robustness)
    frames = recorded(v.frames, gt, spec["seed"], int(spec["hard"]), degradation=spec.get("degrade"),
                      camera=bool(spec.get("camera")), layout=spec.get("bars"))
    row: dict = {"video_id": gt.video_id + ("" if spec["style"] == "a" else "_" + spec["style"]),
                 "set": spec["set"], "hard": spec["hard"], "frames": len(frames)}
    t = time.perf_counter()
    hfov = float(hfov_from_focal(gt.K[0, 0, 0], frames.shape[2])) if known_lens else None
    config = dataclasses.replace(config or PoseConfig(), hfov_deg=hfov)
    res = estimate_poses(frames, gt.timestamps, config, video_id=gt.video_id)
    if save_to is not None:
        from ..pose.result import save_pose_result
        from ..synth.truth import save_gt

        save_pose_result(Path(save_to) / "poses" / spec["set"], res)
        (Path(save_to) / "gt" / spec["set"]).mkdir(parents=True, exist_ok=True)
        save_gt(Path(save_to) / "gt" / spec["set"] / f"{gt.video_id}.gt.npz", gt)
    row["ours"] = {**score_video(res.w2c, res.K, res.registered, gt).to_dict(), "seconds": time.perf_counter() - t}
    row["ours"]["mask_iou"] = mask_iou(res.dynamic_masks, gt.dynamic_mask)
    row["ours"]["static_track_precision"], row["ours"]["static_obs_precision"] = static_track_precision(
        res.obs_track, res.obs_frame, res.obs_uv, res.num_static_tracks, gt.dynamic_mask)
    row["ours"]["num_static_tracks"] = res.num_static_tracks
    row["ours"]["confidence"] = float(res.confidence)
    row["ours"]["confidence_caps"] = list(res.confidence_caps)
    row["ours"]["focal_pin"] = res.evidence.get("focal_pin")
    row["ours"]["reproj_error_px_720p"] = float(res.reproj_error_px_720p)
    row["ours"]["failure_reason"] = res.failure_reason
    row["path_length"] = row["ours"]["path_length"]
    row["ours"]["good"] = is_good(row["ours"]["ate"], row["path_length"], row["ours"]["registration_rate"])
    for name, masks in (("colmap", None), ("colmap_mask", res.dynamic_masks)) if baselines else ():
        t = time.perf_counter()
        w2c, K, reg = colmap(frames, masks)
        row[name] = {**score_video(w2c, K, reg, gt).to_dict(), "seconds": time.perf_counter() - t}
    w2c, K, reg = floor(len(frames), seed=spec["seed"])
    row["floor"] = {**score_video(w2c, K, reg, gt).to_dict(), "seconds": 0.0}
    return row


TIMING_CLIPS = ((100, False), (101, False), (102, True))
"""(seed, hard) of the 10 s clips timed one by one."""


def _timing_10s(quick: bool = False, preset: str = DEFAULT_PRESET, overrides: dict | None = None) -> list[dict]:
    """Wall time, peak RSS, registered fraction and ATE of estimate_poses on 10 s 640x360 12 fps clips, each
    in a fresh process, with the pose ``preset`` and its field ``overrides``."""
    from ..evaluate import score_video
    from ..synth import render

    rows = []
    for seed, hard in TIMING_CLIPS[:1] if quick else TIMING_CLIPS:
        v = render("good", seed, height=360, width=640, fps=12.0, duration=10.0, hard=hard)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "f.npy", v.frames)
            np.save(Path(tmp) / "t.npy", v.gt.timestamps)
            code = (
                "import json,resource,time,numpy as np\n"
                "from dynpose100k.pose import estimate_poses, get_preset\n"
                f"f=np.load({str(Path(tmp) / 'f.npy')!r}); ts=np.load({str(Path(tmp) / 't.npy')!r})\n"
                f"c=get_preset({preset!r}, **{dict(overrides or {})!r})\n"
                "t=time.perf_counter(); r=estimate_poses(f,ts,c); s=time.perf_counter()-t\n"
                f"np.savez({str(Path(tmp) / 'r.npz')!r}, w2c=r.w2c, K=r.K, reg=r.registered)\n"
                "print(json.dumps({'seconds':s,'peak_rss_gib':resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20,"
                "'registered_fraction':r.registered_fraction,'timings':r.timings,'frames':len(f)}))\n"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            r = np.load(Path(tmp) / "r.npz")
            row.update(video_id=v.gt.video_id, hard=hard, ate=score_video(r["w2c"], r["K"], r["reg"], v.gt).ate)
        rows.append(row)
    return rows


def _methods(rows: list[dict]) -> tuple[str, ...]:
    """The methods the rows were scored with (COLMAP's are left out by ``run(..., baselines=False)``)."""
    return tuple(m for m in METHODS if rows and m in rows[0])


def _table(rows: list[dict]) -> dict:
    """Per method: :func:`dynpose100k.evaluate.summarise` of its scores and its mean seconds per video."""
    from ..evaluate import VideoScore, summarise

    return {m: {**summarise([VideoScore.from_dict(r[m]) for r in rows]),
                "seconds_per_video": float(np.mean([r[m]["seconds"] for r in rows])) if rows else float("nan")}
            for m in _methods(rows)}


def _self_assessment(rows: list[dict]) -> dict:
    """How well our ``confidence`` flags our own failures (:func:`dynpose100k.pose.confidence.self_assessment`
    with ATE over the path length as the error, as the calibration ranks it; bad = ATE above 2 % of the path
    length or < 80 % of frames registered), the lowest registered share and our mean ATE over COLMAP's."""
    from ..pose.confidence import PINNED_FOCAL, self_assessment

    ours = [r["ours"] for r in rows]

    def off(pinned: bool) -> list[int]:  # [focals more than 10% off, maps] on one side of the focal_pin cut
        fe = [abs(o["focal_rel_error"]) for o in ours if o.get("focal_pin") is not None
              and np.isfinite(o.get("focal_rel_error", np.nan)) and (o["focal_pin"] >= PINNED_FOCAL) == pinned]
        return [sum(f > 0.1 for f in fe), len(fe)]

    ate = [o["ate"] for o in ours]
    rel = [o["ate"] / r["path_length"] if r["path_length"] > 0 else float("nan") for o, r in zip(ours, rows)]
    focal = [e for o in ours if (e := o.get("focal_rel_error")) is not None and np.isfinite(e)]  # none: unscored
    return {
        **self_assessment([o["good"] for o in ours], [o["confidence"] for o in ours],
                          [o["reproj_error_px_720p"] for o in ours], rel,
                          caps=[o.get("confidence_caps", ()) for o in ours]),
        "min_frames_registered_pct": 100 * min(o["registration_rate"] for o in ours),
        "median_abs_focal_error": float(np.median(focal)) if focal else float("nan"),
        "focal_off_pinned": off(True), "focal_off_loose": off(False),
        "ate_ratio_vs_colmap": (float(np.mean(ate) / np.mean([r["colmap"]["ate"] for r in rows]))
                                if "colmap" in rows[0] else float("nan")),
    }


def _summary(rows: list[dict]) -> dict:
    """Tables of one set of videos: all, the subset every method registers, Sampson, our masks."""
    from ..evaluate.summary import finite_mean

    both = [r for r in rows if "colmap" in r
            and all(r[m]["registration_rate"] >= 0.5 for m in ("ours", "colmap", "colmap_mask"))]
    table = _table(rows)
    return {
        "all": table,
        "subset": _table(both) if both else {},
        "subset_videos": [r["video_id"] for r in both],
        "sampson": {m: table[m]["sampson"] for m in _methods(rows)},
        "self_assessment": _self_assessment(rows),
        "ours_masks": {
            "mask_iou": finite_mean([r["ours"]["mask_iou"] for r in rows]),
            **{f"mask_iou_{k}": finite_mean([r["ours"]["mask_iou"] for r in rows if r["hard"] == h])
               for k, h in (("normal", False), ("hard", True))},
            "static_track_precision": finite_mean([r["ours"]["static_track_precision"] for r in rows]),
            "static_obs_precision": finite_mean([r["ours"]["static_obs_precision"] for r in rows]),
        },
    }


def run(out: Path, quick: bool = False, baselines: bool = True, sets: tuple[str, ...] = tuple(SETS),
        clips: int = 6, seed: int = 0, known_lens: bool = False, preset: str = DEFAULT_PRESET,
        tracker_model: str | None = None, device: str | None = None, confidence_model: str | None = None) -> dict:
    """The benchmark; ``baselines=False`` leaves COLMAP and COLMAP+Mask out (ours and the floor only: minutes
    instead of hours on 2 cores); ``sets``: which of :data:`SETS` to run; ``clips``: clips per set (half of
    them hard; six make every rate move by 17 points per clip); ``seed``: added to every clip's seed (0: the
    sets earlier runs measured; another value draws other clips, unseen ones when no run has used it);
    ``known_lens``: ours is given each clip's true field of view instead of estimating its focal;
    ``preset``: ours's pose preset (``tracker_model``, ``device``: its learned tracker's weights and device;
    ``confidence_model``: a calibration of one's own)."""
    from ..pose import get_preset
    from ..pose.confidence import calibration_path
    from ..pose.tracking import check_models

    overrides = dict(tracker_model=tracker_model, device=device, confidence_model=confidence_model)
    config = get_preset(preset, **overrides)  # (None: the preset's own)
    check_models(config)  # weights that do not load: one line, before any clip
    rows = []
    if clips < 2:
        from ..errors import DynPoseError

        raise DynPoseError(f"need at least 2 clips per set, got {clips}")
    specs = _clips(quick, sets, clips, seed)
    for spec in specs:
        rows.append(_run_clip(spec, baselines, known_lens=known_lens, config=config, save_to=out))
        log.info("%s done", rows[-1]["video_id"])
        print(f"  [{spec['set']}] {rows[-1]['video_id']}: " + ", ".join(
            f"{m} ATE {rows[-1][m]['ate']:.3f} ({rows[-1][m]['seconds']:.0f}s)" for m in _methods(rows)),
            flush=True)
    tables = {name: _summary([r for r in rows if r["set"] == name]) for name in sets}
    result = {
        "protocol": "synthetic 'good' clips at 12 fps; Sim(3) ATE/RPE (pairs i,i+1); failed frames filled "
                    "(nearest registered pose; failed video: identity rotation + random centres); a video counts "
                    "as registered when any frame is; subset = videos where ours, COLMAP and COLMAP+Mask each "
                    "register >= 50% of frames (scored on all frames, filled)",
        "clips": specs,
        "seed": seed,
        "known_lens": known_lens,
        "preset": config.preset,
        "confidence_model": config.confidence_model or calibration_path(None, config.tracker).name,
        "sets_protocol": "dev = style a, dev seeds (tuned on); heldout = style a, held-out seeds and scene "
                         "parameters; style_b = the other scene family (never tuned on), held-out seeds",
        "sets": tables,
        "videos": rows,
    }
    result["timing_10s_640x360"] = _timing_10s(quick, preset, overrides)
    _print(result)
    (Path(out) / "pose.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {Path(out) / 'pose.json'}")
    return result


def _print_sets(r: dict) -> None:
    """dev / heldout / style-b side by side: ATE and % frames registered per method, our mask IoU."""
    sets = list(r["sets"])
    if r.get("seed"):
        print(f"\nclip seeds: each set's usual seeds + {r['seed']}")
    if r.get("known_lens"):
        print("ours given each clip's true field of view (--known-lens); the baselines estimate theirs")
    if r.get("preset", DEFAULT_PRESET) != DEFAULT_PRESET:
        print(f"ours: pose preset {r['preset']} (confidence calibration {r.get('confidence_model') or 'packaged'})")
    print(f"\n{'ATE / %frames registered':<28} " + " ".join(f"{s:>18}" for s in sets))
    for m in (m for m in METHODS if m in r["sets"][sets[0]]["all"]):
        print(f"{METHOD_NAMES[m]:<28} " + " ".join(
            f"{r['sets'][s]['all'][m]['ate']:9.4f} {r['sets'][s]['all'][m]['frames_registered_pct']:7.1f}%"
            for s in sets))
    print(f"{'ours mask IoU':<28} " + " ".join(f"{r['sets'][s]['ours_masks']['mask_iou']:18.3f}" for s in sets))
    split = {s: r["sets"][s]["ours_masks"] for s in sets}
    print(f"{'  normal / hard clips':<28} " + " ".join(
        f"{split[s].get('mask_iou_normal', np.nan):11.3f} / {split[s].get('mask_iou_hard', np.nan):.3f}" for s in sets))
    sa = {s: r["sets"][s]["self_assessment"] for s in sets}
    print(f"{'ours ATE / COLMAP ATE':<28} " + " ".join(f"{sa[s]['ate_ratio_vs_colmap']:18.2f}" for s in sets))
    print(f"{'ours median |focal error|':<28} "
          + " ".join(f"{100 * sa[s].get('median_abs_focal_error', np.nan):17.1f}%" for s in sets))
    print(f"{'  >10% off: pinned / loose':<28} " + " ".join(  # focal_pin at or over PINNED_FOCAL, or under it
        "{:>9s} {:>8s}".format("{}/{}".format(*sa[s].get("focal_off_pinned", (0, 0))),
                               "{}/{}".format(*sa[s].get("focal_off_loose", (0, 0)))) for s in sets))
    print(f"{'ours min % frames registered':<28} "
          + " ".join(f"{sa[s]['min_frames_registered_pct']:17.0f}%" for s in sets))
    print(f"{'bad clips with conf < 0.5':<28} "
          + " ".join(f"{sa[s]['bad_flagged']:>14d} / {sa[s]['bad']:<2d}" for s in sets))
    print(f"{'good clips with conf >= 0.5':<28} "
          + " ".join(f"{sa[s]['good_passed']:>14d} / {sa[s]['good']:<2d}" for s in sets))
    held = {s: sa[s].get("good_held", {}) for s in sets}
    for name in dict.fromkeys(k for s in sets for k in held[s]):  # what flags the good clips that do not pass
        print(f"{'  held by ' + name:<28} " + " ".join(f"{held[s].get(name, 0):18d}" for s in sets))
    print(f"{'Spearman(conf, ATE/path)':<28} " + " ".join(f"{sa[s]['spearman_confidence_ate']:18.2f}" for s in sets))
    print(f"{'Spearman(reproj, ATE/path)':<28} " + " ".join(f"{sa[s]['spearman_reproj_ate']:18.2f}" for s in sets))


def _print_tables(r: dict, name: str) -> None:
    """One set's tables (``r``: a :func:`_summary`), each titled with the set's ``name``."""
    for title, key in (("all videos", "all"), (f"subset all succeed ({len(r['subset_videos'])})", "subset")):
        if not r[key]:
            continue
        title = f"{name}: {title}"
        ref = r[key]["colmap_mask"]["ate"] if "colmap_mask" in r[key] else float("nan")
        print(f"\n{title:<28} {'%vid reg':>8} {'%frm reg':>8} {'ATE':>8} {'RPE-t':>8} {'RPE-r°':>7} "
              f"{'s/video':>8} {'ATE/ColMask':>11}")
        for m in (m for m in METHODS if m in r[key]):
            t = r[key][m]
            print(f"{METHOD_NAMES[m]:<28} {t['videos_registered_pct']:8.0f} {t['frames_registered_pct']:8.1f} "
                  f"{t['ate']:8.4f} "
                  f"{t['rpe_trans']:8.4f} {t['rpe_rot_deg']:7.3f} {t['seconds_per_video']:8.1f} "
                  f"{t['ate'] / ref if ref else float('nan'):11.2f}")
    print(f"\n{name + ': Sampson (720p px)':<28} {'%<5':>6} {'%<10':>6} {'%<30':>6} {'mean':>8}")
    for m in (m for m in METHODS if m in r["sampson"]):
        s = r["sampson"][m]
        print(f"{METHOD_NAMES[m]:<28} {s['pct_lt_5']:6.0f} {s['pct_lt_10']:6.0f} {s['pct_lt_30']:6.0f} "
              f"{s['mean']:8.2f}")
    o = r["ours_masks"]
    print(f"\n{name}, ours: motion-mask IoU {o['mask_iou']:.3f}, static-track precision "
          f"{o['static_track_precision']:.3f} (observations {o['static_obs_precision']:.3f})")


def _print(r: dict) -> None:
    for name, tables in r["sets"].items():  # every set's tables, not only the first's
        _print_tables(tables, name)
    _print_sets(r)
    for t in r["timing_10s_640x360"]:
        print(f"10 s 640x360 clip {t['video_id']}{' (hard)' if t['hard'] else ''} ({t['frames']} frames): "
              f"{t['seconds']:.1f} s wall, peak RSS {t['peak_rss_gib']:.2f} GiB, "
              f"{100 * t['registered_fraction']:.0f}% registered, ATE {t['ate']:.3f}, "
              f"stages {json.dumps({k: round(v, 1) for k, v in t['timings'].items()})}")
