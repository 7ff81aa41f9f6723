"""Clip filtering: specialist signals (+ optional VLM answers) fused into a keep/reject Decision with reasons.

``filter_clip(clip, config, vlm=None)`` and ``filter_video(path, config, start, end)`` return a
:class:`Decision`; the fusion model (rules + calibrated logistic score + operating threshold) is a readable
JSON file, by default the packaged ``default_model.json`` fitted with :func:`fit_filter_model`.
"""

from .decide import DEFAULT_MODEL, Decision, FilterConfig, decide, filter_clip, filter_video, load_model, measure_clip
from .fit import fit_filter_model, measure_paths, read_pool_labels
from .model import FilterModel, FilterModelError, Rule, fit_model

__all__ = [
    "DEFAULT_MODEL",
    "Decision",
    "FilterConfig",
    "FilterModel",
    "FilterModelError",
    "Rule",
    "decide",
    "filter_clip",
    "filter_video",
    "fit_filter_model",
    "fit_model",
    "load_model",
    "measure_clip",
    "measure_paths",
    "read_pool_labels",
]
