"""Procedural dynamic videos with exact ground truth, and the labelled failure modes the filter must catch.

Style ``a`` scenes are rooms and streets built from strongly textured rectangles (sample photos and
procedural patterns), with several independently moving boxes and cards, smooth camera paths and lighting
drift; style ``b`` (:mod:`.styleb`, never used for tuning) has terrain, halls and close-ups with spheres,
cylinders, thin structures, articulated people and animals, other textures, light and camera effects. Both
are rendered by a z-buffered homography rasteriser of flat faces (exact depth). Seeds from
:data:`HELDOUT_SEED_BASE` on form the held-out split. See :data:`KINDS` for the clip kinds.
In every clip the ordinary moving objects cover at most :data:`MAX_DYNAMIC_FRACTION` (0.4) of each frame
(populations that break this are redrawn, then thinned, deterministically from the seed), so ``good``
clips keep enough static correspondences; only ``bigobject`` adds a card covering more than half.
"""

from .effects import BAR_LAYOUTS, DEGRADATIONS, FADES, bars, consumer_camera, degrade, fade, recorded
from .kinds import CLASSIC_KINDS, DESCRIPTIONS, KINDS, MAX_DYNAMIC_FRACTION, POSE_DEGENERATE_KINDS, SUITABLE_KINDS
from .pool import MIXED_SIZES, mixed_kinds, pool_plan, read_labels, write_pool, write_pools
from .render import HELDOUT_SEED_BASE, SPLITS, STYLES, render, split_of
from .sheet import contact_sheet
from .truth import GroundTruth, SynthError, SynthVideo, load_gt, save_gt

__all__ = [
    "KINDS",
    "CLASSIC_KINDS",
    "STYLES",
    "SPLITS",
    "HELDOUT_SEED_BASE",
    "split_of",
    "mixed_kinds",
    "MIXED_SIZES",
    "contact_sheet",
    "SUITABLE_KINDS",
    "POSE_DEGENERATE_KINDS",
    "MAX_DYNAMIC_FRACTION",
    "DESCRIPTIONS",
    "GroundTruth",
    "SynthVideo",
    "SynthError",
    "render",
    "degrade",
    "consumer_camera",
    "bars",
    "recorded",
    "fade",
    "FADES",
    "BAR_LAYOUTS",
    "DEGRADATIONS",
    "save_gt",
    "load_gt",
    "write_pool",
    "write_pools",
    "pool_plan",
    "read_labels",
]
