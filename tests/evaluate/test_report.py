"""The demo's tables and plots from ledger rows, labels, ground truth and pose results."""

import json

import numpy as np
import pytest

from dynpose100k.evaluate import report


@pytest.fixture()
def run(moving_gt, tmp_path):
    """Ledger-like rows of four clips: two published with exact / shifted poses, one filtered, one with a
    failed pose result; their labels and ground-truth files."""
    from pose_fixtures import save_result_for as save_result

    from dynpose100k.synth import save_gt

    gt, n = moving_gt, moving_gt.num_frames
    poses = tmp_path / "poses"
    gts, items = {}, {}
    shifted = gt.w2c.copy()
    shifted[:, :3, 3] += np.random.default_rng(0).normal(0, 0.05, (n, 3))
    for vid, w2c, reg, status, score in [("a", gt.w2c, np.ones(n, bool), "sharded", 0.9),
                                         ("b", shifted, np.ones(n, bool), "sharded", 0.8),
                                         ("c", None, None, "filtered_out", 0.1),
                                         ("d", np.tile(np.eye(4), (n, 1, 1)), np.zeros(n, bool), "pose_failed", 0.7)]:
        gts[vid] = save_gt(tmp_path / f"{vid}.gt.npz", gt)
        d = None if w2c is None else save_result(poses, gt, w2c, reg, video_id=vid, confidence=score,
                                                  reproj_px_720p=1.0 + score)
        items[vid] = {"item_id": vid, "status": status, "filter_score": score, "pose_dir": d and str(d)}
    labels = {"a": ("good", True), "b": ("good", True), "c": ("static", False), "d": ("zoom", False)}
    return items, labels, gts, poses


def test_pose_table_and_summary(run):
    items, labels, gts, _ = run
    rows = report.pose_table(items, gts, labels)
    assert [t.video for t in rows] == ["a", "b", "d"]  # the filtered clip has no pose result
    a, b, d = (t.to_json() for t in rows)
    assert a["ate"] < 1e-9 and b["ate"] > 1e-3 and np.isnan(d["ate"]) and d["registered"] == 0.0
    text = report.format_pose_table(rows)
    assert "kept" in text and "sharded" not in text and "n/a" in text
    s = report.pose_summary(rows, 0.8)
    assert s["kept"]["videos"] == 2 and s["kept"]["ate_m"] == pytest.approx((a["ate"] + b["ate"]) / 2)
    assert s["all posed"]["videos"] == 3 and s["all posed"]["pct_videos_registered_ge_min"] == pytest.approx(200 / 3)
    json.dumps([t.to_json() for t in rows])
    # poses loaded from the dataset replace the pose result's for the clips it holds
    moved = report.pose_table(items, gts, labels, {"a": (b_w2c := rows[1].w2c, np.ones(len(b_w2c), bool))})
    assert moved[0].to_json()["ate"] == pytest.approx(b["ate"])


def test_filter_pr_on_labels(run):
    items, labels, _, _ = run
    pr = report.filter_pr(items, labels)
    assert (pr["pool"], pr["positives"], pr["predicted"]) == (4, 2, 3)  # only c was filtered out
    assert pr["precision"] == pytest.approx(2 / 3) and pr["recall"] == 1.0
    assert pr["per_kind"] == {"good": (2, 2), "static": (0, 1), "zoom": (1, 1)}
    assert pr["average_precision"] == pytest.approx(1.0)  # the scores rank both good clips first
    assert "precision 0.67  recall 1.00" in report.format_filter_pr(pr)
    assert pr["with_pose_check"]["checked"] == 0 and "pose check" not in report.format_filter_pr(pr)


def test_filter_pr_tells_the_filter_from_the_pose_check(run):
    """A clip the pose check rescued counts as passed only with the check; one it declined as rejected."""
    items, labels, _, _ = run
    items = {**items, "b": dict(items["b"], timings=json.dumps({"filter": 0.1, "pose_check": 2.0})),
             "c": dict(items["c"], timings=json.dumps({"filter": 0.1, "pose_check": 2.0}))}
    pr = report.filter_pr(items, labels)
    assert pr["predicted"] == 2 and pr["recall"] == 0.5 and pr["precision"] == 0.5  # a and d
    c = pr["with_pose_check"]
    assert (c["checked"], c["rescued"], c["rescued_suitable"]) == (2, 1, 1)
    assert c["recall"] == 1.0 and c["precision"] == pytest.approx(2 / 3)
    assert "pose check: posed 2 of the rejections, kept 1 (1 suitable)" in report.format_filter_pr(pr)


def test_quality_table_and_plots(run, tmp_path):
    items, labels, gts, poses = run
    rows, text = report.quality_table(poses, items, gts)
    for flag in ("reproj", "confidence"):  # the posed clips, the failed one included
        assert rows[flag][0].name == "Full set" and rows[flag][0].num_videos == 3
    assert text.startswith("Reprojection error") and "\n\nConfidence " in text
    declined = {**items, "c": dict(items["c"], pose_dir=items["a"]["pose_dir"])}  # posed by the pose check, declined
    assert report.quality_table(poses, declined, gts)[0]["reproj"][0].num_videos == 3
    table = report.pose_table(items, gts, labels)
    assert report.plot_trajectories(tmp_path / "t.png", table, gts) and (tmp_path / "t.png").stat().st_size > 0
    assert report.plot_filter_pr(tmp_path / "p.png", report.filter_pr(items, labels))
    assert not report.plot_trajectories(tmp_path / "none.png", [], gts)


def test_end_to_end_counts_what_the_default_subset_keeps_with_and_without_the_pose_check(run):
    items, labels, _, _ = run
    e = report.end_to_end(items, labels)
    assert e["suitable"] == 2 and e["min_confidence"] == 0.5
    assert e["filter_alone"] == e["with_pose_check"] == {"kept": 2, "suitable_kept": 2, "precision": 1.0,
                                                        "recall": 1.0}
    assert report.end_to_end(items, labels, min_confidence=0.85)["filter_alone"]["kept"] == 1  # b's 0.8 is out
    rescued = {**items, "b": dict(items["b"], timings=json.dumps({"pose_check": 2.0}))}
    e = report.end_to_end(rescued, labels)
    assert (e["filter_alone"]["kept"], e["filter_alone"]["recall"]) == (1, 0.5)
    assert (e["with_pose_check"]["kept"], e["with_pose_check"]["recall"]) == (2, 1.0)
