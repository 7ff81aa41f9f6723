"""Clip filtering: specialist signals (+ optional VLM answers) fused into a keep/reject Decision with reasons.

``filter_clip(clip, config, vlm=None)`` and ``filter_video(path, config, start, end)`` return a
:class:`Decision`; the fusion model (rules + calibrated logistic score + operating threshold) is a readable
JSON file, by default the packaged ``default_model.json``. Inference (:mod:`.model`, :mod:`.decide`) is
separate from fitting (:mod:`.training`: :func:`fit_model`, :func:`fit_filter_model`, ``dynpose100k fit-filter``).
"""

from .decide import DEFAULT_MODEL, Decision, FilterConfig, decide, filter_clip, filter_video, load_model, measure_clip
from .model import FilterModel, FilterModelError, Rule
from .training import FitConfig, fit_filter_model, fit_model, measure_paths, read_pool_labels

__all__ = [
    "DEFAULT_MODEL",
    "Decision",
    "FilterConfig",
    "FilterModel",
    "FilterModelError",
    "FitConfig",
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
