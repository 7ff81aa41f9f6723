from pathlib import Path

import numpy as np
import pytest

from dynpose100k.video import write_video


def tiny_video(path: Path, n: int = 12, seed: int = 0, fps: float = 12.0) -> Path:
    """A 160x96 clip of a texture sliding sideways."""
    rng = np.random.default_rng(seed)
    tex = (rng.random((96, 400, 3)) * 255).astype(np.uint8)
    write_video(path, np.stack([tex[:, 4 * i: 4 * i + 160] for i in range(n)]), fps)
    return path


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
