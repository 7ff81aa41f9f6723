"""Dataset utility: does fine-tuning DUSt3R on our shards improve its poses on held-out dynamic videos?

    python eval/dataset_utility.py --out outputs/utility                      # tiny CPU run (mechanics)
    python eval/dataset_utility.py --base ckpt/DUSt3R_ViTLarge_BaseDecoder_512_dpt.pth \\
        --finetuned outputs/finetune-dynpose-512-dpt/checkpoint-last.pth --size 288 512 \\
        --hw 360 640 --eval-videos 20 --out outputs/utility-512                # full scale, on a GPU

Both models estimate poses of the same held-out rendered videos (seeds never used for training) with the
windowed pair graph of :mod:`dynpose100k.dust3r.poses`; the table gives, per model, the paper's Sampson
protocol over per-video mean errors (% of videos < 5/10/30 px at 720p, mean px), the mean ATE (Sim(3),
RMSE) and the registered share. Without ``--finetuned``, the base model is fine-tuned here on shards written
from rendered training videos (or on ``--train-shards``) for ``--steps`` steps with the tiny recipe.
Without ``--base``, the base is a tiny randomly initialised model: then the numbers only show that the
pipeline runs end to end, not the paper's result (the script says so in its output).

    python eval/dataset_utility.py --experiment small --jobs 3                # the experiment (~45 CPU min)

``--experiment`` runs the paper's claim in miniature (:func:`run_experiment`): a tiny model is trained on
static-scene clips only (DUSt3R's regime; ground-truth supervision), then fine-tuned from that checkpoint, with
the same step budget, on (a) ``curated``: a dev pool of good and failure-kind clips through the curation
pipeline (filter + our poses + registration rule), (b) ``unfiltered``: as many clips drawn at random from the
same pool with our poses, (c) ``oracle``: the curated clips with ground-truth poses and tracks, (d) ``quality``:
the curated clips with the highest pose ``confidence``. All five models are scored on held-out dynamic
videos (``heldout`` seeds, style a, kind good) for several seeds; the summary gives mean and spread over seeds
and says whether (a) beats the static-only model and (b). Settings were chosen on dev validation clips only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from dynpose100k.errors import DynPoseError

log = logging.getLogger("dataset_utility")

TINY_CONFIG = str(Path(__file__).resolve().parents[1] / "train/configs/tiny_cpu.yaml")
TINY_NOTE = ("NOTE: tiny randomly initialised model, a few CPU steps on a few rendered videos: these numbers "
             "show the mechanics only and are not comparable to the paper's (full scale: official checkpoint, "
             "2K DynPose-100K videos, GPU).")


def utility_table(models: dict, videos: list, pose_cfg, device: str = "cpu") -> list[dict]:
    """One row per model: Sampson summary over per-video mean errors, mean ATE/RPE, registered share
    (:mod:`dynpose100k.evaluate`)."""
    from dynpose100k.dust3r.poses import poses_from_model
    from dynpose100k.evaluate import score_video, summarise

    rows = []
    for name, model in models.items():
        scores = []
        for v in videos:
            res = poses_from_model(model, v.frames, pose_cfg, device)
            scores.append(score_video(res.w2c, res.K, res.registered, v.gt))
        s = summarise(scores)
        nan = float("nan")
        rows.append({"model": name,
                     **(s["sampson"] or dict(pct_lt_5=nan, pct_lt_10=nan, pct_lt_30=nan, mean=nan, count=0)),
                     "ate_mean": s["ate"], "rpe_rot_deg_mean": s["rpe_rot_deg"],
                     "registered_pct": s["frames_registered_pct"], "videos": s["videos"]})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'model':<12}{'%<5px':>8}{'%<10px':>8}{'%<30px':>8}{'mean px':>10}{'ATE':>9}{'RPE deg':>9}{'reg %':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<12}{r['pct_lt_5']:>8.1f}{r['pct_lt_10']:>8.1f}{r['pct_lt_30']:>8.1f}"
                     f"{r['mean']:>10.2f}{r['ate_mean']:>9.4f}{r['rpe_rot_deg_mean']:>9.2f}{r['registered_pct']:>7.1f}")
    return "\n".join(lines)


def _render(n: int, seed0: int, hw, duration: float) -> list:
    from dynpose100k.synth import render

    return [render("good", seed0 + k, height=hw[0], width=hw[1], duration=duration) for k in range(n)]


# --------------------------------------------------------------------------------------------------------------
# The experiment: static pretraining, then fine-tuning on curated vs unfiltered vs oracle vs quality-subset data

ARMS = ("curated", "unfiltered", "oracle", "quality")
"""Fine-tuning data of the experiment's arms (see :func:`run_experiment`)."""
STATIC_SEED0 = 500_000
"""Render seeds of the static-scene pretraining clips (dev split)."""
VAL_SEED0 = 700_000
"""Render seeds of the dev validation clips ('good', with movers): the only clips hyperparameters were chosen on."""
EVAL_SEED0 = 1_900_000_000
"""Render seeds of the evaluation clips ('good', style a; from :data:`HELDOUT_SEED_BASE` on: the held-out split)."""
POOL_SEEDS = (1, 2)
"""Pool seeds (:func:`dynpose100k.synth.pool_plan`) of the fine-tuning pool's 'good' part and mixed part."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Sizes and training settings of one run of the experiment (:data:`EXPERIMENTS`)."""

    static_clips: int
    """Static-scene clips (no moving objects, exact ground truth) the model is first trained on."""
    pool_good: int
    """'good' clips of the dev pool that is curated for fine-tuning ..."""
    pool_mixed: int
    """... plus a mixed pool of this many clips (about 10% good, the rest evenly over the failure kinds)."""
    pretrain_steps: int
    """Optimiser steps of the static pretraining."""
    finetune_steps: int
    """Optimiser steps of every fine-tuning arm (the same budget for all)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the fine-tuning runs (data order, augmentation); see ``pretrain_per_seed``."""
    pretrain_per_seed: bool = True
    """Pretrain once per seed (the spread then includes pretraining), or once with the first seed."""
    val_clips: int = 4
    """Dev validation clips ('good', dev seeds) scored for the static model (where settings were chosen)."""
    eval_clips: int = 8
    """Held-out evaluation clips (world-v2 ``heldout`` split, style a, kind 'good'); never used for a choice."""
    hw: tuple[int, int] = (180, 320)
    """Rendered frame size ``(H, W)`` of every clip (the pose engine and the filter need about this much)."""
    duration: float = 2.0
    """Clip length, seconds (12 fps)."""
    size: tuple[int, int] = (64, 96)
    """Model input ``(H, W)``."""
    patch_size: int = 8
    """Patch side of the tiny model (``tiny_linear`` otherwise)."""
    pretrain_lr: float = 1e-3
    """Peak learning rate of the pretraining."""
    finetune_lr: float = 3e-4
    """Peak learning rate of the fine-tuning (encoder frozen, as in the 512 recipe)."""
    batch_size: int = 8
    """Pairs per step (twice that many views with symmetrisation)."""
    quality_fraction: float = 0.5
    """Share of the curated clips, highest pose ``confidence`` first, in the quality arm."""
    window: int = 2
    """Pair-graph window of the evaluation's poses from the model."""
    min_conf: float = 1.0
    """Confidence floor of the poses from the model (:class:`ModelPoseConfig`; its default 1.5 suits the
    official models: the tiny model's confidences stay lower, and with 1.5 it registered no dev validation
    frame, so only the 30% quantile applies)."""


