import signal


def _state(_):
    import cv2

    return cv2.getNumThreads(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_clip_pool_workers_are_single_threaded_and_leave_ctrl_c_to_the_parent():
    from dynpose100k.workers import clip_pool

    with clip_pool(2) as pool:
        assert pool.map(_state, range(4)) == [(1, True)] * 4


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
