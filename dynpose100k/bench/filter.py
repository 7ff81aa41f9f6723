"""``dynpose100k bench filter``: precision/recall of the clip filter on labelled synthetic pools.

Everything the model learns comes from the dev split of style ``a``: six training pools (mixed over all
sixteen kinds, plus extra suitable clips), each rendered twice, once as the dev split draws it and once
through other lenses and at other compression levels (:data:`TRAIN_NUISANCE`), on which the detectors are
fitted, calibrated and the operating threshold chosen by cross-validation. The fitted model is then scored,
unchanged, on five test pools (:data:`EVAL_SETS`): ``dev`` (style a, dev seeds), ``heldout`` (style a,
held-out seeds and scene parameters), ``style_b`` (the other scene family, held-out seeds), ``bars`` (the
clips of ``heldout`` again, each inside letterbox or pillarbox bars or blurred sides, :func:`dynpose100k.synth.bars`, as
Internet clips often are) and ``fades`` (the clips of ``heldout`` fading in from black, out to it or both,
:func:`dynpose100k.synth.fade`). Every pool is
about 28% suitable (10% of the mixed clips plus the extra ones), so the reliability tables of the three
compare like with like; precision is also re-weighted to :data:`PREVALENCE`. About half the clips of each pool
are the harder variant. Per test pool: AP, precision and recall at the operating point with 95% Wilson
intervals, best recall at precision 0.9, rejections per kind (and how many by a rule), which rules fire on
suitable clips, the reliability table (score bin -> observed suitable fraction) and the first nine kinds
alone; AP, precision and recall of the packaged model (what ``filter`` uses by default) on the same pools. On
the dev pool also the paper's cumulative ablation and single-signal baselines. Throughput of ``filter_video``
on 5 s 640x360 mp4 clips: wall clips/s with 1 and 2 processes, and CPU seconds per clip (whole decision, and
decoding alone: the decode bound), which a shared machine disturbs less than wall time. Signals are cached per
pool and signal-code version. Saves ``<out>/filter.json``, ``<out>/filter_pr.png``,
``<out>/filter_reliability.png`` and the fitted ``<out>/filter_model.json``.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..filtering import FilterConfig, FitConfig, filter_video, fit_model, load_model, measure_paths
from ..metrics import average_precision, pr_at, precision_recall, wilson_interval
from ..signals import SIGNAL_GROUPS, SIGNAL_NAMES

TARGET_PRECISION = 0.9
PREVALENCE = 0.1  # suitable fraction the figures are also re-weighted to (the paper's test set: 9%)
#: ((test mixed, test extra suitable), (train mixed, train extra suitable)) for a quick and a full run; the
#: extra suitable clips make every pool about 28% suitable, so the reliability tables compare like with like.
POOL_SIZES = {True: ((24, 6), (60, 15)), False: ((60, 15), (120, 30))}
#: training pools of a quick and a full run (each of the training size above, each rendered twice, see
#: :data:`TRAIN_NUISANCE`): six pools (1800 clips, 504 suitable) give each failure kind's detector about 56
#: scenes seen through two lenses and the threshold about 500 suitable out-of-fold scores
TRAIN_POOLS = {True: 2, False: 6}
#: the second rendering of every training pool: each clip's horizontal field of view (degrees) and H.264 CRF
#: drawn from these ranges (the dev split alone: 55-75 degrees, CRF 18), so that no detector learns one lens
#: or one encoder; lens and compression are what any pool of Internet clips varies. Chosen before any test
#: pool was scored with it; the held-out split draws 38-90 degrees and CRF 20-34, beyond both ends.
TRAIN_NUISANCE = {"hfov_deg": (45.0, 85.0), "crf": (18, 32)}
#: suitable fraction the threshold is chosen for (None: the training pool's, like the test pools', ~28%)
FIT_PREVALENCE = None
#: logit margin of the operating threshold for domain shift (see ``fit_model``'s ``shift_margin``).
SHIFT_MARGIN = 0.5
#: test pools: name -> (split, style, nuisance of :func:`make_pool`). ``dev`` is the usual held-out test pool of
#: the dev split; ``bars`` the clips of ``heldout`` inside bars; ``fades`` the clips of ``heldout`` fading in
#: from black, out to it, or both (:data:`dynpose100k.synth.FADES`, by seed).
EVAL_SETS = {"dev": ("dev", "a", None), "heldout": ("heldout", "a", None), "style_b": ("heldout", "b", None),
             "bars": ("heldout", "a", {"bars": True}), "fades": ("heldout", "a", {"fades": True})}
BASELINE_SIGNALS = ("flow_bg", "track_motion", "color_count", "dynamic_frac", "focal_logstd", "distortion_k",
                    "flow_residual_peak", "sharpness_median")


class _RenderJob(NamedTuple):
    """One clip for a bench pool; ``nuisance``: see :func:`make_pool`."""
    path: Path
    kind: str
    seed: int
    hard: bool
    size: tuple[int, int]
    fps: float
    duration: float
    style: str = "a"
    nuisance: dict | None = None


def _render_one(job: _RenderJob) -> None:
    from ..synth import BAR_LAYOUTS, FADES, recorded, render
    from ..synth.pool import clip_crf
    from ..video import write_video

    if job.path.exists():
        return
    nuisance = job.nuisance or {}  # the clip's own draw: the same seed always gives the same lens and CRF
    v = render(job.kind, job.seed, height=job.size[0], width=job.size[1], fps=job.fps, duration=job.duration,
               hard=job.hard, pairs=0, style=job.style, hfov_deg=nuisance.get("hfov_deg"))
    layout = BAR_LAYOUTS[job.seed % len(BAR_LAYOUTS)] if nuisance.get("bars") else None
    fades = FADES[job.seed % len(FADES)] if nuisance.get("fades") else None
    frames = recorded(v.frames, v.gt, job.seed, layout=layout, fades=fades)
    crf = clip_crf(job.seed, job.style, nuisance.get("crf"))
    write_video(job.path.with_suffix(".tmp.mp4"), frames, job.fps, crf=crf).replace(job.path)


def make_pool(out, num: int, seed: int = 0, extra_good: int = 0, size=(180, 320), fps: float = 5.0,
              duration: float = 4.0, workers: int = 2, split: str = "dev", style: str = "a",
              all_kinds: bool | None = None, nuisance: dict | None = None) -> Path:
    """Render a labelled mixed pool (``<id>.mp4`` + ``labels.csv``; about half the clips ``hard``), resumable.

    ``extra_good`` adds that many more suitable clips (a training pool with more positives to learn from).
    ``split``, ``style`` and ``all_kinds``: see :func:`dynpose100k.synth.pool_plan`. ``nuisance`` (style ``a``):
    ranges to draw each clip's field of view and CRF from instead of the split's (``hfov_deg``, ``crf``; see
    :data:`TRAIN_NUISANCE`), ``bars``: each clip inside bars (:data:`dynpose100k.synth.BAR_LAYOUTS`, by
    seed), and ``fades``: each clip fading from or to black (:data:`dynpose100k.synth.FADES`, by seed); the
    scenes, kinds and camera paths stay those of the plain pool.
    """
    from ..synth import SUITABLE_KINDS, pool_plan

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = pool_plan(num, "mixed", seed, split, style, all_kinds) + (
        pool_plan(extra_good, "good", seed + 1, split, style) if extra_good else [])
    hard = np.random.default_rng([seed, 11]).random(len(plan)) < 0.5
    jobs = [_RenderJob(out / f"{vid}.mp4", k, s, bool(h), size, fps, duration, style, nuisance)
            for (vid, k, s), h in zip(plan, hard)]
    with mp.get_context("spawn").Pool(workers) as pool:
        list(pool.imap_unordered(_render_one, jobs))
    with open(out / "labels.csv", "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["video_id", "kind", "suitable", "hard"])
        for (vid, k, _), h in zip(plan, hard):
            wr.writerow([vid, k, int(k in SUITABLE_KINDS), int(h)])
    return out


def reliability(score: np.ndarray, y: np.ndarray, bins: int = 5) -> list[dict]:
    """Reliability table: per equal-width score bin, the clip count, mean predicted score and observed
    suitable fraction (with its Wilson interval); empty bins are left out."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        sel = b == i
        if sel.any():
            out.append({"bin": [float(edges[i]), float(edges[i + 1])], "n": int(sel.sum()),
                        "predicted": float(score[sel].mean()), "observed": float(y[sel].mean()),
                        "observed_ci": wilson_interval(int(y[sel].sum()), int(sel.sum()))})
    return out


