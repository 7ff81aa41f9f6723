"""The per-item curation route: one work item -> decode -> filter -> [kept clips:] decode at pose resolution
-> pose -> registration rule -> staged shard sample, and the status that records the outcome.

Pose check: a rejection the pose engine can settle (:func:`dynpose100k.filtering.decide.pose_checkable`: on
the score alone, looking like one of ``Stages.pose_check``'s kinds, e.g. a slow zoom) is posed anyway and
kept only when the pose confidence reaches :data:`dynpose100k.pose.confidence.TRUSTED` and the registration
rule holds; otherwise it stays ``filtered_out``, its reason saying what the pose check found. Its pose time
is recorded as ``pose_check``.

:func:`process_item` runs the route with a :class:`Stages` and always returns an :class:`ItemResult`; expected
failures become ``error``/``pose_failed`` results, never exceptions. Where items run (worker processes, Ray)
is :mod:`dynpose100k.curate.engines`' business; what the parent does with results is the runner's.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import DynPoseError
from .inputs import WorkItem

__all__ = ["ItemStatus", "FAILED", "FINAL", "ItemResult", "MIN_REGISTERED", "registration_rule", "Stages",
           "stage_sample", "pose_check_verdict", "was_pose_checked", "process_item"]

log = logging.getLogger(__name__)


class ItemStatus(str, Enum):
    """Status of a work item in the ledger. String-valued: ledgers store and compare the plain value.

    ``pending`` -> ``filtered_out`` | ``pose_failed`` | ``rejected_registration`` | ``error`` | ``kept``
    -> ``sharded`` (set only after the shard holding the sample is published)."""

    PENDING = "pending"
    FILTERED_OUT = "filtered_out"
    POSE_FAILED = "pose_failed"
    REJECTED_REGISTRATION = "rejected_registration"
    ERROR = "error"
    KEPT = "kept"
    SHARDED = "sharded"

    def __str__(self) -> str:
        return self.value


FAILED = (ItemStatus.POSE_FAILED, ItemStatus.ERROR)
"""Statuses that ``--retry-failed`` sends back to ``pending`` (decisions are not failures)."""
FINAL = (ItemStatus.FILTERED_OUT, ItemStatus.REJECTED_REGISTRATION, ItemStatus.SHARDED) + FAILED
"""Statuses a run does not touch again (``kept`` still waits for its shard)."""

MIN_REGISTERED = 0.8
"""Registration rule default: keep a posed clip only if at least this fraction of its frames is registered
(paper: 80%)."""


def registration_rule(registered_fraction: float, min_registered: float = MIN_REGISTERED) -> str | None:
    """Why a posed clip is rejected for registering too few frames, or None when it is kept."""
    if registered_fraction < min_registered:
        return f"registered {registered_fraction:.0%} of frames < {min_registered:.0%}"
    return None


@dataclass(frozen=True)
class ItemResult:
    """What processing one item produced (returned by a worker to the parent)."""

    item_id: str
    status: ItemStatus
    """One of ``filtered_out``, ``pose_failed``, ``rejected_registration``, ``error``, ``kept``."""
    reason: str | None = None
    """One line: why the item was not kept (filter reasons joined, failure message)."""
    filter_score: float | None = None
    filter_reasons: tuple[str, ...] = ()
    registered_fraction: float | None = None
    reproj_error_px_720p: float | None = None
    num_frames: int | None = None
    timings: dict = field(default_factory=dict)
    """Seconds per stage (``decode``, ``filter``, ``pose``)."""
    pose_dir: str | None = None
    """Folder of the pose result (``poses.npz`` + ``result.json``) when pose estimation ran."""

    def __post_init__(self):  # results that crossed a process or JSON boundary carry the plain value
        object.__setattr__(self, "status", ItemStatus(self.status))
        object.__setattr__(self, "filter_reasons", tuple(self.filter_reasons))


def stage_sample(staging_dir: Path, raw: dict) -> Path:
    """Write one encoded sample (``{"__key__": key, field: bytes}``) atomically to ``<staging_dir>/<key>.tar``,
    a one-sample tar written like a shard (:func:`dynpose100k.shards.writer.write_sample_tar`)."""
    from ..shards.writer import write_sample_tar

    return write_sample_tar(raw, Path(staging_dir) / f"{raw['__key__']}.tar")


@dataclass(frozen=True)
class Stages:
    """The real per-item stages, picklable so that worker processes and Ray tasks can run them."""

    pose_root: str
    """Folder receiving ``<item_id>/`` pose results."""
    staging_dir: str
    """Folder receiving ``<item_id>.tar`` encoded samples of kept items."""
    pose_config: Any
    """:class:`dynpose100k.pose.PoseConfig` (its ``fps``/``short_side`` drive decoding for the pose stage)."""
    filter_config: Any = None
    """:class:`dynpose100k.filtering.FilterConfig` (None: its defaults; its own analysis rate and size)."""
    min_registered: float = MIN_REGISTERED
    """Registration rule threshold (fraction of frames)."""
    pose_check: tuple[str, ...] = ()
    """Failure kinds whose score-only rejections are pose-checked (module docstring); empty: none."""
    config_hash: str | None = None
    """Settings hash of the run (:func:`dynpose100k.curate.runner.settings_hash`), stored in each sample's
    ``meta.json``."""

    def check(self) -> None:
        """Fail fast on configuration errors (a missing or broken filter model, pose-check kinds the model has
        no detector for, a learned tracker's weights or a confidence calibration that do not load) before any item
        runs."""
        from ..filtering import FilterConfig, load_model
        from ..pose.tracking import check_models

        if self.pose_config is not None:  # the workers load their own tracker (this process poses nothing)
            check_models(self.pose_config, keep=False)

        known = load_model((self.filter_config or FilterConfig()).model).bases
        if unknown := [k for k in self.pose_check if k not in known]:
            raise DynPoseError(f"--pose-check: unknown kind(s) {', '.join(unknown)} (the filter's: {', '.join(known)})")

    def decode(self, item: WorkItem):
        """The clip at the filter's analysis rate and size (cheap; runs on every item)."""
        from ..filtering import FilterConfig
        from ..filtering.decide import load_for_filter

        return load_for_filter(item.path, self.filter_config or FilterConfig(), item.start, item.end)

    def filter(self, clip):
        from ..filtering import FilterConfig, filter_clip

        return filter_clip(clip, self.filter_config or FilterConfig())

    def decode_pose(self, item: WorkItem, fps: float | None = None):
        """The clip at the pose engine's rate (or ``fps``) and size (kept clips only)."""
        from ..video import load_clip

        return load_clip(item.path, fps=fps or self.pose_config.fps, short_side=self.pose_config.short_side,
                         start=item.start, end=item.end)

    def pose(self, clip, item: WorkItem) -> tuple[str, dict, Any]:
        """Pose ``clip`` and save the result; returns its folder, its ``result.json`` fields and the clip the
        poses belong to: ``clip``, or the source decoded again at ``pose_config.dense_fps`` when that
        second look's map was kept (:func:`dynpose100k.pose.pipeline.second_look`)."""
        from ..pose import estimate_poses, save_pose_result
        from ..pose.pipeline import second_look, second_look_taken

        cfg, denser = self.pose_config, None

        def pose_at(config):
            nonlocal denser
            denser = self.decode_pose(item, config.fps)
            return estimate_poses(denser.frames, denser.timestamps, config, video_id=item.item_id)

        first = estimate_poses(clip.frames, clip.timestamps, cfg, video_id=item.item_id)
        result = second_look(first, cfg, item.path, pose_at)
        if second_look_taken(result)[1]:
            clip = denser
        final = save_pose_result(self.pose_root, result)  # atomic
        return str(final), result.summary(), clip  # the result.json just written

    def package(self, clip, item: WorkItem, pose_dir: str, decision) -> None:
        from ..shards import build_sample, encode_sample

        m = item.meta
        meta = {"source_url": m.get("url") or m.get("source"), "caption": m.get("caption") or None,
                "source_start_s": item.start, "source_end_s": item.end,
                "filter_score": float(decision.score), "filter_reasons": list(decision.reasons),
                "curate_config_hash": self.config_hash}
        stage_sample(Path(self.staging_dir), encode_sample(build_sample(pose_dir, clip.frames, meta)))


def was_pose_checked(timings: dict | str | None) -> bool:
    """Whether an item's stage timings (a dict, or the ledger's JSON text) show that the pose check ran on it."""
    if isinstance(timings, str) or timings is None:
        timings = json.loads(timings or "{}")
    return "pose_check" in timings


def pose_check_verdict(summary: dict, registration: str | None) -> tuple[bool, str]:
    """Whether the pose check keeps a filter rejection, and what it found (one line, e.g. ``"kept at
    confidence 0.97"`` or ``"confidence 0.20 < 0.5 (capped by focal_change)"``, naming the physical checks
    that capped it), from its pose result's ``result.json`` fields and the registration rule's verdict."""
    from ..pose.confidence import TRUSTED

    conf = summary.get("confidence")
    if summary.get("failure_reason"):
        return False, f"pose failed ({summary['failure_reason']})"
    if registration:
        return False, registration
    if conf is None or not conf >= TRUSTED:
        caps = ", ".join(summary.get("confidence_caps") or ())
        return False, "no confidence" if conf is None else f"confidence {conf:.2f} < {TRUSTED:g}" + (
            f" (capped by {caps})" if caps else "")
    return True, f"kept at confidence {conf:.2f}"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def process_item(stages: Stages, item: WorkItem) -> ItemResult:
    """Run the route on one item and classify the outcome (see the module docstring).

    Stage timings (seconds): ``decode`` + ``filter`` (every clip, at the filter's analysis rate and size),
    ``decode_pose`` + ``pose`` + ``package`` (kept clips, at the pose engine's rate and size), with
    ``pose_check`` in place of ``pose`` for a pose-checked rejection."""
    t: dict[str, float] = {}
    stage = "decode"
    base = dict(item_id=item.item_id, timings=t)

    def timed(name, fn, *args):
        nonlocal stage
        stage, t0 = name, time.perf_counter()
        out = fn(*args)
        t[name] = time.perf_counter() - t0
        return out

    try:
        clip = timed("decode", stages.decode, item)
        d = timed("filter", stages.filter, clip)
        fields = dict(base, filter_score=float(d.score), filter_reasons=tuple(d.reasons))
        if d.status == "error":
            return ItemResult(status=ItemStatus.ERROR, reason="filter: " + "; ".join(d.reasons), **fields)
        from ..filtering.decide import pose_checkable  # (loaded already: the filter stage ran)

        rejected = "; ".join(d.reasons) or "rejected"
        checked = pose_checkable(d, stages.pose_check)  # False for keeps and when no kinds are checked
        if d.status != "keep" and not checked:
            return ItemResult(status=ItemStatus.FILTERED_OUT, reason=rejected, **fields)
        clip = timed("decode_pose", stages.decode_pose, item)
        pose_dir, res, clip = timed("pose_check" if checked else "pose", stages.pose, clip, item)
        frac = float(res.get("registered_fraction") or 0.0)
        fields.update(pose_dir=pose_dir, registered_fraction=frac, num_frames=len(clip.frames),
                      reproj_error_px_720p=res.get("reproj_error_px_720p"))
        low = registration_rule(frac, stages.min_registered)
        if checked:
            ok, verdict = pose_check_verdict(res, low)
            if not ok:
                return ItemResult(status=ItemStatus.FILTERED_OUT, reason=f"{rejected}; pose check: {verdict}", **fields)
            d = replace(d, reasons=[*d.reasons, f"pose_check: {verdict}"])  # in the ledger and the sample's meta
            fields.update(filter_reasons=tuple(d.reasons))
        if res.get("failure_reason"):
            return ItemResult(status=ItemStatus.POSE_FAILED, reason=str(res["failure_reason"]), **fields)
        if low:
            return ItemResult(status=ItemStatus.REJECTED_REGISTRATION, reason=low, **fields)
        timed("package", stages.package, clip, item, pose_dir, d)
        return ItemResult(status=ItemStatus.KEPT, **fields)
    except Exception as e:  # noqa: BLE001 - one bad item never stops a batch
        if not isinstance(e, DynPoseError):
            log.warning("%s: unexpected %s in %s", item.item_id, type(e).__name__, stage, exc_info=True)
        msg = _one_line(e) if isinstance(e, DynPoseError) else f"{type(e).__name__}: {_one_line(e)}"
        status = ItemStatus.POSE_FAILED if stage in ("pose", "pose_check") else ItemStatus.ERROR
        return ItemResult(status=status, reason=f"{stage}: {msg}", **base)
