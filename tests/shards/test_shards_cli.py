import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from pose_fixtures import write_pose_dir

from dynpose100k.cli import main
from dynpose100k.errors import ShardError
from dynpose100k.shards import iter_samples, read_manifest
from dynpose100k.shards.reader import iter_raw
from dynpose100k.video import write_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    videos = tmp_path / "videos"
    videos.mkdir()
    for i, (err, pin) in enumerate([(0.7, 2.0), (1.1, 1.5), (1.5, 1.05), (2.5, None)]):
        _, frames = write_pose_dir(tmp_path / "poses", f"v{i}", n=6, seed=i, reproj_px_720p=err,
                                   registered_fraction=1.0 if i != 1 else 0.5, focal_pin=pin)
        write_video(videos / f"v{i}.mp4", np.concatenate([np.zeros((12, 96, 160, 3), np.uint8), frames]), 12.0)
    # a failed pose result is recorded, not fatal
    bad = tmp_path / "poses" / "broken"
    bad.mkdir()
    (bad / "poses.npz").write_bytes(b"not an npz")
    (bad / "result.json").write_text('{"video_id": "broken"}')
    (tmp_path / "meta.jsonl").write_text(json.dumps({"video_id": "v0", "caption": "a cat", "filter_score": 0.9}) + "\n")
    out = tmp_path / "ds"
    assert main(["shard", str(tmp_path / "poses"), "--videos", str(videos), "--out", str(out),
                 "--meta", str(tmp_path / "meta.jsonl"), "--frame-short-side", "48", "--maxcount", "2"]) == 0
    return out


def test_shard_cli_writes_dataset(dataset, capsys):
    man = read_manifest(dataset)
    assert [e["num_samples"] for e in man] == [2, 2]
    s = {x.key: x for x in iter_samples(dataset)}
    assert s["v0"].meta["caption"] == "a cat" and s["v0"].rgb(0).shape == (48, 80, 3)
    assert main(["inspect", str(dataset), "--deep"]) == 0
    out = capsys.readouterr().out
    assert "4 videos, 24 frames, 2 shard(s)" in out and "frames.mp (4)" in out


