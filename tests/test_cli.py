import json
import os
import subprocess
import sys

import pytest

from dynpose100k.cli import VERBS, build_parser


def test_help_lists_every_verb_with_examples():
    text = build_parser().format_help()
    for verb in VERBS:
        assert verb in text
    assert "examples:" in text


def test_unknown_verb_fails_cleanly():
    r = subprocess.run([sys.executable, "-m", "dynpose100k", "nosuchverb"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr


def test_missing_optional_extra_is_a_one_line_user_error():
    import pytest

    from dynpose100k.errors import DynPoseError
    from dynpose100k.models import require

    with pytest.raises(DynPoseError, match=r"pip install 'dynpose100k\[viz\]'") as e:
        require("no_such_module_for_this_test", "viz")
    assert isinstance(e.value, ImportError) and "\n" not in str(e.value)


# -- one line on stderr and a non-zero exit for the expected failures, checked on the real entry point --

def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "dynpose100k", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kw)


def _one_line(r, *needles):
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def test_empty_folder_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for verb in ("pose", "filter"):
        r = _cli(verb, empty, "--out", tmp_path / f"{verb}.out")
        _one_line(r, f"no videos found in {empty}: looked for videos (.mp4 ")
        assert ".mts" in r.stderr and ".jpg" in r.stderr  # says what it looked for


def test_missing_path_is_an_error(tmp_path):
    r = _cli("pose", tmp_path / "missing.mp4", "--out", tmp_path / "poses")
    _one_line(r, "missing.mp4")


def test_existing_file_or_folder_as_out_fails_before_any_work(tmp_path):
    from dynpose100k.synth import write_pool

    write_pool(tmp_path / "pool", 1, "good", seed=0, height=64, width=96, duration=1.0)
    clip = next((tmp_path / "pool").glob("*.mp4"))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line(_cli("pose", clip, empty, "--out", tmp_path / "p"), f"no videos found in {empty}")  # not skipped
    assert not (tmp_path / "p").exists()  # refused before posing the clip
    _one_line(_cli("pose", clip, "--out", a_file), f"--out {a_file}: is a file")
    _one_line(_cli("pose", clip, "--out", a_file / "sub"), f"{a_file} is a file")
    _one_line(_cli("synth", "--out", a_file, "--num", "1"), "is a file")
    _one_line(_cli("curate", tmp_path / "pool", "--out", a_file, "--no-progress"), "is a file")
    _one_line(_cli("filter", clip, "--out", tmp_path), f"--out {tmp_path}: is a folder")
    before = clip.read_bytes()
    _one_line(_cli("filter", clip, "--out", clip), "is one of the inputs")  # the video is not overwritten
    assert clip.read_bytes() == before
    _one_line(_cli("view", tmp_path / "pool", "--out", tmp_path), "is a folder")


def _closed_stdout(*args):
    """Run the CLI with its standard output closed by the reader before anything is written."""
    p = subprocess.Popen([sys.executable, "-m", "dynpose100k", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read()
    return p.wait(timeout=120), err


def test_pose_rerun_reports_skipped_and_closed_pipe_is_one_line(tmp_path):
    from dynpose100k.cli import EXIT_BROKEN_PIPE
    from dynpose100k.synth import write_pool

    write_pool(tmp_path / "pool", 1, "good", seed=0, height=64, width=96, duration=1.0)
    out = tmp_path / "poses"
    r = _cli("pose", tmp_path / "pool", "--out", out)
    assert r.returncode == 0 and "skipped" not in r.stdout, r.stderr
    (result,) = [d for d in out.iterdir() if d.is_dir()]
    umask = os.umask(0o022)
    os.umask(umask)
    assert result.stat().st_mode & 0o777 == 0o777 & ~umask  # like mkdir, not mkdtemp's 0700
    r = _cli("pose", tmp_path / "pool", "--out", out)
    assert r.returncode == 0 and f"skipped 1 video already done in {out} (use --overwrite" in r.stdout, r.stdout
    code, err = _closed_stdout("pose", tmp_path / "pool", "--out", out)
    assert code == EXIT_BROKEN_PIPE == 141, (code, err)
    assert err.splitlines() == ["dynpose100k pose: output closed early (broken pipe)"], err


def test_pose_and_filter_walk_shard_folders_and_keep_same_named_clips_apart(tmp_path):
    """A pool laid out in shard folders, the same file name in two of them: ``pose`` and ``filter`` find both
    and give them the ids ``curate`` gives them, so neither result overwrites the other."""
    import shutil

    import pandas as pd

    from dynpose100k.synth import write_pool

    (vid,) = write_pool(tmp_path / "src", 1, "good", seed=0, height=64, width=96, duration=1.5)
    for shard in ("00000", "00001"):
        (tmp_path / "pool" / shard).mkdir(parents=True)
        shutil.copy(tmp_path / "src" / f"{vid}.mp4", tmp_path / "pool" / shard / "clip.mp4")
    r = _cli("pose", tmp_path / "pool", "--out", tmp_path / "poses")
    assert r.returncode == 0, r.stderr
    assert sorted(d.name for d in (tmp_path / "poses").iterdir() if d.is_dir()) == ["clip", "clip_1"]
    r = _cli("filter", tmp_path / "pool", "--out", tmp_path / "f.parquet", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert pd.read_parquet(tmp_path / "f.parquet")["video_id"].tolist() == ["clip", "clip_1"]


def test_pose_never_takes_another_videos_result_for_this_one(tmp_path):
    """Two batches into one --out, each with a ``clip.mp4`` of its own: the second clip is not skipped as done
    (nor its poses written over the first's); it fails on one line. A copy of the first clip is skipped."""
    import json
    import shutil

    from dynpose100k.synth import write_pool

    vids = write_pool(tmp_path / "src", 2, "good", seed=0, height=64, width=96, duration=1.0)
    for day, vid in zip(("day1", "day2"), vids):
        (tmp_path / day).mkdir()
        shutil.copy(tmp_path / "src" / f"{vid}.mp4", tmp_path / day / "clip.mp4")
    out = tmp_path / "poses"
    assert _cli("pose", tmp_path / "day1", "--out", out).returncode == 0
    held = json.loads((out / "clip" / "result.json").read_text())["source"]
    first = tmp_path / "day1" / "clip.mp4"
    assert held["path"] == str(first) and held["bytes"] == first.stat().st_size and len(held["digest"]) == 64
    r = _cli("pose", tmp_path / "day2", "--out", out)
    _one_line(r, "holds the poses of another video", "day1")
    assert "skipped" not in r.stdout, r.stdout  # refused, not counted as done
    assert json.loads((out / "clip" / "result.json").read_text())["source"] == held
    shutil.copytree(tmp_path / "day1", tmp_path / "moved")
    r = _cli("pose", tmp_path / "moved", "--out", out)
    assert r.returncode == 0 and "skipped 1 video" in r.stdout, (r.stdout, r.stderr)


def test_pose_workers_give_the_same_results_and_report_a_broken_clip_on_one_line(tmp_path, synth_good):
    """``pose --workers 2``: each clip in its own process, the same poses, confidence and tracks as one process
    poses; a broken file among the clips is one error line (exit 1) and the others are written."""
    import shutil

    import numpy as np

    (tmp_path / "pool").mkdir()
    vids = ("a", "b")
    for vid in vids:
        shutil.copy(synth_good.video, tmp_path / "pool" / f"{vid}.mp4")
    (tmp_path / "pool" / "broken.mp4").write_bytes(os.urandom(4096))
    for n in (1, 2):
        r = _cli("pose", tmp_path / "pool", "--out", tmp_path / f"w{n}", "--workers", n)
        errors = [line for line in r.stderr.splitlines() if line.startswith("dynpose100k pose: error:")]
        assert r.returncode == 1 and len(errors) == 1 and "broken.mp4" in errors[0], r.stderr
        assert "Traceback" not in r.stderr and "Aborted" not in r.stderr, r.stderr  # no worker stack traces
        assert "pose: 2/3 videos registered" in r.stdout, r.stdout
    for vid in vids:
        one, two = (tmp_path / f"w{n}" / vid for n in (1, 2))
        a, b = json.loads((one / "result.json").read_text()), json.loads((two / "result.json").read_text())
        assert a["confidence"] == b["confidence"] and a["config"]["threads"] == 2 and b["config"]["threads"] == 1
        for name in ("poses.npz", "tracks.npz", "masks.npz"):
            with np.load(one / name) as x, np.load(two / name) as y:
                assert x.files == y.files and all(np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f")
                                                  for k in x.files)
    assert not (tmp_path / "w2" / "broken").exists()
    _one_line(_cli("pose", tmp_path / "pool", "--out", tmp_path / "w0", "--workers", "0"), "--workers")


def test_closed_pipe_during_a_verb(tmp_path):
    code, err = _closed_stdout("synth", "--out", tmp_path / "s", "--num", "1", "--size", "64x48", "--duration", "0.5")
    assert code == 141 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "dynpose100k synth: output closed early (broken pipe)", err
    assert (tmp_path / "s" / "labels.csv").is_file()  # the work itself was done


def test_bench_pose_includes_the_cost_table_and_all_runs_it_once(tmp_path, monkeypatch):
    import types

    from dynpose100k.cli import main
    from dynpose100k.commands import bench

    calls = []

    def fake(name):
        return types.SimpleNamespace(run=lambda out, quick=False, **kw: calls.append((name, quick)))

    monkeypatch.setattr(bench, "importlib", types.SimpleNamespace(import_module=lambda m: fake(m.rsplit(".", 1)[-1])))
    assert main(["bench", "pose", "--no-baselines", "--quick", "--out", str(tmp_path)]) == 0
    assert calls == [("pose", True), ("pose_speed", True)]
    calls.clear()
    assert main(["bench", "pose", "--no-speed", "--out", str(tmp_path)]) == 0
    assert calls == [("pose", False)]
    calls.clear()
    assert main(["bench", "all", "--out", str(tmp_path)]) == 0
    assert [c[0] for c in calls].count("pose_speed") == 1 and len(calls) == len(bench.BENCHES)


def test_bench_pose_clips_per_set():
    from dynpose100k.bench.pose import _clips

    six = _clips(False, ("heldout",))
    assert [c["hard"] for c in six] == [False] * 3 + [True] * 3  # the default: the README's six clips
    many = _clips(False, ("dev", "style_b"), per_set=24)
    assert len(many) == 48 and sum(c["hard"] for c in many) == 24
    assert {c["seed"] for c in many if c["set"] == "style_b"} == {1_000_000_000 + s for s in range(24)}
    fresh = _clips(False, ("dev", "heldout"), seed=500)  # clips nobody has looked at: same sizes, new seeds
    assert [c["seed"] for c in fresh] == [500 + s for s in range(6)] + [1_000_000_500 + s for s in range(6)]
    assert [(c["hard"], c["height"]) for c in fresh[6:]] == [(c["hard"], c["height"]) for c in six]


def test_bench_pose_passes_the_seed(tmp_path, monkeypatch):
    import types

    from dynpose100k.cli import main
    from dynpose100k.commands import bench

    seen = {}
    monkeypatch.setattr(bench, "importlib", types.SimpleNamespace(import_module=lambda m: types.SimpleNamespace(
        run=lambda out, quick=False, **kw: seen.setdefault(m.rsplit(".", 1)[-1], kw))))
    assert main(["bench", "pose", "--no-speed", "--seed", "500", "--out", str(tmp_path)]) == 0
    assert seen["pose"]["seed"] == 500 and seen["pose"]["known_lens"] is False
    seen.clear()
    assert main(["bench", "pose", "--no-speed", "--known-lens", "--out", str(tmp_path)]) == 0
    assert seen["pose"]["known_lens"] is True and "preset" not in seen["pose"]  # the bench's own default
    seen.clear()
    assert main(["bench", "pose", "--no-speed", "--preset", "cotracker3-own-12fps", "--tracker-model", "w.pth",
                 "--device", "cpu", "--confidence-model", "c.json", "--out", str(tmp_path)]) == 0
    assert (seen["pose"]["preset"], seen["pose"]["tracker_model"], seen["pose"]["device"],
            seen["pose"]["confidence_model"]) == ("cotracker3-own-12fps", "w.pth", "cpu", "c.json")


def test_bench_pose_known_lens_gives_ours_the_true_focal():
    from dynpose100k.bench.pose import _clips, _run_clip

    spec = _clips(True, ("heldout",))[0]
    given, estimated = _run_clip(spec, baselines=False, known_lens=True), _run_clip(spec, baselines=False)
    assert given["ours"]["focal_rel_error"] < 1e-6 < estimated["ours"]["focal_rel_error"]


def test_bench_pose_saves_what_the_quality_table_reads(tmp_path):
    """Each clip's result and ground truth land under ``poses/<set>`` and ``gt/<set>``, where
    ``eval/quality_subsets.py`` scores them to the same ATE as the bench."""
    from dynpose100k.bench.pose import _clips, _run_clip
    from dynpose100k.evaluate.quality import score_videos

    rows = [_run_clip(spec, baselines=False, save_to=tmp_path) for spec in _clips(True, ("heldout",))]
    scored = {v.video_id: v for v in score_videos(tmp_path / "poses" / "heldout", tmp_path / "gt" / "heldout")}
    assert sorted(scored) == sorted(r["video_id"] for r in rows)
    for r in rows:
        assert scored[r["video_id"]].ate_m == pytest.approx(r["ours"]["ate"], rel=1e-6)


def test_bench_pose_prints_every_set(capsys):
    """Each set's tables are printed under its own name (they used to be the first set's only, titled as if
    they covered every video), then the sets side by side."""
    from dynpose100k.bench.pose import _print

    def table(ate: float) -> dict:
        m = dict(videos_registered_pct=100.0, frames_registered_pct=90.0, ate=ate, rpe_trans=0.01, rpe_rot_deg=0.1,
                 seconds_per_video=5.0)
        return {"all": {"ours": m, "floor": {**m, "ate": 2.0}}, "subset": {}, "subset_videos": [],
                "sampson": {"ours": dict(pct_lt_5=80.0, pct_lt_10=90.0, pct_lt_30=100.0, mean=2.0)},
                "ours_masks": dict(mask_iou=0.3, static_track_precision=0.99, static_obs_precision=0.99),
                "self_assessment": dict(ate_ratio_vs_colmap=float("nan"), min_frames_registered_pct=80.0, bad=1,
                                        bad_flagged=1, good=2, good_passed=2, spearman_confidence_ate=-0.5,
                                        spearman_reproj_ate=0.1)}

    _print({"sets": {"heldout": table(0.0123), "style_b": table(0.4567)}, "timing_10s_640x360": []})
    out = capsys.readouterr().out
    assert "heldout: all videos" in out and "style_b: all videos" in out
    assert out.index("0.0123") < out.index("style_b: all videos") < out.index("0.4567")


def test_bench_pose_json_holds_each_set_once(tmp_path, monkeypatch):
    """pose.json keeps the tables under ``sets`` only: no second copy of the first set's at the top level."""
    from dynpose100k.bench import pose

    monkeypatch.setattr(pose, "_clips", lambda quick, sets, clips, seed: [
        {"set": s, "video_id": f"{s}_{i}"} for s in sets for i in range(clips)])
    monkeypatch.setattr(pose, "_run_clip",
                        lambda spec, baselines, **kw: {"set": spec["set"], "video_id": spec["video_id"]})
    monkeypatch.setattr(pose, "_summary", lambda rows: {"all": {"n": len(rows)}, "self_assessment": {}})
    monkeypatch.setattr(pose, "_methods", lambda rows: ())
    monkeypatch.setattr(pose, "_timing_10s", lambda quick, *a: [])
    monkeypatch.setattr(pose, "_print", lambda r: None)
    pose.run(tmp_path, baselines=False, sets=("heldout", "style_b"), clips=2, seed=7)
    saved = json.loads((tmp_path / "pose.json").read_text())
    assert list(saved["sets"]) == ["heldout", "style_b"] and saved["sets"]["style_b"]["all"] == {"n": 2}
    assert not {"all", "subset", "sampson", "self_assessment", "ours_masks"} & set(saved)
    assert saved["seed"] == 7 and len(saved["videos"]) == 4


def test_bench_pose_ranks_the_confidence_against_ate_over_the_path():
    """The bench ranks as the calibration does: by ATE over the path length, not the raw ATE (a long path's
    ATE is large without the map being worse)."""
    from dynpose100k.bench.pose import _self_assessment

    def row(ate, path, conf):
        return {"path_length": path, "ours": dict(ate=ate, confidence=conf, good=ate < 0.02 * path,
                                                   reproj_error_px_720p=1.0, registration_rate=1.0)}

    # raw ATE ranks the clips 1, 2, 3; over the path 3, 2, 1, which is what the confidence says
    sa = _self_assessment([row(0.01, 0.2, 0.1), row(0.02, 2.0, 0.5), row(0.03, 30.0, 0.9)])
    assert sa["spearman_confidence_ate"] == pytest.approx(-1.0)


def test_bench_pose_counts_focal_errors_on_each_side_of_the_focal_pin_cut():
    """How far the focal can be trusted: focals more than 10% off among maps whose tracks pin the focal down
    (focal_pin >= PINNED_FOCAL) and among the others; maps without the figure (a failed map) count on neither."""
    from dynpose100k.bench.pose import _self_assessment

    def row(pin, ferr):
        return {"path_length": 1.0, "ours": dict(ate=0.001, confidence=0.9, good=True, reproj_error_px_720p=1.0,
                                                  registration_rate=1.0, focal_pin=pin, focal_rel_error=ferr)}

    sa = _self_assessment([row(2.0, 0.01), row(1.3, -0.2), row(1.05, 0.5), row(1.2, 0.02), row(None, 0.9)])
    assert sa["focal_off_pinned"] == [1, 2] and sa["focal_off_loose"] == [1, 2]


def test_bench_pose_robustness_conditions(tmp_path, monkeypatch):
    import types

    from dynpose100k.bench.pose_robustness import CONDITIONS, SEED0, _specs
    from dynpose100k.cli import main
    from dynpose100k.commands import bench
    from dynpose100k.synth import DEGRADATIONS

    specs = _specs(False, 12)
    assert len(specs) == 12 * len(CONDITIONS)
    for name in CONDITIONS:
        mine = [s for s in specs if s["set"] == name]
        assert [s["seed"] for s in mine] == list(range(SEED0, SEED0 + 12)) and sum(s["hard"] for s in mine) == 6
    assert {s["degrade"] for s in specs if "degrade" in s} == set(DEGRADATIONS)
    assert {s.get("hfov_deg") for s in specs} == {None, (20.0, 35.0), (85.0, 100.0)}
    assert sum(bool(s.get("clutter")) for s in specs) == 12
    assert sorted(s["set"] for s in specs if s.get("camera")) == ["camera"] * 12 + ["fast"] * 12
    fast = [s for s in specs if s["set"] == "fast"]  # the same number of frames, twice the motion between two
    assert {(s["fps"], s["duration"]) for s in fast} == {(6.0, 10.0)} and not any("speed" in s for s in specs)
    assert {s.get("fps", 12.0) * s["duration"] for s in specs} == {60.0}
    assert sorted(s["bars"] for s in specs if "bars" in s) == ["letterbox"] * 12 + ["portrait"] * 12
    assert main(["bench", "pose-robustness", "--conditions", "camera,fog", "--out", str(tmp_path)]) == 1  # no posing
    calls = []
    fake = types.SimpleNamespace(run=lambda out, quick=False, **kw: calls.append(kw))
    monkeypatch.setattr(bench, "importlib", types.SimpleNamespace(import_module=lambda m: fake))
    assert main(["bench", "pose-robustness", "--out", str(tmp_path)]) == 0
    assert main(["bench", "pose-robustness", "--clips", "4", "--out", str(tmp_path)]) == 0
    assert main(["bench", "pose-robustness", "--conditions", "camera,clutter", "--out", str(tmp_path)]) == 0
    assert calls == [{"clips": 12}, {"clips": 4}, {"clips": 12, "conditions": ("camera", "clutter")}]
    assert {s["set"] for s in _specs(False, 2, ("clean", "camera"))} == {"clean", "camera"}


def test_bench_pose_robustness_runs_the_chosen_conditions_beside_clean(tmp_path):
    import json

    from dynpose100k.bench.pose_robustness import run

    result = run(tmp_path, quick=True, clips=2, conditions=("clutter", "portrait"))
    assert list(result["conditions"]) == ["clean", "clutter", "portrait"]
    assert all(t["clips"] == 2 for t in result["conditions"].values())
    saved = json.loads((tmp_path / "pose_robustness.json").read_text())
    assert [v["set"] for v in saved["videos"]] == ["clean", "clutter", "portrait"] * 2


def test_a_clip_named_in_two_inputs_is_listed_once(tmp_path):
    from dynpose100k.commands import collect_videos

    (tmp_path / "sub").mkdir()
    for rel in ("a.mp4", "sub/b.mp4"):
        (tmp_path / rel).write_bytes(b"x")
    assert collect_videos([tmp_path / "a.mp4", tmp_path, tmp_path / "sub"]) == [tmp_path / "a.mp4",
                                                                                 tmp_path / "sub" / "b.mp4"]


def test_bench_pose_dense_poses_each_clip_from_its_video_at_both_rates(tmp_path, monkeypatch):
    """``bench pose-dense``: the CLI passes sets, clips and seed; a quick run poses each clip from an mp4 at 12
    fps and looks again at 24 fps only where the first map is doubted, scoring each arm on its own frames."""
    import json
    import types

    from dynpose100k.bench import pose_dense
    from dynpose100k.cli import main
    from dynpose100k.commands import bench

    pose_dense.run(tmp_path, quick=True, sets=("heldout",))
    doc = json.loads((tmp_path / "pose_dense.json").read_text())
    rows = doc["videos"]
    assert len(rows) == 2 and set(doc["sets"]["heldout"]) == {"fps12", "second_look"}
    for r in rows:
        a, b = r["fps12"], r["second_look"]
        assert b["looked"] == (a["confidence"] < 0.5)  # only doubted clips are looked at again
        assert b["frames"] == (2 * a["frames"] if b["kept"] else a["frames"])  # a kept map has the 24 fps frames
        assert b["kept"] <= (b["confidence"] >= 0.5) and b["seconds"] >= a["seconds"]
    t = doc["sets"]["heldout"]["fps12"]
    assert t["good"] == sum(r["fps12"]["good"] for r in rows) and t["clips"] == 2
    assert all(r["fps12"]["reproj_error_px_720p"] > 0 or r["fps12"]["confidence"] == 0 for r in rows)
    assert "spearman_reproj_ate" in t and "good_held" in t  # NaN with two clips; counted from real errors

    calls = []
    fake = types.SimpleNamespace(run=lambda out, quick=False, **kw: calls.append(kw))
    monkeypatch.setattr(bench, "importlib", types.SimpleNamespace(import_module=lambda m: fake))
    args = ["bench", "pose-dense", "--sets", "style_b", "--clips", "4", "--seed", "7", "--out", str(tmp_path)]
    assert main(args) == 0
    assert calls == [{"sets": ("style_b",), "clips": 4, "seed": 7}]


@pytest.mark.parametrize("args, needle", [
    (["pose", "{clip}", "--out", "{out}", "--fps", "0"], "fps must be above 0, got 0"),
    (["pose", "{clip}", "--out", "{out}", "--short-side", "0"], "short_side must be at least 16"),
    (["pose", "{clip}", "--out", "{out}", "--dense-fps", "nan"], "dense_fps must be at least 0, got nan"),
    (["filter", "{clip}", "--out", "{out}.csv", "--threshold", "nan"], "threshold must be in [0, 1], got nan"),
    (["filter", "{clip}", "--out", "{out}.csv", "--fps", "-3"], "fps must be above 0"),
    (["curate", "{clip}", "--out", "{out}", "--no-progress", "--filter-threshold", "5"], "threshold must be in [0, 1]"),
    (["curate", "{clip}", "--out", "{out}", "--no-progress", "--workers", "0"], "workers must be at least 1"),
    (["curate", "{clip}", "--out", "{out}", "--no-progress", "--fps", "0"], "fps must be above 0"),
    (["shard", "{poses}", "--out", "{out}", "--frame-short-side", "0"], "--frame-short-side must be at least 16"),
    (["shard", "{poses}", "--out", "{out}", "--maxcount", "0"], "maxcount must be at least 1"),
    (["shard", "{poses}", "--out", "{out}", "--maxsize", "nan"], "--maxsize must be in [1, 1e+15], got nan"),
    (["import-release", "{poses}", "--out", "{out}", "--frame-short-side", "0"], "--frame-short-side must be"),
    (["view", "{poses}", "--out", "{out}.png", "--num-frames", "0"], "--num-frames must be at least 1"),
    (["view", "{poses}", "--out", "{out}.txt"], "not an image format"),
    (["demo", "--out", "{out}", "--filter-threshold", "2"], "--filter-threshold must be in [0, 1]"),
    (["synth", "--out", "{out}", "--rolling-shutter", "-1"], "--rolling-shutter must be in [0, 1]"),
])
def test_a_number_out_of_range_fails_at_once_naming_it(tmp_path, capsys, args, needle):
    from dynpose100k.cli import main

    (tmp_path / "poses").mkdir()
    fill = {"clip": tmp_path / "clip.mp4", "out": tmp_path / "out", "poses": tmp_path / "poses"}
    assert main([a.format(**fill) for a in args]) == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())  # nothing written


def test_closed_pipe_shared_by_stdout_and_stderr_exits_141(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "dynpose100k", "synth", "--out", str(tmp_path / "s"), "--num", "1",
                          "--size", "64x48", "--duration", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    p.stdout.close()  # as `2>&1 | head` when head has gone (the progress bar meets the closed pipe first)
    assert p.wait(timeout=120) == 141


def test_a_missing_segmentation_model_fails_before_any_clip(tmp_path, monkeypatch, capsys):
    from dynpose100k.cli import main

    monkeypatch.chdir(tmp_path)  # the preset names models/segmentation, relative to here: not there
    assert main(["pose", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "p"),
                 "--preset", "dis-own-12fps-semantic"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no segmentation model here" in err[0], err
    assert not (tmp_path / "p").exists()


def test_an_unknown_device_is_one_line(tmp_path, capsys):
    from dynpose100k.cli import main

    assert main(["pose", str(tmp_path / "c.mp4"), "--out", str(tmp_path / "p"), "--device", "banana"]) == 1
    assert "unknown device 'banana'" in capsys.readouterr().err


def test_filter_does_not_overwrite_a_table_of_another_kind(tmp_path, capsys):
    from dynpose100k.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,kind,suitable\na,good,1\n")
    assert main(["filter", str(tmp_path / "clip.mp4"), "--out", str(labels)]) == 1
    assert "exists and is not a filter table" in capsys.readouterr().err
    assert labels.read_text() == "video_id,kind,suitable\na,good,1\n"
    scores = tmp_path / "scores.csv"  # a filter table of before is written again
    scores.write_text("video_path,video_id,status,score\nx,x,error,\n")
    assert main(["filter", str(tmp_path / "clip.mp4"), "--out", str(scores)]) == 1  # (the clip is missing)
    assert "clip.mp4" in capsys.readouterr().err and "clip.mp4" in scores.read_text()  # rewritten
