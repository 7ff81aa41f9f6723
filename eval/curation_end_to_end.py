"""End to end on labelled synthetic pools: what `curate` followed by the default quality subset keeps, with
and without the curator's pose check (the per-pool table of docs/filter.md; its totals are in the README's
filtering section).

    python eval/curation_end_to_end.py [--out outputs/end_to_end] [--pools dev51,ho71,...] [--workers 2]

Each pool is 75 clips over all sixteen kinds, 8 suitable, 640x360, 12 fps, 5 s, rendered into
``<out>/<pool>`` (kept when already there), curated into ``<out>/cur_<pool>`` (a finished curation is read
back, not redone) and scored by :func:`dynpose100k.evaluate.report.filter_pr` and
:func:`~dynpose100k.evaluate.report.end_to_end`. Both arms come from one ledger: without the check, the
clips it rescued count as filtered out. Rendering and curating the seven default pools takes about an hour
on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["POOLS", "main"]

POOLS = {  # name: (pool seed, split, style, hard)
    "dev51": (51, "dev", "a", False),
    "dev52h": (52, "dev", "a", True),
    "ho71": (71, "heldout", "a", False),
    "ho72h": (72, "heldout", "a", True),
    "ho70": (70, "heldout", "a", False),
    "sb61": (61, "dev", "b", False),
    "sb62h": (62, "dev", "b", True),
}
"""The pools of that table: dev, held-out (style a) and style b (never tuned on), normal and hard."""


def _pool(out: Path, name: str, num: int, duration: float) -> Path:
    from dynpose100k.synth import write_pool

    seed, split, style, hard = POOLS[name]
    path = out / name
    if not (path / "labels.csv").is_file():
        write_pool(path, num, "mixed", seed, split=split, style=style, all_kinds=True, hard=hard, progress=True,
                   height=360, width=640, fps=12.0, duration=duration)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("outputs/end_to_end"))
    p.add_argument("--pools", default=",".join(POOLS), help=f"comma-separated, from {', '.join(POOLS)}")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--num", type=int, default=75, help="clips per pool (default 75; fewer: a smoke run)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per clip (default 5)")
    args = p.parse_args(argv)
    from dynpose100k.curate import CurateConfig, curate, read_items
    from dynpose100k.errors import DynPoseError
    from dynpose100k.evaluate import report
    from dynpose100k.filtering import read_pool_labels

    names = [n.strip() for n in args.pools.split(",") if n.strip()]
    if unknown := [n for n in names if n not in POOLS]:
        print(f"error: unknown pool(s) {', '.join(unknown)} (choose from {', '.join(POOLS)})", file=sys.stderr)
        return 2
    rows = {}
    try:
        for name in names:
            pool = _pool(args.out, name, args.num, args.duration)
            cfg = CurateConfig(out=args.out / f"cur_{name}", workers=args.workers)
            curate(pool, cfg, progress=False)
            items = read_items(cfg)
            labels = {vid: (kind, suitable) for vid, suitable, kind in read_pool_labels(pool)}
            pr = report.filter_pr(items, labels)
            rows[name] = {"filter": {k: pr[k] for k in ("precision", "recall")},
                          "filter_and_check": pr["with_pose_check"], "end_to_end": report.end_to_end(items, labels)}
    except DynPoseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    f = lambda x: "n/a" if x != x else f"{x:.2f}"  # noqa: E731 (NaN: nothing kept)
    print(f"{'pool':<8}{'filter P/R':>12}{'+check P/R':>12}  {'end to end, filter: kept P/R':<30}"
          f"{'end to end, +check: kept P/R':<30}checked/rescued")
    for name, r in rows.items():
        c, a, b = r["filter_and_check"], r["end_to_end"]["filter_alone"], r["end_to_end"]["with_pose_check"]
        print(f"{name:<8}{f(r['filter']['precision']) + '/' + f(r['filter']['recall']):>12}"
              f"{f(c['precision']) + '/' + f(c['recall']):>12}  "
              f"{a['kept']:>3} {f(a['precision'])}/{f(a['recall']):<21}{b['kept']:>3} {f(b['precision'])}/"
              f"{f(b['recall']):<21}{c['checked']}/{c['rescued']}")
    (args.out / "end_to_end.json").write_text(json.dumps(rows, indent=1, default=float) + "\n")
    print(f"saved {args.out / 'end_to_end.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
