"""Ground-truth container for synthetic videos and its compact ``.gt.npz`` file format.

Depth is stored exactly and compactly: a per-pixel surface index (piecewise constant, compresses very
well) plus each surface's inverse-depth plane per frame (``1/z = a*u + b*v + c``); :func:`load_gt`
rebuilds the float32 depth maps from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DynPoseError
from .raster import depth_from_planes

FORMAT_VERSION = 1


class SynthError(DynPoseError):
    """A synthetic ground-truth file that cannot be read, or a bad synthesis request."""


@dataclass(frozen=True)
class GroundTruth:
    """Exact ground truth of one synthetic video (``N`` frames of ``H x W`` pixels).

    For ``fisheye`` and ``darkfisheye`` clips the frames are a radially distorted version of the pinhole
    render that this ground truth describes (``K`` is the undistorted pinhole intrinsics). ``overlay``
    graphics, ``blur``, ``cartoon`` styling, the ``splitscreen`` layouts and the ``screen`` recording
    window are image effects on top of the same geometry (the ground truth describes the full-frame render
    underneath). ``stabilised`` clips are exact: their ``K`` has a drifting principal point.
    """

    video_id: str
    """Identifier without dots, e.g. ``good_0003_s12``."""
    kind: str
    """One of :data:`dynpose100k.synth.KINDS`."""
    suitable: bool
    """Whether the clip is suitable for pose estimation (only ``good``)."""
    w2c: np.ndarray
    """``(N, 4, 4)`` float64 world-to-camera, OpenCV axes."""
    K: np.ndarray
    """``(N, 3, 3)`` float64 intrinsics in pixels of the frames (pixel centres at integers)."""
    timestamps: np.ndarray
    """``(N,)`` float64 seconds."""
    depth: np.ndarray
    """``(N, H, W)`` float32 z-depth in metres; 0 where a pixel sees no surface (sky)."""
    dynamic_mask: np.ndarray
    """``(N, H, W)`` bool, pixels whose front-most surface is a moving object."""
    corr_i: np.ndarray
    """``(M,)`` int64 frame index of each correspondence's first observation."""
    corr_j: np.ndarray
    """``(M,)`` int64 frame index of each correspondence's second observation (``corr_j > corr_i``)."""
    corr_uv_i: np.ndarray
    """``(M, 2)`` float64 pixel in frame ``corr_i`` (integer pixel centres, on static, visible surfaces)."""
    corr_uv_j: np.ndarray
    """``(M, 2)`` float64 exact projection of the same 3D point into frame ``corr_j`` (visible there)."""
    surface: np.ndarray
    """``(N, H, W)`` surface index per pixel (0 = none; uint8, or uint16 past 254 surfaces); indexes ``planes``."""
    planes: np.ndarray
    """``(N, S, 3)`` float64 inverse-depth plane ``(a, b, c)`` per surface: ``1/z = a*u + b*v + c``."""
    style: str = "a"
    """Scene family, ``a`` or ``b`` (see :data:`dynpose100k.synth.STYLES`)."""
    split: str = "dev"
    """Seed range: ``dev`` or ``heldout`` (see :func:`dynpose100k.synth.split_of`)."""

    @property
    def num_frames(self) -> int:
        return len(self.w2c)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return tuple(self.depth.shape[1:3])

    def at(self, frames) -> "GroundTruth":
        """The ground truth of frames ``frames`` (increasing indices) alone, e.g. the frames a pose engine
        decoded at a lower rate: correspondences between two kept frames are kept and renumbered."""
        idx = np.asarray(frames, np.int64)
        new = np.full(self.num_frames, -1, np.int64)
        new[idx] = np.arange(len(idx))
        c = (new[self.corr_i] >= 0) & (new[self.corr_j] >= 0)
        return replace(self, w2c=self.w2c[idx], K=self.K[idx], timestamps=self.timestamps[idx],
                       depth=self.depth[idx], dynamic_mask=self.dynamic_mask[idx], surface=self.surface[idx],
                       planes=self.planes[idx], corr_i=new[self.corr_i[c]], corr_j=new[self.corr_j[c]],
                       corr_uv_i=self.corr_uv_i[c], corr_uv_j=self.corr_uv_j[c])


@dataclass(frozen=True)
class SynthVideo:
    """A rendered synthetic clip."""

    frames: np.ndarray
    """``(N, H, W, 3)`` uint8 RGB."""
    gt: GroundTruth
    """Its exact ground truth."""


def save_gt(path: str | Path, gt: GroundTruth) -> Path:
    """Write ``gt`` to a compressed ``.npz`` (surface ids + planes instead of raw depth; masks bit-packed)."""
    path = Path(path)
    n, h, w = gt.dynamic_mask.shape
    np.savez_compressed(
        path,
        format_version=np.int64(FORMAT_VERSION),
        video_id=np.str_(gt.video_id),
        kind=np.str_(gt.kind),
        suitable=np.bool_(gt.suitable),
        w2c=gt.w2c,
        K=gt.K,
        timestamps=gt.timestamps,
        surface=gt.surface,
        planes=gt.planes,
        dynamic_mask=np.packbits(gt.dynamic_mask, axis=-1),
        shape=np.array([n, h, w], np.int64),
        corr_i=gt.corr_i.astype(np.int32),
        corr_j=gt.corr_j.astype(np.int32),
        corr_uv_i=gt.corr_uv_i,
        corr_uv_j=gt.corr_uv_j,
        style=np.str_(gt.style),
        split=np.str_(gt.split),
    )
    return path


def load_gt(path: str | Path) -> GroundTruth:
    """Read a file written by :func:`save_gt`; depth is rebuilt exactly from the stored planes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise SynthError(f"{path}: not a readable ground-truth file ({e})") from None
    missing = {"w2c", "K", "surface", "planes", "dynamic_mask", "shape", "corr_uv_i"} - d.keys()
    if missing:
        raise SynthError(f"{path}: not a synthetic ground-truth file (missing {', '.join(sorted(missing))})")
    n, h, w = (int(x) for x in d["shape"])
    return GroundTruth(
        video_id=str(d["video_id"]),
        kind=str(d["kind"]),
        suitable=bool(d["suitable"]),
        w2c=d["w2c"],
        K=d["K"],
        timestamps=d["timestamps"],
        depth=depth_from_planes(d["surface"], d["planes"]),
        dynamic_mask=np.unpackbits(d["dynamic_mask"], axis=-1, count=w).astype(bool).reshape(n, h, w),
        corr_i=d["corr_i"].astype(np.int64),
        corr_j=d["corr_j"].astype(np.int64),
        corr_uv_i=d["corr_uv_i"],
        corr_uv_j=d["corr_uv_j"],
        surface=d["surface"],
        planes=d["planes"],
        style=str(d.get("style", "a")),
        split=str(d.get("split", "dev")),
    )
