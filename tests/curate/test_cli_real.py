"""The shipped stages (real filter, pose engine, shard writer) through the CLI on a few tiny clips."""

import json
import sqlite3
import subprocess
import sys

from dynpose100k.synth import write_pool


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dynpose100k", "curate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_real_stages_end_to_end(tmp_path):
    pool = tmp_path / "pool"
    write_pool(pool / "good", 2, "good", seed=0, height=96, width=160, duration=2.0)
    write_pool(pool / "static", 1, "static", seed=0, height=96, width=160, duration=2.0)
    (pool / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    out = tmp_path / "out"
    r = _cli(pool, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    st = dict(sqlite3.connect(out / "ledger.sqlite").execute("SELECT item_id, status FROM items"))
    assert len(st) == 4 and "pending" not in st.values()
    assert st["broken"] == "error"
    s = json.loads((out / "summary.json").read_text())
    assert s["funnel"]["pool"] == 4 and s["funnel"]["decoded"] == 3
    assert s["throughput"]["filter stage"]["clips"] == 3
    kept = [k for k, v in st.items() if v == "sharded"]
    if kept:  # what the real stages keep on 96-px clips may vary; whatever is kept must load
        from datasets import load_dataset

        ds = load_dataset(str(out / "dynpose-100k"), split="train", cache_dir=str(tmp_path / "hf"))
        assert sorted(m["video_id"] for m in ds["meta.json"]) == sorted(kept)
        # provenance: each sample carries the settings hash its ledger row and config.json record
        hashes = dict(sqlite3.connect(out / "ledger.sqlite").execute("SELECT item_id, config_hash FROM items"))
        current = json.loads((out / "config.json").read_text())["config_hash"]
        assert {m["curate_config_hash"] for m in ds["meta.json"]} == {current} == set(hashes.values())
    r2 = _cli(pool, "--out", out, "--no-progress")  # resume: nothing to redo
    assert r2.returncode == 0 and json.loads((out / "summary.json").read_text())["run"]["processed"] == 0


def test_cli_bad_input_is_one_line_error(tmp_path):
    r = _cli(tmp_path / "missing_dir", "--out", tmp_path / "out")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no videos found" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out").exists()  # no ledger left behind


def test_cli_pose_check_kinds_are_checked_before_any_work(tmp_path):
    pool = tmp_path / "pool"
    write_pool(pool, 1, "good", seed=0, height=96, width=160, duration=1.0)
    r = _cli(pool, "--out", tmp_path / "out", "--pose-check", "slowzoom,zooom")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "unknown kind(s) zooom" in r.stderr and not (tmp_path / "out" / "ledger.sqlite").exists()
