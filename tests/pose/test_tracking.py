"""Tracking fed frame by frame from another thread (decoding while tracking) gives the array's tracks; dark
footage is tracked like the same scene lit."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from dynpose100k.errors import VideoError
from dynpose100k.pose import PoseConfig
from dynpose100k.pose.tracking import FrameFeed, track_video
from dynpose100k.synth import render
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

    uv_lit = track_video(lit, PoseConfig())
    n_lit = observations(uv_lit)
    # lit frames are tracked as they are
    np.testing.assert_array_equal(uv_lit, track_video(lit, PoseConfig(track_gain=0)))
    assert observations(track_video(dark, PoseConfig())) >= 0.95 * n_lit
    # without the stretch, Lucas-Kanade refuses the weak gradients of dark points
    assert observations(track_video(dark, PoseConfig(track_gain=0))) < 0.9 * n_lit
