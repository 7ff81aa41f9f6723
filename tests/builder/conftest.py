import pytest


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No Hub access, and a private ``datasets`` cache (also for calls made without ``cache_dir``)."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    return {"cache_dir": str(tmp_path / "hf_cache")}


@pytest.fixture
def mixed_dataset(tmp_path):
    """A dataset folder with 3 posed clips (reprojection 0.8 / 1.1 / 1.4 px, confidence 0.9 / 0.7 / 0.6, the
    third half registered) and one clip as the official-release importer writes it (no reprojection error, no
    confidence); 2 videos per shard."""
    from pose_fixtures import write_pose_dir

    from builder import write_dataset
    from dynpose100k.shards import ShardConfig, build_sample

    samples = []
    for i in range(4):
        d, frames = write_pose_dir(tmp_path / "poses", f"vid_{i}", n=6, seed=i, reproj_px_720p=0.8 + 0.3 * i,
                                   registered_fraction=0.5 if i == 2 else 1.0,
                                   confidence=(0.9, 0.7, 0.6, None)[i])
        meta = {"reproj_error_px_720p": None, "reproj_error_px": None, "preset": "official-release"} if i == 3 else {}
        samples.append(build_sample(d, frames, meta))
    out = tmp_path / "dynpose-100k"
    write_dataset(samples, out, ShardConfig(maxcount=2))
    return out
