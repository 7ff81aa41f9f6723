"""The fusion model as shipped: per-signal rules plus a calibrated boosted score, stored as readable JSON.

Score: one detector per failure mode of the training pool (suitable clips against the clips of that kind),
each gradient-boosted decision stumps (logistic loss, Newton leaf values, shrinkage): an additive model whose
terms are one-signal steps ("zoom_rate > 0.21: -0.3"). A clip is as suitable as its weakest detector says:
the score is the sigmoid of the lowest detector logit, and a low score names the failure mode it looks like.
Without kind labels there is a single detector (suitable against everything else). Each shipped detector is
the average of its cross-validation fold models, the models whose out-of-fold scores set the threshold.
Rules are one-signal thresholds (each names its reason) set from the suitable training clips with a
margin, so they only fire far outside what a suitable clip looks like. This module loads and scores a model;
fitting one is :mod:`dynpose100k.filtering.training`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DynPoseError

__all__ = ["FilterModelError", "Rule", "Stump", "FilterModel", "MODEL_FORMAT"]

MODEL_FORMAT = "dynpose100k-filter-model/3"
"""The ``format`` field of a model file this version reads and writes."""


class FilterModelError(DynPoseError):
    """A fusion-model file that is missing, malformed or incompatible with the given signals."""


@dataclass(frozen=True)
class Rule:
    """Reject when ``signal op threshold`` holds (``op`` is ``"<"`` or ``">"``); thresholds are fitted by
    :func:`dynpose100k.filtering.training.fit_rules`."""

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
        d["format"] = MODEL_FORMAT
        path.write_text(json.dumps(d, indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, path) -> FilterModel:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            if d.pop("format", None) != MODEL_FORMAT:
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
