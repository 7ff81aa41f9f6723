"""Fitting the fusion model: the frozen fit configuration, reproducible models, and the ``fit-filter`` verb."""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "signals"))
import toyclips  # noqa: E402
from test_filter import _NOISY, _overlapping, rows_and_labels  # noqa: E402

from dynpose100k.cli import main  # noqa: E402
from dynpose100k.filtering import FilterConfig, FilterModel, FitConfig, fit_filter_model, fit_model  # noqa: E402
from dynpose100k.video import write_video  # noqa: E402

DATA = Path(__file__).parent / "data"


def _same(a, b, path="") -> None:
    """Equal JSON documents; floats equal to 1e-9 relative (other CPUs may round the last bits differently)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, path


def _fits():
    rows, y = rows_and_labels()
    kinds = ["good" if g else ("static" if r["flow_bg"] < 1 else "cartoon") for r, g in zip(rows, y)]
    yield "fit_kinds.json", fit_model(rows, y, FitConfig(prevalence=0.1), kinds=kinds, info={"pool": "toy"})
    rows, y = _overlapping(200, 0)
    yield "fit_plain.json", fit_model(rows, y, FitConfig(_NOISY))
    yield "fit_refit.json", fit_model(rows, y, FitConfig(_NOISY, bagged=False, confidence=0.0, target_precision=0.8))


@pytest.mark.parametrize("name", ["fit_kinds.json", "fit_plain.json", "fit_refit.json"])
def test_fit_reproduces_the_recorded_models(name, tmp_path):
    """The recorded models pin the fit: the same data and settings must give the same model file (regenerate
    them, with a reason in the commit, only when the fitting is meant to change)."""
    model = dict(_fits())[name]
    _same(json.loads(model.to_json(tmp_path / name).read_text()), json.loads((DATA / name).read_text()))


def test_fit_config_is_frozen_and_its_defaults_are_the_shipped_ones():
    c = FitConfig()
    with pytest.raises(FrozenInstanceError):
        c.lr = 0.2  # type: ignore[misc]
    from dynpose100k.filtering import DEFAULT_MODEL

    info = json.loads(DEFAULT_MODEL.read_text())["info"]
    assert (c.target_precision, c.lr, c.folds, c.bagged) == (info["target_precision"], info["lr"], info["cv_folds"],
                                                            info["bagged"])
    assert info["rounds"] in c.rounds_grid


def _pool(folder: Path) -> Path:
    folder.mkdir()
    rows = []
    for kind, n in (("good", 6), ("static", 4), ("cartoon", 4)):
        for i in range(n):
            vid = f"{kind}_{i}"
            frames, _ = toyclips.render(kind, seed=i)
            write_video(folder / f"{vid}.mp4", frames, fps=toyclips.FPS)
            rows.append([vid, kind, int(kind == "good")])
    with open(folder / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["video_id", "kind", "suitable"], *rows])
    return folder


def test_fit_filter_verb_writes_the_model_the_library_fits(tmp_path, capsys):
    pool = _pool(tmp_path / "pool")
    out = tmp_path / "models" / "m.json"
    assert main(["fit-filter", str(pool), "--out", str(out), "--prevalence", "0.2"]) == 0
    assert f"wrote {out}: threshold" in capsys.readouterr().out
    m = FilterModel.from_json(out)
    assert m.info["num_clips"] == 14 and m.info["num_suitable"] == 6 and set(m.bases) == {"static", "cartoon"}
    ref = fit_filter_model(pool, FilterConfig(), FitConfig(prevalence=0.2), out=tmp_path / "ref.json")
    assert out.read_text() == (tmp_path / "ref.json").read_text() and ref.threshold == m.threshold


def test_fit_filter_verb_fails_in_one_line(tmp_path, capsys):
    assert main(["fit-filter", str(tmp_path), "--out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no labels.csv" in err[0]
    (tmp_path / "labels.csv").write_text("video_id,suitable\n")
    assert main(["fit-filter", str(tmp_path), "--out", str(tmp_path / "m.json"), "--prevalence", "1.5"]) == 1
    assert "--prevalence" in capsys.readouterr().err


def test_the_shipped_rules_are_the_ones_a_fit_makes():
    """The packaged model carries one rule per :data:`RULE_SPECS` entry, in order (a rule dropped from the specs
    must leave the shipped file too), and a shot cut is ruled on by interior track loss only: the warp
    residual of the frame rises on fast or dark footage of other scene families too."""
    from dynpose100k.filtering import load_model
    from dynpose100k.filtering.training import RULE_SPECS

    shipped = [(r.name, r.signal, r.op) for r in load_model().rules]
    assert shipped == list(RULE_SPECS)
    assert [s for name, s, _ in RULE_SPECS if name == "shot_cut"] == ["cut_track_loss"]


def test_a_pool_too_small_for_the_cross_validation_is_one_line():
    from dynpose100k.errors import DynPoseError
    from dynpose100k.signals import SIGNAL_NAMES

    rows = [dict.fromkeys(SIGNAL_NAMES, float(i)) for i in range(9)]
    labels = [True] * 4 + [False] * 5  # 4 suitable clips: a fold's training part would lack them (an IndexError)
    with pytest.raises(DynPoseError, match="needs at least 5 suitable and 5 unsuitable clips.*got 4 and 5"):
        fit_model(rows, labels, kinds=["static"] * 9)