EXPERIMENTS = {
    # a few minutes: every stage once, too small to mean anything
    "smoke": Experiment(static_clips=4, pool_good=2, pool_mixed=3, pretrain_steps=20, finetune_steps=6,
                        seeds=(0, 1), pretrain_per_seed=False, val_clips=1, eval_clips=1, batch_size=2),
    # about 45 CPU minutes (measured: 39 min training and scoring, the rest rendering and curation)
    "small": Experiment(static_clips=64, pool_good=12, pool_mixed=40, pretrain_steps=1500, finetune_steps=300),
}


def _model_config(exp: Experiment):
    from dynpose100k.dust3r.model import PRESETS

    return dataclasses.replace(PRESETS["tiny_linear"], img_size=tuple(exp.size), patch_size=exp.patch_size)


def _train_run(exp: Experiment, init: Path, shards: Path, out: Path, steps: int, lr: float, seed: int,
               freeze_encoder: bool) -> Path:
    """Train (or resume, or find finished) one run; returns its ``checkpoint-last.pth``."""
    from dynpose100k.dust3r.training import load_config, train

    ckpt = out / "checkpoint-last.pth"
    cfg = load_config(TINY_CONFIG, init=str(init), data_source="shards", train_shards=str(shards),
                      output_dir=str(out), max_steps=steps, size=tuple(exp.size), lr=lr, batch_size=exp.batch_size,
                      freeze_encoder=freeze_encoder, pairs_per_epoch=100 * steps * exp.batch_size, eval_every=0,
                      save_every=steps, log_every=max(1, steps // 10), warmup_steps=max(1, steps // 10),
                      resume=True, seed=seed)
    train(cfg)
    return ckpt


def _static_shards(exp: Experiment, out: Path) -> Path:
    from dynpose100k.dust3r.data import record_from_synth, shard_sample_from_record
    from dynpose100k.shards.writer import write_shards
    from dynpose100k.synth import render

    dst = out / "static-shards"
    if not (dst / "manifest.jsonl").is_file():
        samples = (shard_sample_from_record(record_from_synth(
            render("good", STATIC_SEED0 + k, height=exp.hw[0], width=exp.hw[1], duration=exp.duration,
                   movers=False))) for k in range(exp.static_clips))
        write_shards(samples, dst)
    return dst


def _pool(exp: Experiment, out: Path) -> Path:
    from dynpose100k.synth import write_pool

    pool = out / "pool"
    kw = dict(height=exp.hw[0], width=exp.hw[1], duration=exp.duration)
    write_pool(pool, exp.pool_good, kind="good", seed=POOL_SEEDS[0], **kw)
    write_pool(pool, exp.pool_mixed, kind="mixed", seed=POOL_SEEDS[1], **kw)
    return pool


def _curate(inputs, out: Path, unfiltered: bool = False) -> Path:
    """The curation pipeline (filter + our pose engine + registration rule) into ``out``; ``unfiltered``:
    every clip is posed and kept whatever the filter and the registered share say. Returns the dataset
    folder. Resumes (the pipeline's ledger)."""
    from dynpose100k.curate import CurateConfig, curate, default_stages
    from dynpose100k.filtering import FilterConfig

    cfg = CurateConfig(out=out, workers=2, min_registered=0.0 if unfiltered else 0.8,
                       filter_threshold=0.0 if unfiltered else None)
    stages = default_stages(cfg)
    if unfiltered:
        stages = dataclasses.replace(stages, filter_config=FilterConfig(threshold=0.0, use_rules=False))
    curate(str(inputs), cfg, stages=stages, progress=False)
    return out / cfg.dataset_name


def _keys(dataset: Path) -> list[dict]:
    from dynpose100k.shards.reader import read_manifest

    return [s for e in read_manifest(dataset) for s in e["samples"]]  # [] without a manifest


def _copy(src: Path, dst: Path, keys) -> Path:
    from dynpose100k.shards.subset import copy_samples
    from dynpose100k.shards.writer import ShardConfig

    if not (dst / "manifest.jsonl").is_file():
        copy_samples(src, dst, set(keys), ShardConfig())
    return dst


def _oracle_shards(pool: Path, keys: list[str], dst: Path) -> Path:
    """The same clips with ground-truth poses and static tracks (frames decoded as the pipeline decodes them)."""
    from dynpose100k.dust3r.data import record_from_synth, shard_sample_from_record
    from dynpose100k.shards.writer import write_shards
    from dynpose100k.synth import SynthVideo, load_gt
    from dynpose100k.video import load_clip

    if (dst / "manifest.jsonl").is_file():
        return dst

    def samples():
        for k in keys:
            gt = load_gt(pool / f"{k}.gt.npz")
            frames = load_clip(pool / f"{k}.mp4", fps=12.0).frames
            if len(frames) != len(gt.w2c):
                raise DynPoseError(f"{k}: decoded {len(frames)} frames, ground truth has {len(gt.w2c)}")
            yield shard_sample_from_record(record_from_synth(SynthVideo(np.asarray(frames), gt)))

    write_shards(samples(), dst)
    return dst


def _arm_data(exp: Experiment, out: Path, timings: dict) -> dict[str, dict]:
    """Shards of every arm: ``{arm: {"shards": path, "clips": n, "keys": [...]}}``."""
    from dynpose100k.synth import read_labels

    t = _Clock()
    pool = _pool(exp, out)
    timings["render_pool"] = t.lap()
    curated = _curate(pool, out / "curated")
    timings["curate"] = t.lap()
    cur = _keys(curated)
    a = [s["key"] for s in cur]
    arms = {"curated": {"shards": curated, "keys": a}}
    # (b) as many clips drawn at random from the whole pool, posed by the same engine, no filter, no rule
    # (clips the engine returns no poses for cannot supervise: the next clip of the random order is taken)
    labels = read_labels(pool)
    ids = sorted(labels)
    draw = [ids[i] for i in np.random.default_rng(0).permutation(len(ids))]
    lst = out / "unfiltered-draw.txt"
    lst.write_text("".join(f"{(pool / (i + '.mp4')).resolve()}\n" for i in draw))
    posed = {s["key"] for s in _keys(_curate(lst, out / "unfiltered", unfiltered=True))}
    b = [i for i in draw if i in posed][:len(a)]
    arms["unfiltered"] = {"shards": _copy(out / "unfiltered" / "dynpose-100k", out / "arm-unfiltered", b), "keys": b}
    timings["curate_unfiltered"] = t.lap()
    arms["oracle"] = {"shards": _oracle_shards(pool, a, out / "arm-oracle"), "keys": a}
    conf = sorted(((s.get("confidence") or 0.0, s["key"]) for s in cur), reverse=True)
    n_q = int(np.ceil(exp.quality_fraction * len(conf)))
    q = [k for _, k in conf[:n_q]]  # exactly n_q clips, whatever the ties
    arms["quality"] = {"shards": _copy(curated, out / "arm-quality", q), "keys": q,
                       "min_confidence": float(conf[n_q - 1][0]) if q else None}
    timings["arm_shards"] = t.lap()
    for arm in arms.values():
        arm["clips"] = len(arm["keys"])
        kinds = [labels[i][0] for i in arm["keys"]]
        arm["kinds"] = {k: kinds.count(k) for k in sorted(set(kinds))}
    return arms


class _Clock:
    """Wall and CPU seconds (this process and its finished children) since the last lap."""

    def __init__(self):
        self._t = self._now()

    @staticmethod
    def _now():
        import resource
        import time

        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), time.process_time() + c.ru_utime + c.ru_stime

    def lap(self) -> dict:
        w, c = self._now()
        d = {"wall_s": round(w - self._t[0], 1), "cpu_s": round(c - self._t[1], 1)}
        self._t = (w, c)
        return d


