"""The fine-tuning recipe's data step: a curated dataset folder -> ``dynpose100k split`` -> train/ and val/
dataset folders that the fine-tuning code reads as ``train_shards`` / ``val_shards``."""

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from dynpose100k.cli import main  # noqa: E402
from dynpose100k.dust3r.data import record_from_synth, shard_sample_from_record  # noqa: E402
from dynpose100k.dust3r.training import TrainConfig, train  # noqa: E402
from dynpose100k.shards import ShardConfig, iter_samples, read_manifest, write_shards  # noqa: E402
from dynpose100k.shards.subset import split_dataset, split_order  # noqa: E402

N = 7


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    from dynpose100k.synth import render

    base = shard_sample_from_record(record_from_synth(render("good", 3, height=64, width=96, duration=1.0)))
    samples = [dataclasses.replace(base, key=f"clip_{i:02d}", meta={**base.meta, "video_id": f"clip_{i:02d}"})
               for i in range(N)]
    out = tmp_path_factory.mktemp("curated") / "dynpose-100k"
    write_shards(samples, out, ShardConfig(maxcount=3))
    return out


def _keys(folder):
    return [s["key"] for e in read_manifest(folder) for s in e["samples"]]


def test_split_cli_writes_disjoint_train_and_val(curated, tmp_path, capsys):
    dst = tmp_path / "ft"
    assert main(["split", str(curated), str(dst), "--val-fraction", "0.3", "--maxcount", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{dst / 'train'}: 5 videos" in out and f"{dst / 'val'}: 2 videos" in out
    train_keys, val_keys = _keys(dst / "train"), _keys(dst / "val")
    assert len(train_keys) == 5 and len(val_keys) == 2 and not set(train_keys) & set(val_keys)
    assert set(train_keys) | set(val_keys) == set(_keys(curated))
    assert set(val_keys) == set(split_order(_keys(curated))[:2])
    assert (dst / "train" / "README.md").is_file() and (dst / "val" / "README.md").is_file()
    # copied byte for byte: the samples decode to the same arrays
    s = next(iter_samples(dst / "val"))
    assert s.w2c.shape[1:] == (4, 4) and len(s.frames) == s.w2c.shape[0]
    # nothing overwritten: a second run into the same folder is a one-line error
    assert main(["split", str(curated), str(dst)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    # no validation set: none written, none offered to the configs
    assert main(["split", str(curated), str(tmp_path / "all"), "--val-fraction", "0"]) == 0
    out = capsys.readouterr().out
    assert "no val_shards" in out and "val:" not in out and not (tmp_path / "all" / "val").exists()
    assert len(_keys(tmp_path / "all" / "train")) == 7


def test_split_is_deterministic_and_bounded(curated, tmp_path):
    a = split_dataset(curated, tmp_path / "a", val_fraction=0.2, max_videos=5, seed=1)
    b = split_dataset(curated, tmp_path / "b", val_fraction=0.2, max_videos=5, seed=1)
    assert (a.train.kept, a.val.kept, a.train.total) == (4, 1, N)
    assert _keys(a.val.out_dir) == _keys(b.val.out_dir) and _keys(a.train.out_dir) == _keys(b.train.out_dir)
    assert set(_keys(a.train.out_dir)) | set(_keys(a.val.out_dir)) == set(split_order(_keys(curated), seed=1)[:5])
    assert split_order(_keys(curated), seed=1) != split_order(_keys(curated), seed=2)
    # a video's side depends on its key and the seed only, not on the other videos present
    order = split_order(_keys(curated), seed=1)
    assert split_order(order[::-1], seed=1) == order and split_order(order[:3], seed=1) == order[:3]
    with pytest.raises(Exception, match="none for training"):
        split_dataset(curated, tmp_path / "d", val_fraction=0.5, max_videos=1)


def test_split_feeds_the_finetuning_config(curated, tmp_path):
    """A short fine-tune reads the split exactly as train/configs/finetune_dynpose_512_dpt.yaml does
    (data_source: shards, train_shards: <dst>/train, val_shards: <dst>/val) and writes a checkpoint."""
    r = split_dataset(curated, tmp_path / "ft", val_fraction=0.3)
    cfg = TrainConfig(preset="tiny_linear", data_source="shards", train_shards=str(r.train.out_dir),
                      val_shards=str(r.val.out_dir), size=(48, 64), pairs_per_epoch=4, pairs_per_video=2,
                      batch_size=2, warmup_steps=1, max_steps=1, eval_every=1, eval_pairs=2, save_every=1,
                      log_every=1, output_dir=str(tmp_path / "run"), mixed_precision="no")
    out = train(cfg)
    assert out["step"] == 1 and "val_loss" in out and (tmp_path / "run" / "checkpoint-last.pth").is_file()
