"""Tracking fed frame by frame from another thread (decoding while tracking) gives the array's tracks; dark
footage is tracked like the same scene lit; the dense-flow tracker follows texture (a fast pan from the image's
shift), ends points that leave, computes each flow once and holds where Lucas-Kanade slides."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest

from dynpose100k.errors import VideoError
from dynpose100k.evaluate import track_errors
from dynpose100k.pose import PoseConfig
from dynpose100k.pose.tracking import DISTracker, FrameFeed, track_video
from dynpose100k.synth import recorded, render
from dynpose100k.video import load_clip


def _feed(frames, error=None, delay=0.0):
    feed = FrameFeed()

    def produce():
        for f in frames:
            time.sleep(delay)
            feed.put(f)
        feed.close(error)

    th = threading.Thread(target=produce)
    th.start()
    return feed, th


@pytest.mark.parametrize("n", [40, 2, 1])
def test_feed_gives_the_tracks_of_the_array(synth_good, n):
    frames = load_clip(synth_good.video, fps=12.0).frames[:n]
    grey = frames.mean(-1).astype(np.uint8)
    cfg = PoseConfig()
    feed, th = _feed(list(grey), delay=0.002)
    fed = track_video(feed, cfg)
    th.join()
    whole = track_video(grey, cfg)
    assert fed.shape == whole.shape and fed.shape[0] == len(frames)
    np.testing.assert_array_equal(fed, whole)
    if n == 40:
        assert fed.shape[1] > 50


def test_feed_longer_than_its_first_allocation():
    """More frames than the feed's first row allocation (256): rows grow like the track columns."""
    rng = np.random.default_rng(0)
    base = cv2_blur(rng.integers(0, 255, (120, 200), dtype=np.uint8))
    frames = [np.roll(base, k // 3, axis=1) for k in range(300)]
    cfg = PoseConfig()
    feed, th = _feed(frames)
    fed = track_video(feed, cfg)
    th.join()
    np.testing.assert_array_equal(fed, track_video(np.stack(frames), cfg))
    assert fed.shape[0] == 300


def cv2_blur(img):
    import cv2

    return cv2.GaussianBlur(img, (5, 5), 1.5)


def test_producer_error_reaches_the_consumer(synth_good):
    grey = load_clip(synth_good.video, fps=12.0).frames[:20].mean(-1).astype(np.uint8)
    feed, th = _feed(list(grey), error=VideoError("x.mp4", "not a readable video"))
    with pytest.raises(VideoError, match="not a readable video"):
        track_video(feed, PoseConfig())
    th.join()


def test_pose_video_stops_decoding_when_tracking_fails(tmp_path, monkeypatch):
    """An error (or Ctrl-C) in the tracker stops the decoding thread instead of decoding the rest."""
    import dynpose100k.video as video
    from dynpose100k.pose import pipeline

    produced = []

    def frames(path, fps, short_side=None):
        for k in range(400):
            time.sleep(0.002)
            produced.append(k)
            yield k / 12.0, np.full((36, 64, 3), k % 255, np.uint8)

    def failing_tracker(feed, config, tracker=None):
        feed.wait(10)
        raise RuntimeError("tracker broke")

    monkeypatch.setattr(video, "iter_frames", frames)
    monkeypatch.setattr(pipeline, "track_video", failing_tracker)
    with pytest.raises(RuntimeError, match="tracker broke"):
        pipeline.pose_video(tmp_path / "x.mp4", tmp_path / "out", PoseConfig())
    assert 10 <= len(produced) < 400


def test_dark_footage_is_tracked_like_the_same_scene_lit():
    v = render("good", 0, height=180, width=320, fps=12.0, duration=3.0)
    lit = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in v.frames])
    dark = (lit * 0.08).round().astype(np.uint8)  # a night exposure: grey levels 0-20

    def observations(uv):
        return int((~np.isnan(uv[..., 0])).sum())

    klt = PoseConfig(tracker="klt")
    uv_lit = track_video(lit, klt)
    n_lit = observations(uv_lit)
    # lit frames are tracked as they are
    np.testing.assert_array_equal(uv_lit, track_video(lit, replace(klt, track_gain=0)))
    assert observations(track_video(dark, klt)) >= 0.95 * n_lit
    # without the stretch, Lucas-Kanade refuses the weak gradients of dark points
    assert observations(track_video(dark, replace(klt, track_gain=0))) < 0.9 * n_lit
    # the dense-flow tracker keeps them with the stretch too
    dis = PoseConfig(tracker="dis")
    assert observations(track_video(dark, dis)) >= 0.95 * observations(track_video(lit, dis))


