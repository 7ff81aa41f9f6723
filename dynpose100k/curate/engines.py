"""Execution engines of the curation runner: where the per-item route runs.

Engines map :func:`dynpose100k.curate.stages.process_item` over work items and yield its results to the
parent, which alone writes the ledger and the shards:

- :class:`LocalEngine`: N worker processes, each fed one item at a time over its own pipe, so a worker that
  dies (segfault, ``os._exit``, out-of-memory kill) or exceeds the per-item timeout fails exactly the item
  it held; a fresh worker replaces it.
- :class:`RayEngine`: Ray Data ``from_items(...).map(...)`` on a local or remote cluster; results stream back
  to the driver. Output folders must be on storage that every node sees.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import wait

from ..errors import DynPoseError
from .inputs import WorkItem
from .stages import ItemResult, ItemStatus, process_item

__all__ = ["LocalEngine", "RayEngine", "make_engine"]


def _worker_main(conn, stages, single_thread: bool) -> None:
    """Worker loop: receive an item, send back its result, until ``None`` or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the parent
    if single_thread:  # several workers share the cores: no nested thread pools
        import cv2

        cv2.setNumThreads(1)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        result = process_item(stages, item)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


@dataclasses.dataclass
class _Slot:
    proc: mp.process.BaseProcess
    conn: object
    item: WorkItem | None = None
    started: float = 0.0


class LocalEngine:
    """Worker processes on this machine with per-item fault isolation."""

    def __init__(self, workers: int = 2, item_timeout: float | None = None, start_method: str = "spawn"):
        self.workers = max(1, int(workers))
        self.item_timeout = item_timeout
        self.ctx = mp.get_context(start_method)

    def _spawn(self, stages) -> _Slot:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, stages, self.workers > 1), daemon=True,
                                name="dynpose100k-curate")
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def _fail(self, slot: _Slot, why: str) -> ItemResult:
        it = slot.item
        slot.item = None
        slot.conn.close()
        return ItemResult(item_id=it.item_id, status=ItemStatus.ERROR,
                          reason=f"worker: process {why} on {it.path or it.item_id}")

    def run(self, stages, items: list[WorkItem]) -> Iterator[ItemResult]:
        """Yield one result per item, in completion order."""
        queue = deque(items)
        slots = [self._spawn(stages) for _ in range(min(self.workers, len(items)))]
        try:
            while True:
                for i, s in enumerate(slots):
                    if s.item is None and queue:
                        if s.conn.closed or not s.proc.is_alive():  # replace a dead worker
                            if not s.conn.closed:
                                s.conn.close()
                            slots[i] = s = self._spawn(stages)
                        s.item, s.started = queue.popleft(), time.monotonic()
                        s.conn.send(s.item)
                busy = [s for s in slots if s.item is not None]
                if not busy:
                    return
                wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=1.0)
                for s in slots:
                    if s.item is None:
                        continue
                    result = None
                    try:
                        if s.conn.poll():
                            result = s.conn.recv()
                    except (EOFError, OSError):
                        pass
                    if result is not None:
                        s.item = None
                        yield result
                    elif not s.proc.is_alive():
                        s.proc.join()
                        yield self._fail(s, f"died ({_death_reason(s.proc.exitcode)})")
                    elif self.item_timeout and time.monotonic() - s.started > self.item_timeout:
                        s.proc.kill()
                        s.proc.join()
                        yield self._fail(s, f"timed out after {self.item_timeout:g} s")
        finally:
            for s in slots:
                if s.item is None and not s.conn.closed:
                    try:
                        s.conn.send(None)
                    except OSError:
                        pass
            for s in slots:
                s.proc.join(timeout=2.0)
                if s.proc.is_alive():
                    s.proc.kill()
                    s.proc.join()
                if not s.conn.closed:
                    s.conn.close()


def _ray_process_row(row: dict, stages) -> dict:
    item = WorkItem(**json.loads(row["item"]))
    return {"result": json.dumps(dataclasses.asdict(process_item(stages, item)))}


class RayEngine:
    """Ray Data engine: ``ray.data.from_items(items).map(process_item)`` with ``cpus_per_item`` CPUs per
    task. Connects to ``address`` (``auto``, ``ray://host:10001``) or starts a local Ray with ``num_cpus``.
    Items go into at most ``max_blocks`` blocks (one item per block for smaller pools); a task whose worker
    dies is retried once, and the items of a block that still fails come back as ``error``."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_item: float = 1.0,
                 max_blocks: int = 10_000):
        self.max_blocks = max_blocks
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_item = cpus_per_item

    def run(self, stages, items: list[WorkItem]) -> Iterator[ItemResult]:
        import functools

        from ..models import require

        ray = require("ray", "ray")
        if not items:
            return
        if not ray.is_initialized():
            kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if self.address:
                ray.init(address=self.address, **kw)
            else:
                ray.init(num_cpus=self.num_cpus, **kw)
        ctx = ray.data.DataContext.get_current()
        ctx.max_errored_blocks = -1  # a block that keeps failing must not abort the whole pool
        ctx.enable_progress_bars = False
        rows = [{"item": json.dumps(dataclasses.asdict(it))} for it in items]
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), self.max_blocks)).map(
            functools.partial(_ray_process_row, stages=stages),
            num_cpus=self.cpus_per_item,
            max_retries=1,
        )
        seen = set()
        for row in ds.iter_rows():
            d = json.loads(row["result"])
            seen.add(d["item_id"])
            yield ItemResult(**d)
        for it in items:
            if it.item_id not in seen:
                yield ItemResult(item_id=it.item_id, status=ItemStatus.ERROR,
                                 reason="worker: ray task failed (worker lost or crashed)")


def make_engine(name: str, workers: int = 2, address: str | None = None, item_timeout: float | None = None):
    """Engine by CLI name: ``local`` (``workers`` processes) or ``ray`` (cluster at ``address``, or a local Ray
    with ``workers`` CPUs)."""
    if name == "local":
        return LocalEngine(workers, item_timeout)
    if name == "ray":
        return RayEngine(address, num_cpus=None if address else workers)
    raise DynPoseError(f"unknown engine {name!r}; choose local or ray")

