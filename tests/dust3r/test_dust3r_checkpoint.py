import argparse
import json
import pickle

import pytest
import torch

from dynpose100k.dust3r.checkpoint import (
    OFFICIAL_MODEL_ARGS,
    config_from_kwargs,
    load_checkpoint,
    parse_constructor,
    save_checkpoint,
    save_safetensors,
)
from dynpose100k.dust3r.model import PRESETS, build_model
from dynpose100k.errors import CheckpointError

OFFICIAL_512_DPT = (
    "AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='ManyAR_PatchEmbed', img_size=(512, 512), "
    "head_type='dpt', output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), "
    "enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12)"
)


@pytest.fixture(scope="module")
def tiny_dpt():
    torch.manual_seed(0)
    return build_model("tiny_dpt").eval()


# small inputs keep the (official-width) DPT head cheap; any multiple of the patch size works
X1, X2 = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1, torch.zeros(1, 3, 32, 48)


def _same_outputs(a, b):
    with torch.no_grad():
        (a1, a2), (b1, b2) = a(X1, X2), b(X1, X2)
    return all(torch.equal(a1[k], b1[k]) for k in a1) and all(torch.equal(a2[k], b2[k]) for k in a2)


@pytest.mark.parametrize("preset", ["tiny_linear", "tiny_dpt"])
def test_saved_checkpoint_reloads_strictly_with_identical_outputs(tmp_path, preset):
    torch.manual_seed(0)
    m = build_model(preset).eval()
    with torch.no_grad():  # non-trivial biases and norms, so a mis-assigned tensor would show
        for p in m.parameters():
            p.add_(0.02 * torch.randn_like(p))
    path = save_checkpoint(tmp_path / "m.pth", m, epoch=3)
    raw = torch.load(path, weights_only=False)
    assert set(raw) == {"model", "args", "epoch"} and raw["epoch"] == 3
    assert isinstance(raw["args"], argparse.Namespace) and raw["args"].model.startswith("AsymmetricCroCo3DStereo(")
    with pytest.raises(pickle.UnpicklingError):  # the Namespace really needs the allow-list
        torch.load(path, weights_only=True)
    model, rep = load_checkpoint(path)
    assert rep.missing == rep.unexpected == rep.mismatched == ()
    assert set(model.state_dict()) == set(raw["model"])
    assert model.cfg == m.cfg and _same_outputs(model, m)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_constructor_string_uses_only_official_arguments(preset):
    """The saved ``args.model`` must build the same model in the official code: only its keyword
    arguments, and it must round-trip to the same config here."""
    cfg = PRESETS[preset]
    name, kw = parse_constructor(cfg.constructor_string())
    assert name == "AsymmetricCroCo3DStereo" and set(kw) <= OFFICIAL_MODEL_ARGS
    assert isinstance(kw["img_size"], tuple)  # the official constructor indexes img_size[0], img_size[1]
    assert config_from_kwargs(kw) == cfg
    if cfg.head_type == "dpt":
        assert kw["dec_depth"] >= 10  # the official DPT head asserts dec_depth > 9


def test_official_training_file_loads_with_weights_only(tmp_path, tiny_dpt, caplog):
    """A file laid out as the official training code writes it: the model, optimizer and scaler states, the
    whole training ``argparse.Namespace``, the epoch and the best loss so far."""
    model_str = tiny_dpt.cfg.constructor_string().replace("PatchEmbedDust3R", "ManyAR_PatchEmbed")
    opt = torch.optim.AdamW([p for p in tiny_dpt.parameters()][:4], lr=1e-4)
    for p in opt.param_groups[0]["params"]:
        p.grad = torch.zeros_like(p)
    opt.step()
    args = argparse.Namespace(model=model_str, train_criterion="ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)",
                              test_criterion=None, train_dataset="1000 @ Co3d(split='train')", lr=1e-4,
                              min_lr=1e-6, blr=1.5e-4, betas=None, epochs=10, batch_size=4, accum_iter=1,
                              weight_decay=0.05, amp=0, seed=0, output_dir=str(tmp_path), resume=None,
                              pretrained=None, disable_cudnn_benchmark=False, eval_freq=1, print_freq=20)
    torch.save({"model": tiny_dpt.state_dict(), "optimizer": opt.state_dict(), "scaler": {"scale": 65536.0},
                "args": args, "epoch": 9, "best_so_far": 0.25}, tmp_path / "checkpoint-best.pth")
    with caplog.at_level("WARNING"):
        model, rep = load_checkpoint(tmp_path / "checkpoint-best.pth")
    assert "full unpickling" not in caplog.text  # read with weights_only=True and Namespace allow-listed
    assert rep.missing == rep.unexpected == rep.mismatched == () and _same_outputs(model, tiny_dpt)


def test_safetensors_folder_roundtrip(tmp_path, tiny_dpt):
    folder = save_safetensors(tmp_path / "st", tiny_dpt)
    assert json.loads((folder / "config.json").read_text())["head_type"] == "dpt"
    model, rep = load_checkpoint(folder)
    assert rep.missing == () and _same_outputs(model, tiny_dpt)


def test_key_mismatches_are_listed(tmp_path, tiny_dpt):
    sd = dict(tiny_dpt.state_dict())
    sd.pop("enc_norm.weight")
    sd["extra_head.weight"] = torch.zeros(3)
    sd["decoder_embed.bias"] = torch.zeros(5)
    torch.save({"model": sd, "args": argparse.Namespace(model=tiny_dpt.cfg.constructor_string())}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "bad.pth")
    msg = str(e.value)
    assert "enc_norm.weight" in msg and "extra_head.weight" in msg and "decoder_embed.bias: (5,) != (48,)" in msg
    model, rep = load_checkpoint(tmp_path / "bad.pth", strict=False)
    assert rep.missing == ("enc_norm.weight",) and rep.unexpected == ("extra_head.weight",)
    assert torch.equal(model.enc_blocks[0].attn.qkv.weight, tiny_dpt.enc_blocks[0].attn.qkv.weight)


def test_croco_style_file_fills_second_decoder(tmp_path, tiny_dpt):
    sd = {k: v for k, v in tiny_dpt.state_dict().items() if not k.startswith("dec_blocks2.")}
    torch.save({"model": sd, "args": argparse.Namespace(model=tiny_dpt.cfg.constructor_string())}, tmp_path / "c.pth")
    model, _ = load_checkpoint(tmp_path / "c.pth")
    assert torch.equal(model.dec_blocks2[1].mlp.fc1.weight, tiny_dpt.dec_blocks[1].mlp.fc1.weight)


def test_parse_official_constructor_without_eval():
    name, kw = parse_constructor(OFFICIAL_512_DPT)
    assert name == "AsymmetricCroCo3DStereo" and kw["depth_mode"] == ("exp", -float("inf"), float("inf"))
    assert config_from_kwargs(kw) == PRESETS["512_dpt"]
    for bad in ("AsymmetricCroCo3DStereo(a=__import__('os').system('true'))", "os.system('x')", "X(1, a=2)"):
        with pytest.raises(CheckpointError):
            parse_constructor(bad)
    with pytest.raises(CheckpointError, match="pos_embed"):
        config_from_kwargs({"pos_embed": "cosine"})


class _Evil:
    def __reduce__(self):
        return (exec, ("import builtins; builtins.EVIL_RAN = True",))


def test_untrusted_pickle_is_refused(tmp_path):
    torch.save({"model": {}, "args": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="allow-list"):
        load_checkpoint(tmp_path / "evil.pth")
    import builtins

    assert not hasattr(builtins, "EVIL_RAN")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
