import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_pose_folder_without_results_is_an_error_not_a_table_of_failures(tmp_path, capsys):
    from dynpose100k.synth import write_pool

    write_pool(tmp_path / "gt", 1, "good", seed=0, height=48, width=64, duration=0.5)
    (tmp_path / "curated" / "poses" / "dis-own-12fps" / "x").mkdir(parents=True)
    (tmp_path / "curated" / "poses" / "dis-own-12fps" / "x" / "result.json").write_text("{}")
    main = runpy.run_path(str(ROOT / "eval" / "quality_subsets.py"))["main"]
    assert main([str(tmp_path / "missing"), str(tmp_path / "gt")]) == 1
    assert "missing: no pose results" in capsys.readouterr().err
    assert main([str(tmp_path / "curated" / "poses"), str(tmp_path / "gt")]) == 1  # results are one level down
    assert "give " + str(tmp_path / "curated" / "poses" / "dis-own-12fps") in capsys.readouterr().err
