import errno
import json
import sqlite3
from pathlib import Path

import pytest
from curate_fakes import fake_stages

from dynpose100k.curate import CurateConfig, CurateError, LocalEngine, curate, format_summary
from dynpose100k.shards.reader import iter_raw, read_manifest


def _shard_keys(ds_dir):
    keys = []
    for e in read_manifest(ds_dir):
        keys += [raw["__key__"] for raw in iter_raw(ds_dir / e["shard"])]
    return keys


def _status(out):
    db = sqlite3.connect(out / "ledger.sqlite")
    return dict(db.execute("SELECT item_id, status FROM items").fetchall())


def test_mixed_pool_with_broken_files(make_pool, tmp_path, monkeypatch):
    pool = make_pool(["good_a", "good_b", "static_c", "lowreg_d", "posefail_e"])
    out = tmp_path / "out"
    cfg = CurateConfig(out=out, workers=2, shard_size=1)
    s = curate(pool, cfg, stages=fake_stages(out), progress=False)
    st = _status(out)
    assert st == {"good_a": "sharded", "good_b": "sharded", "static_c": "filtered_out",
                  "lowreg_d": "rejected_registration", "posefail_e": "pose_failed",
                  "truncated": "error", "corrupt": "error", "notavideo": "error"}
    assert sorted(_shard_keys(out / "dynpose-100k")) == ["good_a", "good_b"]
    assert s["funnel"] == {"pool": 8, "decoded": 5, "passed_filter": 4, "pose_checked": 0, "rescued": 0, "posed": 3,
                           "kept": 2, "in_shards": 2}
    assert s["rejections"] == {"error: decode": 3, "filtered out": 1, "pose failed: too few static tracks": 1,
                               "registered < 80%": 1}  # clips, each once: they add up to the pool minus kept
    assert sum(s["rejections"].values()) == s["funnel"]["pool"] - s["funnel"]["kept"]
    assert s["filter_reasons"] == {"low_score": 1, "static camera": 1}  # static_c cites both
    text = format_summary(s)
    assert "      1  filtered out\n" in text and "low_score 1, static camera 1" in text
    assert json.loads((out / "summary.json").read_text())["funnel"]["kept"] == 2
    assert (out / "dynpose-100k" / "README.md").exists() and not list((out / "staging").glob("*.tar"))
    db = sqlite3.connect(out / "ledger.sqlite")
    reason = db.execute("SELECT reason FROM items WHERE item_id='notavideo'").fetchone()[0]
    assert reason.startswith("decode:") and "notavideo.mp4" in reason
    from datasets import load_dataset

    monkeypatch.chdir(out)  # the dataset folder name resolves locally, as in the README
    ds = load_dataset("dynpose-100k", split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(m["video_id"] for m in ds["meta.json"]) == ["good_a", "good_b"]

    # second run: nothing redone; --retry-failed only reprocesses failures
    s2 = curate(pool, cfg, stages=fake_stages(out), progress=False)
    assert s2["run"]["processed"] == 0 and s2["funnel"] == s["funnel"]
    s3 = curate(pool, CurateConfig(out=out, workers=1, retry_failed=True), stages=fake_stages(out), progress=False)
    assert s3["run"]["processed"] == 4  # 3 broken files + the pose failure
    assert sorted(_shard_keys(out / "dynpose-100k")) == ["good_a", "good_b"]


def test_worker_death_fails_only_its_item(make_pool, tmp_path):
    pool = make_pool(["good_a", "crash_b", "good_c", "static_d"], broken=False)
    out = tmp_path / "out"
    curate(pool, CurateConfig(out=out, workers=2), stages=fake_stages(out), progress=False)
    st = _status(out)
    assert st == {"good_a": "sharded", "crash_b": "error", "good_c": "sharded", "static_d": "filtered_out"}
    reason = sqlite3.connect(out / "ledger.sqlite").execute(
        "SELECT reason FROM items WHERE item_id='crash_b'").fetchone()[0]
    assert "died (exit code 3)" in reason


def test_item_timeout_kills_worker(make_pool, tmp_path):
    pool = make_pool(["static_a", "static_b"], broken=False)
    out = tmp_path / "out"
    engine = LocalEngine(workers=1, item_timeout=0.5)
    curate(pool, CurateConfig(out=out), stages=fake_stages(out, delay=30), engine=engine, progress=False)
    assert set(_status(out).values()) == {"error"}


def test_disk_full_keeps_ledger_consistent(make_pool, tmp_path, monkeypatch):
    import tarfile

    pool = make_pool(["good_a", "good_b", "good_c", "good_d", "good_e", "static_f"], broken=False)
    out = tmp_path / "out"
    real_addfile = tarfile.TarFile.addfile

    def full_at_good_d(self, tarinfo, fileobj=None):  # the parent's shard writes; workers are other processes
        if tarinfo.name.startswith("good_d."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_addfile(self, tarinfo, fileobj)

    monkeypatch.setattr(tarfile.TarFile, "addfile", full_at_good_d)
    cfg = CurateConfig(out=out, workers=1, shard_size=2)
    with pytest.raises(CurateError, match="disk full"):
        curate(pool, cfg, stages=fake_stages(out), progress=False)
    ds = out / "dynpose-100k"
    assert sorted(_shard_keys(ds)) == ["good_a", "good_b"]  # shard 2 (good_c + good_d) was not published
    assert not [p for p in (ds / "data").iterdir() if p.name.startswith(".")]  # and its partial file is gone
    st = _status(out)
    assert (st["good_a"], st["good_b"], st["good_c"], st["good_d"]) == ("sharded", "sharded", "kept", "kept")

    monkeypatch.setattr(tarfile.TarFile, "addfile", real_addfile)
    curate(pool, cfg, stages=fake_stages(out), progress=False)
    good = ["good_a", "good_b", "good_c", "good_d", "good_e"]
    assert sorted(_shard_keys(ds)) == good
    assert sorted(k for k, v in _status(out).items() if v == "sharded") == good


def test_pose_check_keeps_the_rejections_the_pose_engine_vouches_for(make_pool, tmp_path):
    """A rejection that looks like a slow zoom is posed: kept at confidence >= 0.5 (its sample's meta saying
    so), still filtered out below it; other rejections and the run without the check are unchanged."""
    pool = make_pool(["good_a", "walk_b", "zoom_c", "static_d"], broken=False)
    out = tmp_path / "off"
    s = curate(pool, CurateConfig(out=out, workers=1, shard_size=1), stages=fake_stages(out), progress=False)
    assert _status(out) == {"good_a": "sharded", "walk_b": "filtered_out", "zoom_c": "filtered_out",
                            "static_d": "filtered_out"}
    assert s["funnel"]["pose_checked"] == 0 and "pose check" not in s["throughput"]

    out = tmp_path / "on"
    s = curate(pool, CurateConfig(out=out, workers=1, shard_size=1), progress=False,
               stages=fake_stages(out, pose_check=("slowzoom", "stabilised")))
    assert _status(out) == {"good_a": "sharded", "walk_b": "sharded", "zoom_c": "filtered_out",
                            "static_d": "filtered_out"}
    f = s["funnel"]
    assert (f["passed_filter"], f["pose_checked"], f["rescued"], f["posed"], f["kept"]) == (1, 2, 1, 2, 2)
    assert s["throughput"]["pose check"]["clips"] == 2 and s["throughput"]["pose stage"]["clips"] == 1
    assert "pose-checked" in format_summary(s)
    db = sqlite3.connect(out / "ledger.sqlite")
    reason = db.execute("SELECT reason FROM items WHERE item_id='zoom_c'").fetchone()[0]
    assert reason == "low_score: 0.3 < 0.5; pose check: confidence 0.10 < 0.5 (capped by focal_change)"
    why = json.loads(db.execute("SELECT filter_reasons FROM items WHERE item_id='walk_b'").fetchone()[0])
    assert why == ["low_score: 0.3 < 0.5", "pose_check: kept at confidence 0.90"]
    meta = {json.loads(r["meta.json"])["video_id"]: json.loads(r["meta.json"])
            for e in read_manifest(out / "dynpose-100k") for r in iter_raw(out / "dynpose-100k" / e["shard"])}
    assert meta["walk_b"]["filter_reasons"] == ["low_score: 0.3 < 0.5", "pose_check: kept at confidence 0.90"]
    assert meta["good_a"]["filter_reasons"] == []


def test_read_items_finds_pose_results_from_any_directory(make_pool, tmp_path, monkeypatch):
    """A run given a relative --out records relative pose folders; reading the ledger from elsewhere, or after
    the output folder moved, still finds them."""
    from dynpose100k.curate import read_items

    pool = make_pool(["good_a"], broken=False)
    monkeypatch.chdir(tmp_path)
    curate(pool, CurateConfig(out=Path("out"), workers=1), stages=fake_stages(Path("out")), progress=False)
    (tmp_path / "out").rename(tmp_path / "moved")
    monkeypatch.chdir(pool)
    rows = read_items(CurateConfig(out=tmp_path / "moved"))
    assert (Path(rows["good_a"]["pose_dir"]) / "result.json").is_file()


def test_stages_write_into_the_output_folder_whatever_the_workers_directory(tmp_path, monkeypatch):
    """A relative --out becomes absolute before the stages are built: a worker that runs from another
    directory (a Ray task on another node) writes its poses and staged samples where the run reads them."""
    from dynpose100k.curate import default_stages

    monkeypatch.chdir(tmp_path)
    stages = default_stages(CurateConfig(out=Path("rel_out"), workers=1))
    for folder in (stages.pose_root, stages.staging_dir):
        assert Path(folder).is_absolute()
        assert Path(folder).is_relative_to(tmp_path / "rel_out")


def test_a_csv_window_that_moved_under_its_id_refuses_the_run(make_pool, tmp_path):
    """Clip windows of a CSV (as ``dynpose100k shots`` writes them) cut again with other lengths keep their ids
    (``<video>_<n>``): a decided item would be taken as done for a window it never saw, so the run stops and
    names both windows; the same windows again are no conflict."""
    pool = make_pool(["good_a"], broken=False)
    csv = tmp_path / "clips.csv"

    def windows(*spans):
        rows = repr([[f"0:00:{a:06.3f}", f"0:00:{b:06.3f}"] for a, b in spans])
        csv.write_text(f'videoID,url,timestamp,caption\ngood_a,{pool.name}/good_a.mp4,"{rows}",\n')

    out = tmp_path / "out"
    windows((0.0, 0.5))
    curate(csv, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    windows((0.0, 0.8))
    with pytest.raises(CurateError, match=r"another video or window.*good_a_0: .*good_a.mp4 \[0.00-0.80 s\], but "
                                          r".*good_a.mp4 \[0.00-0.50 s\] was curated"):
        curate(csv, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    windows((0.0, 0.5))
    s = curate(csv, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    assert s["funnel"]["pool"] == 1 and s["run"]["processed"] == 0


def test_a_clip_with_the_id_of_another_curated_video_refuses_the_run(make_pool, tmp_path):
    """A second pool curated into the same folder, holding ``good_a.mp4`` of other content: its item would be
    taken as done, so the run stops before any work and names both files; the same clip moved is no conflict."""
    from curate_fakes import tiny_video

    pool = make_pool(["good_a", "good_b"], broken=False)
    out = tmp_path / "out"
    curate(pool, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    other = tmp_path / "other"
    other.mkdir()
    tiny_video(other / "good_a.mp4", seed=7, n=17)  # another video, another size
    before = (out / "ledger.sqlite").read_bytes()
    with pytest.raises(CurateError, match=r"1 input clip\(s\) have the id of another video.*good_a"):
        curate(other, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    assert (out / "ledger.sqlite").read_bytes() == before  # nothing recorded
    data = bytearray((pool / "good_a.mp4").read_bytes())
    data[-1] ^= 0xFF  # the same size, other content
    (other / "good_a.mp4").write_bytes(bytes(data))
    with pytest.raises(CurateError, match=r"1 input clip\(s\) have the id of another video.*good_a"):
        curate(other, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    moved = tmp_path / "moved"
    pool.rename(moved)
    s = curate(moved, CurateConfig(out=out, workers=1), stages=fake_stages(out), progress=False)
    assert s["funnel"]["pool"] == 2 and s["run"]["processed"] == 0  # both already decided
