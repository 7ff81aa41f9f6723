"""Shot boundaries and clip windows on long videos with known boundaries (:mod:`dynpose100k.shots`).

Each video is five rendered shots of 3-7 s (kinds drawn from ``good``, ``static``, ``cut``, ``similarcut``,
``bigobject``, ``zoom``, ``blur``, ``overlay`` and ``cartoon``; 40% hard) joined by hard cuts (7 in 10), fades
through black (0.5 s out, 0.5 s in; 2 in 10) or dissolves (0.5 s; 1 in 10), 384x216 at 24 fps, stored as mp4
(CRF 18 for dev style a, 26 otherwise). The cut inside a ``cut`` or ``similarcut`` shot is taken where its
true camera jumps (a step over 8 times the median). A video's layout (kinds, lengths, joins) is drawn from
its seed alone, so every set holds the same layouts, each rendered as its own footage. Sets: ``dev``
(style a, dev seeds; where the defaults were chosen), ``heldout`` (style a, held-out seeds) and ``style_b``
(held-out seeds; never tuned on).

Against two baselines in the same run: fixed windows (the video cut every ``max_length`` seconds, no
detection) and a fixed threshold on the same frame change (no local ratio, no persistence check; its
threshold the best F1 on ``dev`` of a grid). Figures per set: boundaries found by type (a cut within 0.15 s,
a fade within 0.6 s of its black, a dissolve within its span), false boundaries per minute, windows that
hold a cut or a fade, the share of the video in windows, and seconds of CPU per minute of video. Saves
``<out>/shots.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

SETS = {"dev": ("dev", "a"), "heldout": ("heldout", "a"), "style_b": ("heldout", "b")}
_KINDS = ("good", "good", "good", "static", "cut", "similarcut", "bigobject", "zoom", "blur", "overlay", "cartoon")
FPS = 24.0
_TOL = {"cut": 0.15, "similarcut": 0.15, "fade": 0.6, "dissolve": 0.15}


def _inner_cut(w2c: np.ndarray) -> int | None:
    """The first frame after the cut inside a rendered ``cut``/``similarcut`` shot: where its camera jumps."""
    from ..camera import camera_centers

    step = np.linalg.norm(np.diff(camera_centers(w2c), axis=0), axis=1)
    k = int(np.argmax(step))
    return k + 1 if step[k] > 8 * np.median(step) + 1e-6 else None


def long_video(seed: int, split: str, style: str, shots: int = 5, hw: tuple[int, int] = (216, 384)):
    """Frames ``(N, H, W, 3)`` of ``shots`` rendered shots joined as the module docstring says, and the true
    boundaries: dicts with ``t`` (seconds; the first frame after a cut) and ``type``, and ``span`` for a
    dissolve."""
    from ..synth import HELDOUT_SEED_BASE, render
    from ..synth.effects import fade

    rng = np.random.default_rng([seed, 7])
    base = seed * 100 + (HELDOUT_SEED_BASE if split == "heldout" else 0)
    parts, bounds = [], []
    for s in range(shots):
        kind, hard, dur = str(rng.choice(_KINDS)), bool(rng.random() < 0.4), float(rng.uniform(3, 7))
        join = str(rng.choice(["cut"] * 7 + ["fade"] * 2 + ["dissolve"]))
        v = render(kind, base + s, height=hw[0], width=hw[1], fps=FPS, duration=dur, hard=hard, style=style)
        f = v.frames
        if s and join == "fade":
            parts[-1] = fade(parts[-1], np.arange(len(parts[-1])) / FPS, 0.0, 0.5)
            f = fade(f, np.arange(len(f)) / FPS, 0.5, 0.0)
        if s and join == "dissolve":
            m = int(FPS / 2)
            w = np.linspace(0, 1, m)[:, None, None, None]
            mixed = (parts[-1][-m:] * (1 - w) + f[:m] * w).astype(np.uint8)
            parts[-1], f = parts[-1][:-m], np.concatenate([mixed, f[m:]])
        n0 = sum(map(len, parts))
        if s:
            b = {"t": n0 / FPS, "type": join}
            if join == "dissolve":
                b.update(t=(n0 + FPS / 4) / FPS, span=[n0 / FPS, (n0 + FPS / 2) / FPS])
            bounds.append(b)
        k = _inner_cut(v.gt.w2c) if kind in ("cut", "similarcut") else None
        if k is not None and (join != "dissolve" or k > FPS / 2):
            bounds.append({"t": (n0 + k) / FPS, "type": kind})
        parts.append(f)
    return np.concatenate(parts), sorted(bounds, key=lambda b: b["t"])


def _render_one(job) -> None:
    from ..video import write_video

    path, seed, split, style = job
    frames, bounds = long_video(seed, split, style)
    write_video(path, frames, FPS, crf=18 if (split, style) == ("dev", "a") else 26)
    path.with_suffix(".json").write_text(json.dumps({"bounds": bounds, "duration": len(frames) / FPS}))


def _measure(path: Path, config):
    """:func:`dynpose100k.shots.measure` of ``path`` and its CPU seconds."""
    from ..shots import measure

    t0 = time.process_time()
    changes = measure(path, config)
    return changes, time.process_time() - t0


def _score(videos: list, config, method: str, threshold: float = 0.1) -> dict:
    from ..shots import clip_windows, find_cuts, segment

    found_by, total_by = {}, {}
    false = held = windows = 0
    covered = duration = 0.0
    for (changes, _), gt in videos:
        c = changes.change
        if method == "fixed windows":
            found, wins = [], clip_windows([(0.0, float(changes.times[-1]))], 0.0, config.max_length)
        else:
            if method == "ours":
                cuts = find_cuts(c, changes.wide, config)
            else:  # a fixed threshold at each local peak
                cuts = np.flatnonzero((c >= threshold) & (c >= np.maximum(np.r_[0, c[:-1]], np.r_[c[1:], 0])))
            r = segment("", changes, cuts, config)
            found, wins = [*r.cuts, *((a + b) / 2 for a, b in r.dark)], r.windows
        used = set()
        for b in gt["bounds"]:
            lo, hi = b.get("span", (b["t"], b["t"]))
            tol = _TOL[b["type"]]
            match = [k for k, f in enumerate(found) if lo - tol <= f <= hi + tol and k not in used]
            total_by[b["type"]] = total_by.get(b["type"], 0) + 1
            if match:
                used.add(match[0])
                found_by[b["type"]] = found_by.get(b["type"], 0) + 1
        false += len(found) - len(used)
        inside = [b["t"] for b in gt["bounds"] if b["type"] != "dissolve"]
        held += sum(any(a < x < e for x in inside) for a, e in wins)
        windows += len(wins)
        covered += sum(e - a for a, e in wins)
        duration += gt["duration"]
    n_found = sum(found_by.values())
    n_true = sum(total_by.values())
    return {"found": {k: f"{found_by.get(k, 0)}/{v}" for k, v in sorted(total_by.items())},
            "recall": n_found / max(n_true, 1), "precision": n_found / max(n_found + false, 1),
            "false_per_min": false / max(duration / 60, 1e-9), "windows": windows, "windows_with_boundary": held,
            "covered": covered / max(duration, 1e-9)}


def run(out: Path, quick: bool = False, videos: int | None = None) -> dict:
    """Render (cached in ``<out>/shots_pools``), measure, print the table, save ``<out>/shots.json``."""
    from ..shots import ShotConfig
    from ..workers import clip_map

    n = videos or (2 if quick else 16)
    config = ShotConfig()
    pools = Path(out) / "shots_pools"
    jobs = []
    for name, (split, style) in SETS.items():
        (pools / name).mkdir(parents=True, exist_ok=True)
        jobs += [(pools / name / f"long_{seed:03d}.mp4", seed, split, style) for seed in range(n)]
    todo = [j for j in jobs if not j[0].with_suffix(".json").is_file()]
    with clip_map(_render_one, todo, 2) as it:
        list(it)
    data = {name: [(_measure(j[0], config), json.loads(j[0].with_suffix(".json").read_text()))
                   for j in jobs if j[0].parent.name == name] for name in SETS}
    grid = [0.05, 0.075, 0.1, 0.15, 0.2, 0.3]
    f1 = []
    for th in grid:
        r = _score(data["dev"], config, "fixed threshold", th)
        f1.append(2 * r["precision"] * r["recall"] / max(r["precision"] + r["recall"], 1e-9))
    threshold = grid[int(np.argmax(f1))]
    res = {"videos_per_set": n, "config": {k: v for k, v in vars(config).items()}, "baseline_threshold": threshold,
           "sets": {}}
    for name, vids in data.items():
        minutes = sum(g["duration"] for _, g in vids) / 60
        res["sets"][name] = {
            "minutes": minutes, "cpu_s_per_min": sum(m[1] for m, _ in vids) / max(minutes, 1e-9),
            "ours": _score(vids, config, "ours"),
            "fixed threshold": _score(vids, config, "fixed threshold", threshold),
            "fixed windows": _score(vids, config, "fixed windows"),
        }
    _print(res)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "shots.json").write_text(json.dumps(res, indent=1, default=float))
    return res


def _print(res: dict) -> None:
    print(f"\nshot boundaries and clip windows ({res['videos_per_set']} long videos per set; baseline threshold "
          f"{res['baseline_threshold']:g}, chosen on dev)")
    print(f"{'set':8} {'method':16} {'found (by type)':46} {'prec':>5} {'false/min':>9} {'windows':>7} "
          f"{'w/ bound.':>9} {'covered':>7}")
    for name, r in res["sets"].items():
        for method in ("ours", "fixed threshold", "fixed windows"):
            m = r[method]
            found = ", ".join(f"{k} {v}" for k, v in m["found"].items())
            print(f"{name:8} {method:16} {found:46} {m['precision']:5.2f} {m['false_per_min']:9.2f} "
                  f"{m['windows']:7d} {m['windows_with_boundary']:9d} {m['covered']:7.2f}")
        print(f"{name:8} {'':16} cost: {r['cpu_s_per_min']:.1f} s of CPU per minute of video ({r['minutes']:.1f} min)")
