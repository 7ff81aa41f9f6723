"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def moving_gt():
    """Ground truth of a short good clip (96x160, 1 s at 12 fps) with a few correspondences per pair."""
    from dynpose100k.synth import render

    return render("good", 0, height=96, width=160, duration=1.0, pairs=3, per_pair=20, video_id="g0").gt
