"""Procedural dynamic videos with exact ground truth, and the labelled failure modes the filter must catch.

Scenes are rooms and streets built from strongly textured rectangles (sample photos and procedural
patterns), with several independently moving boxes and cards, smooth camera paths and lighting drift,
rendered by a z-buffered homography rasteriser (exact depth). See :data:`KINDS` for the clip kinds.
In every clip the ordinary moving objects cover at most :data:`MAX_DYNAMIC_FRACTION` (0.4) of each frame
(populations that break this are redrawn, then thinned, deterministically from the seed), so ``good``
clips keep enough static correspondences; only ``bigobject`` adds a card covering more than half.
"""

from .kinds import DESCRIPTIONS, KINDS, MAX_DYNAMIC_FRACTION, POSE_DEGENERATE_KINDS, SUITABLE_KINDS
from .pool import pool_plan, read_labels, write_pool
from .render import render
from .truth import GroundTruth, SynthError, SynthVideo, load_gt, save_gt

__all__ = [
    "KINDS",
    "SUITABLE_KINDS",
    "POSE_DEGENERATE_KINDS",
    "MAX_DYNAMIC_FRACTION",
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