def _shifted(shift, n=4, size=(120, 160), seed=0, margin=40):
    """``n`` grey frames of one smoothed random texture, each moved by ``shift`` (x, y) px from the last (the
    texture reaches ``margin`` px beyond the first frame on every side)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (size[0] + 2 * margin, size[1] + 2 * margin)).astype(np.float32),
                            (0, 0), 2.0)
    base = (base - base.mean()) * 8 + 128
    frames = []
    for k in range(n):
        m = np.float32([[1, 0, k * shift[0] - margin], [0, 1, k * shift[1] - margin]])
        frames.append(cv2.warpAffine(base, m, (size[1], size[0]), flags=cv2.INTER_CUBIC))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def test_dis_tracker_follows_a_moving_texture_and_ends_points_that_leave():
    frames = _shifted((3.4, -1.3))
    queries = np.float32([[40, 60], [80, 30], [120, 90], [157, 60]])  # the last leaves the frame at once
    tracks, visible = DISTracker()(frames, queries)
    expected = queries[None] + np.arange(4)[:, None, None] * np.float32([3.4, -1.3])
    assert visible[:, :3].all()
    assert np.abs(tracks[:, :3] - expected[:, :3]).max() < 0.25
    assert visible[0, 3] and not visible[1:, 3].any() and np.isnan(tracks[1:, 3]).all()


def test_dis_tracker_follows_a_fast_pan_from_the_image_shift():
    # a fast turn through a narrow lens moves a 640 px frame by about 90 px: beyond the reach of DIS's pyramid,
    # within it once the flow starts from the whole image's shift
    frames = _shifted((-90.0, 3.0), n=3, size=(360, 640), margin=200)
    queries = np.stack(np.meshgrid(np.arange(200, 600, 40), np.arange(40, 330, 40)), -1).reshape(-1, 2)
    queries = queries.astype(np.float32)
    expected = queries[None] + np.arange(3)[:, None, None] * np.float32([-90.0, 3.0])
    tracks, visible = DISTracker()(frames, queries)
    assert visible.mean(0).mean() > 0.9
    assert np.nanmax(np.abs(tracks - expected)[visible]) < 0.5
    _, visible = DISTracker(shift_below=0)(frames, queries)
    assert visible[1].mean() < 0.2  # the premise: from zero, DIS loses them


def test_dis_flows_after_a_fast_pan_are_those_of_a_fresh_tracker():
    # OpenCV's DIS, once given a starting flow, starts every later flow from whatever memory its output gets:
    # a clip's flows after its first fast pan must not depend on that pan
    pan = _shifted((-90.0, 3.0), n=2, size=(360, 640), margin=200)
    slow = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in render("good", 3, height=360, width=640, fps=12.0,
                                                                  duration=0.25).frames[:2]]
    tracker = DISTracker(threads=1)
    tracker._pair(pan[0], pan[1])  # started from the image's shift
    for got, fresh in zip(tracker._pair(slow[0], slow[1]), DISTracker(threads=1)._pair(slow[0], slow[1])):
        np.testing.assert_array_equal(got, fresh)


def test_dis_tracker_computes_each_pair_of_frames_once():
    frames = _shifted((2.0, 1.0), n=10)
    tracker = DISTracker(threads=1)
    calls = []

    class Counted:
        def __init__(self, dis):
            self.dis = dis

        def calc(self, a, b, f):
            calls.append(1)
            return self.dis.calc(a, b, f)

        def __getattr__(self, name):
            return getattr(self.dis, name)

    tracker._dis = [Counted(d) for d in tracker._dis]
    uv = track_video(frames, PoseConfig(tracker="dis", window=6, window_stride=3), tracker)
    assert (~np.isnan(uv[..., 0])).sum(0).max() == 10  # windows overlap by 3 frames and link the tracks
    assert len(calls) == 2 * 9  # forward and backward flow of each consecutive pair, overlaps from the cache
    # the two directions computed side by side on two threads give the same tracks
    np.testing.assert_array_equal(uv, track_video(frames, PoseConfig(window=6, window_stride=3), DISTracker(threads=2)))


def test_dis_tracks_stay_on_noisy_smooth_ground_where_lucas_kanade_slides():
    # a scene dominated by smooth ground, recorded through a noisy consumer camera
    v = render("good", 100, height=180, width=320, fps=12.0, duration=2.0)
    frames = recorded(v.frames, v.gt, 100, 0, camera=True)
    err = {name: track_errors(track_video(frames, PoseConfig(tracker=name)), v.gt).summary()["median_px_5"]
           for name in ("klt", "dis")}
    assert err["dis"] < 0.75 * err["klt"], err


def test_dis_points_end_at_a_featureless_frame():
    # a grey card in front of the lens for one frame: the flow over it is zero and consistent both ways, so
    # only the loss of texture tells that the points are gone
    frames = _shifted((2.0, 1.0), n=6)
    frames[3] = 128
    queries = np.float32([[40, 60], [80, 30], [120, 90]])
    _, visible = DISTracker()(frames, queries)
    assert visible[:3].all() and not visible[3:].any()
    _, visible = DISTracker(texture_kept=0)(frames, queries)
    assert visible[3:].any()  # without the check they would sit still through the card