def _mean_sd(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")


METRICS = (("mean", "Sampson mean px", -1), ("pct_lt_10", "% videos < 10 px", 1), ("ate_mean", "ATE", -1),
           ("registered_pct", "registered %", 1))
"""Summary metrics: key, label, sign (+1: higher is better)."""


def summarize(rows: list[dict], models: list[str]) -> dict:
    """Mean and standard deviation over seeds of each model's metrics (from per-seed :func:`utility_table` rows)."""
    out = {}
    for m in models:
        rs = [r for r in rows if r["model"] == m]
        out[m] = {k: dict(zip(("mean", "sd"), _mean_sd([r[k] for r in rs]))) for k, _, _ in METRICS}
        out[m]["seeds"] = len(rs)
    return out


def compare(rows: list[dict], a: str, b: str, key: str = "mean", sign: int = -1) -> dict:
    """Paired (same seed) comparison of model ``a`` with ``b`` on metric ``key``: mean and spread (sd) over
    seeds of the improvement (positive: ``a`` better), seeds where ``a`` is better, and a plain verdict
    (``better``/``worse`` when the mean improvement exceeds the spread, else ``no clear difference``)."""
    by = {(r["model"], r["seed"]): r[key] for r in rows}
    seeds = sorted({s for (m, s) in by if m == a} & {s for (m, s) in by if m == b})
    d = np.array([sign * (by[(a, s)] - by[(b, s)]) for s in seeds], float)
    if len(d) == 0 or not np.isfinite(d).all():
        return {"a": a, "b": b, "metric": key, "verdict": "not comparable (a metric is undefined)", "seeds": seeds}
    mean, sd = _mean_sd(d)
    spread = sd if np.isfinite(sd) else 0.0
    if mean == 0 and spread == 0:
        verdict = "tie"
    elif abs(mean) > spread:
        verdict = "better" if mean > 0 else "worse"
    else:
        verdict = "no clear difference"
    return {"a": a, "b": b, "metric": key, "improvement_mean": mean, "improvement_sd": sd,
            "ratio_to_spread": float(abs(mean) / sd) if sd and np.isfinite(sd) and sd > 0 else None,
            "wins": int((d > 0).sum()), "seeds": seeds, "verdict": verdict}


def _verdict_line(c: dict, label: str) -> str:
    if "improvement_mean" not in c:
        return f"{c['a']} vs {c['b']} ({label}): {c['verdict']}"
    r = f", {c['ratio_to_spread']:.1f}x the spread" if c["ratio_to_spread"] is not None else ""
    return (f"{c['a']} vs {c['b']} ({label}): {c['verdict']} - improvement {c['improvement_mean']:+.3g} "
            f"(sd {c['improvement_sd']:.3g} over {len(c['seeds'])} seeds{r}); {c['a']} better in "
            f"{c['wins']} of {len(c['seeds'])} seeds")


def format_summary(summary: dict) -> str:
    head = f"{'model':<12}" + "".join(f"{lab:>24}" for _, lab, _ in METRICS)
    lines = [head, "-" * len(head)]
    for m, s in summary.items():
        lines.append(f"{m:<12}" + "".join(f"{s[k]['mean']:>15.3f} +- {s[k]['sd']:<5.3f}" for k, _, _ in METRICS))
    return "\n".join(lines)


def _pretrain(exp: Experiment, out: Path, static: Path, seed: int) -> Path:
    """The static-only model of ``seed`` (random init from ``seed``, then static-scene clips)."""
    import torch

    from dynpose100k.dust3r.checkpoint import save_checkpoint
    from dynpose100k.dust3r.model import build_model

    init = out / f"init-s{seed}.pth"
    if not init.is_file():
        torch.manual_seed(seed)
        save_checkpoint(init, build_model(_model_config(exp)))
    return _train_run(exp, init, static, out / f"static-s{seed}", exp.pretrain_steps, exp.pretrain_lr, seed,
                      freeze_encoder=False)


def _seed_job(name: str, out: Path, seed: int, static: Path, arm_shards: dict, device: str,
              threads: int | None = None) -> dict:
    """Everything of one seed: pretraining (or the shared static model), the arms' fine-tuning, and the scores
    of every model on the dev validation and the held-out videos. Returns rows and timings."""
    import torch

    from dynpose100k.dust3r.checkpoint import load_checkpoint
    from dynpose100k.dust3r.poses import ModelPoseConfig

    if threads:
        torch.set_num_threads(threads)
    exp = EXPERIMENTS[name]
    t, timings = _Clock(), {}
    base = _pretrain(exp, out, static, seed if exp.pretrain_per_seed else exp.seeds[0])
    timings[f"pretrain_s{seed}"] = t.lap()
    ckpts = {"static": base}
    for arm, shards in arm_shards.items():
        ckpts[arm] = _train_run(exp, base, shards, out / f"ft-{arm}-s{seed}", exp.finetune_steps, exp.finetune_lr,
                                seed, freeze_encoder=True)
        timings[f"finetune_{arm}_s{seed}"] = t.lap()
    pose_cfg = ModelPoseConfig(size=tuple(exp.size), window=exp.window, min_conf=exp.min_conf)
    val = _render(exp.val_clips, VAL_SEED0, exp.hw, exp.duration)
    videos = _render(exp.eval_clips, EVAL_SEED0, exp.hw, exp.duration)
    models = {m: load_checkpoint(c)[0] for m, c in ckpts.items()}
    val_rows = [dict(r, seed=seed) for r in utility_table(models, val, pose_cfg, device)]
    rows = [dict(r, seed=seed) for r in utility_table(models, videos, pose_cfg, device)]
    timings[f"evaluate_s{seed}"] = t.lap()
    return {"rows": rows, "val_rows": val_rows, "timings": timings, "pose_config": dataclasses.asdict(pose_cfg)}


def run_experiment(name: str, out: Path, device: str = "cpu", jobs: int = 1) -> dict:
    """Static pretraining -> four fine-tuning arms -> held-out evaluation, for every seed of
    :data:`EXPERIMENTS` ``[name]`` (``jobs`` seeds at a time, one thread each when more than one).
    Expensive steps are cached in ``out`` (rendered pool, curated and arm shards, checkpoints), so a rerun
    only evaluates. Writes ``experiment.json`` and ``experiment.txt``."""
    from dynpose100k.synth import HELDOUT_SEED_BASE

    exp = EXPERIMENTS[name]
    assert EVAL_SEED0 >= HELDOUT_SEED_BASE and VAL_SEED0 + exp.val_clips < HELDOUT_SEED_BASE
    out.mkdir(parents=True, exist_ok=True)
    wall = _Clock()
    timings: dict = {}
    t = _Clock()
    static = _static_shards(exp, out)
    timings["render_static"] = t.lap()
    arms = _arm_data(exp, out, timings)
    for a in ARMS:
        if arms[a]["clips"] == 0:
            log.warning("arm %s has no clips: not trained", a)
    shards = {a: arms[a]["shards"] for a in ARMS if arms[a]["clips"]}
    models = ["static", *shards]
    if not exp.pretrain_per_seed:
        _pretrain(exp, out, static, exp.seeds[0])
        timings[f"pretrain_s{exp.seeds[0]}"] = t.lap()
    if jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(exp.seeds)), mp_context=mp.get_context("spawn")) as ex:
            done = list(ex.map(_seed_job, *zip(*[(name, out, s, static, shards, device, 1) for s in exp.seeds])))
    else:
        done = [_seed_job(name, out, s, static, shards, device) for s in exp.seeds]
    rows = [r for d in done for r in d["rows"]]
    val_rows = [r for d in done for r in d["val_rows"]]
    for d in done:
        timings.update(d["timings"])
    timings["total"] = wall.lap()
    summary = summarize(rows, models)
    comparisons = [compare(rows, "curated", b, k, sgn) for b in ("static", "unfiltered")
                   for k, _, sgn in METRICS if "curated" in models and b in models]
    lines = [f"experiment {name}: {len(exp.seeds)} seeds, {exp.eval_clips} held-out videos "
             f"({exp.hw[1]}x{exp.hw[0]}, {exp.duration:g} s), model input {exp.size[1]}x{exp.size[0]}",
             "arms: " + ", ".join(f"{a} {arms[a]['clips']} clips" for a in ARMS),
             "", format_summary(summary), "",
             "dev validation (static model), registered % per seed: "
             + ", ".join(f"{r['registered_pct']:.0f}" for r in val_rows if r["model"] == "static"),
             ""]
    labels = {k: lab for k, lab, _ in METRICS}
    lines += [_verdict_line(c, labels[c["metric"]]) for c in comparisons]
    reg = {m: summary[m]["registered_pct"]["mean"] for m in models}
    if max(reg.values()) == 0:
        lines.append("NOTE: no model registered any held-out frame: every comparison is between failures.")
    text = "\n".join(lines)
    result = {"experiment": name, "config": dataclasses.asdict(exp), "pose_config": done[0]["pose_config"],
              "arms": {a: {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()} for a, d in arms.items()},
              "rows": rows, "dev_validation": val_rows, "summary": summary, "comparisons": comparisons,
              "eval_seeds": [EVAL_SEED0 + k for k in range(exp.eval_clips)],
              "val_seeds": [VAL_SEED0 + k for k in range(exp.val_clips)], "timings": timings}
    (out / "experiment.json").write_text(json.dumps(result, indent=1))
    (out / "experiment.txt").write_text(text + "\n")
    print(text)
    return result


