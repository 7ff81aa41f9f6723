"""The end-to-end script of the README's curation table, on a three-clip pool of 2 s clips."""

import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_end_to_end_script_renders_curates_and_scores_both_arms(tmp_path, capsys):
    main = runpy.run_path(str(ROOT / "eval" / "curation_end_to_end.py"))["main"]
    assert main(["--out", str(tmp_path), "--pools", "dev51", "--num", "3", "--duration", "2"]) == 0
    row = json.loads((tmp_path / "end_to_end.json").read_text())["dev51"]
    e = row["end_to_end"]
    assert e["suitable"] == 1 and e["min_confidence"] == 0.5
    assert e["with_pose_check"]["kept"] >= e["filter_alone"]["kept"]  # the check only adds
    assert row["filter_and_check"]["rescued"] <= row["filter_and_check"]["checked"]
    assert (tmp_path / "cur_dev51" / "ledger.sqlite").is_file() and "dev51" in capsys.readouterr().out
    assert main(["--out", str(tmp_path), "--pools", "dev51,nosuch"]) == 2  # unknown pool: usage error
