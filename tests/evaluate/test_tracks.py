"""Tracks scored against the renderer's truth (dynpose100k.evaluate.tracks) and the tracker benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynpose100k import camera
from dynpose100k.evaluate import track_errors
from dynpose100k.synth import render


@pytest.fixture(scope="module")
def clip():
    return render("good", 3, height=96, width=160, fps=12.0, duration=1.5)


def _true_tracks(gt, points: np.ndarray) -> np.ndarray:
    """Tracks ``(N, P, 2)`` that follow the 3D points under frame-0 pixels ``points`` exactly while in view."""
    z = gt.depth[0, points[:, 1].astype(int), points[:, 0].astype(int)]
    X = camera.unproject(gt.K[0], gt.w2c[0], points, z)
    uv, depth = map(np.stack, zip(*(camera.project(K, w2c, X) for K, w2c in zip(gt.K, gt.w2c))))
    H, W = gt.depth.shape[1:]
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= W - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= H - 1) & (depth > 0)
    return np.where(inside[..., None], uv, np.nan)


def _static_pixels(gt, n: int) -> np.ndarray:
    """``n`` integer pixels of frame 0 on the static scene away from depth edges."""
    H, W = gt.depth.shape[1:]
    d = gt.depth[0]
    ok = ~gt.dynamic_mask[0] & (d > 0)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nb = np.roll(d, (dy, dx), axis=(0, 1))
            ok &= (nb > 0) & (np.abs(nb - d) < 0.005 * d)
    ok[:8], ok[-8:], ok[:, :8], ok[:, -8:] = False, False, False, False
    ys, xs = np.nonzero(ok)
    pick = np.random.default_rng(0).choice(len(xs), n, replace=False)
    return np.c_[xs[pick], ys[pick]].astype(np.float64)


def test_exact_tracks_score_zero_and_an_offset_scores_itself(clip):
    gt = clip.gt
    uv = _true_tracks(gt, _static_pixels(gt, 40))
    e = track_errors(uv, gt)
    assert len(e.length) == 40 and e.mover_tracks == 0 and len(e.error) > 40 * 5
    assert e.error.max() < 1e-6
    shifted = uv.copy()
    shifted[1:, :, 0] += 0.7  # every later observation 0.7 px off the point
    s = track_errors(shifted, gt).summary()
    assert s["median_px_1"] == pytest.approx(0.7, abs=0.05) and s["median_px_5"] == pytest.approx(0.7, abs=0.05)
    assert s["static_tracks"] == 40 and s["median_length"] > 5


def test_tracks_that_start_on_movers_are_counted_not_scored(clip):
    gt = clip.gt
    ys, xs = np.nonzero(gt.dynamic_mask[0])
    assert len(xs), "the clip's first frame shows a mover"
    on_mover = np.full((len(gt.depth), 1, 2), np.nan)
    on_mover[:, 0] = (xs[0], ys[0])  # a track that stays put on the mover's pixel
    uv = np.concatenate([_true_tracks(gt, _static_pixels(gt, 10)), on_mover], axis=1)
    e = track_errors(uv, gt)
    assert e.mover_tracks == 1 and len(e.length) == 10 and e.error.max() < 1e-6


def test_bench_tracks_measures_lucas_kanade_per_set(tmp_path, capsys):
    from dynpose100k.cli import main

    assert main(["bench", "tracks", "--quick", "--sets", "heldout", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "tracks.json").read_text())
    table = r["sets"]["heldout"]["klt-own-12fps"]
    assert r["trackers"] == ["klt-own-12fps"] and r["clips"] == 2
    assert 0 < table["median_px_1"] < 2 and table["static_tracks"] > 0
    assert "track error against the truth" in capsys.readouterr().out
    assert main(["bench", "tracks", "--quick", "--sets", "nowhere", "--out", str(tmp_path)]) == 1
