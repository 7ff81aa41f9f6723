"""The curation runner: a pool of videos -> finished, loadable shards, resumable and fault-isolated.

Output folder layout::

    <out>/ledger.sqlite          per-item status, reason, scores, timings (SQLite WAL)
    <out>/config.json            the latest configuration, its settings hash, and the history of runs
                                 (settings, start/end time, ids of the items each run processed)
    <out>/poses/<preset>/<id>/   pose results (poses.npz, tracks.npz, masks.npz, result.json)
    <out>/staging/<id>.tar       encoded shard sample of a kept item, until its shard is published
    <out>/<dataset_name>/        WebDataset shards + manifest + card: ``load_dataset("<dataset_name>")``
    <out>/summary.json           funnel, rejection reasons, throughput

Workers run the per-item route of :mod:`dynpose100k.curate.stages` (decode -> filter -> pose -> registration
rule -> staged sample) where :mod:`dynpose100k.curate.engines` puts them; the parent alone writes the
ledger and, in batches of ``shard_size`` kept items, the shards. An item becomes ``sharded`` only after the
shard that holds it is published, and on start the ledger is reconciled with the shard manifest, so a run
killed at any moment and started again neither loses nor duplicates a sample.

Every processed item records the hash of the settings that decided it (:func:`decision_settings`: filter
model and threshold, registration rule, pose preset, frame rate and size; model files by their content), in
the ledger and in its sample's ``meta.json``. A run whose settings differ from those of items already
processed in ``out`` refuses to start (:class:`SettingsChanged`) unless ``reprocess`` is set; then those
items are processed again and samples already published are withdrawn from the dataset first.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DynPoseError
from ..pose.config import DEFAULT_PRESET
from .engines import make_engine
from .inputs import resolve_inputs
from .ledger import Ledger
from .stages import FINAL, MIN_REGISTERED, ItemStatus, Stages, stage_sample
from .stats import format_summary, summarize

__all__ = ["CurateConfig", "CurateError", "SettingsChanged", "DatasetSink", "RunLayout", "decision_settings",
           "settings_hash", "default_stages", "curate", "read_items"]

log = logging.getLogger(__name__)


class CurateError(DynPoseError):
    """The run cannot go on (output folder busy, disk full); the ledger stays consistent."""


class SettingsChanged(CurateError):
    """The output folder holds items decided under other settings and ``reprocess`` was not asked for."""


@dataclass(frozen=True)
class CurateConfig:
    """Settings of one curation run."""

    out: Path
    """Output folder (ledger, pose results, staged samples, dataset directory, summary)."""
    workers: int = 2
    """Worker processes (local engine) or CPUs of a local Ray (ray engine without ``address``)."""
    engine: str = "local"
    """``local`` (processes on this machine) or ``ray`` (Ray Data)."""
    address: str | None = None
    """Ray cluster address (``auto``, ``ray://host:10001``); None starts a local Ray."""
    min_registered: float = MIN_REGISTERED
    """Keep a posed clip only if at least this fraction of its frames is registered (paper: 80%)."""
    retry_failed: bool = False
    """Send ``error``/``pose_failed`` items back to ``pending`` before running."""
    csv_video_root: Path | None = None
    """Folder holding the videos of a Panda-70M CSV (video2dataset layout); default: the CSV's folder."""
    pose_preset: str = DEFAULT_PRESET
    """Pose engine preset (also the pose results subfolder name)."""
    fps: float = 12.0
    """Frame sampling rate for decoding, filtering, posing and the stored frames."""
    dense_fps: float = 0.0
    """When above :attr:`fps`: a clip posed for the dataset (kept or pose-checked) whose map is doubted is
    decoded and posed again at this rate, and that map and its frames are stored when it is trusted
    (:attr:`dynpose100k.pose.PoseConfig.dense_fps`); 0: off."""
    short_side: int | None = None
    """Resize frames to this short side before filtering and posing (None: source size)."""
    hfov_deg: float | None = None
    """The lens's known horizontal field of view (degrees), the same for every clip: the pose engine holds the
    focal it gives (:attr:`dynpose100k.pose.PoseConfig.hfov_deg`); None: estimated per clip."""
    tracker_model: str | None = None
    """Weights of the pose preset's learned tracker (None: the preset's own path)."""
    confidence_model: str | None = None
    """A confidence calibration of one's own (None: the preset's, i.e. the packaged one)."""
    device: str = "auto"
    """Torch device of learned models (``auto``: the GPU when there is one)."""
    filter_model: str | None = None
    """Filter fusion-model JSON (None: the packaged default model)."""
    filter_threshold: float | None = None
    """Filter operating threshold on the score (None: the model's own, chosen for precision)."""
    pose_check: tuple[str, ...] | None = None
    """Failure kinds whose score-only filter rejections are posed and kept when the pose confidence vouches
    for them (:mod:`dynpose100k.curate.stages`); None: the filter's
    :data:`~dynpose100k.filtering.decide.POSE_CHECKED_KINDS`; empty: no pose check."""
    shard_size: int = 32
    """Kept items per published shard (the granularity of crash-safe shard writing)."""
    item_timeout: float | None = None
    """Seconds after which a local worker stuck on one item is killed and the item fails."""
    dataset_name: str = "dynpose-100k"
    """Name of the dataset directory inside ``out``."""
    reprocess: bool = False
    """Process again the items of ``out`` that were decided under other settings (default: refuse to run)."""

    def __post_init__(self):  # the stage settings (fps, sizes, thresholds) are checked by the stages' configs
        from ..errors import check_range

        check_range("workers", self.workers, 1)
        check_range("min_registered", self.min_registered, 0, 1)
        check_range("shard_size", self.shard_size, 1)
        check_range("item_timeout", self.item_timeout, 0, low_open=True)

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class RunLayout:
    """Where a curation run keeps its files (the layout in the module docstring)."""

    out: Path
    """The run's output folder."""
    pose_preset: str
    """Pose engine preset: the pose results' subfolder."""
    dataset_name: str
    """Name of the dataset directory inside ``out``."""

    @classmethod
    def of(cls, config: CurateConfig) -> "RunLayout":
        """The layout of ``config``, its folder made absolute: workers (other processes, Ray tasks on
        other nodes) may run from another working directory and must write where the run reads."""
        return cls(Path(config.out).expanduser().absolute(), config.pose_preset, config.dataset_name)

    @property
    def ledger(self) -> Path:
        return self.out / "ledger.sqlite"

    @property
    def config_json(self) -> Path:
        return self.out / "config.json"

    @property
    def poses(self) -> Path:
        """``<out>/poses/<preset>/``: one ``<id>/`` pose result folder per posed item."""
        return self.out / "poses" / self.pose_preset

    @property
    def staging(self) -> Path:
        return self.out / "staging"

    @property
    def dataset(self) -> Path:
        return self.out / self.dataset_name

    @property
    def summary(self) -> Path:
        return self.out / "summary.json"


def read_items(config: CurateConfig) -> dict[str, dict]:
    """The ledger of the run in ``config.out``: ``{item_id: row}`` (columns of :class:`Ledger` items:
    ``status``, ``reason``, ``filter_score``, ``pose_dir``, ...). ``pose_dir`` is given inside
    ``config.out`` as it is now: the ledger records it as the run saw it, which may be relative to another
    working directory or to where the folder was before it moved."""
    layout = RunLayout.of(config)
    ledger = Ledger(layout.ledger)
    try:
        rows = {r["item_id"]: dict(r) for r in ledger.items()}
    finally:
        ledger.close()
    for r in rows.values():
        if r.get("pose_dir"):
            r["pose_dir"] = str(layout.poses / Path(r["pose_dir"]).name)
    return rows


class DatasetSink:
    """Publishes staged samples as shards of a dataset directory (``dynpose100k.shards``) and writes its card."""

    def __init__(self, dataset_dir: Path, staging_dir: Path):
        self.dir = Path(dataset_dir)
        self.staging = Path(staging_dir)

    def staged(self, item_id: str) -> bool:
        return (self.staging / f"{item_id}.tar").is_file()

    def published(self) -> dict[str, str]:
        """``{key: shard}`` of every published sample (recovering a shard published but not yet recorded)."""
        from ..shards.reader import read_manifest
        from ..shards.writer import DatasetWriter

        if (self.dir / "data").is_dir():
            DatasetWriter(self.dir).close()  # opening recovers the manifest and drops unfinished shards
        return {s["key"]: e["shard"] for e in read_manifest(self.dir) for s in e["samples"]}

    def write(self, item_ids: list[str]) -> dict[str, str]:
        """Publish one shard holding ``item_ids``; returns ``{key: shard}`` for them."""
        from ..shards.reader import iter_raw
        from ..shards.writer import ShardConfig, write_shards

        samples = (raw for i in item_ids for raw in iter_raw(self.staging / f"{i}.tar"))
        write_shards(samples, self.dir, ShardConfig(maxcount=len(item_ids)))
        published = self.published()
        done = {i: published[i] for i in item_ids if i in published}
        for i in done:
            (self.staging / f"{i}.tar").unlink(missing_ok=True)
        return done

    def withdraw(self, keys) -> list[str]:
        """Take samples ``keys`` out of staging and of the dataset: every shard holding one of them is
        removed, and its other samples go back to staging (to be published again). Returns the removed shards.

        Order for crash safety: other samples staged first, then the manifest rewritten without those
        shards, then their files deleted; the ledger is reconciled with the manifest afterwards."""
        from ..shards.reader import MANIFEST, iter_raw, read_manifest
        from ..shards.writer import DatasetWriter

        keys = set(keys)
        for k in keys:  # staged, not yet published
            (self.staging / f"{k}.tar").unlink(missing_ok=True)
        if not keys or not (self.dir / "data").is_dir():
            return []
        writer = DatasetWriter(self.dir)  # holds the dataset lock and recovers an interrupted write
        try:
            entries = read_manifest(self.dir)
            hit = [e for e in entries if keys & {s["key"] for s in e["samples"]}]
            for e in hit:
                for raw in iter_raw(self.dir / e["shard"]):
                    if raw["__key__"] not in keys:
                        stage_sample(self.staging, raw)
            gone = {e["shard"] for e in hit}
            man = self.dir / MANIFEST
            tmp = man.with_name(f".{man.name}.tmp")
            tmp.write_text("".join(json.dumps(e) + "\n" for e in entries if e["shard"] not in gone))
            os.replace(tmp, man)
            for rel in gone:
                (self.dir / rel).unlink(missing_ok=True)
        finally:
            writer.close()
        return sorted(gone)

    def finalize(self) -> None:
        from builder.card import write_card

        if (self.dir / "data").is_dir():
            write_card(self.dir)


DECISION_FIELDS = ("filter_model", "filter_threshold", "pose_check", "min_registered", "pose_preset", "fps",
                   "dense_fps", "short_side", "hfov_deg", "tracker_model", "confidence_model")
"""Fields of :class:`CurateConfig` that decide an item's outcome (the others only change speed or place)."""
LATER_DECISION_FIELDS = {"hfov_deg": None, "dense_fps": 0.0, "tracker_model": None, "confidence_model": None}
"""Decision fields added after ledgers were first written, with the value that decides as before they
existed: at that value a field is left out of the settings, so the runs before it keep their hash."""


def decision_settings(config: CurateConfig | dict) -> dict:
    """The settings that decide an item's outcome, resolved: the filter threshold actually applied (the
    model's own when none is given), the pose-checked kinds and a digest of the filter model file's content.
    Settings recorded before the pose check existed resolve to none (that is how those items were decided)."""
    from ..filtering.decide import DEFAULT_MODEL, load_model

    d = config.to_json() if isinstance(config, CurateConfig) else dict(config)
    s = {k: d.get(k) for k in DECISION_FIELDS}
    s["pose_check"] = list(pose_check_kinds(s["pose_check"]) if "pose_check" in d else ())
    for k, neutral in LATER_DECISION_FIELDS.items():
        if s[k] is None or s[k] == neutral:  # None: not recorded
            del s[k]
    s["filter_model_sha256"] = _content_digest(s["filter_model"] or DEFAULT_MODEL)
    try:
        if s["filter_threshold"] is None and s["filter_model_sha256"]:
            s["filter_threshold"] = float(load_model(s["filter_model"]).threshold)
    except DynPoseError:  # a model gone or broken since an older run: compared by path only
        s["filter_model_sha256"] = None
    s["filter_model"] = s["filter_model"] or "packaged"
    for k in MODEL_FILE_FIELDS[1:]:  # given files of the pose engine: their content too
        if s.get(k):
            s[f"{k}_sha256"] = _content_digest(s[k])
    return s


MODEL_FILE_FIELDS = ("filter_model", "tracker_model", "confidence_model")
"""Decision settings that name a file: the file's content decides, whatever path names it."""


def _content_digest(path) -> str | None:
    """A short sha256 of the file at ``path`` (None when it cannot be read)."""
    from ..shards.reader import sha256_file

    try:
        return sha256_file(path)[:16]
    except OSError:
        return None


def _by_content(settings: dict) -> dict:
    """``settings`` with each model file known by its content: the path left out where its digest is recorded,
    or, in a record of a run before digests were taken, where the file it names can be read now."""
    s = dict(settings)
    for k in MODEL_FILE_FIELDS:
        if s.get(k) is None:
            continue
        digest = s.get(f"{k}_sha256") or _content_digest(s[k])
        if digest:
            s[k], s[f"{k}_sha256"] = "file", digest
    return s


def pose_check_kinds(kinds) -> tuple[str, ...]:
    """:attr:`CurateConfig.pose_check` resolved: None -> the filter's default kinds."""
    from ..filtering.decide import POSE_CHECKED_KINDS

    return tuple(POSE_CHECKED_KINDS if kinds is None else kinds)


def settings_hash(settings: dict) -> str:
    """Short stable hash of :func:`decision_settings`."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _differences(old: dict | None, new: dict) -> str:
    from ..pose.config import setting_changes

    if not old:
        return "earlier settings not recorded"
    return ", ".join(setting_changes(old, new)) or "same settings, different hash"


def _write_config_json(config: CurateConfig, config_hash: str, settings: dict, ledger: Ledger) -> None:
    """``config.json``: the current configuration and settings hash, and every run of this folder with its
    settings, times (UTC) and the ids of the items it processed (from the ledger, so a killed run counts)."""
    def iso(t):
        return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    runs = [dict(r, started=iso(r["started"]), finished=iso(r["finished"]), num_items=len(r["items"]))
            for r in ledger.runs()]
    doc = {"config": config.to_json(), "config_hash": config_hash, "settings": settings, "runs": runs}
    path = RunLayout.of(config).config_json
    tmp = path.with_name(".config.json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def _check_settings(ledger: Ledger, config_hash: str, settings: dict, config: CurateConfig) -> dict[str, list[str]]:
    """Items decided under other settings ``{hash: ids}``; raises :class:`SettingsChanged` unless reprocessing.
    Items from ledgers older than settings hashes take the hash of the last recorded run's configuration."""
    last = ledger.db.execute("SELECT config, config_hash FROM runs ORDER BY run DESC LIMIT 1").fetchone()
    if last is not None:
        legacy = last["config_hash"]
        if not legacy:
            old = decision_settings(json.loads(last["config"]))
            legacy = settings_hash(old)
            ledger.db.execute("UPDATE runs SET config_hash=?, settings=? WHERE config_hash IS NULL",
                              (legacy, json.dumps(old)))
        ledger.adopt_unhashed(legacy)
    stale = ledger.stale(config_hash)
    now = _by_content(settings)
    for h in list(stale):  # the same model files named by other paths (another working folder): the same decisions
        old = ledger.settings_of(h)
        if old is not None and _by_content(old) == now:
            ledger.relabel(h, config_hash)
            del stale[h]
    if stale and not config.reprocess:
        n = sum(map(len, stale.values()))
        what = "; ".join(_differences(ledger.settings_of(h), settings) for h in stale)
        raise SettingsChanged(
            f"{config.out}: {n} item(s) were processed with other settings ({what}); rerun with --reprocess to "
            f"process them again with these settings, or use another --out")
    return stale


def default_stages(config: CurateConfig) -> Stages:
    """The shipped stages for ``config`` (filter model/threshold, the named pose preset at ``config.fps``)."""
    from ..filtering import FilterConfig
    from ..pose import get_preset

    pose_cfg = get_preset(config.pose_preset, fps=config.fps, dense_fps=config.dense_fps, short_side=config.short_side,
                          hfov_deg=config.hfov_deg, threads=1 if config.workers > 1 else None,
                          tracker_model=config.tracker_model, confidence_model=config.confidence_model,
                          device=config.device)
    # model files named relative to where the run starts: workers (Ray ones on other nodes) start elsewhere
    pose_cfg = dataclasses.replace(pose_cfg, **{k: str(Path(v).expanduser().absolute()) for k in (
        "tracker_model", "semantic_model", "confidence_model") if (v := getattr(pose_cfg, k))})
    layout = RunLayout.of(config)
    return Stages(
        pose_root=str(layout.poses),
        staging_dir=str(layout.staging),
        pose_config=pose_cfg,
        filter_config=FilterConfig(model=config.filter_model, threshold=config.filter_threshold),
        min_registered=config.min_registered,
        pose_check=pose_check_kinds(config.pose_check),
        config_hash=settings_hash(decision_settings(config)),
    )


def _lock(out: Path):
    f = open(out / ".curate.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise CurateError(f"{out}: another curation run is using this output folder") from None
    return f


_SHORT = {ItemStatus.KEPT: "kept", ItemStatus.FILTERED_OUT: "filtered", ItemStatus.REJECTED_REGISTRATION: "low_reg",
          ItemStatus.POSE_FAILED: "pose_fail", ItemStatus.ERROR: "error"}


def curate(inputs, config: CurateConfig, *, stages=None, sink=None, engine=None, progress: bool = True) -> dict:
    """Curate ``inputs`` (see :func:`~dynpose100k.curate.inputs.resolve_inputs`) into ``config.out``.

    ``stages``/``sink``/``engine`` default to the real ones built from ``config``. Returns the summary
    (also saved as ``<out>/summary.json``). Raises :class:`CurateError` when the output disk is full; what
    was committed stays valid and the next run continues from there.
    """
    from tqdm import tqdm

    layout = RunLayout.of(config)
    out = layout.out
    stages = stages or default_stages(config)
    stages.check()  # a configuration error leaves no output folder behind, nor inputs that match nothing
    items = resolve_inputs(inputs, config.csv_video_root)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    ledger = Ledger(layout.ledger)
    try:
        sink = sink or DatasetSink(layout.dataset, layout.staging)
        engine = engine or make_engine(config.engine, config.workers, config.address, config.item_timeout)
        settings = decision_settings(config)
        h = settings_hash(settings)
        clash = ledger.conflicts(items)
        if clash:
            i, held, new = clash[0]
            raise CurateError(
                f"{config.out}: {len(clash)} input clip(s) have the id of another video or window curated here "
                f"before (e.g. {i}: {new}, but {held} was curated as {i}); curate them into another --out")
        stale = _check_settings(ledger, h, settings, config)
        ledger.start_run(config.to_json(), h, settings)
        _write_config_json(config, h, settings, ledger)
        ledger.register(items, retry_failed=config.retry_failed)
        promoted, demoted = ledger.reconcile(sink.published())
        if stale:
            ids = sorted(i for v in stale.values() for i in v)
            gone = sink.withdraw(ids)
            ledger.reconcile(sink.published())
            ledger.requeue(ids)
            log.warning("reprocessing %d item(s) decided under other settings (%d shard(s) withdrawn)",
                        len(ids), len(gone))
        if promoted or demoted:
            log.info("reconciled with the shard manifest: %d marked sharded, %d to write again", promoted, demoted)
        backlog = [r["item_id"] for r in ledger.items(ItemStatus.KEPT)]
        lost = [i for i in backlog if not sink.staged(i)]
        if lost:  # staged sample gone (deleted staging folder): run those items again
            ledger.requeue(lost)
            backlog = [i for i in backlog if i not in set(lost)]
        todo = [ledger.work_item(r) for r in ledger.items(ItemStatus.PENDING)]
        counts = ledger.counts()
        done_before = sum(counts[s] for s in FINAL)
        log.info("%d items: %d done, %d to process, %d kept awaiting a shard", len(items), done_before,
                 len(todo), len(backlog))

        t_start = time.time()
        bar = tqdm(total=done_before + len(todo) + len(backlog), initial=done_before + len(backlog),
                   desc="curate", unit="clip", disable=not progress, dynamic_ncols=True)

        def publish(ids: list[str]) -> None:
            try:
                done = sink.write(ids)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise CurateError(
                        f"output disk full while writing a shard to {out}: {len(ids)} kept clips stay in the "
                        f"ledger (status kept) and are written on the next run once space is freed") from None
                raise CurateError(f"writing a shard to {out} failed: {e}") from None
            ledger.mark_sharded(done)
            missing = sorted(set(ids) - set(done))
            if missing:
                raise CurateError(f"shard writer did not publish {missing[:5]}; they stay 'kept' for the next run")

        try:
            for k in range(0, len(backlog), config.shard_size):
                publish(backlog[k: k + config.shard_size])
            batch: list[str] = []
            for res in engine.run(stages, todo):
                ledger.record(res)
                counts[res.status] += 1
                bar.update(1)
                kept = counts[ItemStatus.KEPT] + counts[ItemStatus.SHARDED]
                bar.set_postfix({v: kept if k is ItemStatus.KEPT else counts[k] for k, v in _SHORT.items()},
                                refresh=False)
                if res.status is ItemStatus.KEPT:
                    batch.append(res.item_id)
                    if len(batch) >= config.shard_size:
                        publish(batch)
                        batch = []
            if batch:
                publish(batch)
        finally:
            bar.close()
            ledger.finish_run()
            _write_config_json(config, h, settings, ledger)
        sink.finalize()
        summary = summarize(ledger.items(), wall_s=time.time() - t_start, processed=len(todo),
                            workers=config.workers, min_registered=config.min_registered)
        summary["dataset_dir"] = str(layout.dataset)
        layout.summary.write_text(json.dumps(summary, indent=2))
        if progress:
            print(format_summary(summary))
        return summary
    finally:
        ledger.close()
        lock.close()