def run(args) -> dict:
    from dynpose100k.dust3r.checkpoint import load_checkpoint, save_checkpoint
    from dynpose100k.dust3r.data import record_from_synth, shard_sample_from_record
    from dynpose100k.dust3r.model import build_model
    from dynpose100k.dust3r.poses import ModelPoseConfig
    from dynpose100k.dust3r.training import load_config, train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tiny = args.base is None
    base_path = Path(args.base) if args.base else out / "base-tiny.pth"
    if tiny:
        import torch

        torch.manual_seed(args.seed)
        save_checkpoint(base_path, build_model("tiny_linear"))
    ft_path = Path(args.finetuned) if args.finetuned else None
    if ft_path is None:
        shards = args.train_shards
        if shards is None:
            from dynpose100k.shards.writer import write_shards

            shards = out / "train-shards"
            recs = [record_from_synth(v) for v in _render(args.train_videos, 1000 + args.seed, args.hw, args.duration)]
            write_shards([shard_sample_from_record(r) for r in recs], shards)
        cfg = load_config(args.train_config, init=str(base_path), data_source="shards", train_shards=str(shards),
                          output_dir=str(out / "finetune"), max_steps=args.steps, size=tuple(args.size),
                          eval_every=0, save_every=args.steps, log_every=max(1, args.steps // 5),
                          warmup_steps=max(1, args.steps // 10), resume=False, seed=args.seed)
        train(cfg)
        ft_path = out / "finetune" / "checkpoint-last.pth"
    models = {"base": load_checkpoint(base_path)[0], "fine-tuned": load_checkpoint(ft_path)[0]}
    videos = _render(args.eval_videos, 9000 + args.seed, args.hw, args.duration)
    pose_cfg = ModelPoseConfig(size=tuple(args.size), window=args.window)
    rows = utility_table(models, videos, pose_cfg, args.device)
    result = {"rows": rows, "tiny": tiny, "base": str(base_path), "finetuned": str(ft_path),
              "pose_config": dataclasses.asdict(pose_cfg),
              "eval_seeds": [9000 + args.seed + k for k in range(args.eval_videos)],
              "protocol": "Sampson: % of videos whose mean error (720p px) is below 5/10/30, and the mean; "
                          "ATE: Sim(3)-aligned RMSE of camera centres, mean over videos; failed frames filled"}
    (out / "dataset_utility.json").write_text(json.dumps(result, indent=1))
    print(format_table(rows))
    if tiny:
        print(TINY_NOTE)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="official DUSt3R checkpoint (default: a tiny random init, mechanics only)")
    p.add_argument("--finetuned", help="fine-tuned checkpoint (default: fine-tune the base here)")
    p.add_argument("--train-shards", help="shards to fine-tune on (default: rendered videos written as shards)")
    p.add_argument("--train-config", default=TINY_CONFIG)
    p.add_argument("--steps", type=int, default=30, help="fine-tuning steps when fine-tuning here")
    p.add_argument("--train-videos", type=int, default=3)
    p.add_argument("--eval-videos", type=int, default=2)
    p.add_argument("--hw", type=int, nargs=2, default=[96, 160], help="rendered frame size H W")
    p.add_argument("--duration", type=float, default=2.0, help="rendered clip seconds (12 fps)")
    p.add_argument("--size", type=int, nargs=2, default=[64, 96], help="model input H W")
    p.add_argument("--window", type=int, default=2, help="pair-graph window")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default: outputs/dataset_utility[-EXPERIMENT])")
    p.add_argument("--experiment", choices=sorted(EXPERIMENTS),
                   help="run the static-pretraining -> fine-tuning-arms experiment at this size (see EXPERIMENTS)")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained and scored at the same time (--experiment)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.experiment:
            run_experiment(args.experiment, Path(args.out or f"outputs/dataset_utility-{args.experiment}"), args.device,
                           args.jobs)
        else:
            args.out = args.out or "outputs/dataset_utility"
            run(args)
    except DynPoseError as e:
        print(f"dataset_utility: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
