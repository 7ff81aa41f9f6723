import numpy as np
import pytest
from pose_fixtures import write_pose_dir

from builder import write_dataset
from builder.card import render_card
from builder.load import load, to_arrays
from dynpose100k.errors import ShardError
from dynpose100k.shards import QualityRule, ShardConfig, build_sample


@pytest.fixture
def dataset(tmp_path):
    samples = []
    for i in range(3):
        d, frames = write_pose_dir(tmp_path / "poses", f"vid_{i}", n=6 + i, seed=i, reproj_px_720p=0.8 + 0.3 * i)
        samples.append(build_sample(d, frames, {"filter_reasons": ["ok"], "source_url": f"https://x/{i}"}))
    out = tmp_path / "dynpose-100k"
    write_dataset(samples, out, ShardConfig(maxcount=2))
    return out, {s.key: s for s in samples}


def test_card_has_configs_features_and_stats(dataset):
    out, _ = dataset
    text = (out / "README.md").read_text()
    assert "path: data/train-*.tar" in text and "array3_d" in text and "{{" not in text
    assert "| 3 | 21 | 2 |" in text  # videos, frames, shards


def test_load_dataset_roundtrip_typed(dataset, offline):
    from datasets import load_dataset

    out, samples = dataset
    ds = load_dataset(str(out), split="train", **offline)
    assert len(ds) == 3
    row = ds[1]
    s = samples[row["__key__"]]
    assert row["frames.mp"][0].size == (160, 96)  # PIL (W, H)
    np.testing.assert_array_equal(np.asarray(row["w2c.npy"], np.float64), s.w2c)  # float64 kept
    np.testing.assert_array_equal(np.asarray(row["k.npy"], np.float64), s.K)
    npds = ds.with_format("numpy")
    r = npds[1]
    assert r["w2c.npy"].shape == s.w2c.shape and r["frames.mp"].shape == (len(s.w2c), 96, 160, 3)
    np.testing.assert_allclose(r["w2c.npy"], s.w2c, atol=1e-6)
    np.testing.assert_array_equal(r["track_obs.npy"], s.track_obs)
    masks = np.stack([s.mask(i) for i in range(len(s.w2c))])
    np.testing.assert_array_equal(np.asarray(r["masks.mp"]).astype(bool), masks)
    assert r["meta.json"]["filter_reasons"] == ["ok"]
    # the printed filter snippet works as written
    kept = eval(QualityRule(1.2, 0.8).snippet(), {"ds": ds, "QualityRule": QualityRule})
    assert sorted(kept["__key__"]) == ["vid_0", "vid_1"]


def test_streaming_and_bare_names(dataset, offline):
    out, samples = dataset
    st = load(out, streaming=True)
    rows = {r["__key__"]: r for r in st}
    assert set(rows) == set(samples)
    a = to_arrays(rows["vid_2"])
    np.testing.assert_array_equal(a["w2c"], samples["vid_2"].w2c)
    np.testing.assert_array_equal(a["timestamps"], samples["vid_2"].timestamps)
    assert a["frames"].shape == (8, 96, 160, 3)
    assert QualityRule(1.0)(rows["vid_0"]["meta"]) and not QualityRule(1.0)(rows["vid_1"]["meta"])


def test_load_by_name_from_parent_dir(dataset, offline, monkeypatch):
    out, samples = dataset
    monkeypatch.chdir(out.parent)
    ds = load("dynpose-100k", **offline)
    assert sorted(ds["__key__"]) == sorted(samples) and "K" in ds.column_names


def test_same_name_in_two_places_loads_each_own_data(dataset, offline, monkeypatch, tmp_path):
    """`datasets` keys its cache on the card: two `dynpose-100k` folders must not share an entry."""
    out, samples = dataset
    monkeypatch.chdir(out.parent)
    assert sorted(load("dynpose-100k", **offline)["__key__"]) == sorted(samples)
    other = tmp_path / "elsewhere"
    d, frames = write_pose_dir(other / "poses", "other_0", n=5, seed=7)
    write_dataset([build_sample(d, frames)], other / "dynpose-100k", ShardConfig(maxcount=2))
    monkeypatch.chdir(other)
    assert list(load("dynpose-100k", **offline)["__key__"]) == ["other_0"]


def test_load_refuses_dir_without_card(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ShardError, match="README.md"):
        load(tmp_path / "x")


def test_render_card_unknown_placeholder(dataset, tmp_path):
    out, _ = dataset
    t = tmp_path / "t.md"
    t.write_text("{{ nope }}")
    with pytest.raises(ShardError, match="nope"):
        render_card(out, template=t)


def test_few_shards_keep_the_schema_with_features(mixed_dataset, offline):
    """`data_files=[one tar]` bypasses the card: without the features, frames come back as bytes and poses
    as nested lists; with `builder.features()` the columns are the card's."""
    from datasets import Array3D, Image, List, load_dataset

    from builder import features

    tar = str(mixed_dataset / "data" / "train-000001.tar")  # vid_2, and vid_3 with a null reprojection error
    bare = load_dataset("webdataset", data_files=[tar], split="train", **offline)
    assert bare.features["frames.mp"] != List(Image()) and not isinstance(bare.features["w2c.npy"], Array3D)
    typed = load_dataset("webdataset", data_files=[tar], split="train", features=features(), **offline)
    assert typed.features == features()
    assert typed.features["frames.mp"] == List(Image()) and isinstance(typed.features["w2c.npy"], Array3D)
    row = {r["__key__"]: r for r in typed}["vid_3"]
    assert row["meta.json"]["reproj_error_px_720p"] is None and row["meta.json"]["caption"] is None
    assert row["frames.mp"][0].size == (160, 96)
    good = typed.filter(QualityRule(max_reproj_px=2.0), input_columns="meta.json")  # None fails, no crash
    assert list(good["__key__"]) == ["vid_2"]
