import numpy as np
import pytest

from dynpose100k.cli import main
from dynpose100k.curate import resolve_inputs
from dynpose100k.shots import ShotConfig, clip_windows, detect_shots, find_cuts, format_timestamp
from dynpose100k.synth import render
from dynpose100k.synth.effects import fade
from dynpose100k.video import parse_timestamp, write_video

FPS = 12.0


def test_a_cut_is_one_pair_that_stands_out_and_stays_changed():
    cfg = ShotConfig()
    quiet = np.full(40, 0.01)
    cut = quiet.copy()
    cut[20] = 0.2
    wide = np.full(40, 0.01)
    wide[19:22] = 0.2  # the frames one step further out differ too: the picture stayed changed
    assert find_cuts(cut, wide, cfg).tolist() == [20]
    flash = quiet.copy()
    flash[20:22] = 0.2  # one bright frame: two pairs change, and the frames around it are alike
    assert find_cuts(flash, np.full(40, 0.01), cfg).tolist() == []
    pan = np.full(40, 0.15)  # a fast pan changes every pair a lot
    pan[20] = 0.3
    assert find_cuts(pan, np.full(40, 0.3), cfg).tolist() == []
    small = quiet.copy()
    small[20] = 0.04  # stands out, but under min_change
    assert find_cuts(small, wide, cfg).tolist() == []
    assert find_cuts(small, wide, ShotConfig(min_change=0.03)).tolist() == [20]
    edge = quiet.copy()
    edge[0] = 0.2  # the first pair has no sample before it to check persistence with
    assert find_cuts(edge, np.r_[np.nan, np.full(39, 0.01)], cfg).tolist() == [0]


def test_windows_leave_out_short_shots_and_cut_long_ones_into_equal_parts():
    assert clip_windows([(0.0, 3.0), (3.5, 9.0), (10.0, 31.0)], 4.0, 10.0) == [
        (3.5, 9.0), (10.0, 17.0), (17.0, 24.0), (24.0, 31.0)]
    assert clip_windows([(0.0, 20.0)], 4.0, 10.0) == [(0.0, 10.0), (10.0, 20.0)]  # exactly twice: two, not three
    with pytest.raises(ValueError, match="max_length"):
        ShotConfig(min_length=5.0, max_length=4.0)


@pytest.mark.parametrize("t", [0.0, 0.083, 5.005, 61.5, 3725.25])
def test_timestamps_are_written_as_panda70m_reads_them(t):
    assert parse_timestamp(format_timestamp(t)) == pytest.approx(t, abs=5e-4)
    assert format_timestamp(3725.25) == "1:02:05.250"


def _shot(seed, duration, hard=False):
    return render("good", seed, height=96, width=160, fps=FPS, duration=duration, hard=hard).frames


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """Three shots of other scenes: 6 s, a hard cut, 5 s faded out, 0.5 s of black, 6 s faded in (12 fps)."""
    a, b, c = _shot(1, 6.0), _shot(2, 5.0), _shot(3, 6.0)
    b = fade(b, np.arange(len(b)) / FPS, 0.0, 1.0)
    c = fade(c, np.arange(len(c)) / FPS, 1.0, 0.0)
    frames = np.concatenate([a, b, np.zeros((6, 96, 160, 3), np.uint8), c])
    return write_video(tmp_path_factory.mktemp("shots") / "vlog.mp4", frames, FPS)


def test_a_long_video_is_cut_at_its_cut_and_its_fade_through_black(long_video):
    r = detect_shots(long_video)
    assert len(r.cuts) == 1 and abs(r.cuts[0] - 6.0) <= 1 / FPS
    assert len(r.dark) == 1 and r.dark[0][0] <= 11.0 + 1 / FPS and r.dark[0][1] >= 11.5 - 1 / FPS
    assert len(r.shots) == 3 and len(r.windows) == 3
    bounds = [6.0, 11.0, 11.5]
    for s, e in r.windows:  # no window holds a boundary, and each keeps most of its shot
        assert not any(s - 1e-6 <= b <= e + 1e-6 for b in bounds), (s, e)
        assert e - s >= 4.0
    assert r.windows[0][0] == 0.0 and r.windows[-1][1] == pytest.approx(r.duration)


def test_a_fast_pan_is_one_shot(tmp_path):
    path = write_video(tmp_path / "pan.mp4", _shot(7, 5.0, hard=True), FPS)
    r = detect_shots(path)
    assert r.cuts == () and r.dark == () and len(r.windows) == 1


def test_shots_writes_a_csv_that_curate_reads_and_reports_broken_videos(long_video, tmp_path, capsys):
    pool = tmp_path / "raw"
    pool.mkdir()
    (pool / "vlog.mp4").write_bytes(long_video.read_bytes())
    (pool / "broken.mp4").write_bytes(b"\x00" * 4096)
    out = tmp_path / "lists" / "clips.csv"
    assert main(["shots", str(pool), "--out", str(out), "--min-length", "3"]) == 1  # the broken video
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if "error" in ln]
    assert len(err) == 1 and "broken.mp4" in err[0]
    assert "3 window(s)" in captured.out
    items = resolve_inputs(out)  # no --csv-video-root: the url is the file, relative to the CSV
    assert [it.item_id for it in items] == ["vlog_0", "vlog_1", "vlog_2"]
    assert {it.path for it in items} == {str((pool / "vlog.mp4").resolve())} and not any(it.error for it in items)
    assert items[0].start == 0.0 and 5.5 < items[0].end < 6.0 and items[1].start > 6.0
    assert main(["shots", str(pool / "vlog.mp4"), "--out", str(tmp_path / "clips.txt")]) == 1
    assert "name a .csv file" in capsys.readouterr().err
