"""Decisions, reasons, the fusion model file, error handling and the ``filter`` CLI."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "signals"))
import toyclips  # noqa: E402

from dynpose100k.cli import main  # noqa: E402
from dynpose100k.filtering import (  # noqa: E402
    DEFAULT_MODEL,
    FilterConfig,
    FilterModel,
    FilterModelError,
    FitConfig,
    decide,
    filter_clip,
    filter_video,
    fit_model,
)
from dynpose100k.signals import SIGNAL_NAMES  # noqa: E402
from dynpose100k.video import picture_box, write_video  # noqa: E402


def toy(kind, n=16):
    frames, ts = toyclips.render(kind, n=n)
    return SimpleNamespace(frames=frames, timestamps=ts)


def rows_and_labels(n=120, seed=0):
    """Signal dicts where suitability depends on camera motion (flow_bg) and colour count only."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.25
    rows = []
    for good in y:
        r = {k: float(rng.normal(1.0, 0.1)) for k in SIGNAL_NAMES}
        r["flow_bg"] = float(rng.uniform(20, 40) if good else rng.choice([rng.uniform(0.05, 1), rng.uniform(20, 40)]))
        r["color_count"] = float(rng.uniform(20, 30) if good or r["flow_bg"] < 1 else rng.uniform(0.5, 3))
        rows.append(r)
    return rows, y


def test_fit_model_rules_score_and_json_roundtrip(tmp_path):
    rows, y = rows_and_labels()
    m = fit_model(rows, y, FitConfig(target_precision=0.9))
    by_signal = {r.signal: r for r in m.rules}
    assert by_signal["flow_bg"].name == "static_camera" and 1 < by_signal["flow_bg"].threshold < 20
    s = m.scores(m.matrix(rows))
    assert s[y].min() > s[~y].max()  # separable by construction
    assert m.info["cv_precision"] >= 0.9 and m.info["cv_recall"] > 0.5
    m2 = FilterModel.from_json(m.to_json(tmp_path / "m.json"))
    assert np.allclose(m2.scores(m2.matrix(rows)), s)
    json.loads((tmp_path / "m.json").read_text())  # readable JSON


_NOISY = ("flow_bg",) + tuple(f"noise_{i}" for i in range(8))


