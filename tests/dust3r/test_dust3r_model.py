import dataclasses
import json
from pathlib import Path

import pytest
import torch

from dynpose100k.dust3r.model import PRESETS, DUSt3R, RoPE2D, build_model, postprocess

OFFICIAL_SHAPES = Path(__file__).parent / "data" / "official_state_dict_shapes.json"
PUBLIC = {"224_linear": "DUSt3R_ViTLarge_BaseDecoder_224_linear",
          "512_linear": "DUSt3R_ViTLarge_BaseDecoder_512_linear",
          "512_dpt": "DUSt3R_ViTLarge_BaseDecoder_512_dpt"}


def _meta(name):
    with torch.device("meta"):
        return build_model(name)


@pytest.mark.parametrize("preset", sorted(PUBLIC))
def test_public_presets_match_official_state_dict_exactly(preset):
    """Every key and shape of the model the official code builds for the public checkpoint (a strict load of
    the real file needs exactly these), compared on the meta device (nothing is allocated)."""
    official = json.loads(OFFICIAL_SHAPES.read_text())[PUBLIC[preset]]
    ours = {k: list(v.shape) for k, v in _meta(preset).state_dict().items()}
    assert sorted(set(official) - set(ours)) == [] and sorted(set(ours) - set(official)) == []
    assert {k: v for k, v in ours.items() if official[k] != v} == {}


def test_dpt_head_widths_are_the_official_ones():
    sd = _meta("512_dpt").state_dict()
    assert tuple(sd["downstream_head1.dpt.head.2.weight"].shape) == (128, 128, 3, 3)
    assert tuple(sd["downstream_head2.dpt.head.4.weight"].shape) == (4, 128, 1, 1)
    with pytest.raises(ValueError, match="dec_depth >= 10"):  # the official constructor refuses it as well
        build_model(dataclasses.replace(PRESETS["tiny_dpt"], dec_depth=9))


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
