from pathlib import Path

import numpy as np
import pytest
from curate_fakes import tiny_video


@pytest.fixture
def make_pool(tmp_path):
    """Folder with tiny videos named by behaviour, plus broken files and non-video files that are ignored."""

    def make(names, broken=True) -> Path:
        pool = tmp_path / "pool"
        pool.mkdir(exist_ok=True)
        for i, name in enumerate(names):
            tiny_video(pool / f"{name}.mp4", seed=i)
        if broken:
            good = (pool / f"{names[0]}.mp4").read_bytes()
            (pool / "truncated.mp4").write_bytes(good[: len(good) // 3])
            (pool / "corrupt.mp4").write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8)))
            (pool / "notavideo.mp4").write_text("this is a text file\n")
            (pool / "labels.csv").write_text("video_id,suitable\n")  # not a video: ignored
        return pool

    return make
