"""Shared, session-scoped fixtures: tiny synthetic clips with exact ground truth (rendered once per run)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest


class SynthClip(NamedTuple):
    """A synthetic clip on disk."""

    video: Path
    """``<id>.mp4``"""
    gt: Path
    """``<id>.gt.npz`` (read with ``dynpose100k.synth.load_gt``)"""


@pytest.fixture(scope="session")
def synth_good(tmp_path_factory) -> SynthClip:
    """A suitable clip: 256x144, 2 s at 12 fps (24 frames), moving camera, moving objects."""
    from dynpose100k.synth import write_pool

    out = tmp_path_factory.mktemp("synth_good")
    (vid,) = write_pool(out, 1, kind="good", seed=0, height=144, width=256, duration=2.0)
    return SynthClip(out / f"{vid}.mp4", out / f"{vid}.gt.npz")


@pytest.fixture(scope="session")
def synth_pool(tmp_path_factory) -> Path:
    """A folder with a mixed pool of 10 clips (1 good, 9 failure kinds covering all of them), 160x96,
    1 s at 12 fps, plus ``labels.csv`` (video_id,kind,suitable)."""
    from dynpose100k.synth import write_pool

    out = tmp_path_factory.mktemp("synth_pool")
    write_pool(out, 10, kind="mixed", seed=0, height=96, width=160, duration=1.0)
    return out
