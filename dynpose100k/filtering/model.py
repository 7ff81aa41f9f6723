"""The fusion model: per-signal rules plus a calibrated boosted score, stored as readable JSON.

Score: one detector per failure mode of the training pool (suitable clips against the clips of that kind),
each gradient-boosted decision stumps (logistic loss, Newton leaf values, shrinkage): an additive model whose
terms are one-signal steps ("zoom_rate > 0.21: -0.3"). A clip is as suitable as its weakest detector says:
the score is the sigmoid of the lowest detector logit, and a low score names the failure mode it looks like.
Without kind labels there is a single detector (suitable against everything else). Each shipped detector is
the average of its cross-validation fold models, the models whose out-of-fold scores set the threshold.
Rules are one-signal thresholds (each names its reason) set from the suitable training clips with a
margin, so they only fire far outside what a suitable clip looks like.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DynPoseError
from ..signals import DETECTOR_SIGNALS


class FilterModelError(DynPoseError):
    """A fusion-model file that is missing, malformed or incompatible with the given signals."""


@dataclass(frozen=True)
class Rule:
    """Reject when ``signal op threshold`` holds (``op`` is ``"<"`` or ``">"``)."""

    name: str
    """Reason name shown to users, e.g. ``static_camera``."""
    signal: str
    """Signal name (a key of :func:`dynpose100k.signals.compute_signals` or ``vlm_*``)."""
    op: str
    """``"<"``: too low is bad; ``">"``: too high is bad."""
    threshold: float
    """Boundary value in the signal's own units."""

    def fires(self, signals: dict[str, float]) -> str | None:
        """The reason text if the rule rejects these signals, else None."""
        v = signals.get(self.signal)
        if v is None or not math.isfinite(v):
            return None
        bad = v < self.threshold if self.op == "<" else v > self.threshold
        return f"{self.name}: {self.signal}={v:.3g} {self.op} {self.threshold:.3g}" if bad else None


