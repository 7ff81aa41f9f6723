"""Baselines run on the same frames as the pose engine.

* ``colmap``: pycolmap SIFT extraction (one shared SIMPLE_RADIAL camera), sequential matching (overlap 10,
  with geometric verification), incremental mapping; the largest model is kept.
* ``colmap_mask``: the same with SIFT features inside our dynamic masks removed (COLMAP image masks via
  ``ImageReaderOptions.mask_path``: black mask pixels get no features).
* ``floor``: the paper's floor, identity rotations and random camera centres (no registration).

Each returns ``(w2c (N, 4, 4), K (N, 3, 3), registered (N,))`` in the project's convention.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .. import camera as cam

log = logging.getLogger(__name__)

__all__ = ["colmap", "colmap_mask", "floor"]


def colmap(frames: np.ndarray, masks: np.ndarray | None = None, max_features: int = 2048, threads: int = 2):
    """COLMAP on ``frames`` ``(N, H, W, 3)`` RGB; ``masks`` ``(N, h, w)`` bool (True = dynamic, features
    removed; resized to the frames)."""
    from .colmap import import_pycolmap

    pycolmap = import_pycolmap()
    N, H, W = frames.shape[:3]
    w2c, K, reg = np.tile(np.eye(4), (N, 1, 1)), np.tile(np.eye(3), (N, 1, 1)), np.zeros(N, bool)
    with tempfile.TemporaryDirectory(prefix="colmap-") as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "SIMPLE_RADIAL"
        names = [f"{n:05d}.png" for n in range(N)]
        for name, f in zip(names, frames):
            cv2.imwrite(str(tmp / "images" / name), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        if masks is not None:
            (tmp / "masks").mkdir()
            reader.mask_path = str(tmp / "masks")
            for name, m in zip(names, masks):
                keep = cv2.resize((~m).astype(np.uint8) * 255, (W, H), interpolation=cv2.INTER_NEAREST)
                cv2.imwrite(str(tmp / "masks" / f"{name}.png"), keep)
        ext = pycolmap.FeatureExtractionOptions()
        ext.num_threads = threads
        ext.sift.max_num_features = max_features
        db = tmp / "db.db"
        pycolmap.extract_features(db, tmp / "images", camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                                  extraction_options=ext, device=pycolmap.Device.cpu)
        match = pycolmap.FeatureMatchingOptions()
        match.num_threads = threads
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = 10
        pycolmap.match_sequential(db, matching_options=match, pairing_options=pairing, device=pycolmap.Device.cpu)
        (tmp / "sfm").mkdir()
        opts = pycolmap.IncrementalPipelineOptions()
        opts.num_threads = threads
        recs = pycolmap.incremental_mapping(db, tmp / "images", tmp / "sfm", opts)
        if not recs:
            return w2c, K, reg
        rec = max(recs.values(), key=lambda r: r.num_reg_images())
        for image in rec.images.values():
            if image.has_pose:
                n = names.index(image.name)
                w2c[n, :3] = image.cam_from_world().matrix()
                reg[n] = True
                c = rec.camera(image.camera_id)
                K[n] = cam.K_from_colmap(c.model.name, c.params)
    return w2c, K, reg


def colmap_mask(frames: np.ndarray, masks: np.ndarray, **kw):
    """COLMAP with features inside ``masks`` (our dynamic masks) removed."""
    return colmap(frames, masks, **kw)


def floor(num_frames: int, seed: int = 0):
    """Identity rotations and random camera centres (the paper's floor); nothing registered."""
    from ..metrics import fill_failed

    reg = np.zeros(num_frames, bool)
    return (fill_failed(np.tile(np.eye(4), (num_frames, 1, 1)), reg, seed=seed), np.tile(np.eye(3), (num_frames, 1, 1)),
            reg)
