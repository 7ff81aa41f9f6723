"""A DUSt3R model whose parameter names and shapes match the public checkpoints.

Architecture (DUSt3R_ViTLarge_BaseDecoder_*): a siamese ViT encoder with 2D rotary position encoding (no
additive position embedding), two transformer decoders (one per view) whose blocks do self-attention,
cross-attention to the other view's tokens, then an MLP, and one regression head per view (``linear``:
pixel-shuffle; ``dpt``: multi-scale fusion of the encoder output and three decoder layers).

Outputs follow the official convention: view 1's points ``pts3d`` ``(B, H, W, 3)`` in camera 1's frame,
view 2's points ``pts3d_in_other_view`` ``(B, H, W, 3)`` **also in camera 1's frame**, and confidences
``conf`` ``(B, H, W)`` (always > 1). Images are ``(B, 3, H, W)`` float, normalised to ``[-1, 1]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DUSt3RConfig", "PRESETS", "DUSt3R", "build_model", "normalize_images"]

INF = float("inf")
DPT_LAYER_DIMS = (96, 192, 384, 768)
"""Widths of the DPT head's four re-assembled feature maps (fixed in the official head)."""
DPT_FEATURE_DIM = 256
"""Width of the DPT fusion stages (fixed in the official head); the last two convolutions use half of it."""
DPT_MIN_DEC_DEPTH = 10
"""Fewest decoder blocks the official DPT head accepts."""


@dataclass(frozen=True)
class DUSt3RConfig:
    """Sizes and head of a DUSt3R model (names follow the official constructor's keyword arguments)."""

    img_size: tuple[int, int] = (512, 512)
    """Training resolution ``(H, W)``; any multiple of ``patch_size`` works at inference."""
    patch_size: int = 16
    """Square patch side in pixels."""
    enc_embed_dim: int = 1024
    """Encoder width."""
    enc_depth: int = 24
    """Number of encoder blocks."""
    enc_num_heads: int = 16
    """Encoder attention heads."""
    dec_embed_dim: int = 768
    """Decoder width."""
    dec_depth: int = 12
    """Number of blocks in each of the two decoders."""
    dec_num_heads: int = 12
    """Decoder attention heads."""
    mlp_ratio: float = 4.0
    """MLP hidden width / block width."""
    head_type: str = "dpt"
    """``linear`` (pixel-shuffle) or ``dpt``."""
    rope_freq: float = 100.0
    """Frequency base of the 2D rotary position encoding (``pos_embed='RoPE100'``)."""
    depth_mode: tuple = ("exp", -INF, INF)
    """Post-process of the 3D points: keep the direction, map the norm ``n`` to ``expm1(n)``."""
    conf_mode: tuple = ("exp", 1.0, INF)
    """Post-process of the confidence: ``vmin + exp(x)`` (so > 1)."""

    def constructor_string(self) -> str:
        """The official ``args.model`` string that rebuilds this model (only official constructor arguments,
        so ``eval`` in the official code builds the same architecture)."""
        kw = dict(
            pos_embed=f"RoPE{self.rope_freq:g}",
            patch_embed_cls="PatchEmbedDust3R",
            img_size=tuple(self.img_size),
            head_type=self.head_type,
            output_mode="pts3d",
            depth_mode=self.depth_mode,
            conf_mode=self.conf_mode,
            enc_embed_dim=self.enc_embed_dim,
            enc_depth=self.enc_depth,
            enc_num_heads=self.enc_num_heads,
            dec_embed_dim=self.dec_embed_dim,
            dec_depth=self.dec_depth,
            dec_num_heads=self.dec_num_heads,
            patch_size=self.patch_size,
            mlp_ratio=self.mlp_ratio,
        )
        return "AsymmetricCroCo3DStereo(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"

    def to_dict(self) -> dict:
        return asdict(self)


_LARGE = DUSt3RConfig()
PRESETS: dict[str, DUSt3RConfig] = {
    "224_linear": replace(_LARGE, img_size=(224, 224), head_type="linear"),
    "512_linear": replace(_LARGE, head_type="linear"),
    "512_dpt": _LARGE,
    # Tiny variants for tests and CPU smoke runs (random init only; no public weights).
    "tiny_linear": DUSt3RConfig(img_size=(64, 96), enc_embed_dim=64, enc_depth=2, enc_num_heads=4,
                                dec_embed_dim=48, dec_depth=2, dec_num_heads=4, mlp_ratio=2.0,
                                head_type="linear"),
    # The official DPT head has fixed widths (below) and needs at least 10 decoder blocks.
    "tiny_dpt": DUSt3RConfig(img_size=(64, 96), enc_embed_dim=64, enc_depth=2, enc_num_heads=4,
                             dec_embed_dim=48, dec_depth=10, dec_num_heads=4, mlp_ratio=2.0, head_type="dpt"),
}
"""Named configs: the three public variants and two tiny ones. Every field is an official constructor
argument, so a saved file's ``args.model`` string also builds the model in the official code."""