def test_subset_cli(dataset, tmp_path, capsys):
    dst = tmp_path / "hq"
    assert main(["subset", str(dataset), str(dst), "--min-confidence", "off", "--max-reproj-px", "1.2",
                 "--min-registered", "0.8"]) == 0
    assert "kept 1 of 4" in capsys.readouterr().out
    assert [x.key for x in iter_samples(dst)] == ["v0"] and (dst / "README.md").is_file()
    # nothing overwritten
    assert main(["subset", str(dataset), str(dst), "--min-registered", "0.1"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["subset", str(dataset), str(tmp_path / "x"), "--min-confidence", "high"]) == 2  # usage error
    assert "expected a number in [0, 1] or 'off'" in capsys.readouterr().err


def test_subset_by_focal_pin(dataset, tmp_path, capsys):
    """The shards carry each map's focal_pin; a subset for uses that need the intrinsics keeps the maps whose
    focal the tracks pin down (a video without the figure fails the threshold)."""
    assert {x.key: x.meta["focal_pin"] for x in iter_samples(dataset)} == {"v0": 2.0, "v1": 1.5, "v2": 1.05,
                                                                           "v3": None}
    dst = tmp_path / "k"
    assert main(["subset", str(dataset), str(dst), "--min-confidence", "off", "--min-focal-pin", "1.3"]) == 0
    assert "kept 2 of 4" in capsys.readouterr().out
    assert [x.key for x in iter_samples(dst)] == ["v0", "v1"]
    assert "focal_pin >= 1.3" in (dst / "README.md").read_text()
    assert main(["subset", str(dataset), str(tmp_path / "y"), "--min-focal-pin", "0.5"]) == 1
    assert "min_focal_pin must be at least 1" in capsys.readouterr().err


def _tar(path, members):
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def test_bad_inputs_name_the_file(dataset, tmp_path, capsys):
    shutil.copytree(dataset, tmp_path / "copy")
    dataset = tmp_path / "copy"
    shard = dataset / "data" / "train-000000.tar"
    # truncated shard
    trunc = tmp_path / "trunc.tar"
    trunc.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(ShardError, match="trunc.tar"):
        list(iter_raw(trunc))
    # foreign file / foreign tar
    foreign = tmp_path / "foreign.tar"
    foreign.write_bytes(b"hello" * 300)
    with pytest.raises(ShardError, match="foreign.tar.*not a readable tar"):
        list(iter_raw(foreign))
    other = tmp_path / "other.tar"
    _tar(other, [("img001.jpg", b"x"), ("img001.txt", b"y")])
    with pytest.raises(ShardError, match="other.tar.*missing field"):
        list(iter_samples(other))
    # a sample missing a field
    raws = list(iter_raw(shard))
    miss = tmp_path / "miss.tar"
    _tar(miss, [(f"{raws[0]['__key__']}.{k}", v) for k, v in raws[0].items() if k not in ("__key__", "k.npy")])
    with pytest.raises(ShardError, match=r"miss.tar.*'k.npy'"):
        list(iter_samples(miss))
    # path traversal member name: refused, nothing written outside
    evil = tmp_path / "evil.tar"
    _tar(evil, [("../../escaped.json", b"{}")])
    with pytest.raises(ShardError, match="evil.tar.*unsafe member name"):
        list(iter_raw(evil))
    assert not (tmp_path.parent / "escaped.json").exists()
    # a symlink member
    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tf:
        ti = tarfile.TarInfo("a.meta.json")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(ti)
    with pytest.raises(ShardError, match="not a regular file"):
        list(iter_raw(link))
    # the CLI prints one line, no traceback
    assert main(["inspect", str(trunc)]) == 1
    err = capsys.readouterr().err
    assert "trunc.tar" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # a modified shard is caught by the manifest checksum
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["inspect", str(dataset), "--deep"]) == 1
    assert "sha256" in capsys.readouterr().err
    # a truncated shard is caught by its size, without --deep
    shard.write_bytes(shard.read_bytes()[:-512])
    assert main(["inspect", str(dataset)]) == 1
    assert "train-000000.tar" in (err := capsys.readouterr().err) and "truncated or modified" in err


def test_subset_default_is_the_confidence_calibration_cut():
    from dynpose100k.commands.subset import DEFAULT_MIN_CONFIDENCE
    from dynpose100k.pose.confidence import TRUSTED

    assert DEFAULT_MIN_CONFIDENCE == TRUSTED  # one cut for subset and the curator's pose check


def test_inspect_summarises_the_confidence_and_counts_the_trusted_videos(tmp_path, capsys):
    """``inspect``: the confidence (the default rule of ``subset``), how many videos it trusts, and the focal's
    pin, from the manifest and, with ``--deep``, from every sample; a video without a confidence (an imported
    release clip) is left out of those figures."""
    from dynpose100k.shards.summary import summarize

    for i, (c, pin) in enumerate([(0.9, 2.5), (0.2, 1.02), (0.6, None), (None, None)]):
        write_pose_dir(tmp_path / "poses", f"v{i}", n=6, seed=i, confidence=c, focal_pin=pin)
    ds = tmp_path / "ds"
    assert main(["shard", str(tmp_path / "poses"), "--out", str(ds)]) == 0
    for deep in (False, True):
        s = summarize(ds, deep=deep)
        assert s["videos"] == 4 and s["trusted"] == 2
        assert (s["confidence"]["n"], s["confidence"]["min"], s["confidence"]["max"]) == (3, 0.2, 0.9)
        assert (s["focal_pin"]["n"], s["focal_pin"]["median"]) == (2, (2.5 + 1.02) / 2)
    capsys.readouterr()
    assert main(["inspect", str(ds)]) == 0
    assert "trusted (confidence >= 0.5, the default rule of `subset`): 2 of 3 videos" in capsys.readouterr().out


