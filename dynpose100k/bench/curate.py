"""Curation throughput: clips per hour per core for the filter stage and the pose stage, and the speed-up
of the whole runner from 1 to 2 worker processes on the same synthetic pool (1 worker is the baseline).

Per-core figures come from the per-item stage timings in the ledger (filter stage = decode at analysis
size + signals + decision, run on every clip; pose stage = decode at pose size + pose engine + sample
encoding, run on clips that pass the filter). The filter runs with threshold 0 (rules only) so that enough
clips reach the pose stage to time it. Wall-clock figures include worker start-up and shard writing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path


def run(out: Path, quick: bool = False) -> dict:
    from ..curate import CurateConfig, curate
    from ..synth import write_pool

    out = Path(out)
    work = out / "curate_bench"
    size = dict(height=180, width=320, duration=3.0) if quick else dict(height=360, width=640, duration=4.0)
    n_mixed, n_good = (6, 2) if quick else (12, 4)
    pool = work / "pool"
    write_pool(pool / "mixed", n_mixed, "mixed", seed=3, **size)
    write_pool(pool / "good", n_good, "good", seed=4, **size)
    runs = {}
    for workers in (1, 2):
        dst = work / f"workers{workers}"
        shutil.rmtree(dst, ignore_errors=True)
        t = time.perf_counter()
        # threshold 0: every clip that passes the filter's rules reaches the pose stage, so both stages are timed
        s = curate(pool, CurateConfig(out=dst, workers=workers, filter_threshold=0.0), progress=False)
        wall = time.perf_counter() - t
        runs[workers] = {"wall_s": round(wall, 2), "clips": s["funnel"]["pool"],
                         "clips_per_hour": round(3600 * s["funnel"]["pool"] / wall, 1),
                         "funnel": s["funnel"], "throughput": s["throughput"]}
    tp = runs[1]["throughput"]
    result = {
        "pool": {"clips": n_mixed + n_good, "size": f"{size['width']}x{size['height']}", "duration_s": size["duration"],
                 "fps": 12.0, "filter_threshold": 0.0},
        "filter_stage_clips_per_hour_per_core": tp.get("filter stage", {}).get("clips_per_hour_per_core"),
        "pose_stage_clips_per_hour_per_core": tp.get("pose stage", {}).get("clips_per_hour_per_core"),
        "runs": runs,
        "speedup_2_vs_1_workers": round(runs[1]["wall_s"] / runs[2]["wall_s"], 2),
    }
    print(f"curate benchmark: {result['pool']['clips']} clips {result['pool']['size']}, "
          f"{size['duration']:g} s at 12 fps (per-core figures from the 1-worker run)")
    print(f"  {'':<28}{'value':>12}{'ratio':>9}")
    f, p = result["filter_stage_clips_per_hour_per_core"], result["pose_stage_clips_per_hour_per_core"]
    print(f"  {'filter stage clips/h/core':<28}{f or 0:>12.0f}{'':>9}")
    print(f"  {'pose stage clips/h/core':<28}{p or 0:>12.0f}{(p / f if f and p else 0):>8.3f}x  (vs filter)")
    for w, r in runs.items():
        ratio = runs[1]["wall_s"] / r["wall_s"]
        print(f"  {f'runner, {w} worker(s), clips/h':<28}{r['clips_per_hour']:>12.0f}{ratio:>8.2f}x  "
              f"({r['wall_s']:.1f} s wall)")
    (out / "curate.json").write_text(json.dumps(result, indent=2))
    return result
