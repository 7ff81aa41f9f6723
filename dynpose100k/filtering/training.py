"""Fitting the fusion model (:class:`~dynpose100k.filtering.model.FilterModel`) on labelled clips.

:func:`fit_model` fits rules, detectors and the operating threshold on signal dicts with a frozen
:class:`FitConfig`; :func:`fit_filter_model` measures a labelled pool (``labels.csv`` + ``<video_id>.mp4``, as
``synth.write_pool`` writes) and fits on it. ``dynpose100k fit-filter POOL --out MODEL.json`` runs the latter.
Precision and recall come from :mod:`dynpose100k.metrics`.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DynPoseError
from ..metrics import average_precision, fit_logistic, pr_counts, wilson_interval
from ..signals import DETECTOR_SIGNALS, SIGNAL_NAMES
from .decide import FilterConfig, load_for_filter, load_for_vlm, measure_clip
from .model import FilterModel, Rule, Stump

__all__ = ["FitConfig", "RULE_SPECS", "fit_model", "fit_rules", "fit_stumps", "fit_filter_model", "measure_paths",
           "read_pool_labels"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """How the fusion model is fitted (the defaults fitted the packaged ``default_model.json``)."""

    features: tuple[str, ...] = SIGNAL_NAMES
    """Signal names the score may use."""
    target_precision: float = 0.9
    """Precision the operating threshold must reach (the lowest such threshold is chosen: highest recall)."""
    prevalence: float | None = None
    """Fraction of suitable clips where the filter will run (e.g. 0.09 for Internet video); precision is
    re-weighted to it so a training set rich in positives does not flatter it. None: the training fraction."""
    rounds_grid: tuple[int, ...] = (100, 200, 400)
    """Boosting rounds tried; the one with the best out-of-fold average precision is kept."""
    lr: float = 0.1
    """Shrinkage of each boosting step."""
    folds: int = 5
    """Cross-validation folds (stratified by failure kind) for the out-of-fold scores."""
    seed: int = 0
    """Seed of the fold assignment."""
    bagged: bool = True
    """Ship the average of the fold models (scores distributed like the out-of-fold scores the threshold was
    chosen on) instead of a refit on the whole pool (more confident, so the threshold is optimistic for it)."""
    confidence: float = 0.2
    """When > 0, a threshold must reach ``target_precision`` with the true-positive rate at its Wilson lower
    bound and the false-positive rate at its Wilson upper bound, this many standard errors out; 0: the point
    estimate, which the few false positives among the out-of-fold scores make optimistic on new pools."""
    min_recall: float = 0.7
    """A threshold must keep at least this share of the suitable (out-of-fold) clips; when none reaches the
    precision target too, the one with the highest precision bound among those that do
    (``info["target_reached"]`` False). 0.7 is the recall the filter is meant to keep; with 0.5, on two dev
    test pools, recall fell to 0.43-0.67 for no gain in precision (0.75-0.82 either way)."""
    detector_signals: dict | None = None
    """Failure kind -> the signals its detector may split on; None: :data:`dynpose100k.signals.DETECTOR_SIGNALS`
    (the physical evidence per kind: a detector free to use every signal learns the training renderer's look).
    Kinds not listed may use every feature; ``{}`` lets every detector use every feature."""
    calibrate: bool = True
    """Map the lowest detector logit through a logistic fit (Platt) of the out-of-fold labels, folded into every
    detector (a positive scale and one offset keep the minimum), so the score reads as P(suitable) at the
    training pool's suitable fraction."""
    shift_margin: float = 0.5
    """The threshold must reach the precision target with every unsuitable clip's out-of-fold logit (after
    calibration) raised by this much: room for footage on which failures look more suitable than in training.
    0.5 logit lets a failure look 1.65 times likelier suitable (odds) than in cross-validation (chosen on the dev
    pools among 0, 0.5 and 1); 0 turns it off."""


#: (reason, signal, direction) of the rules; thresholds are fitted by :func:`fit_rules`. A shot cut is
#: ruled on by interior track loss alone: a rule on the unexplained change of the frame (the warp residual,
#: ``flow_residual_peak``) rejected no dev clip (975 of them) that the score kept, but on a pool of the other
#: scene family it alone rejected a suitable clip; appearance jumps stay evidence of the ``cut`` detector.
RULE_SPECS: tuple[tuple[str, str, str], ...] = (
    ("static_camera", "flow_bg", "<"),
    ("static_camera", "track_still_frac", ">"),
    ("shot_cut", "cut_track_loss", ">"),
    ("zoom", "zoom_rate", ">"),
    ("focal_variance", "focal_logstd", ">"),
    ("long_focal", "focal_median", ">"),
    ("distortion", "distortion_k", "<"),
    ("large_dynamic_area", "dynamic_frac", ">"),
    ("cartoon", "color_count", "<"),
    ("cartoon", "palette_cover", ">"),
    ("cartoon", "dark_line_frac", ">"),
    ("distortion", "line_bow_frac", ">"),
    ("overlay", "static_edge_frac", ">"),
    ("blurry_background", "sharpness_rel", "<"),
)


def _compress(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _midpoints(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Move each candidate split q halfway to the next larger value of x: the same partition of x, but a
    new value just above the largest training value on the left side still goes left."""
    v = np.unique(x)
    i = np.searchsorted(v, q, side="right")
    return np.where(i < len(v), (q + v[np.minimum(i, len(v) - 1)]) / 2, q)


def fit_stumps(X: np.ndarray, y: np.ndarray, rounds: int, lr: float = 0.1, l2: float = 1.0, min_leaf: int = 5,
               n_thresholds: int = 16) -> tuple[float, list[tuple[int, float, float, float]]]:
    """Gradient-boosted stumps with logistic loss on X (N, F) -> (base logit, [(column, thr, left, right)]).

    Candidate thresholds are ``n_thresholds`` quantiles per column, moved halfway to the next value; leaf
    values are Newton steps with ``l2`` regularisation, shrunk by ``lr``; a split needs ``min_leaf`` clips on
    each side.
    """
    y = y.astype(float)
    n, d = X.shape
    base = float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
    F = np.full(n, base)
    qs = np.linspace(0.03, 0.97, n_thresholds)
    thr = [_midpoints(X[:, j], np.unique(np.quantile(X[:, j], qs))) for j in range(d)]
    col = np.concatenate([np.full(len(t), j) for j, t in enumerate(thr)])  # all candidate splits, column-major
    cut = np.concatenate(thr)
    left = X[:, col].T <= cut[:, None]  # (splits, N)
    leftf = left.astype(np.float64)
    nl = left.sum(1)
    allowed = (nl >= min_leaf) & (n - nl >= min_leaf)
    stumps = []
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-F))
        g, h = p - y, p * (1 - p)
        GL, HL = leftf @ g, leftf @ h
        GR, HR = g.sum() - GL, h.sum() - HL
        gain = np.where(allowed, GL**2 / (HL + l2) + GR**2 / (HR + l2), -np.inf)
        s = int(np.argmax(gain))  # first best split, in column order
        j = int(col[s])
        L = left[s]
        vl, vr = -lr * g[L].sum() / (h[L].sum() + l2), -lr * g[~L].sum() / (h[~L].sum() + l2)
        stumps.append((j, float(cut[s]), float(vl), float(vr)))
        F += np.where(L, vl, vr)
    return base, stumps


def _predict(base: float, stumps, X: np.ndarray) -> np.ndarray:
    F = np.full(len(X), base)
    for j, t, vl, vr in stumps:
        F += np.where(X[:, j] <= t, vl, vr)
    return F


def fit_rules(rows: list[dict[str, float]], y: np.ndarray, margin: float = 2.0) -> tuple[Rule, ...]:
    """Rule thresholds: the most extreme value among suitable clips, pushed out by ``margin`` standard
    deviations (of the suitable clips, in sign-log units) so a rule fires only far outside them."""
    rules = []
    for name, sig, op in RULE_SPECS:
        v = np.array([r[sig] for r, yy in zip(rows, y) if yy and sig in r], dtype=float)
        v = _compress(v[np.isfinite(v)])
        if len(v) < 3:
            continue
        spread = margin * max(v.std(), 0.05)
        t = v.min() - spread if op == "<" else v.max() + spread
        rules.append(Rule(name, sig, op, float(np.sign(t) * np.expm1(abs(t)))))
    return tuple(rules)


def _precision_recall(score: np.ndarray, y: np.ndarray, prevalence: float):
    """Precision (re-weighted to ``prevalence`` positives), recall and thresholds, best score first."""
    tp, fp, t = pr_counts(score, y)
    wp, wn = prevalence / max(y.mean(), 1e-9), (1 - prevalence) / max(1 - y.mean(), 1e-9)
    return wp * tp / (wp * tp + wn * fp), tp / y.sum(), t


def _platt(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(y) = sigmoid(a * logit + b) (a kept > 0), fitted with Platt's target smoothing so a
    separable pool does not send a to infinity."""
    n1, n0 = int(y.sum()), int((~y).sum())
    target = np.where(y, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
    w, b = fit_logistic(np.clip(logit, -30, 30)[:, None], target, l2=0.0)
    return max(float(w[0]), 1e-3), b


def _precision_bound(score: np.ndarray, y: np.ndarray, prevalence: float, z: float):
    """Conservative precision at ``prevalence`` per threshold (best score first): the precision of a clip
    stream with that fraction of suitable clips, from the Wilson lower bound of the true-positive rate and
    the Wilson upper bound of the false-positive rate at ``z`` (z = 0: the point estimate)."""
    tp, fp, _ = pr_counts(score, y)
    tpr = wilson_interval(tp, max(int(y.sum()), 1), z)[0]
    fpr = wilson_interval(fp, max(int((~y).sum()), 1), z)[1]
    return prevalence * tpr / np.maximum(prevalence * tpr + (1 - prevalence) * fpr, 1e-12)


def fit_model(rows: list[dict[str, float]], labels, config: FitConfig = FitConfig(), kinds=None,
              info: dict | None = None) -> FilterModel:
    """Fit rules, the detectors of the score and its operating threshold on labelled signal dicts.

    ``kinds``: the failure kind of each clip (ignored for suitable ones); one detector per kind, or a single
    ``suitable`` detector when None. The number of boosting rounds is the one of ``config.rounds_grid`` with
    the best out-of-fold average precision of the combined score. The threshold is chosen for the whole
    decision (rules + score; clips a rule rejects count as score 0) on the out-of-fold scores: the lowest
    threshold whose precision (at ``config.prevalence``, see :class:`FitConfig`; with ``config.shift_margin``
    added to the unsuitable clips' logits) reaches ``config.target_precision`` while keeping
    ``config.min_recall``; if none does, with ``config.confidence`` > 0 the threshold of the highest precision
    bound among those keeping ``config.min_recall``, else the threshold of best F1. ``info`` is stored in the
    model with the fit figures.
    """
    c = config
    features, target_precision, rounds_grid, lr, folds = c.features, c.target_precision, c.rounds_grid, c.lr, c.folds
    y = np.asarray(labels, dtype=bool)
    if min(y.sum(), (~y).sum()) < folds:  # every fold's training part must hold both classes
        raise DynPoseError(f"a filter fit needs at least {folds} suitable and {folds} unsuitable clips (its "
                           f"{folds}-fold cross-validation); got {int(y.sum())} and {int((~y).sum())}")
    group = np.where(y, "", np.asarray(kinds, dtype=str) if kinds is not None else "suitable")
    names = sorted(set(group[~y]))
    X = np.array([[r[f] for f in features] for r in rows], dtype=np.float64)
    prevalence = float(y.mean()) if c.prevalence is None else c.prevalence
    rules = fit_rules(rows, y)
    passed = np.array([not any(rule.fires(r) for rule in rules) for r in rows])
    rng = np.random.default_rng(c.seed)
    fold = np.empty(len(y), int)
    for g in np.unique(group):
        idx = rng.permutation(np.flatnonzero(group == g))
        fold[idx] = np.arange(len(idx)) % folds

    allowed = DETECTOR_SIGNALS if c.detector_signals is None else c.detector_signals
    cols = {d: np.array([j for j, f in enumerate(features) if d not in allowed or f in allowed[d]], dtype=int)
            for d in names}

    def fit_one(d, sel, rounds):
        if not len(cols[d]):  # none of the kind's signals among the features: a constant (the class balance)
            return float(np.log((y[sel].mean() + 1e-6) / (1 - y[sel].mean() + 1e-6))), []
        base, st = fit_stumps(X[sel][:, cols[d]], y[sel], rounds, lr)
        return base, [(int(cols[d][j]), t_, vl, vr) for j, t_, vl, vr in st]

    def fit_all(mask, rounds):
        return {d: fit_one(d, mask & (y | (group == d)), rounds) for d in names}

    oof = {r: np.full(len(y), np.inf) for r in rounds_grid}
    fold_models = []
    for k in range(folds):
        tr = fold != k
        fold_models.append(fit_all(tr, max(rounds_grid)))
        for base, stumps in fold_models[-1].values():
            for r in rounds_grid:
                oof[r][~tr] = np.minimum(oof[r][~tr], _predict(base, stumps[:r], X[~tr]))
    rounds = max(rounds_grid, key=lambda r: average_precision(oof[r], y))
    a, b = _platt(oof[rounds], y) if c.calibrate else (1.0, 0.0)
    logit = a * oof[rounds] + b
    # unsuitable clips scored as if shift_margin logits more suitable (0: as they are)
    shifted = np.where(passed, 1.0 / (1.0 + np.exp(-(logit + np.where(y, 0.0, c.shift_margin)))), 0.0)
    p, r, t = _precision_recall(shifted, y, prevalence)
    pb = _precision_bound(shifted, y, prevalence, c.confidence) if c.confidence > 0 else p
    ok = np.flatnonzero((pb >= target_precision) & (t > 0) & (r >= c.min_recall))
    if len(ok):
        k = ok[np.argmax(r[ok])]
    elif c.confidence > 0:  # no threshold is surely precise enough: the most surely precise one that keeps
        k = int(np.argmax(np.where((t > 0) & (r >= c.min_recall), pb, -1.0)))  # min_recall of the suitable
    else:
        k = int(np.argmax(2 * p * r / np.maximum(p + r, 1e-9)))
    if c.bagged:  # the average of the fold models: scored like the out-of-fold scores the threshold came from
        fitted = {d: (np.mean([fm[d][0] for fm in fold_models]),
                      [(j, t_, vl / folds, vr / folds) for fm in fold_models for j, t_, vl, vr in fm[d][1][:rounds]])
                  for d in names}
    else:
        fitted = fit_all(np.ones(len(y), bool), rounds)
    fitted = {d: (a * base + b, [(j, t_, a * vl, a * vr) for j, t_, vl, vr in st]) for d, (base, st) in fitted.items()}
    info = dict(info or {})
    info.update(num_clips=int(len(y)), num_suitable=int(y.sum()), target_precision=target_precision,
                prevalence=prevalence, rounds=rounds, lr=lr, cv_folds=folds, bagged=c.bagged,
                cv_ap_score=average_precision(oof[rounds], y), cv_precision=float(p[k]), cv_recall=float(r[k]),
                calibration=[float(a), float(b)], shift_margin=c.shift_margin, target_reached=bool(len(ok)),
                detector_signals=sorted(allowed))
    merged: dict[tuple[str, int, float], np.ndarray] = {}  # the model is additive: sum repeated splits
    for d, (_, st) in fitted.items():
        for j, t_, vl, vr in st:
            merged[d, j, t_] = merged.get((d, j, t_), np.zeros(2)) + (vl, vr)
    stumps = tuple(Stump(d, features[j], t_, float(v[0]), float(v[1])) for (d, j, t_), v in merged.items())
    return FilterModel(tuple(features), {d: b for d, (b, _) in fitted.items()}, stumps, float(t[k]), rules, info)


# ---------------------------------------------------------------------- labelled pools
def read_pool_labels(pool_dir) -> list[tuple[str, bool, str]]:
    """``(video_id, suitable, kind)`` rows of ``<pool_dir>/labels.csv``."""
    path = Path(pool_dir) / "labels.csv"
    try:
        with open(path, newline="") as f:
            return [(r["video_id"], r["suitable"] in ("1", "True", "true"), r.get("kind", ""))
                    for r in csv.DictReader(f)]
    except (OSError, KeyError) as e:
        raise DynPoseError(f"{path}: cannot read pool labels ({e})") from None


def _measure(args) -> dict[str, float] | str:
    path, config, vlm = args
    try:
        return measure_clip(load_for_filter(path, config), config, vlm, load_for_vlm(path, config, vlm=vlm))
    except (DynPoseError, ValueError, cv2.error, np.linalg.LinAlgError) as e:
        return f"{type(e).__name__}: {e}"


def measure_paths(paths, config: FilterConfig = FilterConfig(), workers: int = 1, progress: bool = False,
                  vlm=None) -> list[dict[str, float] | str]:
    """Signals per video path (or the error text), in order; ``workers`` > 1 uses single-threaded OpenCV
    processes (no VLM)."""
    from ..workers import clip_map

    if vlm is not None and workers > 1:
        raise ValueError("measuring with a VLM runs in one process (workers=1)")
    items = [(str(p), config, vlm) for p in paths]
    with clip_map(_measure, items, workers) as it:
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(items), desc="signals", unit="clip")
        return list(it)


def fit_filter_model(pool_dir, config: FilterConfig = FilterConfig(), fit: FitConfig = FitConfig(), out=None,
                     workers: int = 1, progress: bool = False) -> FilterModel:
    """Measure every clip of a labelled pool with ``config`` (analysis rate and size), fit with ``fit`` and
    optionally save the model to ``out``. With a ``kind`` column in ``labels.csv`` the score gets one detector
    per failure kind. Clips whose signals cannot be measured are left out (a warning each)."""
    rows = read_pool_labels(pool_dir)
    sig = measure_paths([Path(pool_dir) / f"{vid}.mp4" for vid, _, _ in rows], config, workers, progress)
    ok = [i for i, s in enumerate(sig) if isinstance(s, dict)]
    for i in sorted(set(range(len(rows))) - set(ok)):
        log.warning("%s: skipped (%s)", rows[i][0], sig[i])
    if not ok:
        raise DynPoseError(f"{pool_dir}: no clip could be measured")
    kinds = [rows[i][2] for i in ok]
    model = fit_model([sig[i] for i in ok], [rows[i][1] for i in ok], fit, kinds=kinds if all(kinds) else None,
                      info={"pool": str(pool_dir), "fps": config.fps, "short_side": config.short_side})
    if out is not None:
        model.to_json(out)
    return model
