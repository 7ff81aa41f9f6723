"""Figures over many videos from their :class:`~dynpose100k.evaluate.video.VideoScore`."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..metrics import sampson_summary
from .video import VideoScore

__all__ = ["finite_mean", "summarise"]


def finite_mean(values) -> float:
    """Mean of the finite values (NaN and None left out); NaN when there is none."""
    v = np.array([np.nan if x is None else x for x in values], np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(v)) if v.size else float("nan")


def summarise(scores: Sequence[VideoScore], min_registered: float = 0.8) -> dict:
    """Means over videos (each video weighs the same):

    ``videos``; ``videos_registered_pct`` (any frame registered) and ``videos_min_registered_pct`` (at least
    ``min_registered`` of the frames, the dataset's keep rule); ``frames_registered_pct`` (mean registration
    rate); ``ate``, ``rpe_trans``, ``rpe_rot_deg`` (the paper's protocol, failed frames filled; a still
    ground-truth camera's NaN left out); ``ate_registered``, ``rpe_trans_registered``,
    ``rpe_rot_deg_registered`` (over the videos that have them); ``sampson``: the paper's real-video table,
    :func:`~dynpose100k.metrics.sampson_summary` of the per-video mean Sampson errors (None without any).
    Figures of an empty list are NaN."""
    rate = np.array([s.registration_rate for s in scores], np.float64)
    pct = (lambda x: 100 * float(np.mean(x))) if len(scores) else (lambda x: float("nan"))
    means = np.array([s.sampson_mean for s in scores], np.float64)
    means = means[np.isfinite(means)]
    return {
        "videos": len(scores),
        "videos_registered_pct": pct([s.success for s in scores]),
        "videos_min_registered_pct": pct(rate >= min_registered),
        "frames_registered_pct": pct(rate),
        **{k: finite_mean([getattr(s, k) for s in scores]) for k in (
            "ate", "rpe_trans", "rpe_rot_deg", "ate_registered", "rpe_trans_registered", "rpe_rot_deg_registered")},
        "sampson": sampson_summary(means) if means.size else None,
    }
