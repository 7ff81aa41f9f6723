"""``write_pool``: a folder of labelled synthetic clips (``<id>.mp4`` + ``<id>.gt.npz`` + ``labels.csv``)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from . import kinds as kd
from .render import render
from .truth import SynthError, save_gt

log = logging.getLogger(__name__)

#: fraction of suitable clips in a ``mixed`` pool (the paper's test set has ~9% positives).
MIXED_GOOD_FRACTION = 0.1


def pool_plan(num: int, kind: str = "mixed", seed: int = 0) -> list[tuple[str, str, int]]:
    """``(video_id, kind, render_seed)`` for each clip of a pool, deterministic from ``seed``.

    ``mixed``: about 10% ``good`` (at least one), the rest spread evenly over the failure kinds, shuffled.
    """
    if kind != "mixed" and kind not in kd.KINDS:
        raise SynthError(f"unknown kind {kind!r} (choose from mixed, {', '.join(kd.KINDS)})")
    if kind == "mixed":
        n_good = min(num, max(1, int(round(MIXED_GOOD_FRACTION * num))))
        bad = [k for k in kd.KINDS if k not in kd.SUITABLE_KINDS]
        kinds = ["good"] * n_good + [bad[i % len(bad)] for i in range(num - n_good)]
        kinds = [kinds[i] for i in np.random.default_rng([int(seed), 7]).permutation(num)]
    else:
        kinds = [kind] * num
    plan = []
    for i, k in enumerate(kinds):
        s = int(seed) * 10000 + i
        plan.append((f"{k}_{i:04d}_s{s}", k, s))
    return plan


def write_pool(out_dir, num: int, kind: str = "mixed", seed: int = 0, *, progress: bool = False,
               **render_kw) -> list[str]:
    """Render ``num`` clips into ``out_dir`` as ``<id>.mp4`` + ``<id>.gt.npz`` and write ``labels.csv``
    (``video_id,kind,suitable``), keeping the rows of clips written there before by other pools. Clips whose two files already exist are not rendered again, so an
    interrupted run resumes. ``render_kw`` goes to :func:`render` (height, width, fps, duration, hard).
    Returns the video ids in order."""
    from ..video import write_video

    h, w = int(render_kw.get("height", 360)), int(render_kw.get("width", 640))
    if h % 2 or w % 2:
        raise SynthError(f"frame size {w}x{h}: width and height must be even for H.264 video")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SynthError(f"{out}: cannot create output folder ({e.strerror or e})") from None
    plan = pool_plan(num, kind, seed)
    fps = float(render_kw.get("fps", 12.0))
    items = plan
    if progress:
        from tqdm import tqdm

        items = tqdm(plan, desc="synth", unit="clip")
    for vid, k, s in items:
        mp4, gtp = out / f"{vid}.mp4", out / f"{vid}.gt.npz"
        if mp4.exists() and gtp.exists():
            continue
        clip = render(k, s, video_id=vid, **render_kw)
        save_gt(gtp.with_suffix(".tmp.npz"), clip.gt).replace(gtp)
        write_video(mp4.with_suffix(".tmp.mp4"), clip.frames, fps).replace(mp4)
        log.debug("wrote %s (%s)", vid, k)
    # merge with the labels of clips written before (another --num, --kind or --seed into the same folder):
    # their rows stay, rows of this pool's clips are replaced, new ones appended
    rows = {vid: (k, s) for vid, (k, s) in read_labels(out).items()} if (out / "labels.csv").is_file() else {}
    rows.update({vid: (k, k in kd.SUITABLE_KINDS) for vid, k, _ in plan})
    tmp = out / ".labels.csv.tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["video_id", "kind", "suitable"])
        for vid, (k, suitable) in rows.items():
            wr.writerow([vid, k, int(suitable)])
    tmp.replace(out / "labels.csv")
    return [vid for vid, _, _ in plan]


def read_labels(path) -> dict[str, tuple[str, bool]]:
    """``labels.csv`` (or the folder holding it) -> ``{video_id: (kind, suitable)}``."""
    path = Path(path)
    if path.is_dir():
        path = path / "labels.csv"
    try:
        with open(path, newline="") as f:
            return {r["video_id"]: (r["kind"], r["suitable"] == "1") for r in csv.DictReader(f)}
    except (OSError, KeyError) as e:
        raise SynthError(f"{path}: cannot read labels ({e})") from None
