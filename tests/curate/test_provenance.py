"""Reruns with other decision settings: refused by default, reprocessed with ``reprocess``; config history."""

import json
import sqlite3
import subprocess
import sys

import pytest
from curate_fakes import fake_stages
from test_runner import _shard_keys, _status

from dynpose100k.curate import CurateConfig, SettingsChanged, curate
from dynpose100k.shards.reader import iter_raw, read_manifest


def _hashes(out):
    db = sqlite3.connect(out / "ledger.sqlite")
    return dict(db.execute("SELECT item_id, config_hash FROM items").fetchall())


def _run(pool, out, threshold, **kw):
    cfg = CurateConfig(out=out, workers=1, shard_size=2, filter_threshold=threshold, **kw)
    return curate(pool, cfg, stages=fake_stages(out, threshold=threshold), progress=False)


def test_rerun_with_other_threshold_refuses_then_reprocesses(make_pool, tmp_path):
    pool = make_pool(["good_a", "good_b", "mid_c", "mid_d", "static_e"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    first = _status(out)
    assert sorted(k for k, v in first.items() if v == "sharded") == ["good_a", "good_b", "mid_c", "mid_d"]
    h1 = set(_hashes(out).values())
    assert len(h1) == 1 and None not in h1
    hist = json.loads((out / "config.json").read_text())
    assert hist["config_hash"] in h1 and len(hist["runs"]) == 1
    assert sorted(hist["runs"][0]["items"]) == sorted(first) and hist["runs"][0]["settings"]["filter_threshold"] == 0.5

    # other threshold without --reprocess: one-line refusal naming the difference and the way out, nothing changed
    with pytest.raises(SettingsChanged, match=r"5 item\(s\).*filter_threshold 0.5 -> 0.7.*--reprocess") as e:
        _run(pool, out, 0.7)
    assert "\n" not in str(e.value)
    assert _status(out) == first and set(_hashes(out).values()) == h1
    assert len(json.loads((out / "config.json").read_text())["runs"]) == 1

    # with --reprocess: every item decided again under 0.7; the mid clips leave the dataset, nothing doubles
    s = _run(pool, out, 0.7, reprocess=True)
    st = _status(out)
    assert st == {"good_a": "sharded", "good_b": "sharded", "mid_c": "filtered_out", "mid_d": "filtered_out",
                  "static_e": "filtered_out"}
    assert sorted(_shard_keys(out / "dynpose-100k")) == ["good_a", "good_b"]
    assert s["funnel"]["in_shards"] == 2 and s["run"]["processed"] == 5
    h2 = set(_hashes(out).values())
    assert len(h2) == 1 and h2 != h1
    hist = json.loads((out / "config.json").read_text())
    assert [r["settings"]["filter_threshold"] for r in hist["runs"]] == [0.5, 0.7]
    assert sorted(hist["runs"][1]["items"]) == sorted(st) and hist["runs"][1]["finished"]
    assert hist["config"]["filter_threshold"] == 0.7 and hist["config_hash"] in h2

    # same settings again: nothing to do, no refusal
    assert _run(pool, out, 0.7)["run"]["processed"] == 0


def test_reprocess_restages_untouched_samples_of_a_withdrawn_shard(make_pool, tmp_path):
    """A shard holding one withdrawn clip and one clip not in the stale set keeps the latter."""
    pool = make_pool(["good_a", "mid_b"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    assert len(read_manifest(out / "dynpose-100k")) == 1  # both in one shard
    db = sqlite3.connect(out / "ledger.sqlite")  # pretend good_a was already decided under the new settings
    from dynpose100k.curate.runner import decision_settings, settings_hash

    h = settings_hash(decision_settings(CurateConfig(out=out, filter_threshold=0.7)))
    db.execute("UPDATE items SET config_hash=? WHERE item_id='good_a'", (h,))
    db.commit()
    s = _run(pool, out, 0.7, reprocess=True)
    assert s["run"]["processed"] == 1  # only mid_b
    assert _status(out) == {"good_a": "sharded", "mid_b": "filtered_out"}
    assert _shard_keys(out / "dynpose-100k") == ["good_a"]
    (e,) = read_manifest(out / "dynpose-100k")
    assert [r["__key__"] for r in iter_raw(out / "dynpose-100k" / e["shard"])] == ["good_a"]


def test_ledger_without_hashes_adopts_the_last_run(make_pool, tmp_path):
    pool = make_pool(["good_a", "static_b"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    db = sqlite3.connect(out / "ledger.sqlite")  # as written before hashes were recorded
    db.execute("UPDATE items SET config_hash=NULL")
    db.execute("UPDATE runs SET config_hash=NULL, settings=NULL")
    db.commit()
    assert _run(pool, out, 0.5)["run"]["processed"] == 0
    with pytest.raises(SettingsChanged, match="filter_threshold 0.5 -> 0.7"):
        _run(pool, out, 0.7)


def test_cli_refusal_is_one_line(make_pool, tmp_path):
    pool = make_pool(["good_a", "static_b"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    r = subprocess.run([sys.executable, "-m", "dynpose100k", "curate", str(pool), "--out", str(out),
                        "--filter-threshold", "0.7", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "--reprocess" in r.stderr and "filter_threshold 0.5 -> 0.7" in r.stderr


def test_items_decided_before_the_pose_check_are_not_taken_as_checked(make_pool, tmp_path):
    """A ledger written before the pose check existed (its recorded config has no ``pose_check``) was decided
    without it: a rerun with the check names the difference instead of counting those items as checked."""
    pool = make_pool(["good_a", "static_b"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    db = sqlite3.connect(out / "ledger.sqlite")
    config = json.loads(db.execute("SELECT config FROM runs").fetchone()[0])
    del config["pose_check"]
    db.execute("UPDATE runs SET config=?, config_hash=NULL, settings=NULL", (json.dumps(config),))
    db.execute("UPDATE items SET config_hash=NULL")
    db.commit()
    with pytest.raises(SettingsChanged, match=r"pose_check \[\] -> \['slowzoom', 'stabilised'\]"):
        _run(pool, out, 0.5)


def test_a_known_lens_and_a_denser_second_look_are_decision_settings_that_earlier_runs_lack(make_pool, tmp_path):
    """``hfov_deg`` and ``dense_fps`` decide poses, so a rerun that changes either is refused; runs that leave
    them off leave them out of their settings, so ledgers written before they existed keep their hash."""
    from dynpose100k.curate import decision_settings

    pool = make_pool(["good_a", "static_b"], broken=False)
    out = tmp_path / "out"
    _run(pool, out, 0.5)
    assert "hfov_deg" not in decision_settings(CurateConfig(out=out, filter_threshold=0.5))
    assert "dense_fps" not in decision_settings(CurateConfig(out=out, filter_threshold=0.5))  # the same for
    assert "dense_fps" not in decision_settings({"fps": 12.0, "filter_threshold": 0.5})  # the second look
    assert decision_settings(CurateConfig(out=out, filter_threshold=0.5, dense_fps=24.0))["dense_fps"] == 24.0
    assert decision_settings(CurateConfig(out=out, filter_threshold=0.5, hfov_deg=60.0))["hfov_deg"] == 60.0
    assert _run(pool, out, 0.5)["run"]["processed"] == 0
    with pytest.raises(SettingsChanged, match=r"hfov_deg None -> 60.0"):
        _run(pool, out, 0.5, hfov_deg=60.0)
    # and the way back: a run with a lens, then one without it, names what differs
    _run(pool, out, 0.5, hfov_deg=60.0, reprocess=True)
    with pytest.raises(SettingsChanged, match=r"hfov_deg 60.0 -> None"):
        _run(pool, out, 0.5)
    with pytest.raises(SettingsChanged, match=r"dense_fps None -> 24.0"):
        _run(pool, out, 0.5, hfov_deg=60.0, dense_fps=24.0)


def test_a_model_file_is_known_by_its_content_not_by_the_path_that_names_it(make_pool, tmp_path, monkeypatch):
    """A cluster job names the filter model or calibration of the first run by another path (absolute, from
    another folder): the same decisions, not refused (it asked for --reprocess). The file edited in place is
    other settings (it was the same path, so its items were kept as decided)."""
    import shutil

    from dynpose100k.filtering.decide import DEFAULT_MODEL

    pool = make_pool(["good_a", "static_b"], broken=False)
    out = tmp_path / "out"
    shutil.copy(DEFAULT_MODEL, tmp_path / "fm.json")
    (tmp_path / "own.json").write_text('{"a": 1}')
    monkeypatch.chdir(tmp_path)
    _run(pool, out, 0.5, filter_model="fm.json", confidence_model="own.json")
    h1 = set(_hashes(out).values())
    s = _run(pool, out, 0.5, filter_model=str(tmp_path / "fm.json"), confidence_model=str(tmp_path / "own.json"))
    assert s["run"]["processed"] == 0 and set(_hashes(out).values()) != h1  # the items take this run's hash
    db = sqlite3.connect(out / "ledger.sqlite")  # as a ledger of a build that took no digest of a calibration
    settings = json.loads(db.execute("SELECT settings FROM runs ORDER BY run DESC").fetchone()[0])
    del settings["confidence_model_sha256"]
    db.execute("UPDATE runs SET config_hash='before', settings=?", (json.dumps(settings),))
    db.execute("UPDATE items SET config_hash='before'")
    db.commit()
    assert _run(pool, out, 0.5, filter_model="fm.json", confidence_model="own.json")["run"]["processed"] == 0
    (tmp_path / "own.json").write_text('{"a": 2}')  # refitted in place
    with pytest.raises(SettingsChanged, match="confidence_model_sha256"):
        _run(pool, out, 0.5, filter_model="fm.json", confidence_model="own.json")
    (tmp_path / "own.json").write_text('{"a": 1}')
    model = json.loads((tmp_path / "fm.json").read_text())
    model["threshold"] = 0.5  # another model, the threshold given the same
    (tmp_path / "fm.json").write_text(json.dumps(model))
    with pytest.raises(SettingsChanged, match="filter_model_sha256"):
        _run(pool, out, 0.5, filter_model="fm.json", confidence_model="own.json")


def test_model_files_of_the_pose_engine_are_decision_settings_and_reach_workers_as_absolute_paths(tmp_path,
                                                                                                  monkeypatch, capsys):
    """A learned tracker's weights and a calibration of one's own decide poses: runs without them leave them
    out of their settings (older ledgers keep their hash), runs with them record them. The stages hand the
    workers absolute paths (a Ray worker starts in another folder), and a file that does not load stops the
    run on one line before any output exists."""
    from dynpose100k.cli import main
    from dynpose100k.curate import decision_settings
    from dynpose100k.curate.runner import default_stages

    out = tmp_path / "out"
    plain = decision_settings(CurateConfig(out=out, filter_threshold=0.5))
    assert "tracker_model" not in plain and "confidence_model" not in plain
    own = decision_settings(CurateConfig(out=out, filter_threshold=0.5, confidence_model="own.json"))
    assert own["confidence_model"] == "own.json" and own["confidence_model_sha256"] is None  # no such file here
    monkeypatch.chdir(tmp_path)
    stages = default_stages(CurateConfig(out=out, pose_preset="cotracker3-own-12fps", confidence_model="c.json"))
    assert stages.pose_config.tracker_model == str(tmp_path / "models" / "cotracker3" / "scaled_offline.pth")
    assert stages.pose_config.confidence_model == str(tmp_path / "c.json")
    assert default_stages(CurateConfig(out=out)).pose_config.tracker_model is None
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.mp4").write_bytes(b"")
    assert main(["curate", str(pool), "--out", str(out), "--pose-preset", "cotracker3-own-12fps",
                 "--tracker-model", str(tmp_path / "none.pth"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pth" in err[0] and not out.exists()
