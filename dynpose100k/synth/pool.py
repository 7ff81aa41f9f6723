"""``write_pool``: a folder of labelled synthetic clips (``<id>.mp4`` + ``<id>.gt.npz`` + ``labels.csv``)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from . import kinds as kd
from .render import DEFAULT_DURATION, DEFAULT_FPS, HELDOUT_SEED_BASE, SPLITS, STYLES, frame_count, render
from .truth import SynthError, save_gt

log = logging.getLogger(__name__)

#: fraction of suitable clips in a ``mixed`` pool (the paper's test set has ~9% positives).
MIXED_GOOD_FRACTION = 0.1
#: pool seeds map to render seeds ``pool_seed * POOL_STRIDE + i`` (+ :data:`HELDOUT_SEED_BASE` for held-out).
POOL_STRIDE = 10000
#: frame sizes (width, height) of ``sizes="mixed"`` pools: 360p-1080p, landscape 16:9 and portrait 9:16.
MIXED_SIZES = ((640, 360), (854, 480), (1280, 720), (1920, 1080), (360, 640), (480, 854), (720, 1280))


def clip_crf(seed: int, style: str = "a", crf_range: tuple[int, int] | None = None) -> int:
    """H.264 quality (CRF) a clip is stored at: 18 (near lossless) for style a dev clips, as always; for
    held-out and style-b clips a streaming-like 20-34 drawn from the render seed. ``crf_range`` (inclusive):
    draw from that range instead, whatever the split (a separate draw of the same seed)."""
    if crf_range is not None:
        return int(np.random.default_rng([int(seed), 19]).integers(crf_range[0], crf_range[1] + 1))
    if style == "a" and int(seed) < HELDOUT_SEED_BASE:
        return 18
    return int(np.random.default_rng([int(seed), 17]).integers(20, 35))


def mixed_kinds(style: str = "a", split: str = "dev", all_kinds: bool | None = None) -> tuple[str, ...]:
    """The kinds a ``mixed`` pool draws from: the first nine for style a / dev (so that pool is what it always
    was), every kind for held-out and style-b pools (or when ``all_kinds``)."""
    if all_kinds is None:
        all_kinds = style != "a" or split != "dev"
    return kd.KINDS if all_kinds else kd.CLASSIC_KINDS


def pool_plan(num: int, kind: str = "mixed", seed: int = 0, split: str = "dev", style: str = "a",
              all_kinds: bool | None = None) -> list[tuple[str, str, int]]:
    """``(video_id, kind, render_seed)`` for each clip of a pool, deterministic from ``seed``.

    ``mixed``: about 10% ``good`` (at least one), the rest spread evenly over the failure kinds of
    :func:`mixed_kinds`, shuffled. Render seeds are ``seed * 10000 + i`` for the ``dev`` split and
    :data:`HELDOUT_SEED_BASE` more for ``heldout``, so the two never share a clip. Style-b ids end in ``_b``.
    """
    known = kd.KINDS + kd.POSE_DEGENERATE_KINDS  # the degenerate ones in pools of their own, never in mixed
    if kind != "mixed" and kind not in known:
        raise SynthError(f"unknown kind {kind!r} (choose from mixed, {', '.join(known)})")
    if style != "a" and kind in kd.POSE_DEGENERATE_KINDS:
        raise SynthError(f"kind {kind!r} exists in style a only")
    if split not in SPLITS or style not in STYLES:
        raise SynthError(f"unknown split {split!r} or style {style!r} (splits: {', '.join(SPLITS)}; styles: "
                         f"{', '.join(STYLES)})")
    if seed < 0 or (seed + 1) * POOL_STRIDE > HELDOUT_SEED_BASE or num > POOL_STRIDE:
        raise SynthError(f"pool seed must be in [0, {HELDOUT_SEED_BASE // POOL_STRIDE}) and num <= {POOL_STRIDE}, "
                         f"got seed {seed}, num {num}")
    if kind == "mixed":
        n_good = min(num, max(1, int(round(MIXED_GOOD_FRACTION * num))))
        bad = [k for k in mixed_kinds(style, split, all_kinds) if k not in kd.SUITABLE_KINDS]
        kinds = ["good"] * n_good + [bad[i % len(bad)] for i in range(num - n_good)]
        kinds = [kinds[i] for i in np.random.default_rng([int(seed), 7]).permutation(num)]
    else:
        kinds = [kind] * num
    plan = []
    base = HELDOUT_SEED_BASE if split == "heldout" else 0
    for i, k in enumerate(kinds):
        s = base + int(seed) * POOL_STRIDE + i
        plan.append((f"{k}_{i:04d}_s{s}" + ("" if style == "a" else f"_{style}"), k, s))
    return plan


def write_pool(out_dir, num: int, kind: str = "mixed", seed: int = 0, *, progress: bool = False,
               split: str = "dev", style: str = "a", all_kinds: bool | None = None, sizes=None,
               **render_kw) -> list[str]:
    """Render ``num`` clips into ``out_dir`` as ``<id>.mp4`` + ``<id>.gt.npz`` and write ``labels.csv``
    (``video_id,kind,suitable,style,split,width,height``), keeping the rows of clips written there before
    by other pools. Clips whose two files already exist are not
    rendered again, so an interrupted run resumes. ``split``, ``style``, ``all_kinds``: see
    :func:`pool_plan`. ``sizes``: a list of ``(width, height)`` to draw each clip's size from (deterministic),
    or ``"mixed"`` for :data:`MIXED_SIZES`. ``render_kw`` goes to :func:`render` (height, width, fps,
    duration, hard, rolling_shutter). Returns the video ids in order."""
    from ..video import write_video

    h, w = int(render_kw.get("height", 360)), int(render_kw.get("width", 640))
    sizes = MIXED_SIZES if sizes == "mixed" else sizes
    for sw, sh in list(sizes or []) + [(w, h)]:
        if sh % 2 or sw % 2:
            raise SynthError(f"frame size {sw}x{sh}: width and height must be even for H.264 video")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SynthError(f"{out}: cannot create output folder ({e.strerror or e})") from None
    plan = pool_plan(num, kind, seed, split, style, all_kinds)
    fps = float(render_kw.get("fps", DEFAULT_FPS))
    pick = np.random.default_rng([int(seed), 13]).integers(0, len(sizes), num) if sizes else None
    size_of = {vid: (sizes[int(pick[i])] if sizes else (w, h)) for i, (vid, _, _) in enumerate(plan)}
    items = plan
    if progress:
        from tqdm import tqdm

        items = tqdm(plan, desc="synth", unit="clip")
    frames = frame_count(float(render_kw.get("duration", DEFAULT_DURATION)), fps)
    for vid, k, s in items:
        mp4, gtp = out / f"{vid}.mp4", out / f"{vid}.gt.npz"
        if mp4.exists() and gtp.exists():
            _check_kept(gtp, size_of[vid], frames, fps)
            continue
        kw = {**render_kw, "width": size_of[vid][0], "height": size_of[vid][1]}
        clip = render(k, s, video_id=vid, style=style, **kw)
        save_gt(gtp.with_suffix(".tmp.npz"), clip.gt).replace(gtp)
        write_video(mp4.with_suffix(".tmp.mp4"), clip.frames, fps, crf=clip_crf(s, style)).replace(mp4)
        log.debug("wrote %s (%s)", vid, k)
    # merge with the labels of clips written before (another --num, --kind or --seed into the same folder):
    # their rows stay, rows of this pool's clips are replaced, new ones appended
    rows = _label_rows(out / "labels.csv")
    rows.update({vid: {"video_id": vid, "kind": k, "suitable": int(k in kd.SUITABLE_KINDS), "style": style,
                       "split": split, "width": size_of[vid][0], "height": size_of[vid][1]} for vid, k, _ in plan})
    tmp = out / ".labels.csv.tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(LABEL_COLUMNS)
        for row in rows.values():
            wr.writerow([row.get(c, "") for c in LABEL_COLUMNS])
    tmp.replace(out / "labels.csv")
    return [vid for vid, _, _ in plan]


def _check_kept(gt_path: Path, size: tuple[int, int], frames: int, fps: float) -> None:
    """A clip already written is kept only when it has the requested size ``(w, h)``, frame count and rate;
    otherwise the folder holds another render of it, and its row in labels.csv would describe the wrong one."""
    with np.load(gt_path) as z:  # (two small arrays, not the depth)
        (_, h, w), t = z["shape"], z["timestamps"]
    rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else fps
    if (w, h) != tuple(size) or len(t) != frames or abs(rate - fps) > 1e-3 * fps:
        raise SynthError(f"{gt_path.parent}: {gt_path.name[: -len('.gt.npz')]} is there already as {w}x{h}, {len(t)} "
                         f"frames at {rate:g} fps, not {size[0]}x{size[1]}, {frames} at {fps:g}; use another folder")


def write_pools(pools, workers: int = 1, **render_kw) -> tuple[dict[str, tuple[str, bool]], dict[str, Path]]:
    """Render several pools ``(out_dir, num, kind, seed)`` with :func:`write_pool`, one pool per process in up
    to ``workers`` processes (pools with ``num < 1`` skipped). Returns ``{video_id: (kind, suitable)}`` and
    ``{video_id: ground-truth file}`` over all of them."""
    from concurrent.futures import ProcessPoolExecutor

    pools = [(Path(d), int(n), k, int(s)) for d, n, k, s in pools if n > 0]
    if pools:
        with ProcessPoolExecutor(min(len(pools), max(1, workers))) as ex:
            list(ex.map(_write_pool_job, [(p, render_kw) for p in pools]))
    labels, gts = {}, {}
    for d, *_ in pools:
        labels.update(read_labels(d))
        gts.update({p.name[: -len(".gt.npz")]: p for p in d.glob("*.gt.npz")})
    return labels, gts


def _write_pool_job(job) -> list[str]:
    (d, n, kind, seed), kw = job
    return write_pool(d, n, kind, seed, **kw)


LABEL_COLUMNS = ("video_id", "kind", "suitable", "style", "split", "width", "height")


def _label_rows(path: Path) -> dict[str, dict]:
    """The rows of an existing ``labels.csv`` by video id (empty when there is none); columns an older file
    lacks stay empty."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["video_id"]: r for r in csv.DictReader(f)}


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