def test_shard_finds_each_video_by_content_and_counts_a_rerun(tmp_path, capsys):
    import dataclasses

    from pose_fixtures import fixture_pose_result

    from dynpose100k.pose.result import save_pose_result
    from dynpose100k.video import source_of

    videos, poses = tmp_path / "videos", tmp_path / "poses"
    (videos / "sub").mkdir(parents=True)
    _, frames = write_pose_dir(tmp_path / "scratch", "x", n=6)
    frames = np.concatenate([np.zeros((12, *frames.shape[1:]), np.uint8), frames])  # the fixture's times start at 1 s
    named = videos / "sub" / "my.clip v2.mp4"  # pose's id for it is my_clip_v2: no file of that name
    write_video(named, frames, 12.0)
    other = videos / "plain.mp4"
    write_video(other, 255 - frames, 12.0)
    for vid, src in (("my_clip_v2", named), ("plain", other)):
        res = fixture_pose_result(vid, n=6)
        save_pose_result(poses, dataclasses.replace(res, source=source_of(src)))
    out = tmp_path / "ds"
    assert main(["shard", str(poses), "--videos", str(videos), "--out", str(out)]) == 0
    assert "wrote 2 video(s)" in capsys.readouterr().out
    got = {x.key: x for x in iter_samples(out)}
    assert sorted(got) == ["my_clip_v2", "plain"]
    for key, first in (("my_clip_v2", frames[12]), ("plain", 255 - frames[12])):  # each with its own frames
        assert abs(float(got[key].rgb(0).mean()) - float(first.mean())) < 8
    # nothing new: every video present, exit 0
    assert main(["shard", str(poses), "--videos", str(videos), "--out", str(out)]) == 0
    assert "wrote 0 video(s) in 0 new shard(s); 2 already present; 0 failed" in capsys.readouterr().out

    # a clip of the result's id but not its content is refused, with the path it was posed from
    (videos / "plain.mp4").write_bytes(named.read_bytes() + b"\0")
    assert main(["shard", str(poses), "--videos", str(videos), "--out", str(tmp_path / "ds2")]) == 0
    out_text = capsys.readouterr().out
    assert "wrote 1 video(s)" in out_text and "failed plain: " in out_text
    assert "not the video plain was posed" in out_text
    # view and export check the video they are given the same way
    for args in (["view", str(videos / "plain.mp4"), "--poses", str(poses / "plain"), "--out", str(tmp_path / "v.png")],
                 ["export", str(poses / "plain"), "--video", str(videos / "plain.mp4"), "--format", "colmap",
                  "--out", str(tmp_path / "colmap")]):
        assert main(args) == 1
        assert "not the video plain was posed from" in capsys.readouterr().err
    # --videos that is not a folder of clips fails before any work
    for bad, why in ((tmp_path / "nope", "no such folder"), (poses, "no videos or frames folders")):
        assert main(["shard", str(poses), "--videos", str(bad), "--out", str(tmp_path / "ds3")]) == 1
        assert why in capsys.readouterr().err
    assert not (tmp_path / "ds3").exists()


def test_subset_needs_a_dataset_folder_and_writes_no_empty_dataset(dataset, tmp_path, capsys):
    for src in (dataset / "manifest.jsonl", dataset / "data" / "train-000000.tar"):
        assert main(["subset", str(src), str(tmp_path / "s")]) == 1
        assert "not a dataset directory" in capsys.readouterr().err
    assert main(["subset", str(dataset), str(tmp_path / "s"), "--min-confidence", "1.0"]) == 1
    assert "none of its 4 videos passes confidence >= 1; nothing written" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_errors_name_the_option_or_folder_at_fault(dataset, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["subset", str(dataset), str(a_file)]) == 1
    assert f"the destination {a_file}: is a file" in capsys.readouterr().err
    assert main(["view", str(dataset), "--out", str(tmp_path / "v.png"), "--rrd", str(tmp_path)]) == 1
    assert f"--rrd {tmp_path}: is a folder" in capsys.readouterr().err
    assert main(["push", str(tmp_path / "nope"), "--repo", "a/b", "--dry-run"]) == 1
    assert "nope: no such dataset folder" in capsys.readouterr().err
