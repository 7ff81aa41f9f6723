import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynpose100k.dust3r.checkpoint import load_checkpoint  # noqa: E402
from dynpose100k.dust3r.data import PairConfig, PairDataset, collate_pairs, record_from_synth, symmetrize  # noqa: E402
from dynpose100k.dust3r.model import build_model  # noqa: E402
from dynpose100k.dust3r.training import ConfigError, TrainConfig, compute_loss, load_config, lr_at, param_groups, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_steps_lower_the_loss_on_a_fixed_batch():
    from dynpose100k.synth import render

    rec = record_from_synth(render("good", 7, height=64, width=96, duration=1.0))
    ds = PairDataset([rec], PairConfig(size=(48, 64), scale_aug=1.0), length=2, seed=0)
    batch = symmetrize(collate_pairs([ds[0], ds[1]]))
    torch.manual_seed(0)
    model = build_model("tiny_linear").train()
    cfg = TrainConfig(pose_weight=0.1)
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=3e-3, betas=(0.9, 0.95))
    losses = []
    for _ in range(6):
        t = compute_loss(model, batch, cfg)
        opt.zero_grad()
        t.total.backward()
        opt.step()
        losses.append(float(t.regression))
    assert losses[-1] < losses[0] - 0.25 * abs(losses[0])


def test_schedule_and_weight_decay_groups():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, warmup_steps=10, max_steps=110)
    assert math.isclose(lr_at(0, cfg), 1e-4) and math.isclose(lr_at(9, cfg), 1e-3)
    assert math.isclose(lr_at(60, cfg), 1e-5 + (1e-3 - 1e-5) * 0.5)
    assert math.isclose(lr_at(110, cfg), 1e-5) and lr_at(30, cfg) > lr_at(80, cfg)
    m = build_model("tiny_linear")
    m.freeze_encoder(True)
    decay, no_decay = param_groups(m, 0.05)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert id(m.decoder_embed.weight) in ids(decay["params"]) and id(m.decoder_embed.bias) in ids(no_decay["params"])
    assert id(m.dec_norm.weight) in ids(no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert id(m.enc_blocks[0].attn.qkv.weight) not in ids(decay["params"] + no_decay["params"])


def _cfg(tmp_path, **kw):
    base = dict(preset="tiny_linear", synth_train_videos=1, synth_val_videos=1, synth_hw=(64, 96), synth_duration=1.0,
                size=(48, 64), pairs_per_epoch=4, batch_size=2, warmup_steps=1, max_steps=2, eval_every=2,
                eval_pairs=2, save_every=1, log_every=1, output_dir=str(tmp_path / "run"), mixed_precision="no")
    return TrainConfig(**{**base, **kw})


def test_train_checkpoints_and_resumes(tmp_path):
    out = train(_cfg(tmp_path))
    assert out["step"] == 2 and "val_loss" in out
    run = tmp_path / "run"
    model, rep = load_checkpoint(run / "checkpoint-last.pth")
    assert rep.missing == () and int(torch.load(run / "checkpoint-last.pth", weights_only=False)["step"]) == 2
    out2 = train(_cfg(tmp_path, max_steps=3))
    assert out2["step"] == 3
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # resumed at 2, not restarted


def test_entry_script_reports_bad_config(tmp_path, capsys, monkeypatch):
    (tmp_path / "c.yaml").write_text("preset: tiny_linear\nnot_a_key: 1\n")
    monkeypatch.setattr(sys, "argv", ["finetune.py", "--config", str(tmp_path / "c.yaml")])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(ROOT / "train" / "finetune.py"), run_name="__main__")
    assert e.value.code == 1 and "unknown keys not_a_key" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_numbers_in_any_spelling():
    cfg = load_config(lr="5e-5", min_lr=1, max_steps=20.0)  # YAML reads 5e-5 as a string
    assert cfg.lr == 5e-5 and isinstance(cfg.min_lr, float) and cfg.max_steps == 20
    for bad in ({"lr": "fast"}, {"max_steps": 2.5}, {"batch_size": True}):
        with pytest.raises(ConfigError, match="expected"):
            load_config(**bad)


@pytest.mark.parametrize("name", ["tiny_cpu.yaml", "finetune_dynpose_512_dpt.yaml", "finetune_dynpose_224_linear.yaml"])
def test_shipped_configs_parse(name):
    cfg = load_config(ROOT / "train" / "configs" / name)
    if "512" in name:
        assert cfg.freeze_encoder and cfg.lr == 5e-5 and cfg.min_lr == 1e-6 and cfg.batch_size * cfg.grad_accum == 32
    assert np.all(np.array(cfg.size) % 16 == 0)


def test_settings_out_of_range_null_overrides_and_an_epoch_without_a_batch(tmp_path):
    from dynpose100k.errors import DynPoseError

    for bad in ({"save_every": 0}, {"log_every": 0}, {"batch_size": 0}, {"lr": 0.0}):
        with pytest.raises(DynPoseError, match=f"{next(iter(bad))} must be"):
            load_config(**bad)
    assert load_config(sets={"grad_clip": None, "eval_every": 0}).grad_clip is None  # --set grad_clip=null
    with pytest.raises(ConfigError, match="no batch of 4 pairs in an epoch"):  # it looped for ever
        train(_cfg(tmp_path, pairs_per_epoch=2, batch_size=4))
