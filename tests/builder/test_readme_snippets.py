"""The Python code blocks of the README's dataset section and of a generated dataset card run as written."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def _readme_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("### The dataset: shards, `load_dataset`, subsets")
    return text[start:text.index("\n### ", start + 10)]


def test_readme_dataset_snippets_run(mixed_dataset, offline):
    from builder import features
    from dynpose100k.shards import QualityRule, read_manifest

    blocks = _blocks(_readme_section())
    assert blocks and any("QualityRule" in b for b in blocks) and any("data_files=" in b for b in blocks)
    ns: dict = {}
    for code in blocks:
        exec(compile(code.replace("path/to/dynpose-100k", str(mixed_dataset)), "README.md", "exec"), ns)
    # the filter ran on a dataset holding an imported clip without reprojection error or confidence (vid_3)
    expected = sorted(s["key"] for e in read_manifest(mixed_dataset) for s in e["samples"]
                      if QualityRule(min_confidence=0.5, min_registered=0.8)(s))
    assert sorted(ns["good"]["__key__"]) == expected == ["vid_0", "vid_1"]
    assert ns["few"].features == features() and len(ns["few"]) == 2
    assert "K" in ns["ds"].column_names and ns["pipe"] is not None


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # the card's num_workers=4, never iterated
def test_card_snippets_run(mixed_dataset, offline):
    card = (mixed_dataset / "README.md").read_text()
    blocks = [b for b in _blocks(card) if "load_dataset" in b or "make_pipeline" in b or "QualityRule" in b]
    assert len(blocks) == 4
    ns: dict = {}
    for code in blocks:
        exec(compile(code.replace("path/to/this/folder", str(mixed_dataset)), "card", "exec"), ns)
    assert sorted(ns["good"]["__key__"]) == ["vid_0", "vid_1"]
    assert ns["ds_np"][0]["w2c.npy"].shape == (6, 4, 4) and ns["few"].features["w2c.npy"].shape == (None, 4, 4)
