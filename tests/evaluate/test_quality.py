import numpy as np
import pytest

from dynpose100k.evaluate.quality import VideoQuality, format_table, quality_subset_table, table_from_videos


def test_table_thresholds_keep_expected_fractions():
    rng = np.random.default_rng(0)
    reproj = rng.uniform(0.5, 2.0, 20)
    videos = [VideoQuality(f"v{i}", float(r), float(3 * r + rng.normal(0, 0.1)), 0.1 * r, 1.0)
              for i, r in enumerate(reproj)]
    videos.append(VideoQuality("failed", None, 80.0, 1.0, 0.0))  # counted in the full set, never dropped
    videos.append(VideoQuality("half", 0.1, 40.0, 1.0, 0.5))  # below the registration filter
    rows = table_from_videos(videos)
    assert [r.num_videos for r in rows] == [22, 20, 14, 8, 5]
    assert rows[0].pct_data == 100 and rows[2].pct_data == pytest.approx(100 * 14 / 22)
    assert all(a.mean_px > b.mean_px for a, b in zip(rows, rows[1:]))  # error falls with the threshold
    assert sorted(reproj)[7] < rows[3].threshold_px < sorted(reproj)[8]
    assert "%Data" in format_table(rows)


def test_quality_table_on_synthetic_ground_truth(tmp_path):
    from pose_fixtures import save_result_for as save_result

    from dynpose100k.camera import resize_K
    from dynpose100k.synth import render, save_gt

    gt_dir, pose_dir = tmp_path / "gt", tmp_path / "poses"
    gt_dir.mkdir()
    for k, (noise, reproj) in enumerate([(0.0, 0.5), (0.02, 1.0), (0.2, 3.0)]):
        v = render("good", k, height=96, width=160, duration=1.0, pairs=3, per_pair=20, video_id=f"g{k}")
        save_gt(gt_dir / f"g{k}.gt.npz", v.gt)
        rng = np.random.default_rng(k)
        w2c = v.gt.w2c.copy()
        w2c[:, :3, 3] += rng.normal(0, noise, w2c[:, :3, 3].shape)
        # same poses expressed at a 2x smaller input resolution: K must be rescaled by the evaluation
        save_result(pose_dir, v.gt, w2c, np.ones(len(w2c), bool), K=resize_K(v.gt.K, (96, 160), (48, 80)),
                    image_size=(48, 80), reproj_px_720p=reproj)
    # a ground-truth video without a pose result counts as failed
    v = render("good", 9, height=96, width=160, duration=1.0, pairs=3, per_pair=20, video_id="g9")
    save_gt(gt_dir / "g9.gt.npz", v.gt)
    # a still camera without a pose result: ATE is undefined there, the row is still counted
    v = render("static", 3, height=96, width=160, duration=1.0, pairs=3, per_pair=20, video_id="s3")
    save_gt(gt_dir / "s3.gt.npz", v.gt)
    rows = quality_subset_table(pose_dir, gt_dir, fractions=(0.67, 0.34))
    assert [r.num_videos for r in rows] == [5, 3, 2, 1]
    assert np.isfinite(rows[0].ate_m)
    assert rows[-1].mean_px < 1e-3 and rows[-1].ate_m < 1e-6  # exact poses
    assert rows[0].mean_px > rows[1].mean_px > rows[2].mean_px > rows[3].mean_px
    assert not (pose_dir / "g9").exists()  # nothing written into the pose folder
    # the same table from a list of ground-truth files (the posed ones only)
    posed = quality_subset_table(pose_dir, sorted(gt_dir.glob("g[0-2].gt.npz")), fractions=(0.67, 0.34))
    assert [r.num_videos for r in posed][0] == 3 and posed[-1].mean_px == rows[-1].mean_px


def test_failed_result_keeps_its_row_without_flags(moving_gt, tmp_path):
    from pose_fixtures import save_result_for as save_result

    from dynpose100k.evaluate.quality import video_quality

    n = moving_gt.num_frames
    d = save_result(tmp_path, moving_gt, np.tile(np.eye(4), (n, 1, 1)), np.zeros(n, bool),
                    reproj_px_720p=float("nan"), confidence=0.0, failure_reason="no parallax: test")
    q = video_quality(d, moving_gt)
    assert q.reproj_px_720p is None and q.confidence is None and q.registered_fraction == 0.0
    assert q.sampson_px_720p > 1.0 and q.path_m > 0


def test_quality_table_by_confidence():
    from dynpose100k.evaluate.quality import VideoQuality, format_table, table_from_videos

    rng = np.random.default_rng(1)
    c = rng.uniform(0, 1, 20)
    videos = [VideoQuality(f"v{i}", 1.0, float(10 * (1 - x)), float(1 - x), 1.0, float(x)) for i, x in enumerate(c)]
    videos.append(VideoQuality("failed", None, 80.0, 1.0, 0.0))
    rows = table_from_videos(videos, flag="confidence", thresholds=(0.5,))
    assert [r.num_videos for r in rows[:5]] == [21, 20, 14, 8, 5]
    assert all(a.mean_px > b.mean_px for a, b in zip(rows[1:5], rows[2:5]))  # error falls as confidence rises
    assert rows[-1].name == "Confidence >= 0.5" and rows[-1].num_videos == int((c >= 0.5).sum())
    assert format_table(rows).startswith("Confidence")
    with pytest.raises(Exception, match="flag"):
        table_from_videos(videos, flag="nope")
