"""The ``demo`` verb end to end on a tiny pool: render, curate, load, the report's tables and plots."""

import json
import math

from dynpose100k.cli import main


def test_demo_on_a_tiny_pool(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--num", "1", "--easy", "2", "--height", "144", "--width", "256",
                 "--duration", "2", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "quality subsets"):
        assert step in text
    rep = json.loads((out / "report.json").read_text())
    assert rep["funnel"]["pool"] == 3 and rep["filter"]["pool"] == 3
    kept = [r for r in rep["pose"] if r["status"] == "sharded"]
    assert kept and all(math.isfinite(r["ate"]) and r["registered"] >= 0.8 for r in kept)
    assert rep["pose_summary"]["kept"]["videos"] == len(kept)
    assert [rows[0]["name"] for rows in rep["quality_subsets"].values()] == ["Full set", "Full set"]
    assert {p.rsplit("/", 1)[-1] for p in rep["plots"]} == {"trajectories.png", "filter_pr.png"}
    # the run's files are where the curation runner puts them
    assert (out / "curated" / "ledger.sqlite").is_file() and (out / "curated" / "dynpose-100k" / "README.md").is_file()
    # again with fewer clips: only this run's pool is curated (the first run's easy clips joined it before)
    assert main(["demo", "--out", str(out), "--num", "1", "--easy", "0", "--height", "144", "--width", "256",
                 "--duration", "2", "--workers", "1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["funnel"]["pool"] == 1 and rep["filter"]["pool"] == 1 and len(rep["pose"]) <= 1
