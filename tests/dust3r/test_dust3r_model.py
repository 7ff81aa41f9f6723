import re

import pytest
import torch

from dynpose100k.dust3r.model import PRESETS, DUSt3R, RoPE2D, build_model, postprocess

OFFICIAL_PREFIXES = ("patch_embed.proj.", "mask_token", "enc_blocks.", "enc_norm.", "decoder_embed.", "dec_blocks.",
                     "dec_blocks2.", "dec_norm.", "downstream_head1.", "downstream_head2.")
ENC = {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
       "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}
DEC = ENC | {f"cross_attn.{p}.{w}" for p in ("projq", "projk", "projv", "proj") for w in ("weight", "bias")} | {
    "norm3.weight", "norm3.bias", "norm_y.weight", "norm_y.bias"}


def _meta(name):
    with torch.device("meta"):
        return build_model(name)


def test_state_dict_names_and_shapes_match_official_large_models():
    m = _meta("512_dpt")
    sd = m.state_dict()
    assert all(k.startswith(OFFICIAL_PREFIXES) for k in sd)
    for i in range(24):
        assert {k[len(f"enc_blocks.{i}."):] for k in sd if k.startswith(f"enc_blocks.{i}.")} == ENC
    for blocks in ("dec_blocks", "dec_blocks2"):
        for i in range(12):
            assert {k[len(f"{blocks}.{i}."):] for k in sd if k.startswith(f"{blocks}.{i}.")} == DEC
    assert "enc_blocks.24.norm1.weight" not in sd and "dec_blocks.12.norm1.weight" not in sd
    shapes = {
        "patch_embed.proj.weight": (1024, 3, 16, 16), "mask_token": (1, 1, 768),
        "enc_blocks.0.attn.qkv.weight": (3072, 1024), "enc_blocks.23.mlp.fc1.weight": (4096, 1024),
        "decoder_embed.weight": (768, 1024), "dec_blocks.11.cross_attn.projk.weight": (768, 768),
        "dec_blocks2.0.mlp.fc2.weight": (768, 3072), "dec_norm.weight": (768,),
        "downstream_head1.dpt.act_postprocess.0.0.weight": (96, 1024, 1, 1),
        "downstream_head1.dpt.act_postprocess.0.1.weight": (96, 96, 4, 4),
        "downstream_head1.dpt.act_postprocess.3.1.weight": (768, 768, 3, 3),
        "downstream_head2.dpt.scratch.layer_rn.3.weight": (256, 768, 3, 3),
        "downstream_head2.dpt.scratch.layer4_rn.weight": (256, 768, 3, 3),
        "downstream_head1.dpt.scratch.refinenet1.resConfUnit2.conv1.weight": (256, 256, 3, 3),
        "downstream_head1.dpt.scratch.refinenet4.out_conv.weight": (256, 256, 1, 1),
        "downstream_head1.dpt.head.0.weight": (128, 256, 3, 3), "downstream_head1.dpt.head.4.weight": (4, 32, 1, 1),
    }
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k
    heads = {re.sub(r"\.\d+\.", ".N.", k) for k in sd if k.startswith("downstream_head1.")}
    assert not any(".act_1_postprocess" in k for k in heads)  # the official files drop these duplicates
    assert abs(sum(p.numel() for p in m.parameters()) / 1e6 - 571.0) < 1.0  # DUSt3R 512 DPT: ~571M parameters
    lin = _meta("224_linear").state_dict()
    assert tuple(lin["downstream_head1.proj.weight"].shape) == (4 * 16 * 16, 768)
    assert PRESETS["224_linear"].img_size == (224, 224)


@pytest.mark.parametrize("name", ["tiny_linear", "tiny_dpt"])
def test_output_shapes_and_confidence(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    x1, x2 = torch.rand(2, 3, 64, 96) * 2 - 1, torch.rand(2, 3, 64, 96) * 2 - 1
    r1, r2 = m(x1, x2, torch.tensor([[64, 96]] * 2), torch.tensor([[64, 96]] * 2))
    assert r1["pts3d"].shape == (2, 64, 96, 3) and r1["conf"].shape == (2, 64, 96)
    assert r2["pts3d_in_other_view"].shape == (2, 64, 96, 3) and "pts3d" not in r2
    assert (r1["conf"] > 1).all() and (r2["conf"] > 1).all()
    with pytest.raises(ValueError, match="multiple of the patch"):
        m(torch.zeros(1, 3, 60, 96), torch.zeros(1, 3, 60, 96))


def test_symmetric_weights_give_swapped_outputs():
    """With decoder 2 = decoder 1 and head 2 = head 1, view 2's output for (a, b) must equal view 1's output
    for (b, a): checks that each decoder cross-attends to the other view's previous layer with its positions."""
    torch.manual_seed(0)
    m = build_model("tiny_dpt").eval()
    m.dec_blocks2.load_state_dict(m.dec_blocks.state_dict())
    m.downstream_head2.load_state_dict(m.downstream_head1.state_dict())
    a, b = torch.rand(1, 3, 64, 96) * 2 - 1, torch.rand(1, 3, 64, 96) * 2 - 1
    r1, r2 = m(a, b)
    s1, s2 = m(b, a)
    assert torch.allclose(r2["pts3d_in_other_view"], s1["pts3d"], atol=1e-5)
    assert torch.allclose(r1["conf"], s2["conf"], atol=1e-5)
    assert not torch.allclose(r1["pts3d"], s1["pts3d"], atol=1e-3)
    c = torch.rand(1, 3, 48, 80) * 2 - 1  # another size: the views' patch positions differ
    r1, r2 = m(a, c)
    s1, s2 = m(c, a)
    assert r2["pts3d_in_other_view"].shape == (1, 48, 80, 3)
    assert torch.allclose(r2["pts3d_in_other_view"], s1["pts3d"], atol=1e-5)


def test_postprocess_exp_modes():
    raw = torch.tensor([[0.3, -0.4, 1.2, 0.5]]).reshape(1, 4, 1, 1)
    out = postprocess(raw, ("exp", -float("inf"), float("inf")), ("exp", 1, float("inf")))
    v = raw[0, :3, 0, 0]
    assert torch.allclose(out["pts3d"][0, 0, 0], v / v.norm() * torch.expm1(v.norm()))
    assert torch.allclose(out["conf"][0, 0, 0], 1 + torch.exp(torch.tensor(0.5)))


def test_rope_scores_depend_on_relative_position_only():
    rope = RoPE2D(100.0)
    q, k = torch.randn(1, 2, 5, 16), torch.randn(1, 2, 5, 16)
    pos = torch.randint(0, 20, (1, 5, 2))
    shift = torch.tensor([7, 3])
    s0 = rope(q, pos) @ rope(k, pos).transpose(-1, -2)
    s1 = rope(q, pos + shift) @ rope(k, pos + shift).transpose(-1, -2)
    assert torch.allclose(s0, s1, atol=1e-4)
    assert not torch.allclose(rope(q, pos), rope(q, pos + shift))


def test_frozen_encoder_gets_no_gradient():
    m = build_model("tiny_linear")
    m.freeze_encoder(True)
    x = torch.rand(1, 3, 64, 96)
    r1, r2 = m(x, x)
    (r1["pts3d"].sum() + r2["conf"].sum()).backward()
    assert all(p.grad is None for p in m.enc_blocks.parameters())
    assert m.decoder_embed.weight.grad is not None and m.enc_norm.weight.grad is not None
    assert isinstance(m, DUSt3R)
