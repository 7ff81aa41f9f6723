import argparse
import json
import pickle

import pytest
import torch

from dynpose100k.dust3r.checkpoint import (config_from_kwargs, load_checkpoint, parse_constructor, save_checkpoint,
                                           save_safetensors)
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


def _same_outputs(a, b):
    x1, x2 = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 3, 64, 96)
    with torch.no_grad():
        return torch.equal(a(x1, x2)[1]["pts3d_in_other_view"], b(x1, x2)[1]["pts3d_in_other_view"])


def test_official_layout_roundtrip_with_weights_only(tmp_path, tiny_dpt):
    path = save_checkpoint(tmp_path / "tiny.pth", tiny_dpt)
    raw = torch.load(path, weights_only=False)
    assert set(raw) == {"model", "args"} and isinstance(raw["args"], argparse.Namespace)
    assert raw["args"].model.startswith("AsymmetricCroCo3DStereo(")
    with pytest.raises(pickle.UnpicklingError):  # the Namespace really needs the allow-list
        torch.load(path, weights_only=True)
    model, rep = load_checkpoint(path)
    assert rep.missing == rep.unexpected == rep.mismatched == ()
    assert set(model.state_dict()) == set(raw["model"])
    assert model.cfg == tiny_dpt.cfg and _same_outputs(model, tiny_dpt)


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
