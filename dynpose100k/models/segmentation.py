"""Semantic masks of movable classes from a ``transformers`` universal-segmentation model.

Any Mask2Former or OneFormer checkpoint saved with ``save_pretrained`` (model + image processor) works,
loaded from a LOCAL folder only (``local_files_only=True``; nothing is downloaded). The classes masked are
those whose label name in ``config.id2label`` contains one of :data:`MOVABLE` as a word (people, vehicles,
animals), e.g. ``person``, ``car``, ``truck``, ``dog``; COCO-panoptic and ADE20K label sets both match.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np

from ..errors import DynPoseError
from . import require, torch_device

log = logging.getLogger(__name__)

__all__ = ["MOVABLE", "movable_ids", "MovableSegmenter", "SegmentationError", "cached_segmenter"]

MOVABLE = (
    "person", "people", "rider", "bicycle", "bicyclist", "car", "motorcycle", "motorcyclist", "bus", "truck",
    "train", "boat", "airplane", "vehicle", "van", "minibike", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "animal",
)
"""Label words of movable classes."""


class SegmentationError(DynPoseError):
    """A segmentation model folder that is missing or unusable."""


def movable_ids(id2label: dict, names=MOVABLE) -> list[int]:
    """Class ids whose label contains one of ``names`` as a word (split on non-letters)."""
    words = set(names)
    return sorted(int(i) for i, lab in id2label.items() if words & set(re.split(r"[^a-z]+", str(lab).lower())))


class MovableSegmenter:
    """Callable ``frames (N, H, W, 3) uint8 RGB -> (N, H, W) bool`` masks of movable classes."""

    def __init__(self, path: str | Path, names=MOVABLE, batch_size: int = 4, device: str = "auto"):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise SegmentationError(f"{path}: no segmentation model here (config.json missing); give a local folder")
        transformers = require("transformers", "models")
        self.torch = require("torch", "models")
        self.processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModelForUniversalSegmentation.from_pretrained(path, local_files_only=True)
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.ids = movable_ids(self.model.config.id2label, names)
        if not self.ids:
            log.warning("%s: no movable class among its labels; masks will be empty", path)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        N, H, W = frames.shape[:3]
        out = np.zeros((N, H, W), bool)
        oneformer = self.model.config.model_type == "oneformer"
        for s in range(0, N, self.batch_size):
            batch = list(frames[s : s + self.batch_size])
            kw = {"task_inputs": ["semantic"] * len(batch)} if oneformer else {}
            inputs = self.processor(images=batch, return_tensors="pt", **kw).to(self.device)
            with self.torch.inference_mode():
                pred = self.model(**inputs)
            segs = self.processor.post_process_semantic_segmentation(pred, target_sizes=[(H, W)] * len(batch))
            for k, seg in enumerate(segs):
                out[s + k] = np.isin(seg.cpu().numpy(), self.ids)
        return out


@functools.lru_cache(maxsize=2)
def cached_segmenter(path: str, device: str = "auto") -> MovableSegmenter:
    """One :class:`MovableSegmenter` per folder and device in this process (loaded once, not once per clip)."""
    return MovableSegmenter(path, device=device)