def normalize_images(rgb: torch.Tensor) -> torch.Tensor:
    """``uint8`` ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in ``[-1, 1]`` (the official input convention)."""
    return rgb.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# ---------------------------------------------------------------- rotary position encoding
def patch_positions(b: int, h: int, w: int, device) -> torch.Tensor:
    """Integer ``(y, x)`` patch coordinates ``(B, h*w, 2)``, row-major."""
    yy, xx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([yy.flatten(), xx.flatten()], -1)[None].expand(b, -1, -1)


class RoPE2D(nn.Module):
    """2D rotary encoding: the first half of each head's channels rotates with y, the second half with x."""

    def __init__(self, base: float = 100.0):
        super().__init__()
        self.base = base

    def _rotate(self, t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        d = t.shape[-1]
        inv = 1.0 / (self.base ** (torch.arange(0, d, 2, device=t.device, dtype=torch.float32) / d))
        ang = pos.to(torch.float32)[..., None] * inv  # (B, N, d/2)
        ang = torch.cat([ang, ang], -1)[:, None]  # (B, 1, N, d)
        half = t.shape[-1] // 2
        rot = torch.cat([-t[..., half:], t[..., :half]], -1)
        return (t * ang.cos().to(t.dtype) + rot * ang.sin().to(t.dtype))

    def forward(self, t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``t`` ``(B, heads, N, D)``, ``pos`` ``(B, N, 2)`` -> rotated ``t``."""
        ty, tx = t.chunk(2, dim=-1)
        return torch.cat([self._rotate(ty, pos[..., 0]), self._rotate(tx, pos[..., 1])], -1)


# ---------------------------------------------------------------- transformer blocks
class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Self-attention with RoPE; fused ``qkv`` laid out as ``[q | k | v]``, each head-major."""

    def __init__(self, dim: int, heads: int, rope: RoPE2D):
        super().__init__()
        self.heads, self.rope = heads, rope
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, pos):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k = self.rope(q, pos), self.rope(k, pos)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, rope: RoPE2D):
        super().__init__()
        self.heads, self.rope = heads, rope
        self.projq = nn.Linear(dim, dim)
        self.projk = nn.Linear(dim, dim)
        self.projv = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, y, xpos, ypos):
        B, N, C = x.shape
        M = y.shape[1]
        split = lambda t, n: t.reshape(B, n, self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        q = self.rope(split(self.projq(x), N), xpos)
        k = self.rope(split(self.projk(y), M), ypos)
        out = F.scaled_dot_product_attention(q, k, split(self.projv(y), M))
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, rope):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, rope)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, pos):
        x = x + self.attn(self.norm1(x), pos)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """Self-attention, cross-attention to the other view (normalised by ``norm_y``), MLP."""

    def __init__(self, dim, heads, mlp_ratio, rope):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, rope)
        self.cross_attn = CrossAttention(dim, heads, rope)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, y, xpos, ypos):
        x = x + self.attn(self.norm1(x), xpos)
        y_ = self.norm_y(y)
        x = x + self.cross_attn(self.norm2(x), y_, xpos, ypos)
        return x + self.mlp(self.norm3(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, img):
        B, _, H, W = img.shape
        if H % self.patch or W % self.patch:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {self.patch}")
        x = self.proj(img).flatten(2).transpose(1, 2)
        return x, patch_positions(B, H // self.patch, W // self.patch, img.device)


# ---------------------------------------------------------------- heads
def postprocess(raw: torch.Tensor, depth_mode, conf_mode) -> dict[str, torch.Tensor]:
    """Raw head output ``(B, 4, H, W)`` -> ``pts3d`` ``(B, H, W, 3)`` and ``conf`` ``(B, H, W)``."""
    raw = raw.permute(0, 2, 3, 1).float()
    xyz, c = raw[..., :3], raw[..., 3]
    if depth_mode[0] != "exp" or conf_mode[0] != "exp":
        raise ValueError(f"unsupported post-process modes {depth_mode}, {conf_mode} (only 'exp')")
    n = xyz.norm(dim=-1, keepdim=True)
    pts = xyz / n.clamp(min=1e-8) * torch.expm1(n)
    vmin, vmax = float(conf_mode[1]), float(conf_mode[2])
    conf = vmin + c.exp().clamp(max=vmax - vmin)
    return {"pts3d": pts, "conf": conf}


class LinearHead(nn.Module):
    """One linear layer per token to ``4 * patch^2`` values, then pixel shuffle to full resolution."""

    def __init__(self, cfg: DUSt3RConfig):
        super().__init__()
        self.patch = cfg.patch_size
        self.proj = nn.Linear(cfg.dec_embed_dim, 4 * cfg.patch_size**2)

    def forward(self, tokens: list[torch.Tensor], hw: tuple[int, int]):
        x = tokens[-1]
        B = x.shape[0]
        h, w = hw[0] // self.patch, hw[1] // self.patch
        feat = self.proj(x).transpose(1, 2).reshape(B, -1, h, w)
        return F.pixel_shuffle(feat, self.patch)


class _ResidualConv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class _Fusion(nn.Module):
    """Refine-net stage: add the skip (after a residual unit), residual unit, upsample x2, 1x1 conv."""

    def __init__(self, c):
        super().__init__()
        self.out_conv = nn.Conv2d(c, c, 1)
        self.resConfUnit1 = _ResidualConv(c)
        self.resConfUnit2 = _ResidualConv(c)

    def forward(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Scratch(nn.Module):
    """Per-hook 3x3 projections (registered under both official names) and the four fusion stages."""

    def __init__(self, dims, c):
        super().__init__()
        self.layer_rn = nn.ModuleList([nn.Conv2d(d, c, 3, padding=1, bias=False) for d in dims])
        for i, m in enumerate(self.layer_rn):  # the official state dict holds both names
            setattr(self, f"layer{i + 1}_rn", m)
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", _Fusion(c))


class _Upsample(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class _DPT(nn.Module):
    """The official DPT head: fixed widths (``DPT_LAYER_DIMS`` after re-assembly, ``DPT_FEATURE_DIM`` in the
    fusion stages, ``DPT_FEATURE_DIM // 2`` in the last two convolutions), hooks on the encoder output and
    decoder layers ``[d/2, 3d/4, d]``."""

    def __init__(self, cfg: DUSt3RConfig):
        super().__init__()
        d = cfg.dec_depth
        self.hooks = [0, d * 2 // 4, d * 3 // 4, d]
        dims_in = [cfg.enc_embed_dim] + [cfg.dec_embed_dim] * 3
        ld, c = list(DPT_LAYER_DIMS), DPT_FEATURE_DIM
        self.patch = cfg.patch_size
        self.act_postprocess = nn.ModuleList([
            nn.Sequential(nn.Conv2d(dims_in[0], ld[0], 1), nn.ConvTranspose2d(ld[0], ld[0], 4, stride=4)),
            nn.Sequential(nn.Conv2d(dims_in[1], ld[1], 1), nn.ConvTranspose2d(ld[1], ld[1], 2, stride=2)),
            nn.Sequential(nn.Conv2d(dims_in[2], ld[2], 1)),
            nn.Sequential(nn.Conv2d(dims_in[3], ld[3], 1), nn.Conv2d(ld[3], ld[3], 3, stride=2, padding=1)),
        ])
        self.scratch = _Scratch(ld, c)
        self.head = nn.Sequential(
            nn.Conv2d(c, c // 2, 3, padding=1), _Upsample(), nn.Conv2d(c // 2, c // 2, 3, padding=1),
            nn.ReLU(True), nn.Conv2d(c // 2, 4, 1),
        )

    def forward(self, tokens, hw):
        h, w = hw[0] // self.patch, hw[1] // self.patch
        feats = []
        for i, hook in enumerate(self.hooks):
            t = tokens[hook]
            x = t.transpose(1, 2).reshape(t.shape[0], -1, h, w)
            feats.append(self.scratch.layer_rn[i](self.act_postprocess[i](x)))
        s = self.scratch
        p4 = s.refinenet4(feats[3])[:, :, : feats[2].shape[2], : feats[2].shape[3]]
        p3 = s.refinenet3(p4, feats[2])
        p2 = s.refinenet2(p3, feats[1])
        return self.head(s.refinenet1(p2, feats[0]))


class DPTHead(nn.Module):
    def __init__(self, cfg: DUSt3RConfig):
        super().__init__()
        if cfg.dec_depth < DPT_MIN_DEC_DEPTH:  # the official constructor refuses these too
            raise ValueError(f"the dpt head needs dec_depth >= {DPT_MIN_DEC_DEPTH} (got {cfg.dec_depth})")
        self.dpt = _DPT(cfg)

    def forward(self, tokens, hw):
        return self.dpt(tokens, hw)


# ---------------------------------------------------------------- the model
class DUSt3R(nn.Module):
    """Two-view pointmap regressor. ``forward(img1, img2)`` -> ``(res1, res2)``.

    ``res1 = {"pts3d": (B, H, W, 3), "conf": (B, H, W)}`` (view 1 in camera 1's frame) and
    ``res2 = {"pts3d_in_other_view": (B, H, W, 3), "conf": (B, H, W)}`` (view 2, also in camera 1's frame).
    """

    def __init__(self, cfg: DUSt3RConfig = PRESETS["512_dpt"]):
        super().__init__()
        self.cfg = cfg
        rope = RoPE2D(cfg.rope_freq)
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.enc_embed_dim)
        # CroCo's mask token: unused by DUSt3R, kept (frozen) so the state dict matches the official files
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dec_embed_dim), requires_grad=False)
        self.enc_blocks = nn.ModuleList(
            [EncoderBlock(cfg.enc_embed_dim, cfg.enc_num_heads, cfg.mlp_ratio, rope) for _ in range(cfg.enc_depth)]
        )
        self.enc_norm = nn.LayerNorm(cfg.enc_embed_dim, eps=1e-6)
        self.decoder_embed = nn.Linear(cfg.enc_embed_dim, cfg.dec_embed_dim)
        mk = lambda: nn.ModuleList(  # noqa: E731
            [DecoderBlock(cfg.dec_embed_dim, cfg.dec_num_heads, cfg.mlp_ratio, rope) for _ in range(cfg.dec_depth)]
        )
        self.dec_blocks, self.dec_blocks2 = mk(), mk()
        self.dec_norm = nn.LayerNorm(cfg.dec_embed_dim, eps=1e-6)
        Head = {"linear": LinearHead, "dpt": DPTHead}.get(cfg.head_type)
        if Head is None:
            raise ValueError(f"unknown head_type {cfg.head_type!r} (linear or dpt)")
        self.downstream_head1, self.downstream_head2 = Head(cfg), Head(cfg)
        self.frozen_encoder = False
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.mask_token, std=0.02)

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze the patch embedding and encoder blocks (as the official ``freeze='encoder'``); the frozen
        part then runs without autograd, which saves its activation memory and backward time."""
        self.frozen_encoder = frozen
        for p in [*self.patch_embed.parameters(), *self.enc_blocks.parameters()]:
            p.requires_grad_(not frozen)

    def encode(self, img: torch.Tensor):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_encoder):
            x, pos = self.patch_embed(img)
            for blk in self.enc_blocks:
                x = blk(x, pos)
        return self.enc_norm(x), pos

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, true_shape1=None, true_shape2=None):
        """``img1``, ``img2``: ``(B, 3, H, W)`` in ``[-1, 1]``. ``true_shape*`` ``(B, 2)`` may be given for API
        compatibility; every row must equal the tensor's ``(H, W)`` (batches are never mixed-shape here)."""
        for img, ts in ((img1, true_shape1), (img2, true_shape2)):
            hw = torch.tensor(img.shape[-2:])
            if ts is not None and not bool((torch.as_tensor(ts).reshape(-1, 2).cpu() == hw).all()):
                raise ValueError("true_shape differs from the image tensor's shape; batch images of one size")
        B = img1.shape[0]
        if img1.shape == img2.shape:  # one encoder pass over both views
            f, pos = self.encode(torch.cat([img1, img2]))
            f1, f2, p1, p2 = f[:B], f[B:], pos[:B], pos[B:]
        else:
            (f1, p1), (f2, p2) = self.encode(img1), self.encode(img2)
        out1, out2 = [f1], [f2]
        x1, x2 = self.decoder_embed(f1), self.decoder_embed(f2)
        for blk1, blk2 in zip(self.dec_blocks, self.dec_blocks2):
            x1, x2 = blk1(x1, x2, p1, p2), blk2(x2, x1, p2, p1)
            out1.append(x1)
            out2.append(x2)
        out1[-1], out2[-1] = self.dec_norm(out1[-1]), self.dec_norm(out2[-1])
        cfg = self.cfg
        with torch.autocast(device_type=img1.device.type, enabled=False):  # heads in fp32
            raw1 = self.downstream_head1([t.float() for t in out1], img1.shape[-2:])
            raw2 = self.downstream_head2([t.float() for t in out2], img2.shape[-2:])
        r1 = postprocess(raw1, cfg.depth_mode, cfg.conf_mode)
        r2 = postprocess(raw2, cfg.depth_mode, cfg.conf_mode)
        r2["pts3d_in_other_view"] = r2.pop("pts3d")
        return r1, r2


def build_model(preset_or_cfg: str | DUSt3RConfig) -> DUSt3R:
    """A randomly initialised model from a preset name (see ``PRESETS``) or a config."""
    cfg = PRESETS[preset_or_cfg] if isinstance(preset_or_cfg, str) else preset_or_cfg
    return DUSt3R(cfg)