def _overlapping(n, seed):
    """Signal dicts whose classes overlap on flow_bg alone (the other signals are noise)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    rows = [{k: float(rng.normal(0, 1)) for k in _NOISY} for _ in y]
    for r, good in zip(rows, y):
        r["flow_bg"] = float(rng.normal(2.5 if good else 0.0, 1.0))
    return rows, y


def test_bagged_model_averages_the_fold_models_and_holds_its_precision():
    rows, y = _overlapping(200, 0)
    bag = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9))
    refit = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, bagged=False))
    assert bag.info["bagged"] and not refit.info["bagged"]
    assert bag.threshold == refit.threshold  # both chosen on the same out-of-fold scores
    assert len(bag.stumps) > len(refit.stumps)  # five fold models' steps, each shrunk by 1/5
    assert max(abs(st.left) for st in bag.stumps) < max(abs(st.left) for st in refit.stumps)
    new, y_new = _overlapping(3000, 99)
    keep = bag.scores(bag.matrix(new)) >= bag.threshold
    assert y_new[keep].mean() >= 0.85 and keep[y_new].mean() >= 0.4


def test_confidence_bound_makes_the_threshold_conservative():
    from dynpose100k.filtering.training import _precision_bound, _precision_recall
    rng = np.random.default_rng(3)
    score, y = rng.random(400), rng.random(400) < 0.3
    score[y] += 0.4
    point = _precision_recall(score, y, 0.1)[0]
    assert np.allclose(_precision_bound(score, y, 0.1, 0.0), point)
    from dynpose100k.metrics import precision_recall  # at the training prevalence: the metrics module's figures

    for a, b in zip(_precision_recall(score, y, float(y.mean())), precision_recall(score, y)):
        assert np.array_equal(a, b)
    bound = _precision_bound(score, y, 0.1, 1.0)
    assert (bound <= point + 1e-12).all() and (bound < point - 0.01).any()
    rows, y = _overlapping(200, 0)
    plain = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, confidence=0.0))
    safe = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, confidence=1.0))
    assert safe.threshold > plain.threshold and safe.info["cv_recall"] < plain.info["cv_recall"]
    assert safe.info["cv_precision"] >= plain.info["cv_precision"]


def test_one_detector_per_failure_kind_names_the_kind(tmp_path):
    rows, y = rows_and_labels()
    kinds = ["good" if g else ("static" if r["flow_bg"] < 1 else "cartoon") for r, g in zip(rows, y)]
    m = fit_model(rows, y, kinds=kinds)
    assert set(m.bases) == {"static", "cartoon"} and {st.detector for st in m.stumps} == {"static", "cartoon"}
    s = m.scores(m.matrix(rows))
    assert s[y].min() > s[~y].max()
    cfg = FilterConfig(model=str(m.to_json(tmp_path / "k.json")), use_rules=False, threshold=0.5)
    good = next(r for r, g in zip(rows, y) if g)
    d = decide(dict(good, color_count=1.0), cfg)
    assert d.status == "reject" and "looks like: cartoon" in d.reasons[0] and "color_count" in d.reasons[0]
    assert decide(dict(good, flow_bg=0.1), cfg).reasons[0].split("; ")[1] == "looks like: static"
    assert d.detector == "cartoon" and d.as_dict()["detector"] == "cartoon"


def test_pose_checkable_only_for_score_rejections_of_the_named_kinds(tmp_path):
    """Only a score rejection that looks like a pose-checked kind, above the floor, goes to the pose check."""
    from dynpose100k.filtering.decide import Decision, pose_checkable

    zoomish = Decision("reject", 0.3, ["low_score: 0.300 < 0.430; looks like: slowzoom"], {}, "slowzoom")
    assert pose_checkable(zoomish) and pose_checkable(zoomish, ("slowzoom",))
    assert not pose_checkable(zoomish, ("stabilised",)) and not pose_checkable(zoomish, ())
    assert not pose_checkable(Decision("reject", 0.05, zoomish.reasons, {}, "slowzoom"))  # the filter is sure
    ruled = Decision("reject", 0.3, [*zoomish.reasons, "shot_cut: frame_diff_peak=2.1 > 1.8"], {}, "slowzoom")
    assert not pose_checkable(ruled)  # a rule fired: not a geometric doubt
    assert not pose_checkable(Decision("reject", 0.3, ["low_score: ..."], {}, "cartoon"))
    assert not pose_checkable(Decision("keep", 0.8, [], {}, "slowzoom"))
    assert not pose_checkable(Decision("error", float("nan"), ["unreadable: x"], {}))


def test_decide_names_its_reasons(tmp_path):
    rows, y = rows_and_labels()
    path = fit_model(rows, y).to_json(tmp_path / "m.json")
    cfg = FilterConfig(model=str(path))
    good = dict(rows[int(np.flatnonzero(y)[0])])
    assert decide(good, cfg).status == "keep" and decide(good, cfg).reasons == []
    static = dict(good, flow_bg=0.1)
    d = decide(static, cfg)
    assert d.status == "reject" and any(r.startswith("static_camera: flow_bg=0.1 <") for r in d.reasons)
    cartoon = dict(good, color_count=1.0)
    assert any(r.startswith("cartoon: color_count=1 <") for r in decide(cartoon, cfg).reasons)
    d = decide(cartoon, FilterConfig(model=str(path), use_rules=False, threshold=0.5))
    assert d.status == "reject" and len(d.reasons) == 1
    assert d.reasons[0].startswith("low_score:") and "color_count" in d.reasons[0]


def test_default_model_file_is_readable_and_rejects_static_camera():
    d = json.loads(DEFAULT_MODEL.read_text())
    assert set(d["features"]) <= set(SIGNAL_NAMES) and 0 < d["threshold"] < 1
    assert d["stumps"] and {st["signal"] for st in d["stumps"]} <= set(d["features"]) and d["info"]["num_suitable"] > 0
    dec = filter_clip(toy("static"))
    assert dec.status == "reject" and any(r.startswith("static_camera") for r in dec.reasons)
    assert set(SIGNAL_NAMES) <= set(dec.signals) and 0 <= dec.score <= 1


class FakeVLM:
    def __init__(self):
        self.shapes = []

    def ask(self, frames, questions):
        assert 1 <= len(frames) <= 4 and frames[0].ndim == 3
        self.shapes += [f.shape for f in frames]
        return {k: 0.9 if k == "cartoon" else 0.1 for k in questions}


def test_vlm_answers_become_features(tmp_path):
    d = filter_clip(toy("good"), vlm=FakeVLM())
    assert d.signals["vlm_cartoon"] == 0.9 and d.status in ("keep", "reject")
    rows, y = rows_and_labels()
    rows = [dict(r, vlm_cartoon=0.9 if r["color_count"] < 5 else 0.1) for r in rows]
    path = fit_model(rows, y, FitConfig(SIGNAL_NAMES + ("vlm_cartoon",))).to_json(tmp_path / "vlm.json")
    with pytest.raises(FilterModelError, match="vlm_cartoon"):
        filter_clip(toy("good"), FilterConfig(model=str(path)))


def test_vlm_sees_frames_larger_than_the_analysis_size(tmp_path):
    frames = np.stack([np.kron(f, np.ones((4, 4, 1), np.uint8)) for f in toy("good").frames])  # 4x the toy size
    path = write_video(tmp_path / "big.mp4", frames, fps=5.0)
    vlm, config = FakeVLM(), FilterConfig(short_side=64, vlm_short_side=200)
    d = filter_video(path, config, vlm=vlm)
    assert d.signals["vlm_cartoon"] == 0.9
    assert vlm.shapes and all(min(s[:2]) == 200 for s in vlm.shapes)  # not the 64 px the signals use
    from dynpose100k.filtering.training import measure_paths

    vlm.shapes.clear()
    assert measure_paths([path], config, vlm=vlm)[0]["vlm_cartoon"] == 0.9
    assert vlm.shapes and all(min(s[:2]) == 200 for s in vlm.shapes)


def test_error_decisions_never_crash(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 50)
    for path in (bad, tmp_path / "missing.mp4"):
        d = filter_video(path)
        assert d.status == "error" and d.reasons[0].startswith("unreadable:") and math.isnan(d.score)
        assert json.loads(json.dumps(d.as_dict()))["score"] is None
    short = write_video(tmp_path / "short.mp4", toy("good", n=6).frames[:3], fps=5.0)
    d = filter_video(short)
    assert d.status == "error" and d.reasons[0].startswith("too_short")
    assert filter_clip(toy("good", n=8), FilterConfig(min_frames=10)).status == "error"
    d = filter_video(short, start="bad:time")
    assert d.status == "error" and "malformed" in d.reasons[0]


def test_filter_cli_writes_parquet_with_reasons(tmp_path, capsys):
    import pandas as pd

    vids = tmp_path / "vids"
    vids.mkdir()
    write_video(vids / "good.mp4", toy("good").frames, fps=5.0)
    write_video(vids / "static.mp4", toy("static").frames, fps=5.0)
    (vids / "broken.mp4").write_bytes(b"junk" * 100)
    out = tmp_path / "scores.parquet"
    assert main(["filter", str(vids), "--out", str(out)]) == 1  # the broken clip is a user error...
    df = pd.read_parquet(out).set_index("video_id")  # ...recorded in the table with the others
    assert set(df.index) == {"good", "static", "broken"}
    assert {"video_path", "status", "score", "reasons", "looks_like", "sig_flow_bg", "sig_focal_median"} <= set(
        df.columns)
    assert df.loc["static", "looks_like"] == "static" and pd.isna(df.loc["broken", "looks_like"])
    assert df.loc["static", "status"] == "reject" and any("static_camera" in r for r in df.loc["static", "reasons"])
    assert df.loc["broken", "status"] == "error" and len(df.loc["broken", "reasons"]) == 1
    captured = capsys.readouterr()
    assert "3 clips:" in captured.out
    errors = [line for line in captured.err.splitlines() if line.startswith("dynpose100k filter: error:")]
    assert len(errors) == 1 and errors[0].count("broken.mp4") == 1  # the file is named once
    assert main(["filter", str(tmp_path / "nope"), "--out", str(out)]) == 1


def test_filter_cli_missing_file_does_not_stop_the_batch(tmp_path, capsys):
    import pandas as pd

    write_video(tmp_path / "good.mp4", toy("good").frames, fps=5.0)
    out = tmp_path / "scores.parquet"
    assert main(["filter", str(tmp_path / "missing.mp4"), str(tmp_path / "good.mp4"), "--out", str(out)]) == 1
    df = pd.read_parquet(out).set_index("video_id")
    assert df.loc["missing", "status"] == "error" and "no such file" in df.loc["missing", "reasons"][0]
    assert df.loc["good", "status"] in ("keep", "reject")
    assert "missing.mp4" in capsys.readouterr().err
    # the table's format follows --out's suffix; an unknown one is refused before any work
    for suffix in (".csv", ".jsonl"):
        assert main(["filter", str(tmp_path / "missing.mp4"), str(tmp_path / "good.mp4"),
                     "--out", str(tmp_path / f"scores{suffix}")]) == 1
    csv = pd.read_csv(tmp_path / "scores.csv").set_index("video_id")
    lines = pd.read_json(tmp_path / "scores.jsonl", lines=True).set_index("video_id")
    for table in (csv, lines):
        assert table.loc["good", "score"] == pytest.approx(df.loc["good", "score"])
    assert "no such file" in json.loads(csv.loc["missing", "reasons"])[0]
    assert lines.loc["missing", "reasons"] == list(df.loc["missing", "reasons"])
    capsys.readouterr()
    assert main(["filter", str(tmp_path / "good.mp4"), "--out", str(tmp_path / "scores.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown table format" in err[0] and not (tmp_path / "scores.json").exists()


def test_detectors_split_only_on_the_signals_that_bear_on_their_kind():
    rows, y = rows_and_labels()
    kinds = ["good" if g else ("static" if r["flow_bg"] < 1 else "cartoon") for r, g in zip(rows, y)]
    allowed = {"static": ("flow_bg", "track_motion"), "cartoon": ("color_count", "palette_cover")}
    m = fit_model(rows, y, FitConfig(SIGNAL_NAMES, detector_signals=allowed), kinds=kinds)
    free = fit_model(rows, y, FitConfig(SIGNAL_NAMES, detector_signals={}), kinds=kinds)
    assert all(st.signal in allowed[st.detector] for st in m.stumps)
    assert any(st.signal not in allowed[st.detector] for st in free.stumps)  # noise signals get used otherwise
    s = m.scores(m.matrix(rows))
    assert s[y].min() > s[~y].max()


def test_calibrated_score_matches_the_observed_suitable_fraction():
    rows, y = _overlapping(400, 0)
    kinds = [f"kind{i % 4}" for i in range(len(y))]  # four detectors, each sees a quarter of the failures
    cal = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9), kinds=kinds)
    raw = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, calibrate=False), kinds=kinds)
    new, y_new = _overlapping(4000, 7)

    def calibration_error(m):
        s = m.scores(m.matrix(new))
        b = np.minimum((s * 5).astype(int), 4)
        return sum(abs(s[b == i].mean() - y_new[b == i].mean()) * (b == i).mean() for i in range(5) if (b == i).any())

    assert calibration_error(cal) < 0.05
    assert calibration_error(cal) < 0.5 * calibration_error(raw)
    a, _ = cal.info["calibration"]
    assert a > 0  # a positive scale keeps the ranking (and the lowest detector) unchanged
    assert np.array_equal(np.argsort(cal.scores(cal.matrix(new))[:50]), np.argsort(raw.scores(raw.matrix(new))[:50]))


def test_shift_margin_raises_the_threshold_so_precision_survives_shifted_failures():
    rows, y = _overlapping(300, 0)
    plain = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, shift_margin=0.0))
    safe = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.9, shift_margin=1.0))
    assert safe.threshold > plain.threshold and safe.info["shift_margin"] == 1.0
    new, y_new = _overlapping(4000, 5)
    for r, good in zip(new, y_new):  # footage on which failures look more suitable than in training
        if not good:
            r["flow_bg"] += 0.7
    prec = [y_new[m.scores(m.matrix(new)) >= m.threshold].mean() for m in (plain, safe)]
    assert prec[1] > prec[0]


def test_unreachable_target_falls_back_to_the_most_precise_threshold_that_keeps_min_recall():
    rows, y = _overlapping(200, 0)
    for r in rows:  # classes overlap too much for precision 0.99
        r["flow_bg"] *= 0.3
    m = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.99, min_recall=0.6, confidence=1.0))
    assert not m.info["target_reached"] and m.info["cv_recall"] >= 0.6
    strict = fit_model(rows, y, FitConfig(_NOISY, target_precision=0.99, min_recall=0.0, confidence=1.0))
    assert strict.threshold > m.threshold


def test_bench_reliability_table_and_wilson_interval():
    from dynpose100k.bench.filter import reliability
    from dynpose100k.metrics import wilson_interval as _wilson
    rng = np.random.default_rng(0)
    score = rng.random(5000)
    y = rng.random(5000) < score  # calibrated by construction
    table = reliability(score, y)
    assert [b["n"] for b in table] and sum(b["n"] for b in table) == 5000
    assert all(abs(b["predicted"] - b["observed"]) < 0.05 for b in table)
    assert all(b["observed_ci"][0] <= b["observed"] <= b["observed_ci"][1] for b in table)
    skewed = reliability(score ** 3, y)  # over-confident about unsuitable clips
    assert max(abs(b["predicted"] - b["observed"]) for b in skewed) > 0.15
    lo, hi = _wilson(9, 10)
    assert lo < 0.9 < hi and 0.5 < lo and hi <= 1.0
    assert _wilson(0, 5)[0] == 0.0 and _wilson(0, 5)[1] > 0.3


def test_detector_without_any_of_its_signals_is_a_constant():
    rows, y = rows_and_labels()
    kinds = ["good" if g else ("static" if r["flow_bg"] < 1 else "cartoon") for r, g in zip(rows, y)]
    fit = FitConfig(("color_count", "palette_cover"),
                    detector_signals={"static": ("flow_bg",), "cartoon": ("color_count",)})
    m = fit_model(rows, y, fit, kinds=kinds)
    assert {st.detector for st in m.stumps} == {"cartoon"} and "static" in m.bases


def test_bench_figures_count_the_kept_suitable_clips():
    from dynpose100k.bench.filter import _figures

    f = _figures(np.array([0.9, 0.8, 0.2, 0.6, 0.55]), np.array([True, False, True, True, False]), 0.5)
    assert f["kept"] == 4 and f["tp"] == 2 and f["precision"] == 0.5 and abs(f["recall"] - 2 / 3) < 1e-12


def test_bench_training_pool_second_rendering_changes_lens_and_compression_only(tmp_path):
    from dynpose100k.bench.filter import TRAIN_NUISANCE, make_pool
    from dynpose100k.video import load_clip

    kw = dict(num=3, seed=1000, size=(72, 128), duration=1.0, workers=1, all_kinds=True)
    plain = make_pool(tmp_path / "plain", **kw)
    wide = make_pool(tmp_path / "wide", nuisance=TRAIN_NUISANCE, **kw)
    again = make_pool(tmp_path / "again", nuisance=TRAIN_NUISANCE, **kw)
    labels = (plain / "labels.csv").read_text()
    assert labels == (wide / "labels.csv").read_text()  # the same clips, kinds and hard flags
    ids = [line.split(",")[0] for line in labels.splitlines()[1:]]
    assert len(ids) == 3

    def diff(a, b, vid):  # mean absolute difference of the decoded frames
        fa, fb = (load_clip(d / f"{vid}.mp4", fps=None).frames.astype(float) for d in (a, b))
        return float(np.abs(fa - fb).mean())

    for vid in ids:  # another lens moves the whole image; the encoder alone (same draw) barely does
        assert diff(wide, plain, vid) > 5 * max(diff(wide, again, vid), 0.2), vid

    boxed = make_pool(tmp_path / "bars", nuisance={"bars": True}, **kw)  # the bench's `bars` test pool
    assert (boxed / "labels.csv").read_text() == labels
    for vid in ids:  # the same clip inside bars, which the filter finds
        fa, fb = (load_clip(d / f"{vid}.mp4", fps=None).frames for d in (plain, boxed))
        top, bottom, left, right = picture_box(fb)
        assert top + bottom + left + right > 0, vid
        inner = (slice(None), slice(top + 1, fb.shape[1] - bottom - 1), slice(left + 1, fb.shape[2] - right - 1))
        assert np.abs(fa[inner].astype(float) - fb[inner]).mean() < 8, vid  # the picture, through the encoder
        bar = (fb[:, : top - 1] if top else fb[:, :, : left - 1]).astype(float)
        assert fa.mean() > 2 and (bar.mean() < 2 or np.abs(np.diff(bar, axis=2)).mean() < 3)  # black, or a blur

    from dynpose100k.synth import FADES
    from dynpose100k.video import faded_ends

    faded = make_pool(tmp_path / "fades", nuisance={"fades": True}, **kw)  # the bench's `fades` test pool
    assert (faded / "labels.csv").read_text() == labels
    for vid in ids:  # the same clip fading from or to black as its seed says, which the filter finds
        f = load_clip(faded / f"{vid}.mp4", fps=None).frames
        head, tail = faded_ends(f)
        seconds_in, seconds_out = FADES[int(vid.rsplit("_s", 1)[1]) % len(FADES)]
        assert (head > 0) == (seconds_in > 0) and (tail > 0) == (seconds_out > 0), vid


def test_fades_from_and_to_black_are_left_out_of_the_signals():
    """A clip that fades in from black (and out again) is measured on the frames between the fades: the same
    signals as those frames alone, with ``fade_frac`` saying how many were left out. Night footage (dark
    throughout) and a clip that would keep too few frames are measured whole."""
    from dynpose100k.filtering import measure_clip
    from dynpose100k.video import faded_ends

    clip = toy("good", n=20)
    gain = np.ones(20)
    gain[:4], gain[-2:] = (0.0, 0.2, 0.45, 0.7), (0.5, 0.1)  # four frames in, two out (below 0.75 of the median)
    faded = (clip.frames * gain[:, None, None, None]).astype(np.uint8)
    assert faded_ends(faded) == (4, 2) and faded_ends(clip.frames) == (0, 0)
    got = measure_clip(SimpleNamespace(frames=faded, timestamps=clip.timestamps))
    inner = measure_clip(SimpleNamespace(frames=clip.frames[4:-2], timestamps=clip.timestamps[4:-2]))
    assert got["fade_frac"] == pytest.approx(6 / 20) and inner["fade_frac"] == 0.0
    assert [got[k] for k in SIGNAL_NAMES] == [inner[k] for k in SIGNAL_NAMES]
    assert faded_ends((clip.frames * 0.05).astype(np.uint8)) == (0, 0)  # too dark throughout to tell black from it

    def ends(tail_gain):
        g = np.ones(20)
        g[-len(tail_gain):] = tail_gain
        return faded_ends((clip.frames * g[:, None, None, None]).astype(np.uint8))

    assert ends([0.0, 0.0, 0.0]) == (0, 3)  # a cut to black is left out too
    assert ends([0.3, 0.3, 0.3]) == (0, 0)  # a step down to a darker scene is a cut, not a fade: measured
    assert ends([0.7, 0.65, 0.6]) == (0, 0)  # light dimming that never reaches black: measured
    assert ends([0.6, 0.3, 0.0]) == (0, 3)  # a fade out: the ramp down to black
    short = toy("good", n=8)
    dim = (short.frames * np.r_[0.0, 0.1, 0.2, np.ones(5)][:, None, None, None]).astype(np.uint8)
    assert measure_clip(SimpleNamespace(frames=dim, timestamps=short.timestamps))["fade_frac"] == 0.0  # 5 < 6 left


def test_bars_are_left_out_of_the_signals_and_a_small_picture_is_decoded_larger(tmp_path):
    """A letterboxed clip is measured on its picture alone (the same signals as the picture without bars);
    ``picture_frac`` says how much of the frame that was. A portrait picture inside pillarbox bars is decoded
    again, larger, so that the picture itself reaches the analysis size."""
    from dynpose100k.filtering import measure_clip
    from dynpose100k.filtering.decide import load_for_filter

    clip = toy("good")
    n, h, w = clip.frames.shape[:3]
    boxed = np.zeros((n, h + 40, w, 3), np.uint8)
    boxed[:, 20:20 + h] = clip.frames
    plain = measure_clip(clip)
    got = measure_clip(SimpleNamespace(frames=boxed, timestamps=clip.timestamps))
    assert plain["picture_frac"] == 1.0 and got["picture_frac"] == pytest.approx((h - 2) / (h + 40))
    assert np.allclose([got[k] for k in SIGNAL_NAMES], [measure_clip(SimpleNamespace(
        frames=clip.frames[:, 1:-1], timestamps=clip.timestamps))[k] for k in SIGNAL_NAMES], equal_nan=True)

    big = np.stack([np.kron(f, np.ones((2, 2, 1), np.uint8)) for f in clip.frames])  # (n, 2h, 2w)
    pw = big.shape[1] * 9 // 16 // 2 * 2
    pillar = np.zeros((n, big.shape[1], big.shape[1] * 16 // 9 // 2 * 2, 3), np.uint8)
    x0 = (pillar.shape[2] - pw) // 2
    pillar[:, :, x0:x0 + pw] = big[:, :, :pw]
    path = write_video(tmp_path / "pillar.mp4", pillar, fps=5.0)
    config = FilterConfig(short_side=48)
    decoded = load_for_filter(path, config)
    top, bottom, left, right = picture_box(decoded.frames)
    assert left > 0 and right > 0  # the bars are there, and the picture between them is at the analysis size
    assert decoded.frames.shape[2] - left - right >= 0.9 * 48 > min(decoded.frames.shape[1:3]) * pw / pillar.shape[2]


def test_bench_measures_a_pool_once_and_caches_its_signals_under_the_code_version(tmp_path, monkeypatch):
    """The bench measures a pool's clips (bars left out, ``picture_frac`` recorded) and caches the signals
    under a hash of the code that decodes and measures them; a second call reads the cache."""
    from dynpose100k.bench import filter as bench_filter

    pool = bench_filter.make_pool(tmp_path / "p", num=3, seed=1000, size=(90, 160), duration=2.0, workers=1,
                                  all_kinds=True, nuisance={"bars": True})
    rows, y, kinds, _ = bench_filter._measure_pool(pool)
    key = bench_filter._signals_version()
    assert len(key) == 16 and (pool / f"signals-{key}.json").is_file()
    assert len(rows) == len(y) == len(kinds) == 3 and all(r["picture_frac"] < 1 for r in rows)
    monkeypatch.setattr(bench_filter, "measure_paths", None)  # measuring again would fail
    again = bench_filter._measure_pool(pool)[0]
    assert [r["picture_frac"] for r in again] == [r["picture_frac"] for r in rows]
