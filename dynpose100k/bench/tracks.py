"""Tracker accuracy: the pose engine's tracks against the true positions of the points they follow.

The clips of ``bench pose`` (its sets, sizes and ``--seed``), each tracked as the engine tracks it
(:func:`dynpose100k.pose.tracking.track_video`: the windows, re-seeding and dark-window stretch of the
preset) by Lucas-Kanade (the baseline, always) and by the tracker of ``--preset`` when it names another
(a learned one takes ``--tracker-model`` and ``--device``), and scored by
:func:`dynpose100k.evaluate.track_errors`: the median error 1, 5, 10 and 20 frames after a track's first
observation, the 90th percentile at 5, static tracks and their length, the share of tracks that start on
movers. Per set, the median over clips of each clip's figure. The oracle study (docs/pose-engine.md) places
the engine's limit near 0.6 px; a tracker's error here is what its motion-evidence threshold
(``sampson_px_720p``) must allow for. Saves ``<out>/tracks.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

BASELINE = "klt-own-12fps"
"""The preset of the baseline tracker (Lucas-Kanade), measured in every run."""

COLUMNS = ("median_px_1", "median_px_5", "median_px_10", "median_px_20", "p90_px_5", "static_tracks",
           "median_length", "mover_track_share", "seconds")


def run(out: Path, quick: bool = False, sets: tuple[str, ...] = ("heldout", "style_b"), clips: int = 6,
        seed: int = 0, preset: str = BASELINE, tracker_model: str | None = None, device: str | None = None) -> dict:
    """The benchmark on ``clips`` clips per set of ``bench pose``'s ``sets`` (``seed``: added to every clip's
    seed, as there); ``preset``: the tracker measured beside Lucas-Kanade (its learned tracker's weights
    ``tracker_model`` on ``device``)."""
    from ..errors import DynPoseError
    from ..evaluate import track_errors
    from ..pose import get_preset
    from ..pose.tracking import check_models, make_tracker, track_video
    from .pose import _clips, _render

    specs = _clips(quick, sets, clips, seed)  # unknown sets: one line, before any clip
    if clips < 1:
        raise DynPoseError(f"need at least 1 clip per set, got {clips}")
    configs = {BASELINE: get_preset(BASELINE)}
    if preset != BASELINE:
        configs[preset] = get_preset(preset, tracker_model=tracker_model, device=device)  # (None: the preset's)
    for config in configs.values():
        check_models(config)  # weights that do not load: one line, before any clip
    rows = []
    for spec in specs:
        v = _render(spec)
        row = {"set": spec["set"], "video_id": v.gt.video_id, "hard": spec["hard"]}
        for name, config in configs.items():
            t = time.perf_counter()
            uv = track_video(v.frames, config, make_tracker(config))
            row[name] = {**track_errors(uv, v.gt).summary(), "seconds": time.perf_counter() - t}
        rows.append(row)
        print(f"  [{spec['set']}] {v.gt.video_id}: " + ", ".join(
            f"{n} {row[n]['median_px_1']:.2f} / {row[n]['median_px_5']:.2f} px" for n in configs), flush=True)
    tables = {s: {n: {c: _median([r[n][c] for r in rows if r["set"] == s]) for c in COLUMNS} for n in configs}
              for s in sets}
    result = {"protocol": "median over clips of each clip's figure; errors in px of the clip (640x360 unless quick) "
                          "against the true projection of the point each track starts on (static points only)",
              "seed": seed, "trackers": list(configs), "clips": len(rows), "sets": tables, "videos": rows}
    _print(result)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "tracks.json").write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {Path(out) / 'tracks.json'}")
    return result


def _median(values: list[float]) -> float:
    """Median of the figures that are not NaN (a tracker that kept nothing that old has none); NaN if none."""
    kept = [v for v in values if v == v]
    return float(np.median(kept)) if kept else float("nan")


def _print(r: dict) -> None:
    names = r["trackers"]
    print(f"\ntrack error against the truth (px; median over clips), {r['clips']} clips" +
          (f", clip seeds + {r['seed']}" if r["seed"] else ""))
    head = "".join(f"{c:>14}" for c in ("1 frame", "5 frames", "10 frames", "20 frames", "p90 at 5",
                                         "tracks", "length", "on movers", "seconds"))
    for s, table in r["sets"].items():
        print(f"{s:<22}{head}")
        for n in names:
            print(f"  {n:<20}" + "".join(f"{table[n][c]:>14.3g}" for c in COLUMNS))
        for n in names[1:]:
            ratio = table[n]["median_px_5"] / table[BASELINE]["median_px_5"]
            print(f"  {n} / {BASELINE} at 5 frames: {ratio:.2f}x")
