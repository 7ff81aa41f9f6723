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
