"""Fit the fusion model on a labelled pool (``labels.csv`` + ``<video_id>.mp4``, as ``synth.write_pool`` writes).

``python -m dynpose100k.filtering.fit POOL_DIR [OUT.json]`` refits the packaged ``default_model.json``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import multiprocessing as mp
from pathlib import Path

import cv2
import numpy as np

from ..errors import DynPoseError
from ..signals import SIGNAL_NAMES
from .decide import DEFAULT_MODEL, FilterConfig, load_for_filter, measure_clip
from .model import FilterModel, fit_model

log = logging.getLogger(__name__)


def read_pool_labels(pool_dir) -> list[tuple[str, bool, str]]:
    """``(video_id, suitable, kind)`` rows of ``<pool_dir>/labels.csv``."""
    path = Path(pool_dir) / "labels.csv"
    try:
        with open(path, newline="") as f:
            return [(r["video_id"], r["suitable"] in ("1", "True", "true"), r.get("kind", "")) for r in csv.DictReader(f)]
    except (OSError, KeyError) as e:
        raise DynPoseError(f"{path}: cannot read pool labels ({e})") from None


def _measure(args, vlm=None) -> dict[str, float] | str:
    path, config = args
    try:
        return measure_clip(load_for_filter(path, config), config, vlm)
    except (DynPoseError, ValueError, cv2.error, np.linalg.LinAlgError) as e:
        return f"{type(e).__name__}: {e}"


def measure_paths(paths, config: FilterConfig = FilterConfig(), workers: int = 1, progress: bool = False,
                  vlm=None) -> list[dict[str, float] | str]:
    """Signals per video path (or the error text), in order; ``workers`` > 1 uses single-threaded OpenCV
    processes (no VLM)."""
    items = [(str(p), config) for p in paths]
    if vlm is not None:
        if workers > 1:
            raise ValueError("measuring with a VLM runs in one process (workers=1)")
        it = (_measure(a, vlm) for a in items)
    elif workers > 1:
        pool = mp.get_context("spawn").Pool(workers, initializer=cv2.setNumThreads, initargs=(1,))
        it = pool.imap(_measure, items)
    else:
        pool, it = None, map(_measure, items)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(items), desc="signals", unit="clip")
    out = list(it)
    if vlm is None and workers > 1:
        pool.close()
        pool.join()
    return out


def fit_filter_model(pool_dir, config: FilterConfig = FilterConfig(), out=None, workers: int = 1,
                     features: tuple[str, ...] = SIGNAL_NAMES, target_precision: float = 0.9,
                     prevalence: float | None = None, progress: bool = False) -> FilterModel:
    """Measure every clip of a labelled pool, fit rules + score + threshold, optionally save to ``out``.

    With a ``kind`` column in ``labels.csv`` the score gets one detector per failure kind.
    ``prevalence``: suitable fraction expected where the filter runs (see :func:`fit_model`)."""
    rows = read_pool_labels(pool_dir)
    sig = measure_paths([Path(pool_dir) / f"{vid}.mp4" for vid, _, _ in rows], config, workers, progress)
    ok = [i for i, s in enumerate(sig) if isinstance(s, dict)]
    for i in set(range(len(rows))) - set(ok):
        log.warning("%s: skipped (%s)", rows[i][0], sig[i])
    kinds = [rows[i][2] for i in ok]
    model = fit_model([sig[i] for i in ok], [rows[i][1] for i in ok], tuple(features), target_precision,
                      prevalence, kinds=kinds if all(kinds) else None,
                      info={"pool": str(pool_dir), "fps": config.fps, "short_side": config.short_side})
    if out is not None:
        model.to_json(out)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pool", type=Path, help="folder with labels.csv and <video_id>.mp4")
    p.add_argument("out", type=Path, nargs="?", default=DEFAULT_MODEL, help="model JSON to write")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--prevalence", type=float, help="suitable fraction where the filter runs (default: the pool's)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    m = fit_filter_model(a.pool, out=a.out, workers=a.workers, prevalence=a.prevalence, progress=True)
    print(f"wrote {a.out}: threshold {m.threshold:.3f}, cv precision {m.info['cv_precision']:.2f} "
          f"recall {m.info['cv_recall']:.2f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
