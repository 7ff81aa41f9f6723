import csv

import cv2

from dynpose100k.cli import main
from dynpose100k.synth import CLASSIC_KINDS, SUITABLE_KINDS, load_gt, pool_plan, read_labels, write_pool


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


def test_shared_fixtures(synth_good, synth_pool):
    gt = load_gt(synth_good.gt)
    assert synth_good.video.exists() and gt.suitable and gt.depth.shape == (24, 144, 256)
    labels = read_labels(synth_pool)
    assert len(labels) == 10 and {k for k, _ in labels.values()} == set(CLASSIC_KINDS)
