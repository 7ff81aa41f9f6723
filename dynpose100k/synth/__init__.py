"""Procedural dynamic videos with exact ground truth, and the labelled failure modes the filter must catch.

Scenes are rooms and streets built from strongly textured rectangles (sample photos and procedural
patterns), with several independently moving boxes and cards, smooth camera paths and lighting drift,
rendered by a z-buffered homography rasteriser (exact depth). See :data:`KINDS` for the clip kinds.
"""

from .kinds import DESCRIPTIONS, KINDS, SUITABLE_KINDS
from .pool import pool_plan, read_labels, write_pool
from .render import render
from .truth import GroundTruth, SynthError, SynthVideo, load_gt, save_gt

__all__ = [
    "KINDS",
    "SUITABLE_KINDS",
    "DESCRIPTIONS",
    "GroundTruth",
    "SynthVideo",
    "SynthError",
    "render",
    "save_gt",
    "load_gt",
    "write_pool",
    "pool_plan",
    "read_labels",
]
