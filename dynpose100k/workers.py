"""Clip-level parallelism on one machine: the one pool of worker processes that ``filter``, ``pose`` and the
filter's signal measurement hand clips to (``curate`` has its own engines, with a ledger and timeouts)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
from collections.abc import Callable, Iterator, Sequence

__all__ = ["clip_map", "clip_pool", "in_pool"]


def _single_threaded() -> None:
    """A worker's start: OpenCV (and so the decoder, see :mod:`dynpose100k.video`) on one thread, since the
    workers share the cores; Ctrl-C is the parent's to handle (no traceback from every worker)."""
    import cv2

    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def clip_pool(workers: int):
    """A ``multiprocessing`` pool of ``workers`` spawned processes, each single-threaded (``imap`` keeps the
    clips' order). Spawned, not forked: a forked child would inherit the parent's OpenCV and BLAS threads."""
    return mp.get_context("spawn").Pool(workers, initializer=_single_threaded)


def in_pool(workers: int, items: int) -> bool:
    """Whether :func:`clip_map` hands ``items`` clips to worker processes (else it runs them in this one)."""
    return workers > 1 and items > 1


@contextlib.contextmanager
def clip_map(fn: Callable, items: Sequence, workers: int = 1) -> Iterator[Iterator]:
    """``fn`` over ``items``, results in their order, lazily: in this process when ``workers`` <= 1 or there is
    one item, else in a :func:`clip_pool` of at most one worker per item (``fn`` and the items must pickle). The
    pool is closed when the block ends; left early (an error, Ctrl-C), it is stopped at once, and what the
    workers finished stays done."""
    if not in_pool(workers, len(items)):
        yield map(fn, items)
        return
    pool = clip_pool(min(workers, len(items)))
    try:
        yield pool.imap(fn, items)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()
