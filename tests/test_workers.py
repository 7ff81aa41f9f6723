import os
import signal
import time

import pytest


def _state(_):
    import cv2

    return cv2.getNumThreads(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN, os.getpid()


def _slow_after_first(i):
    time.sleep(0 if i == 0 else 30)
    return i


def test_clip_pool_workers_are_single_threaded_and_leave_ctrl_c_to_the_parent():
    from dynpose100k.workers import clip_pool

    with clip_pool(2) as pool:
        assert [s[:2] for s in pool.map(_state, range(4))] == [(1, True)] * 4


def test_clip_map_keeps_the_order_runs_one_worker_here_and_stops_its_pool_when_left_early():
    from dynpose100k.workers import clip_map

    with clip_map(_state, list(range(3)), 1) as it:
        assert {s[2] for s in it} == {os.getpid()}  # one worker: in this process
    with clip_map(abs, [-3, 1, -2, 5], 2) as it:
        assert list(it) == [3, 1, 2, 5]
    with clip_map(_state, list(range(4)), 2) as it:
        assert os.getpid() not in {s[2] for s in it}
    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with clip_map(_slow_after_first, list(range(4)), 2) as it:
            assert next(it) == 0
            raise KeyboardInterrupt  # as Ctrl-C would: the workers still busy are stopped, not waited for
    assert time.perf_counter() - t < 15


def test_filter_with_workers_gives_the_rows_of_one_process(tmp_path):
    """``filter --workers 2``: the clips go to the pool in order, and each row is what one process writes."""
    import pandas as pd

    from dynpose100k.cli import main
    from dynpose100k.synth import write_pool

    write_pool(tmp_path / "pool", 4, kind="mixed", seed=0, height=96, width=160, duration=2.0)
    for n in (1, 2):
        assert main(["filter", str(tmp_path / "pool"), "--out", str(tmp_path / f"w{n}.parquet"),
                     "--workers", str(n)]) == 0
    one, two = (pd.read_parquet(tmp_path / f"w{n}.parquet") for n in (1, 2))
    assert len(one) == 4 and (one["status"] != "error").all()
    pd.testing.assert_frame_equal(one, two)
