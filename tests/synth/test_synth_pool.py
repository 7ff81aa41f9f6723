import csv

import cv2
import numpy as np
import pytest

from dynpose100k.cli import main
from dynpose100k.synth import CLASSIC_KINDS, KINDS, SUITABLE_KINDS, load_gt, pool_plan, read_labels, write_pool


def test_mixed_plan_is_deterministic_and_mostly_failures():
    plan = pool_plan(50, "mixed", seed=3)
    assert plan == pool_plan(50, "mixed", seed=3) and plan != pool_plan(50, "mixed", seed=4)
    kinds = [k for _, k, _ in plan]
    assert kinds.count("good") == 5 and set(kinds) == set(CLASSIC_KINDS)
    assert all("." not in vid for vid, _, _ in plan)
    assert len({vid for vid, _, _ in plan}) == 50


def test_write_pool_files_labels_and_resume(tmp_path):
    ids = write_pool(tmp_path, 3, kind="mixed", seed=1, height=96, width=160, duration=1.0)
    labels = read_labels(tmp_path)
    assert list(labels) == ids
    for vid in ids:
        kind, suitable = labels[vid]
        assert suitable == (kind in SUITABLE_KINDS)
        cap = cv2.VideoCapture(str(tmp_path / f"{vid}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        ok, frame = cap.read()
        assert ok and frame.shape == (96, 160, 3)
        gt = load_gt(tmp_path / f"{vid}.gt.npz")
        assert gt.video_id == vid and gt.kind == kind and gt.w2c.shape == (12, 4, 4)
    stamp = (tmp_path / f"{ids[0]}.mp4").stat().st_mtime_ns
    write_pool(tmp_path, 3, kind="mixed", seed=1, height=96, width=160, duration=1.0)
    assert (tmp_path / f"{ids[0]}.mp4").stat().st_mtime_ns == stamp  # not rendered again


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "pool"
    assert main(["synth", "--out", str(out), "--num", "2", "--kind", "zoom", "--size", "160x96",
                 "--duration", "1"]) == 0
    with open(out / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["zoom", "zoom"] and all(r["suitable"] == "0" for r in rows)
    assert main(["synth", "--out", str(out), "--size", "big"]) == 1
    assert "--size" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--size", "161x97"]) == 1
    assert "even" in capsys.readouterr().err


def test_cli_synth_clutter(tmp_path, capsys):
    args = ["--num", "1", "--kind", "good", "--size", "160x96", "--duration", "1", "--seed", "3"]
    assert main(["synth", "--out", str(tmp_path / "plain"), *args]) == 0
    assert main(["synth", "--out", str(tmp_path / "clutter"), *args, "--clutter"]) == 0
    (a,), (b,) = (list((tmp_path / d).glob("*.gt.npz")) for d in ("plain", "clutter"))
    ga, gb = load_gt(a), load_gt(b)
    np.testing.assert_array_equal(ga.w2c, gb.w2c)
    assert gb.planes.shape[1] > ga.planes.shape[1]  # the structures and the walkers
    capsys.readouterr()
    assert main(["synth", "--out", str(tmp_path / "b"), *args, "--clutter", "--style", "b"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_shared_fixtures(synth_good, synth_pool):
    gt = load_gt(synth_good.gt)
    assert synth_good.video.exists() and gt.suitable and gt.depth.shape == (24, 144, 256)
    labels = read_labels(synth_pool)
    assert len(labels) == 10 and {k for k, _ in labels.values()} == set(CLASSIC_KINDS)


def test_second_pool_into_the_same_folder_keeps_old_labels(tmp_path):
    first = write_pool(tmp_path, 2, kind="zoom", seed=0, height=48, width=64, duration=0.5)
    second = write_pool(tmp_path, 1, kind="good", seed=1, height=48, width=64, duration=0.5)
    labels = read_labels(tmp_path)
    assert list(labels) == first + second
    assert labels[first[0]] == ("zoom", False) and labels[second[0]] == ("good", True)
    # the first pool again: its rows are rewritten in place, the other pool's row stays
    assert write_pool(tmp_path, 2, kind="zoom", seed=0, height=48, width=64, duration=0.5) == first
    assert list(read_labels(tmp_path)) == first + second


def test_help_examples_name_clips_that_synth_writes():
    """Clip names in the help examples and README exist in the pool of the `synth` example they follow."""
    import re
    from pathlib import Path

    from dynpose100k.cli import EPILOG, VERBS, build_parser

    texts = [EPILOG, (Path(__file__).parents[2] / "README.md").read_text()]
    texts += [build_parser(v)._subparsers._group_actions[0].choices[v].epilog for v in VERBS]
    assert "synth --out data/synth --num 20 --kind mixed --seed 0" in EPILOG
    ids = {vid for vid, _, _ in pool_plan(20, "mixed", 0)}
    pattern = re.compile(r"\b(?:%s)_\d{4}\w*" % "|".join(KINDS))
    named = {m for t in texts for m in pattern.findall(t)}
    assert named, "no clip named in the examples"
    assert named <= ids, sorted(named - ids)


def test_a_clip_written_with_other_settings_is_not_taken_for_this_one(tmp_path):
    from dynpose100k.synth import SynthError

    write_pool(tmp_path, 1, "good", seed=0, height=48, width=64, duration=1.0)
    write_pool(tmp_path, 1, "good", seed=0, height=48, width=64, duration=1.0)  # the same: kept, nothing to do
    for kw, said in ((dict(height=48, width=80, duration=1.0), "as 64x48, 12 frames at 12 fps, not 80x48"),
                     (dict(height=48, width=64, duration=2.0), "not 64x48, 24 at 12")):
        with pytest.raises(SynthError, match=said):
            write_pool(tmp_path, 1, "good", seed=0, **kw)
    assert "64,48" in (tmp_path / "labels.csv").read_text()  # the row still describes the clip that is there