#: (reason, signal, direction) of the rules; thresholds are fitted (see :func:`fit_rules`).
RULE_SPECS: tuple[tuple[str, str, str], ...] = (
    ("static_camera", "flow_bg", "<"),
    ("static_camera", "track_still_frac", ">"),
    ("shot_cut", "flow_residual_peak", ">"),
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


@dataclass(frozen=True)
class Stump:
    """One additive term of a detector's logit: ``left`` if ``signal <= threshold`` else ``right``."""

    detector: str
    signal: str
    threshold: float
    left: float
    right: float


@dataclass(frozen=True)
class FilterModel:
    """A fitted fusion model (what ``default_model.json`` holds)."""

    features: tuple[str, ...]
    """Signal names the score may use."""
    bases: dict[str, float]
    """Detector name (the failure kind it separates from suitable clips) -> logit before any stump."""
    stumps: tuple[Stump, ...]
    """Additive one-signal steps; a detector's logit = its base + the sum of its stumps' values."""
    threshold: float
    """Operating threshold on the score (keep if score >= threshold)."""
    rules: tuple[Rule, ...] = ()
    """One-signal rejection rules."""
    info: dict = field(default_factory=dict)
    """Provenance and fit figures (training pool, counts, cross-validated precision/recall)."""

    # ------------------------------------------------------------------ scoring
    def matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        """Stack the model's features from signal dicts -> (N, F); raises if a feature is missing."""
        missing = sorted({f for r in rows for f in self.features if f not in r})
        if missing:
            raise FilterModelError(f"model needs signals {', '.join(missing)} (fitted with a VLM? pass one)")
        return np.array([[r[f] for f in self.features] for r in rows], dtype=np.float64)

    def _terms(self, X: np.ndarray) -> np.ndarray:
        """Per-detector, per-feature summed stump values (D, N, F), detectors in ``bases`` order."""
        col = {f: i for i, f in enumerate(self.features)}
        det = {d: i for i, d in enumerate(self.bases)}
        di = np.array([det[st.detector] for st in self.stumps], dtype=int)
        ci = np.array([col[st.signal] for st in self.stumps], dtype=int)
        thr, lv, rv = (np.array([getattr(st, a) for st in self.stumps], dtype=np.float64)
                       for a in ("threshold", "left", "right"))
        T = np.zeros((len(det), len(self.features), len(X)))
        np.add.at(T, (di, ci), np.where(X[:, ci] <= thr, lv, rv).T)
        return T.transpose(0, 2, 1)

    def _logits(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        T = self._terms(X)
        return np.array(list(self.bases.values()))[:, None] + T.sum(2), T

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Suitability scores in [0, 1] for a feature matrix (N, F) -> (N,): sigmoid of the lowest detector logit."""
        return 1.0 / (1.0 + np.exp(-self._logits(X)[0].min(0)))

    def score(self, signals: dict[str, float]) -> tuple[float, str, list[tuple[str, float]]]:
        """Score of one clip, its weakest detector and that detector's per-feature logit terms, most negative first."""
        L, T = self._logits(self.matrix([signals]))
        d = int(np.argmin(L[:, 0]))
        t = T[d, 0]
        order = np.argsort(t)
        return (float(1.0 / (1.0 + np.exp(-L[d, 0]))), list(self.bases)[d],
                [(self.features[i], float(t[i])) for i in order])

    # ------------------------------------------------------------------ io
    def to_json(self, path) -> Path:
        path = Path(path)
        d = asdict(self)
        d["format"] = "dynpose100k-filter-model/3"
        path.write_text(json.dumps(d, indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, path) -> FilterModel:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            if d.pop("format", None) != "dynpose100k-filter-model/3":
                raise ValueError("not a dynpose100k filter model (format 3)")
            d["rules"] = tuple(Rule(**r) for r in d.get("rules", ()))
            d["stumps"] = tuple(Stump(**r) for r in d["stumps"])
            d["features"] = tuple(d["features"])
            m = cls(**d)
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise FilterModelError(f"{path}: cannot load filter model ({e})") from None
        if not ({st.signal for st in m.stumps} <= set(m.features) and {st.detector for st in m.stumps} <= set(m.bases)):
            raise FilterModelError(f"{path}: a stump uses a signal or detector the model does not list")
        return m


# ---------------------------------------------------------------------- fitting
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


def _counts(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives kept at each distinct threshold, and the thresholds, best score first."""
    order = np.argsort(-score, kind="stable")
    s, yy = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    return np.cumsum(yy)[last], np.cumsum(~yy)[last], s[last]


def _precision_recall(score: np.ndarray, y: np.ndarray, prevalence: float):
    """Precision (re-weighted to ``prevalence`` positives), recall and thresholds, best score first."""
    tp, fp, t = _counts(score, y)
    wp, wn = prevalence / max(y.mean(), 1e-9), (1 - prevalence) / max(1 - y.mean(), 1e-9)
    return wp * tp / (wp * tp + wn * fp), tp / y.sum(), t


def _platt(logit: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(a, b) of P(y) = sigmoid(a * logit + b) by Newton's method on the log loss (a kept > 0), with
    Platt's target smoothing so a separable pool does not send a to infinity."""
    n1, n0 = int(y.sum()), int((~y).sum())
    target = np.where(y, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
    z = np.clip(logit, -30, 30)
    w = np.zeros(2)
    A = np.column_stack([z, np.ones_like(z)])
    for _ in range(iters):
        pr = 1 / (1 + np.exp(-(A @ w)))
        g = A.T @ (pr - target)
        Hs = A.T @ (A * (pr * (1 - pr))[:, None]) + 1e-6 * np.eye(2)
        w -= np.linalg.solve(Hs, g)
    return max(float(w[0]), 1e-3), float(w[1])


def _wilson(k: np.ndarray, n: int, z: float, upper: bool) -> np.ndarray:
    """Wilson score bound of a binomial proportion ``k / n`` at ``z`` standard errors (upper or lower)."""
    n = max(n, 1)
    q = k / n
    mid = (q + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(q * (1 - q) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(mid + half if upper else mid - half, 0.0, 1.0)


def _precision_bound(score: np.ndarray, y: np.ndarray, prevalence: float, z: float):
    """Conservative precision at ``prevalence`` per threshold (best score first): the precision of a clip
    stream with that fraction of suitable clips, from the Wilson lower bound of the true-positive rate and
    the Wilson upper bound of the false-positive rate at ``z`` (z = 0: the point estimate)."""
    tp, fp, _ = _counts(score, y)
    tpr = _wilson(tp, int(y.sum()), z, upper=False)
    fpr = _wilson(fp, int((~y).sum()), z, upper=True)
    return prevalence * tpr / np.maximum(prevalence * tpr + (1 - prevalence) * fpr, 1e-12)


def fit_model(rows: list[dict[str, float]], labels, features: tuple[str, ...], target_precision: float = 0.9,
              prevalence: float | None = None, rounds_grid: tuple[int, ...] = (100, 200, 400), lr: float = 0.1,
              folds: int = 5, seed: int = 0, info: dict | None = None, kinds=None,
              bagged: bool = True, confidence: float = 0.2, detector_signals: dict | None = DETECTOR_SIGNALS,
              shift_margin: float = 0.5, calibrate: bool = True, min_recall: float = 0.5) -> FilterModel:
    """Fit rules, the detectors of the score and its operating threshold on labelled signal dicts.

    ``kinds``: the failure kind of each clip (ignored for suitable ones); one detector per kind, or a single
    ``suitable`` detector when None. The number of boosting rounds is the one of ``rounds_grid`` with the best
    out-of-fold average precision of the combined score (``folds``-fold cross-validation, stratified by kind).
    The threshold is chosen for the whole decision (rules + score; clips a rule rejects count as score 0) on
    the out-of-fold scores: the lowest threshold whose precision reaches ``target_precision`` (highest
    recall), else the threshold of best F1. ``prevalence`` (fraction of suitable clips where the filter will
    run, e.g. 0.09 for Internet video; default: the training fraction) re-weights precision so a training set
    rich in positives does not flatter it. ``bagged``: the shipped detectors are the average of the ``folds``
    cross-validation models (each fitted on (folds-1)/folds of the pool), so the scores it gives new clips are
    distributed like the out-of-fold scores the threshold was chosen on; a refit on the whole pool would be
    more confident than those, and the threshold optimistic for it.
    ``confidence``: when > 0, a threshold must reach ``target_precision`` with the true-positive rate at its
    Wilson lower bound and the false-positive rate at its Wilson upper bound, ``confidence`` standard errors
    out (see :func:`_precision_bound`) while keeping at least ``min_recall`` of the suitable clips; if none
    does, the threshold of the highest such bound among those that keep ``min_recall``
    (``info["target_reached"]`` is then False). 0: the point
    estimate, which the few false positives among the out-of-fold scores make optimistic on new pools.
    ``detector_signals``: kind -> the signals its detector may split on (default: the physical evidence per
    failure kind, :data:`dynpose100k.signals.DETECTOR_SIGNALS`); kinds not listed, and all when None, may use
    every feature.
    ``calibrate``: map the lowest detector logit through a logistic fit (Platt) of the out-of-fold labels, folded
    into every detector (a positive scale and one offset keep the minimum), so the score is P(suitable) at
    the training pool's suitable fraction.
    ``shift_margin``: the threshold must reach the target precision with every unsuitable clip's out-of-fold
    logit (after calibration) raised by this much: room for footage on which failures look more suitable
    than in training. The default, 0.5 logit, lets each failure look 1.65 times likelier suitable (odds) than
    it did in cross-validation (chosen on the dev pools among 0, 0.5 and 1); 0 turns it off.
    """
    from ..metrics import average_precision

    y = np.asarray(labels, dtype=bool)
    group = np.where(y, "", np.asarray(kinds, dtype=str) if kinds is not None else "suitable")
    names = sorted(set(group[~y]))
    X = np.array([[r[f] for f in features] for r in rows], dtype=np.float64)
    prevalence = float(y.mean()) if prevalence is None else prevalence
    rules = fit_rules(rows, y)
    passed = np.array([not any(rule.fires(r) for rule in rules) for r in rows])
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), int)
    for g in np.unique(group):
        idx = rng.permutation(np.flatnonzero(group == g))
        fold[idx] = np.arange(len(idx)) % folds

    cols = {d: np.array([j for j, f in enumerate(features) if detector_signals is None or d not in detector_signals
                         or f in detector_signals[d]], dtype=int) for d in names}

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
    a, b = _platt(oof[rounds], y) if calibrate else (1.0, 0.0)
    logit = a * oof[rounds] + b
    prob = 1.0 / (1.0 + np.exp(-logit))
    p, r, t = _precision_recall(np.where(passed, prob, 0.0), y, prevalence)
    if shift_margin > 0:  # unsuitable clips scored as if shift_margin logits more suitable
        shifted = np.where(passed, 1.0 / (1.0 + np.exp(-(logit + np.where(y, 0.0, shift_margin)))), 0.0)
        p, r, t = _precision_recall(shifted, y, prevalence)
        pb = _precision_bound(shifted, y, prevalence, confidence) if confidence > 0 else p
    else:
        pb = _precision_bound(np.where(passed, prob, 0.0), y, prevalence, confidence) if confidence > 0 else p
    ok = np.flatnonzero((pb >= target_precision) & (t > 0) & (r >= min_recall))
    if len(ok):
        k = ok[np.argmax(r[ok])]
    elif confidence > 0:  # no threshold is surely precise enough: the most surely precise one that keeps
        k = int(np.argmax(np.where((t > 0) & (r >= min_recall), pb, -1.0)))  # min_recall of the suitable
    else:
        k = int(np.argmax(2 * p * r / np.maximum(p + r, 1e-9)))
    if bagged:  # the average of the fold models: scored like the out-of-fold scores the threshold came from
        fitted = {d: (np.mean([fm[d][0] for fm in fold_models]),
                      [(j, t_, vl / folds, vr / folds) for fm in fold_models for j, t_, vl, vr in fm[d][1][:rounds]])
                  for d in names}
    else:
        fitted = fit_all(np.ones(len(y), bool), rounds)
    fitted = {d: (a * base + b, [(j, t_, a * vl, a * vr) for j, t_, vl, vr in st]) for d, (base, st) in fitted.items()}
    info = dict(info or {})
    info.update(num_clips=int(len(y)), num_suitable=int(y.sum()), target_precision=target_precision,
                prevalence=prevalence, rounds=rounds, lr=lr, cv_folds=folds, bagged=bagged,
                cv_ap_score=average_precision(oof[rounds], y), cv_precision=float(p[k]), cv_recall=float(r[k]),
                calibration=[float(a), float(b)], shift_margin=shift_margin, target_reached=bool(len(ok)),
                detector_signals=sorted(detector_signals) if detector_signals else [])
    merged: dict[tuple[str, int, float], np.ndarray] = {}  # the model is additive: sum repeated splits
    for d, (_, st) in fitted.items():
        for j, t_, vl, vr in st:
            merged[d, j, t_] = merged.get((d, j, t_), np.zeros(2)) + (vl, vr)
    stumps = tuple(Stump(d, features[j], t_, float(v[0]), float(v[1])) for (d, j, t_), v in merged.items())
    return FilterModel(tuple(features), {d: b for d, (b, _) in fitted.items()}, stumps, float(t[k]), rules, info)
