"""Breaks in the chain of frames (every track lost at once) are bridged by appearance matches."""

from __future__ import annotations

import numpy as np
import pytest

from dynpose100k.camera import camera_centers, fundamental_from
from dynpose100k.geometry import sampson_error
from dynpose100k.metrics import ate, path_length
from dynpose100k.pose import PoseConfig, estimate_poses
from dynpose100k.pose.tracking import bridge_breaks, track_video
from dynpose100k.synth import render

COVERED = slice(14, 18)  # frames covered by a grey card: every track ends at frame 13


@pytest.fixture(scope="module")
def clip():
    v = render("good", 0, height=180, width=320, fps=12.0, duration=3.0)
    covered = v.frames.copy()
    covered[COVERED] = 128
    return v, covered


def test_a_covered_view_breaks_every_track_and_is_bridged(clip):
    v, frames = clip
    cfg = PoseConfig()
    uv = track_video(frames, cfg)
    seen = ~np.isnan(uv[..., 0])
    after = COVERED.stop + 1  # the tracker seeds again one frame after the card
    assert (seen[COVERED.start - 1] & seen[after]).sum() == 0
    bridged = bridge_breaks(uv, np.ones(uv.shape[1], bool), frames, cfg)
    assert bridged is not None
    np.testing.assert_array_equal(bridged[:, : uv.shape[1]], uv)
    new = bridged[:, uv.shape[1] :]
    both = ~np.isnan(new[COVERED.start - 1, :, 0]) & ~np.isnan(new[after, :, 0])
    assert both.sum() >= 30
    # each bridge track joins the same scene point on both sides: the true epipolar geometry holds
    F = fundamental_from(v.gt.K[COVERED.start - 1], v.gt.K[after], v.gt.w2c[COVERED.start - 1], v.gt.w2c[after])
    err = sampson_error(F, new[COVERED.start - 1, both], new[after, both])  # pixels
    assert np.median(err) < 1.0 and np.mean(err < 2.0) > 0.9
    # and they are followed by the tracker on either side
    assert (~np.isnan(new[COVERED.start - 3, :, 0])).sum() >= 20 and (~np.isnan(new[after + 2, :, 0])).sum() >= 20


def test_no_break_no_bridge(clip):
    v, frames = clip
    cfg = PoseConfig()
    uv = track_video(v.frames, cfg)
    assert bridge_breaks(uv, np.ones(uv.shape[1], bool), v.frames, cfg) is None
    uv = track_video(frames, cfg)
    assert bridge_breaks(uv, np.ones(uv.shape[1], bool), frames, PoseConfig(bridge_max_gap=0)) is None
    # the card is longer than the gap allowed: no bridge
    assert bridge_breaks(uv, np.ones(uv.shape[1], bool), frames, PoseConfig(bridge_max_gap=5)) is None


def test_the_map_holds_both_sides_of_a_covered_view(clip):
    v, frames = clip
    off = estimate_poses(frames, v.gt.timestamps, PoseConfig(bridge_max_gap=0))
    on = estimate_poses(frames, v.gt.timestamps, PoseConfig())
    covered = COVERED.stop - COVERED.start + 1  # the card, and the frame the tracker has not seeded yet
    assert off.registered_fraction < 0.6
    assert on.evidence["bridge_tracks"] >= 30
    assert on.registered.sum() == len(frames) - covered
    # one map, not two pieces scaled apart: the trajectory across the card is right
    err = ate(on.w2c, v.gt.w2c, registered=on.registered).rmse / path_length(camera_centers(v.gt.w2c))
    assert err < 0.02, err