def _decide(model, rows) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Model scores, the decision score (0 where a rule fires) and the names of the rules that fire."""
    score = model.scores(model.matrix(rows))
    fired = [sorted({r.name for r in model.rules if r.fires(s)}) for s in rows]
    return score, np.where([not f for f in fired], score, 0.0), fired


def _figures(score: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """AP, P/R at ``threshold`` and the best recall at the target precision of decision scores ``score``."""
    p, r, t = precision_recall(score, y)
    ok = p >= TARGET_PRECISION
    prec, rec = pr_at(score, y, threshold)
    return {"ap": average_precision(score, y), "precision": prec, "recall": rec, "threshold": threshold,
            f"recall_at_p{TARGET_PRECISION}": float(r[ok].max()) if ok.any() else 0.0,
            "curve": (p.tolist(), r.tolist()), "kept": int((score >= threshold).sum()),
            "tp": int(((score >= threshold) & (y == 1)).sum())}


def _evaluate(model, rows, y) -> dict:
    """Figures of a fitted model on a test pool (:func:`_figures` of its decision scores)."""
    return _figures(_decide(model, rows)[1], y, model.threshold)


def _operating_point(model, rows, y) -> dict:
    """AP, precision and recall at the model's threshold on a test pool, and its kept suitable (``tp``) and
    unsuitable (``fp``) clips."""
    f = _evaluate(model, rows, y)
    return {"ap": f["ap"], "precision": f["precision"], "recall": f["recall"], "tp": f["tp"], "fp": f["kept"] - f["tp"]}


def _per_kind(score: np.ndarray, fired: list, kinds: np.ndarray, threshold: float) -> dict:
    kept = score >= threshold
    out = {}
    for k in sorted(set(kinds)):
        sel = kinds == k
        out[k] = {"n": int(sel.sum()), "kept": int(kept[sel].sum()), "rejected": int((~kept[sel]).sum()),
                  "by_rule": int(sum(bool(fired[i]) for i in np.flatnonzero(sel)))}
    return out


def _set_figures(model, rows, y, kinds) -> dict:
    """A test pool's figures under the fitted model: AP, operating point (with 95% Wilson intervals and the
    precision re-weighted to :data:`PREVALENCE`), per-kind rejections, reliability, the first nine kinds only."""
    from ..synth import CLASSIC_KINDS

    raw, score, fired = _decide(model, rows)

    def figures(sel):
        if not sel.any() or not y[sel].any():
            return {}
        r = _figures(score[sel], y[sel], model.threshold)
        return {k: v for k, v in r.items() if k != "curve"} | {"clips": int(sel.sum()), "suitable": int(y[sel].sum())}

    kept = score >= model.threshold
    tp, fp = int((kept & y).sum()), int((kept & ~y).sum())
    tpr, fpr = tp / max(y.sum(), 1), fp / max((~y).sum(), 1)
    rules_on_suitable: dict[str, int] = {}
    for i in np.flatnonzero(y):
        for name in fired[i]:
            rules_on_suitable[name] = rules_on_suitable.get(name, 0) + 1
    return {**figures(np.ones(len(rows), bool)), "tp": tp, "fp": fp,
            "precision_ci": wilson_interval(tp, tp + fp), "recall_ci": wilson_interval(tp, int(y.sum())),
            f"precision_at_prevalence_{PREVALENCE}":
                PREVALENCE * tpr / max(PREVALENCE * tpr + (1 - PREVALENCE) * fpr, 1e-12),
            "suitable_score_mean": float(raw[y].mean()) if y.any() else float("nan"),
            "rules_on_suitable": rules_on_suitable, "reliability": reliability(raw, y),
            "classic_kinds": figures(np.isin(kinds, CLASSIC_KINDS)),
            "per_kind_kept": _per_kind(score, fired, kinds, model.threshold)}


def _single_baseline(name, rows_tr, y_tr, rows_te, y_te) -> dict:
    """One raw signal as the score, its sign chosen on the training half."""
    tr = np.array([r[name] for r in rows_tr])
    te = np.array([r[name] for r in rows_te])
    sign = 1.0 if average_precision(tr, y_tr) >= average_precision(-tr, y_tr) else -1.0
    p, r, _ = precision_recall(sign * te, y_te)
    ok = p >= TARGET_PRECISION
    return {"ap": average_precision(sign * te, y_te), "sign": sign, "best_precision": float(p.max()),
            f"recall_at_p{TARGET_PRECISION}": float(r[ok].max()) if ok.any() else 0.0,
            "curve": (p.tolist(), r.tolist())}


def _timed_filter(path) -> tuple[float, float, str]:
    """(CPU seconds of decoding alone, CPU seconds of filter_video, status) in this process."""
    from ..filtering.decide import load_for_filter

    t0 = time.process_time()
    load_for_filter(path)
    t1 = time.process_time()
    d = filter_video(path)
    return t1 - t0, time.process_time() - t1, d.status


def _throughput(folder: Path, n: int, quick: bool) -> dict:
    """filter_video on n 5 s 640x360 24 fps mp4 clips (decode included): wall clips/s with 1 and 2 processes,
    CPU seconds per clip (process time, steadier than wall on a shared machine) for decoding alone and for
    the whole decision, and the clips/s on two free cores each implies (decoding alone: the decode bound)."""
    import os

    from ..synth import KINDS

    jobs = [_RenderJob(folder / f"tp_{i:02d}.mp4", KINDS[i % len(KINDS)], 500 + i, False, (360, 640), 24.0, 5.0)
            for i in range(n)]
    with mp.get_context("spawn").Pool(2) as pool:
        list(pool.imap_unordered(_render_one, jobs))
    paths = [j.path for j in jobs]
    res = {"load_before": os.getloadavg()[0]}
    for workers in (1, 2):
        with mp.get_context("spawn").Pool(workers, initializer=_warm) as pool:
            pool.map(time.sleep, [0.5] * workers)  # wait until every worker has started
            t0 = time.perf_counter()
            decisions = pool.map(filter_video, paths, chunksize=1)
            dt = time.perf_counter() - t0
        res[f"clips_per_s_{workers}proc"] = n / dt
        res["errors"] = sum(d.status == "error" for d in decisions)
    with mp.get_context("spawn").Pool(1, initializer=_warm) as pool:
        cpu = pool.map(_timed_filter, paths, chunksize=1)
    res["decode_cpu_s_per_clip"] = float(np.median([c[0] for c in cpu]))
    res["cpu_s_per_clip"] = float(np.median([c[1] for c in cpu]))
    res["decode_bound_clips_per_s_2cores"] = 2.0 / res["decode_cpu_s_per_clip"]
    res["cpu_clips_per_s_2cores"] = 2.0 / res["cpu_s_per_clip"]
    res["load_after"] = os.getloadavg()[0]
    res.update(num_clips=n, clip="5 s, 640x360, 24 fps mp4; analysed at 5 fps, short side 144", cores=os.cpu_count())
    return res


def _warm():
    import cv2  # (process start-up and imports are not part of the per-clip cost)

    from .. import signals  # noqa: F401

    cv2.setNumThreads(1)  # one clip per process: OpenCV's own threads would fight over the cores


def _signals_version() -> str:
    """Hash of the signal code (with `video`: decoding, the grey stretch and the bars; `filtering.decide`: what
    is decoded and measured) and the analysis config: cached signals are reused only while both are unchanged."""
    import hashlib
    import sys

    from .. import signals, video

    decide = Path(sys.modules[FilterConfig.__module__].__file__)  # (the package's `decide` is the function)
    h = hashlib.sha1(repr(FilterConfig()).encode())
    for f in [*sorted(Path(signals.__file__).parent.glob("*.py")), Path(video.__file__), decide]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _measure_pool(pool: Path) -> tuple[list[dict], np.ndarray, np.ndarray, float]:
    """Signals, labels and kinds of a pool's clips (clips whose signals fail are left out), and seconds.
    Signals are cached in ``<pool>/signals-<version>.json`` (see :func:`_signals_version`)."""
    with open(pool / "labels.csv", newline="") as f:
        labels = list(csv.DictReader(f))
    cache = pool / f"signals-{_signals_version()}.json"
    t0 = time.perf_counter()
    if cache.is_file():
        sig = json.loads(cache.read_text())
    else:
        sig = measure_paths([pool / f"{r['video_id']}.mp4" for r in labels], FilterConfig(), workers=2, progress=True)
        cache.write_text(json.dumps(sig))
    dt = time.perf_counter() - t0
    ok = [i for i, s in enumerate(sig) if isinstance(s, dict)]
    return ([sig[i] for i in ok], np.array([labels[i]["suitable"] == "1" for i in ok]),
            np.array([labels[i]["kind"] for i in ok]), dt)


def fit(rows, y, kinds, features=SIGNAL_NAMES):
    """The bench's (and the packaged model's) fit: one detector per kind on the signals that bear on it,
    calibrated, threshold with the :data:`SHIFT_MARGIN`."""
    cfg = FitConfig(features=tuple(features), target_precision=TARGET_PRECISION, prevalence=FIT_PREVALENCE,
                    shift_margin=SHIFT_MARGIN)
    return fit_model(rows, y, cfg, kinds=kinds)


def run(out, quick: bool = False, seed: int = 0) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (n_test, x_test), (n_train, x_train) = POOL_SIZES[bool(quick)]
    t0 = time.perf_counter()
    pools = {name: make_pool(out / f"filter_pool_{name}_{n_test}+{x_test}_s{seed}", n_test, seed, x_test, split=split,
                             style=style, all_kinds=True, nuisance=nuisance)
             for name, (split, style, nuisance) in EVAL_SETS.items()}
    train_seeds = range(seed + 1000, seed + 1000 + TRAIN_POOLS[bool(quick)])
    train_pools = [make_pool(out / f"filter_pool_train_{n_train}+{x_train}_s{s}", n_train, s, x_train, all_kinds=True)
                   for s in train_seeds]
    train_pools += [make_pool(out / f"filter_pool_train_{n_train}+{x_train}_s{s}_wide", n_train, s, x_train,
                              all_kinds=True, nuisance=TRAIN_NUISANCE) for s in train_seeds]
    t_render = time.perf_counter() - t0
    parts = [_measure_pool(p) for p in train_pools]
    rows_tr = [r for part in parts for r in part[0]]
    y_tr, kinds_tr = (np.concatenate([part[i] for part in parts]) for i in (1, 2))
    t_sig_tr = sum(part[3] for part in parts)
    data = {name: _measure_pool(p) for name, p in pools.items()}
    rows_te, y_te = data["dev"][:2]

    model = fit(rows_tr, y_tr, kinds_tr)
    full = _evaluate(model, rows_te, y_te)
    model.info.update(pool=" + ".join(p.name for p in train_pools), fps=FilterConfig().fps,
                      short_side=FilterConfig().short_side)
    model.to_json(out / "filter_model.json")
    sets = {name: _set_figures(model, *d[:3]) for name, d in data.items()}
    shipped = load_model()  # what `filter` uses unless told otherwise, scored on the same test pools
    packaged = {name: _operating_point(shipped, *d[:2]) for name, d in data.items()}
    ablation, feats = {}, []
    for group, names in SIGNAL_GROUPS.items():
        feats += list(names)
        ablation[("+" if ablation else "") + group] = _evaluate(fit(rows_tr, y_tr, kinds_tr, feats), rows_te, y_te)
    baselines = {n: _single_baseline(n, rows_tr, y_tr, rows_te, y_te) for n in BASELINE_SIGNALS}
    throughput = _throughput(out / "filter_throughput", 4 if quick else 10, quick)

    _plot(out / "filter_pr.png", full, ablation, baselines)
    _plot_reliability(out / "filter_reliability.png", sets)
    strip = lambda d: {k: v for k, v in d.items() if k != "curve"}  # noqa: E731
    result = {
        "pools": {"train": {"clips": len(rows_tr), "suitable": int(y_tr.sum()), "signals_s": t_sig_tr},
                  **{name: {"clips": len(d[0]), "suitable": int(d[1].sum()), "signals_s": d[3]}
                     for name, d in data.items()},
                  "clip": "320x180, 5 fps, 4 s, half of the clips hard; every pool draws from all sixteen kinds",
                  "render_s": t_render},
        "model": {"threshold": model.threshold, "rounds": model.info["rounds"],
                  "cv_precision": model.info["cv_precision"],
                  "cv_recall": model.info["cv_recall"], "calibration": model.info["calibration"],
                  "shift_margin": SHIFT_MARGIN},
        "dev_test": strip(full),  # the dev test pool: the row the ablation and the baselines are read against
        "sets_protocol": "the model fitted on the dev training pool, scored unchanged on: dev = a test pool of the "
                         "dev split; heldout = style a, held-out seeds and scene parameters; style_b = the other "
                         "scene family, held-out seeds; bars = the heldout clips inside letterbox or pillarbox bars; "
                         "fades = the heldout clips fading from or to black; "
                         "classic_kinds = the same on the first nine kinds only",
        "sets": sets,
        "packaged_model": packaged,
        "ablation": {k: strip(v) for k, v in ablation.items()},
        "baselines": {k: strip(v) for k, v in baselines.items()},
        "throughput": throughput,
        "target": {"precision": TARGET_PRECISION, "recall": 0.7, "clips_per_s_2proc": 4.0},
    }
    (out / "filter.json").write_text(json.dumps(result, indent=1) + "\n")
    _print(result)
    return result


def _plot_reliability(path: Path, sets: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, s in sets.items():
        rel = s["reliability"]
        ax.plot([b["predicted"] for b in rel], [b["observed"] for b in rel], "o-", label=name)
    ax.set(xlabel="predicted score (bin mean)", ylabel="observed suitable fraction", xlim=(0, 1), ylim=(0, 1),
           title="reliability per test pool")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot(path: Path, full: dict, ablation: dict, baselines: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, res in ablation.items():
        p, r = res["curve"]
        ax[0].plot(r, p, label=f"{name} (AP {res['ap']:.2f})", lw=2 if name == list(ablation)[-1] else 1)
    ax[0].plot([full["recall"]], [full["precision"]], "k*", ms=12, label="operating point")
    for name, res in baselines.items():
        p, r = res["curve"]
        ax[1].plot(r, p, label=f"{name} (AP {res['ap']:.2f})")
    p, r = full["curve"]
    ax[1].plot(r, p, "k", lw=2, label=f"all signals (AP {full['ap']:.2f})")
    for a, title in zip(ax, ("cumulative ablation (held-out)", "single-signal baselines (held-out)")):
        a.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(res: dict) -> None:
    h, base = res["dev_test"], max(res["baselines"].values(), key=lambda b: b["ap"])
    best = max(res["baselines"], key=lambda k: res["baselines"][k]["ap"])
    pools = res["pools"]
    tr = pools["train"]
    m = res["model"]
    print(f"\nfilter benchmark: fitted on the dev training pool, {tr['clips']} clips ({tr['suitable']} suitable); "
          f"threshold {m['threshold']:.3f} (shift margin {m['shift_margin']} logit)")
    print(f"{'model (dev test pool)':28s} {'AP':>6s} {'P@op':>6s} {'R@op':>6s} {'R@P0.9':>7s}")
    for name, r in [("all signals (operating pt)", h)] + list(res["ablation"].items()):
        print(f"{name:28s} {r['ap']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} {r['recall_at_p0.9']:7.3f}")
    for name, r in res["baselines"].items():
        print(f"{'signal ' + name:28s} {r['ap']:6.3f} {'':6s} {'':6s} {r['recall_at_p0.9']:7.3f}")
    print(f"AP ratio vs best single signal ({best}): {h['ap'] / max(base['ap'], 1e-9):.2f}x")
    names = list(res["sets"])
    S = res["sets"]
    col = lambda f: " ".join(f"{f(n):>22s}" for n in names)  # noqa: E731
    print(f"\n{'test pool':30s} " + col(lambda n: n))
    print(f"{'clips (suitable)':30s} " + col(lambda n: f"{pools[n]['clips']} ({pools[n]['suitable']})"))
    print(f"{'AP':30s} " + col(lambda n: f"{S[n]['ap']:.3f}"))
    print(f"{'precision at op [95% CI]':30s} " + col(
        lambda n: f"{S[n]['precision']:.2f} [{S[n]['precision_ci'][0]:.2f}-{S[n]['precision_ci'][1]:.2f}]"))
    print(f"{'recall at op [95% CI]':30s} " + col(
        lambda n: f"{S[n]['recall']:.2f} [{S[n]['recall_ci'][0]:.2f}-{S[n]['recall_ci'][1]:.2f}]"))
    print(f"{'kept: suitable / unsuitable':30s} " + col(lambda n: f"{S[n]['tp']} / {S[n]['fp']}"))
    print(f"{f'precision at {PREVALENCE:.0%} suitable':30s} " + col(
        lambda n: f"{S[n][f'precision_at_prevalence_{PREVALENCE}']:.2f}"))
    print(f"{'best recall at P>=0.9':30s} " + col(lambda n: f"{S[n]['recall_at_p0.9']:.2f}"))
    def classic(n):
        c = S[n]["classic_kinds"]
        return f"{c['ap']:.2f} {c['precision']:.2f} {c['recall']:.2f}" if c else "-"

    print(f"{'first nine kinds: AP P R':30s} " + col(classic))
    P = res["packaged_model"]
    print(f"{'packaged model: AP P R':30s} " + col(
        lambda n: f"{P[n]['ap']:.2f} {P[n]['precision']:.2f} {P[n]['recall']:.2f}"))
    print(f"{'packaged: kept suit. / unsuit.':30s} " + col(lambda n: f"{P[n]['tp']} / {P[n]['fp']}"))
    print(f"{'rules firing on suitable clips':30s} " + col(
        lambda n: ",".join(f"{k}:{v}" for k, v in S[n]["rules_on_suitable"].items()) or "none"))
    print("\nper kind: rejected / clips (of which by a rule)")
    kinds = sorted({k for n in names for k in S[n]["per_kind_kept"]})
    for k in kinds:
        print(f"  {k:28s} " + col(lambda n, k=k: (lambda c: f"{c['rejected']}/{c['n']} ({c['by_rule']})" if c else "-")(
            S[n]["per_kind_kept"].get(k))))
    print("\nreliability: score bin -> clips, mean score, observed suitable fraction")
    for n in names:
        cells = [f"{b['bin'][0]:.1f}-{b['bin'][1]:.1f}: {b['n']:3d} {b['predicted']:.2f} {b['observed']:.2f}"
                 for b in S[n]["reliability"]]
        print(f"  {n:10s} " + " | ".join(cells))
    t = res["throughput"]
    print(f"\nthroughput (5 s 640x360 mp4, decode included, load {t['load_before']:.1f} before / "
          f"{t['load_after']:.1f} after on {t['cores']} cores): wall {t['clips_per_s_1proc']:.2f} clips/s on 1 "
          f"process, {t['clips_per_s_2proc']:.2f} on 2; CPU {t['cpu_s_per_clip']:.3f} s per clip "
          f"({t['cpu_clips_per_s_2cores']:.2f} clips/s on 2 free cores), of which decoding "
          f"{t['decode_cpu_s_per_clip']:.3f} s (decode bound {t['decode_bound_clips_per_s_2cores']:.2f} clips/s)")
