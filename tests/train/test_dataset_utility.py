import json
import runpy
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def test_dataset_utility_runs_at_tiny_scale(tmp_path, capsys):
    mod = runpy.run_path(str(ROOT / "eval" / "dataset_utility.py"))
    rc = mod["main"](["--out", str(tmp_path), "--steps", "2", "--train-videos", "1", "--eval-videos", "1",
                      "--hw", "64", "96", "--duration", "0.5", "--size", "48", "64", "--window", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "fine-tuned" in out and "mechanics only" in out
    res = json.loads((tmp_path / "dataset_utility.json").read_text())
    assert [r["model"] for r in res["rows"]] == ["base", "fine-tuned"] and res["tiny"]
    for r in res["rows"]:
        assert {"pct_lt_5", "pct_lt_10", "pct_lt_30", "mean", "ate_mean", "registered_pct"} <= set(r)
    assert (tmp_path / "train-shards" / "manifest.jsonl").is_file()


def test_compare_and_summarize_seeds():
    mod = runpy.run_path(str(ROOT / "eval" / "dataset_utility.py"))
    rows = [{"model": m, "seed": s, "mean": v, "pct_lt_10": 0.0, "ate_mean": 0.1, "registered_pct": 50.0}
            for m, vals in (("curated", (10.0, 11.0, 9.0)), ("static", (20.0, 19.0, 22.0)),
                            ("unfiltered", (10.5, 10.0, 9.5)))
            for s, v in enumerate(vals)]
    c = mod["compare"](rows, "curated", "static", "mean", -1)
    assert c["verdict"] == "better" and c["wins"] == 3 and abs(c["improvement_mean"] - 31 / 3) < 1e-9
    c = mod["compare"](rows, "curated", "unfiltered", "mean", -1)
    assert c["verdict"] == "no clear difference" and c["wins"] == 2
    c = mod["compare"](rows, "static", "curated", "mean", -1)
    assert c["verdict"] == "worse"
    s = mod["summarize"](rows, ["curated", "static"])
    assert abs(s["static"]["mean"]["mean"] - 61 / 3) < 1e-9 and s["static"]["seeds"] == 3
    assert s["curated"]["mean"]["sd"] == pytest.approx(1.0)


@pytest.mark.slow
def test_smoke_experiment_end_to_end_and_cached(tmp_path, capsys):
    """The smoke preset runs every stage: static pretraining, curation (filter + poses) of a dev pool, the four
    arms' shards, fine-tuning and held-out scoring for each seed; a second run reuses every cached stage."""
    mod = runpy.run_path(str(ROOT / "eval" / "dataset_utility.py"))
    assert mod["main"](["--experiment", "smoke", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "experiment.json").read_text())
    arms = res["arms"]
    assert arms["curated"]["clips"] >= 1 and set(arms["curated"]["kinds"]) == {"good"}  # the filter kept good clips
    assert arms["oracle"]["keys"] == arms["curated"]["keys"]
    assert 1 <= arms["unfiltered"]["clips"] <= arms["curated"]["clips"]
    unfiltered = json.loads((tmp_path / "unfiltered" / "summary.json").read_text())
    assert unfiltered["funnel"]["passed_filter"] == unfiltered["funnel"]["pool"] == 5  # no filter on that arm
    assert set(arms["quality"]["keys"]) <= set(arms["curated"]["keys"])
    models = {r["model"] for r in res["rows"]}
    assert models == {"static", "curated", "unfiltered", "oracle", "quality"}
    assert sorted({r["seed"] for r in res["rows"]}) == [0, 1]
    assert all(s >= 1_000_000_000 for s in res["eval_seeds"]) and all(s < 1_000_000_000 for s in res["val_seeds"])
    assert {(c["a"], c["b"]) for c in res["comparisons"]} == {("curated", "static"), ("curated", "unfiltered")}
    out = capsys.readouterr().out
    assert "curated vs static" in out and "curated vs unfiltered" in out
    ckpt = tmp_path / "ft-curated-s1" / "checkpoint-last.pth"
    stamp = ckpt.stat().st_mtime_ns
    assert mod["main"](["--experiment", "smoke", "--out", str(tmp_path)]) == 0
    assert ckpt.stat().st_mtime_ns == stamp  # nothing retrained
    again = json.loads((tmp_path / "experiment.json").read_text())
    assert json.dumps(again["rows"]) == json.dumps(res["rows"])  # (NaN-safe comparison)
