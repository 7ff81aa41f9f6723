"""Clip-level parallelism on one machine: the one pool of worker processes that ``filter``, ``pose`` and the
filter's signal measurement hand clips to (``curate`` has its own engines, with a ledger and timeouts)."""

from __future__ import annotations

import multiprocessing as mp
import signal

__all__ = ["clip_pool"]


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
