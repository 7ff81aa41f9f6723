"""The card can be made publishable: licence, name, description options kept on appends, hand edits kept,
real sizes, the subset's rule recorded; the template ships in the package."""

import json
import re
import tarfile
from pathlib import Path

import yaml
from pose_fixtures import write_pose_dir

from builder.card import template_path
from dynpose100k.cli import main
from dynpose100k.shards import iter_samples

REPO = Path(__file__).resolve().parents[2]


def _yaml(card: Path) -> dict:
    return yaml.safe_load(card.read_text().split("---\n")[1])


def _shard(poses, out, *extra):
    return main(["shard", str(poses), "--out", str(out), "--maxcount", "1", *map(str, extra)])


def test_packaged_template_is_the_top_level_card():
    """The card template read at run time is the packaged copy; the top-level file users read is equal."""
    assert template_path().parent == REPO / "builder"
    assert (REPO / "dataset_card.md").read_text() == template_path().read_text(), \
        "dataset_card.md and builder/dataset_card.md differ: edit builder/dataset_card.md and copy it over"


def test_card_options_persist_and_hand_edits_survive_append(tmp_path):
    poses, out = tmp_path / "poses", tmp_path / "ds"
    write_pose_dir(poses, "v0", n=5, seed=0)
    (tmp_path / "about.md").write_text("Clips of **city streets**, posed with the fast preset.\n")
    assert _shard(poses, out, "--license", "other", "--license-name", "my-data-1.0", "--license-link",
                  "https://example.org/license", "--pretty-name", "Street poses", "--description-file",
                  tmp_path / "about.md") == 0
    card = out / "README.md"
    head = _yaml(card)
    assert (head["license"], head["license_name"], head["license_link"]) == (
        "other", "my-data-1.0", "https://example.org/license")
    assert head["pretty_name"] == "Street poses" and "# Street poses\n\nClips of **city streets**" in card.read_text()
    # a hand edit outside the generated blocks, and one inside (which the next write replaces)
    text = card.read_text().replace("## Limitations", "## Our notes\n\nRecorded on rainy days only.\n\n## Limitations")
    text = text.replace("| 1 | 5 | 1 |", "| 999 | 5 | 1 |").replace("tags:\n", "language:\n- en\ntags:\n- streets\n")
    card.write_text(text.replace("num_examples: 1", "num_examples: 7"))
    write_pose_dir(poses, "v1", n=7, seed=1)
    assert _shard(poses, out) == 0  # append without options
    text = card.read_text()
    assert "Recorded on rainy days only." in text and text.index("## Our notes") < text.index("## Limitations")
    assert "| 2 | 12 | 2 |" in text and "999" not in text  # statistics regenerated
    head = _yaml(card)
    assert head["license"] == "other" and head["license_name"] == "my-data-1.0"
    assert head["pretty_name"] == "Street poses"
    assert head["dataset_info"]["splits"][0]["num_examples"] == 2
    assert head["language"] == ["en"] and head["tags"][0] == "streets"  # YAML keys the data does not set are kept
    assert "Clips of **city streets**" in text
    # sizes are real: payload bytes (tar members) and shard bytes
    members = sum(m.size for t in sorted((out / "data").glob("*.tar")) for m in tarfile.open(t))
    shards = sum(t.stat().st_size for t in (out / "data").glob("*.tar"))
    assert head["dataset_info"]["dataset_size"] == head["dataset_info"]["splits"][0]["num_bytes"] == members > 0
    assert head["dataset_info"]["download_size"] == shards
    # a new licence replaces the old one (and its name and link)
    assert _shard(poses, out, "--license", "cc-by-4.0") == 0
    head = _yaml(card)
    assert head["license"] == "cc-by-4.0" and "license_name" not in head and "license_link" not in head
    assert json.loads((out / "card.json").read_text())["license"] == "cc-by-4.0"
    assert "Recorded on rainy days only." in card.read_text()


def test_card_option_errors_are_one_line_and_early(tmp_path, capsys):
    poses, out = tmp_path / "poses", tmp_path / "ds"
    write_pose_dir(poses, "v0", n=5, seed=0)
    assert _shard(poses, out, "--license", "other") == 1
    assert "--license-name and --license-link" in capsys.readouterr().err
    assert not (out / "data").exists()  # refused before any shard was written
    assert _shard(poses, out, "--license", "CC BY") == 1
    assert "licence id" in capsys.readouterr().err
    assert _shard(poses, out, "--description-file", tmp_path / "missing.md") == 1
    assert "missing.md" in capsys.readouterr().err


def test_default_licence_is_unknown_not_other(tmp_path):
    poses, out = tmp_path / "poses", tmp_path / "ds"
    write_pose_dir(poses, "v0", n=5, seed=0)
    assert _shard(poses, out) == 0
    assert _yaml(out / "README.md")["license"] == "unknown"


def test_subset_card_records_thresholds_and_keeps_settings(mixed_dataset, tmp_path, capsys):
    from builder.card import write_card

    write_card(mixed_dataset, license="cc-by-4.0", pretty_name="All clips")
    dst = tmp_path / "hq"
    assert main(["subset", str(mixed_dataset), str(dst), "--min-confidence", "off", "--max-reproj-px", "1.2",
                 "--min-registered", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "kept 2 of 4" in out and "QualityRule(max_reproj_px=1.2, min_registered=0.8)" in out
    text = (dst / "README.md").read_text()
    assert ("Quality subset of `dynpose-100k`: videos with reproj_error_px_720p < 1.2 and registered_fraction >= 0.8"
            in text) and "2 of 4 kept" in text and "--max-reproj-px 1.2 --min-registered 0.8" in text
    head = _yaml(dst / "README.md")
    assert head["license"] == "cc-by-4.0" and head["pretty_name"] == "All clips"
    assert json.loads((dst / "card.json").read_text())["subset"] == {
        "source": "dynpose-100k", "max_reproj_px": 1.2, "min_registered": 0.8, "min_confidence": None,
        "min_focal_pin": None, "kept": 2, "total": 4}
    assert sorted(s.key for s in iter_samples(dst)) == ["vid_0", "vid_1"]
    # the record survives a rewrite of the card (an append)
    write_card(dst)
    assert "reproj_error_px_720p < 1.2" in (dst / "README.md").read_text()
    # the imported clip (no reprojection error) is reported in the statistics
    assert re.search(r"\(1 without a value\)", (mixed_dataset / "README.md").read_text())


def test_old_card_without_blocks_keeps_its_body(mixed_dataset):
    from builder.card import write_card

    card = mixed_dataset / "README.md"
    card.write_text("---\nlicense: mit\n---\n\n# My own card\n\nWritten by hand.\n")
    write_card(mixed_dataset)
    text = card.read_text()
    assert text.endswith("# My own card\n\nWritten by hand.\n") and "dataset_info:" in text
