"""Fixtures for the DUSt3R tests: one tiny rendered clip (64x96, 18 frames) and its training record."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny_video():
    from dynpose100k.synth import render

    return render("good", 0, height=64, width=96, duration=1.5)


@pytest.fixture(scope="session")
def tiny_record(tiny_video):
    from dynpose100k.dust3r.data import record_from_synth

    return record_from_synth(tiny_video)
