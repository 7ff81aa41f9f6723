"""Funnel statistics of a curation run, computed from the ledger rows (never from memory of the run).

The funnel follows the paper's: pool -> decoded -> passed filter -> posed -> kept (>= min registered) ->
in shards, with the filter's rejections that were pose-checked (and how many of those the check kept:
``rescued``) beside it; ``posed`` counts the posed clips that reached the registration rule, rescued ones
included; clips not kept are counted once each by outcome (``rejections``), and the reasons cited by
filtered clips separately (``filter_reasons``: a clip may cite several); throughput is given per stage as
clips per hour per core (from the stage timings of each item) and for the run as a whole (clips per hour of
wall time).
"""

from __future__ import annotations

import json
import re
from collections import Counter

from .stages import ItemStatus as S
from .stages import was_pose_checked

__all__ = ["summarize", "format_summary"]

STAGES = ("decode", "filter", "decode_pose", "pose", "pose_check", "package")
GROUPS = {"filter stage": ("decode", "filter"), "pose stage": ("pose", "decode_pose", "package"),
          "pose check": ("pose_check", "decode_pose", "package")}
"""The costs that size a curation job: every clip pays the filter stage, kept clips the pose stage, the
filter's pose-checkable rejections the pose check. A group counts the items that ran its first stage."""


def _category(reason: str | None) -> str:
    """Reason name without its details: ``"low_score: 0.01 < 0.03"`` -> ``"low_score"``, ``"no trackable
    texture (5 tracks)"`` -> ``"no trackable texture"`` (a trailing parenthesis holding a number is a detail;
    ``"no parallax (camera still or turning in place, or scene far away)"`` stays whole)."""
    head = (reason or "unknown").split(":", 1)[0].strip()
    return re.sub(r"\s*\([^()]*\d[^()]*\)$", "", head) or head


def summarize(rows, wall_s: float, processed: int, workers: int, min_registered: float) -> dict:
    """Summary dict of ledger rows (``sqlite3.Row`` or dicts with the ledger columns)."""
    status = Counter(S(r["status"]) for r in rows)
    timings = [json.loads(r["timings"] or "{}") for r in rows]
    n = len(rows)
    kept = status[S.KEPT] + status[S.SHARDED]
    checked = [S(r["status"]) for r, t in zip(rows, timings) if was_pose_checked(t)]
    rescued = sum(s in (S.KEPT, S.SHARDED) for s in checked)
    checked_on = sum(s not in (S.FILTERED_OUT, S.ERROR) for s in checked)  # rescued, or the pose crashed
    funnel = {
        "pool": n,
        "decoded": sum("decode" in t for t in timings),
        "passed_filter": status[S.POSE_FAILED] + status[S.REJECTED_REGISTRATION] + kept - checked_on,
        "pose_checked": len(checked),
        "rescued": rescued,
        "posed": status[S.REJECTED_REGISTRATION] + kept,
        "kept": kept,
        "in_shards": status[S.SHARDED],
    }
    reasons: Counter = Counter()  # clips, each counted once, by outcome
    filter_reasons: Counter = Counter()  # filtered clips citing each filter reason (a clip may cite several)
    for r in rows:
        s = S(r["status"])
        if s is S.FILTERED_OUT:
            reasons["filtered out"] += 1
            for x in dict.fromkeys(_category(x) for x in json.loads(r["filter_reasons"] or "[]")) or ["rejected"]:
                filter_reasons[x] += 1
        elif s is S.ERROR:
            reasons[f"error: {_category(r['reason'])}"] += 1
        elif s is S.POSE_FAILED:
            reasons[f"pose failed: {_category(r['reason'])}"] += 1
        elif s is S.REJECTED_REGISTRATION:
            reasons[f"registered < {min_registered:.0%}"] += 1
    throughput = {}
    for st, parts in [(s, (s,)) for s in STAGES] + list(GROUPS.items()):
        secs = [sum(t.get(p, 0.0) for p in parts) for t in timings if parts[0] in t]
        if secs:
            total = sum(secs)
            throughput[st] = {"clips": len(secs), "seconds": round(total, 3), "s_per_clip": round(total / len(secs), 3),
                              "clips_per_hour_per_core": round(3600 * len(secs) / total, 1) if total > 0 else None}
    return {
        "funnel": funnel,
        "status": {k.value: status[k] for k in sorted(status)},
        "rejections": dict(reasons.most_common()),
        "filter_reasons": dict(filter_reasons.most_common()),
        "throughput": throughput,
        "run": {"processed": processed, "wall_s": round(wall_s, 2), "workers": workers,
                "clips_per_hour": round(3600 * processed / wall_s, 1) if wall_s > 0 and processed else None},
        "min_registered": min_registered,
    }


def format_summary(s: dict) -> str:
    """The summary as a short text report (funnel with percentages of the pool, reasons, throughput)."""
    f = s["funnel"]
    pool = max(f["pool"], 1)
    lines = ["curation funnel", f"  {'stage':<16}{'clips':>8}{'% pool':>9}"]
    for k, label in (("pool", "pool"), ("decoded", "decoded"), ("passed_filter", "passed filter"),
                     ("pose_checked", "pose-checked"), ("rescued", "  rescued"),
                     ("posed", "posed"), ("kept", f"kept (>={s['min_registered']:.0%} reg)"),
                     ("in_shards", "in shards")):
        if k in f:  # (summaries written before the pose check lack its rows)
            lines.append(f"  {label:<16}{f[k]:>8}{100 * f[k] / pool:>8.1f}%")
    if s["rejections"]:
        lines.append("not kept, by reason (clips)")
        for k, v in s["rejections"].items():
            lines.append(f"  {v:>5}  {k}")
            if k == "filtered out" and s.get("filter_reasons"):
                lines.append("         reasons cited (a clip may cite several): "
                             + ", ".join(f"{r} {n}" for r, n in s["filter_reasons"].items()))
    if s["throughput"]:
        lines.append(f"  {'stage':<14}{'clips':>7}{'s/clip':>9}{'clips/h/core':>14}")
        lines[-1] = "throughput per stage\n" + lines[-1]
        for st, t in s["throughput"].items():
            lines.append(f"  {st:<14}{t['clips']:>7}{t['s_per_clip']:>9.2f}{t['clips_per_hour_per_core'] or 0:>14.0f}")
    r = s["run"]
    if not r["processed"]:
        lines.append("this run: nothing left to process "
                     "(finished items are not redone; --retry-failed reruns failures)")
    else:
        lines.append(f"this run: {r['processed']} clips in {r['wall_s']:.1f} s with {r['workers']} worker(s) "
                     f"= {r['clips_per_hour']:.0f} clips/h")
    return "\n".join(lines)
