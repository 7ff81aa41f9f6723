"""CoTracker3 offline point tracker (Karaev et al. 2024, "CoTracker3: Simpler and Better Point Tracking by
Pseudo-Labelling Real Videos"), written from the paper's architecture so that the released
``scaled_offline.pth`` state dict loads into :class:`CoTracker3` with ``strict=True`` and gives the same
outputs. Inference only; weights come from a local file, nothing is ever downloaded.

Conventions: pixel coordinates, ``x`` to the right and ``y`` down, ``(0, 0)`` the centre of the top-left
pixel (corner-aligned resizing, as the reference predictor). Model inputs are at the model resolution
(``CoTracker3Config.model_resolution``, ``(H, W) = (384, 512)`` for the released weights); queries are
``[t, x, y]`` rows: a frame index and a position in that frame.

The model, in brief: a CNN (``fnet``) turns every frame into a unit-norm feature map at 1/``stride`` of the
input, pooled into ``corr_levels`` pyramid levels. Each query takes a ``(2r+1)^2`` patch of features around
itself in its own frame; at every iteration and frame, the patch around the current estimate is
correlated with it (a ``(2r+1)^4`` volume per level, embedded by ``corr_mlp``). These embeddings, the
visibility/confidence logits and a sinusoidal encoding of the motion to the neighbouring frames form one
token per (track, frame); a transformer (``updateformer``) alternating attention over time and over tracks
(through a few learnt "virtual" tracks) predicts updates of positions and logits.

``torch`` is an optional dependency (``pip install 'dynpose100k[models]'``): this module imports without it,
and the torch classes (:class:`CoTracker3`) are built on first use.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DynPoseError
from . import LoadReport, require, torch_device

__all__ = [
    "CoTracker3Config",
    "CoTracker3",  # noqa: F822 (a torch class, built on first access by the module __getattr__)
    "CoTrackerTracker",
    "TrackerModelError",
    "config_from_state_dict",
    "load_cotracker",
    "support_grid_points",
]


class TrackerModelError(DynPoseError):
    """A tracker checkpoint that is missing, unreadable, or whose keys/shapes do not fit the model."""


@dataclass(frozen=True)
class CoTracker3Config:
    """Sizes of a :class:`CoTracker3`. The defaults are those of the released offline model
    (``scaled_offline.pth``, about 25.4 M parameters); smaller values make a toy model for tests."""

    window_len: int = 60
    """Frames covered by the learnt time embedding ``time_emb`` (resampled to the clip's length)."""
    stride: int = 4
    """Feature maps are at 1/stride of the model resolution."""
    corr_radius: int = 3
    """Correlation patches are ``(2 r + 1)^2`` feature-map cells."""
    corr_levels: int = 4
    """Pyramid levels (each halves the feature map)."""
    num_virtual_tracks: int = 64
    """Learnt tokens through which tracks exchange information."""
    model_resolution: tuple[int, int] = (384, 512)
    """``(H, W)`` of the frames the model sees."""
    latent_dim: int = 128
    """Channels of the feature maps."""
    hidden_size: int = 384
    """Width of the update transformer."""
    num_heads: int = 8
    time_depth: int = 3
    """Attention blocks over time."""
    space_depth: int = 3
    """Attention blocks over tracks (``time_depth`` must be a multiple of it; 0: none)."""
    mlp_ratio: float = 4.0
    corr_hidden: int = 384
    """Hidden width of ``corr_mlp``."""
    corr_out: int = 256
    """Width of one level's correlation embedding."""
    posenc_degrees: int = 10
    """Frequencies ``2^0 .. 2^(n-1)`` of the motion encoding."""

    def __post_init__(self):
        h, w = self.model_resolution
        if h % self.stride or w % self.stride:
            raise ValueError(f"model_resolution {self.model_resolution} is not a multiple of stride {self.stride}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.space_depth and self.time_depth % self.space_depth:
            raise ValueError(f"time_depth {self.time_depth} is not a multiple of space_depth {self.space_depth}")

    @property
    def corr_window(self) -> int:
        """Side of a correlation patch, ``2 r + 1``."""
        return 2 * self.corr_radius + 1

    @property
    def motion_dim(self) -> int:
        """Width of the motion encoding: 4 displacement components, plus a sine and a cosine of each at
        every frequency."""
        return 4 * (1 + 2 * self.posenc_degrees)

    @property
    def input_dim(self) -> int:
        """Width of a transformer input token: visibility and confidence logits, correlation embeddings of
        every level, motion encoding (1110 for the released model)."""
        return 2 + self.corr_levels * self.corr_out + self.motion_dim


def support_grid_points(size: int, resolution: tuple[int, int]) -> np.ndarray:
    """``size x size`` points ``(size^2, 2)`` float32 ``[x, y]`` spread over an image of ``resolution``
    ``(H, W)`` with a margin of ``W / 64``, row by row: the extra queries the reference predictor tracks
    along with the user's (they give the tracks context through the attention over tracks)."""
    h, w = resolution
    if size <= 0:
        return np.zeros((0, 2), np.float32)
    if size == 1:
        return np.array([[w / 2, h / 2]], np.float32)
    margin = w / 64
    ys = np.linspace(margin, h - margin, size, dtype=np.float32)
    xs = np.linspace(margin, w - margin, size, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------------------
# torch classes, built on first use
# --------------------------------------------------------------------------------------------------------


@functools.cache
def _torch_classes() -> dict[str, type]:
    torch = require("torch", "models")
    nn = torch.nn
    F = torch.nn.functional

    def to_unit_grid(points, sizes):
        """Pixel coordinates (last axis ordered like ``sizes`` reversed: x, y[, t]) -> grid_sample's [-1, 1]
        with corner alignment (pixel 0 -> -1, pixel size-1 -> +1)."""
        factors = points.new_tensor([2 / max(s - 1, 1) for s in reversed(sizes)])
        return points * factors - 1

    def sample_maps(maps, points):
        """Bilinear samples of ``maps`` ``(M, C, H, W)`` at ``points`` ``(M, ..., 2)`` ``[x, y]`` pixels ->
        ``(M, ..., C)``; positions outside take the nearest border value."""
        m, c = maps.shape[:2]
        grid = to_unit_grid(points.reshape(m, 1, -1, 2), maps.shape[2:])
        out = F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(m, c, *points.shape[1:-1]).movedim(1, -1)

    def sample_volume(volume, points):
        """Trilinear samples of ``volume`` ``(B, C, T, H, W)`` at ``points`` ``(B, ..., 3)`` ``[x, y, t]``
        -> ``(B, ..., C)`` (integer ``t`` reads one frame); outside positions take the border value."""
        b, c = volume.shape[:2]
        grid = to_unit_grid(points.reshape(b, 1, 1, -1, 3), volume.shape[2:])
        out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(b, c, *points.shape[1:-1]).movedim(1, -1)

    def patch_offsets(radius, device):
        """``(2r+1, 2r+1, 2)`` integer offsets ``[dx, dy]``; dx varies along the FIRST axis, dy along the
        second (the layout the released ``corr_mlp`` weights were trained with)."""
        steps = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
        dx, dy = torch.meshgrid(steps, steps, indexing="ij")
        return torch.stack([dx, dy], dim=-1)

    def motion_encoding(disp, degrees):
        """``disp`` ``(..., k)`` -> ``(..., k + 2 k degrees)``: itself, then sines and then cosines of
        ``disp * 2^f`` for f in 0..degrees-1 (frequency-major). A cosine is computed as a shifted sine."""
        freqs = 2.0 ** torch.arange(degrees, dtype=disp.dtype, device=disp.device)
        scaled = (disp[..., None, :] * freqs[:, None]).flatten(-2)
        return torch.cat([disp, torch.sin(torch.cat([scaled, scaled + 0.5 * math.pi], dim=-1))], dim=-1)

    def sincos_table(dim, length):
        """``(1, length, dim)`` float32 sinusoidal embedding of positions 0..length-1: ``dim/2`` sines, then
        ``dim/2`` cosines, with wavelengths growing geometrically up to 10000 (computed in float64)."""
        inv_freq = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
        angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)[None].float()

    # ---- image encoder --------------------------------------------------------------------------------

    class ResidualUnit(nn.Module):
        """Two 3x3 convolutions with instance norms and a skip connection (a strided 1x1 convolution when
        the resolution or width changes)."""

        def __init__(self, in_ch, out_ch, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
            self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
            self.norm1 = nn.InstanceNorm2d(out_ch)
            self.norm2 = nn.InstanceNorm2d(out_ch)
            self.downsample = None
            if stride != 1:
                self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride), nn.InstanceNorm2d(out_ch))

        def forward(self, x):
            y = F.relu(self.norm1(self.conv1(x)))
            y = F.relu(self.norm2(self.conv2(y)))
            skip = x if self.downsample is None else self.downsample(x)
            return F.relu(skip + y)

    class FrameEncoder(nn.Module):
        """Frames ``(M, 3, H, W)`` in [-1, 1] -> features ``(M, latent, H/stride, W/stride)``: a 7x7 stem at
        1/2, four residual stages at 1/2, 1/4, 1/8, 1/16, each resampled to 1/stride and fused."""

        def __init__(self, latent, stride):
            super().__init__()
            self.stride = stride
            widths = (latent // 2, latent // 4 * 3, latent, latent)
            self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3)
            self.norm1 = nn.InstanceNorm2d(widths[0])
            stage_in = (widths[0],) + widths[:-1]
            for k, (w_in, w_out, s) in enumerate(zip(stage_in, widths, (1, 2, 2, 2)), start=1):
                self.add_module(f"layer{k}", nn.Sequential(ResidualUnit(w_in, w_out, s), ResidualUnit(w_out, w_out)))
            self.conv2 = nn.Conv2d(sum(widths), 2 * latent, 3, padding=1)
            self.norm2 = nn.InstanceNorm2d(2 * latent)
            self.conv3 = nn.Conv2d(2 * latent, latent, 1)

        def forward(self, images):
            out_size = (images.shape[-2] // self.stride, images.shape[-1] // self.stride)
            x = F.relu(self.norm1(self.conv1(images)))
            stages = []
            for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
                x = layer(x)
                stages.append(F.interpolate(x, out_size, mode="bilinear", align_corners=True))
            x = F.relu(self.norm2(self.conv2(torch.cat(stages, dim=1))))
            return self.conv3(x)

    # ---- transformer parts ----------------------------------------------------------------------------

    class Mlp(nn.Module):
        """Linear -> GELU -> linear (``tanh_gelu``: the tanh approximation of GELU)."""

        def __init__(self, d_in, d_hidden, d_out=None, tanh_gelu=False):
            super().__init__()
            self.fc1 = nn.Linear(d_in, d_hidden)
            self.fc2 = nn.Linear(d_hidden, d_out or d_in)
            self.approximate = "tanh" if tanh_gelu else "none"

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))

    class MultiHeadAttention(nn.Module):
        """Multi-head attention of ``x`` ``(M, n, d)`` over ``context`` ``(M, m, d)`` (default: ``x``),
        keys and values from one joint projection ``to_kv``."""

        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.to_q = nn.Linear(dim, dim)
            self.to_kv = nn.Linear(dim, 2 * dim)
            self.to_out = nn.Linear(dim, dim)

        def _split(self, t):  # (M, n, d) -> (M, heads, n, d / heads)
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        def forward(self, x, context=None):
            context = x if context is None else context
            keys, values = self.to_kv(context).chunk(2, dim=-1)
            mixed = F.scaled_dot_product_attention(self._split(self.to_q(x)), self._split(keys), self._split(values))
            return self.to_out(mixed.transpose(1, 2).flatten(-2))

    class SelfAttentionBlock(nn.Module):
        """Pre-norm transformer block: self-attention, then MLP, both residual."""

        def __init__(self, dim, heads, mlp_ratio):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.attn = MultiHeadAttention(dim, heads)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.mlp = Mlp(dim, int(dim * mlp_ratio), tanh_gelu=True)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class CrossAttentionBlock(nn.Module):
        """Pre-norm block: ``x`` attends to ``context`` (context normalised with a learnt LayerNorm), then
        MLP, both residual."""

        def __init__(self, dim, heads, mlp_ratio):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.norm_context = nn.LayerNorm(dim)
            self.cross_attn = MultiHeadAttention(dim, heads)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.mlp = Mlp(dim, int(dim * mlp_ratio), tanh_gelu=True)

        def forward(self, x, context):
            x = x + self.cross_attn(self.norm1(x), self.norm_context(context))
            return x + self.mlp(self.norm2(x))

    class UpdateTransformer(nn.Module):
        """Tokens ``(B, N, T, input_dim)`` -> updates ``(B, N, T, 4)`` ``[dx, dy, dvis, dconf]`` (feature-map
        cells and logits). Blocks alternate attention along each track over time with attention among the
        tracks of each frame, where tracks only talk to the learnt virtual tracks (virtual <- tracks,
        virtual <-> virtual, tracks <- virtual), which keeps the cost linear in the number of tracks."""

        def __init__(self, cfg: CoTracker3Config):
            super().__init__()
            dim = cfg.hidden_size
            self.input_transform = nn.Linear(cfg.input_dim, dim)
            self.flow_head = nn.Linear(dim, 2)
            self.vis_conf_head = nn.Linear(dim, 2)
            # (sic) the released checkpoints spell the parameter this way
            self.virual_tracks = nn.Parameter(torch.randn(1, cfg.num_virtual_tracks, 1, dim))
            self.time_blocks = nn.ModuleList(
                SelfAttentionBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.time_depth))
            self.space_every = cfg.time_depth // cfg.space_depth if cfg.space_depth else 0
            if cfg.space_depth:
                self.space_virtual_blocks = nn.ModuleList(
                    SelfAttentionBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.space_depth))
                self.space_point2virtual_blocks = nn.ModuleList(
                    CrossAttentionBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.space_depth))
                self.space_virtual2point_blocks = nn.ModuleList(
                    CrossAttentionBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.space_depth))
            # small output layers: an untrained model barely moves its queries
            for head in (self.flow_head, self.vis_conf_head):
                nn.init.trunc_normal_(head.weight, std=1e-3)
                nn.init.zeros_(head.bias)

        def forward(self, tokens):
            b, n, t, _ = tokens.shape
            x = self.input_transform(tokens)
            dim = x.shape[-1]
            x = torch.cat([x, self.virual_tracks.expand(b, -1, t, -1)], dim=1)  # (B, N + V, T, d)
            total = x.shape[1]
            for k, time_block in enumerate(self.time_blocks):
                x = time_block(x.reshape(b * total, t, dim)).reshape(b, total, t, dim)
                if self.space_every and k % self.space_every == 0:
                    j = k // self.space_every
                    per_frame = x.transpose(1, 2).reshape(b * t, total, dim)
                    real, virtual = per_frame[:, :n], per_frame[:, n:]
                    virtual = self.space_virtual2point_blocks[j](virtual, real)
                    virtual = self.space_virtual_blocks[j](virtual)
                    real = self.space_point2virtual_blocks[j](real, virtual)
                    x = torch.cat([real, virtual], dim=1).reshape(b, t, total, dim).transpose(1, 2)
            x = x[:, :n]
            return torch.cat([self.flow_head(x), self.vis_conf_head(x)], dim=-1)

    # ---- the tracker ----------------------------------------------------------------------------------

    class CoTracker3(nn.Module):
        """CoTracker3 offline model (inference). ``CoTracker3(config=None)``: default config = the
        released offline model's sizes.

        ``forward(video, queries, iters=4) -> (coords, vis, conf)``:

        - ``video`` ``(B, T, 3, H, W)`` float RGB in 0..255, ``(H, W) == config.model_resolution``;
        - ``queries`` ``(B, N, 3)`` rows ``[t, x, y]``: frame index (truncated to an integer) and pixel
          position in that frame, at the model resolution;
        - ``coords`` ``(B, T, N, 2)`` ``[x, y]`` pixels at the model resolution, ``vis`` ``(B, T, N)``
          probability of being visible, ``conf`` ``(B, T, N)`` probability that the position is within a
          few pixels of the truth. A query is tracked both forwards and backwards from its frame.

        The two halves can be run apart: :meth:`encode` (per-frame features, once per clip) and
        :meth:`track` (any number of query sets on those features).
        """

        def __init__(self, config: CoTracker3Config | None = None):
            super().__init__()
            cfg = config or CoTracker3Config()
            self.config = cfg
            self.fnet = FrameEncoder(cfg.latent_dim, cfg.stride)
            self.corr_mlp = Mlp(cfg.corr_window**4, cfg.corr_hidden, cfg.corr_out)
            self.updateformer = UpdateTransformer(cfg)
            self.register_buffer("time_emb", sincos_table(cfg.input_dim, cfg.window_len))

        def encode(self, video, frames_per_chunk: int = 64):
            """``video`` ``(B, T, 3, H, W)`` 0..255 -> feature pyramid: ``corr_levels`` tensors
            ``(B, T, latent, H / stride / 2^l, W / stride / 2^l)``, unit-norm feature vectors at level 0,
            each next level a 2x2 average of the previous. Frames go through the CNN ``frames_per_chunk`` at
            a time (memory only; the result does not depend on it)."""
            cfg = self.config
            b, t = video.shape[:2]
            if tuple(video.shape[-2:]) != tuple(cfg.model_resolution):
                raise ValueError(f"video is {tuple(video.shape[-2:])}, the model takes {cfg.model_resolution}")
            images = (video.reshape(b * t, *video.shape[2:]) / 255.0) * 2 - 1
            feats = torch.cat([self.fnet(chunk) for chunk in images.split(frames_per_chunk)])
            norm = feats.square().sum(dim=1, keepdim=True).clamp_min(1e-12).sqrt()
            level = (feats / norm).to(video.dtype)
            pyramid = [level.reshape(b, t, *level.shape[1:])]
            for _ in range(cfg.corr_levels - 1):
                level = F.avg_pool2d(level, 2, stride=2)
                pyramid.append(level.reshape(b, t, *level.shape[1:]))
            return pyramid

        def time_embedding(self, length):
            """``(1, length, input_dim)``: the learnt table, linearly resampled when ``length`` differs from
            ``window_len``."""
            if length == self.time_emb.shape[1]:
                return self.time_emb
            resampled = F.interpolate(self.time_emb.float().transpose(1, 2), size=length, mode="linear")
            return resampled.transpose(1, 2).to(self.time_emb.dtype)

        def track(self, pyramid, queries, iters: int = 4):
            """Tracks of ``queries`` ``(B, N, 3)`` on a pyramid from :meth:`encode` -> ``(coords, vis,
            conf)`` as :meth:`forward`."""
            cfg = self.config
            b, t = pyramid[0].shape[:2]
            n = queries.shape[1]
            side = cfg.corr_window
            offsets = patch_offsets(cfg.corr_radius, queries.device).to(queries.dtype)
            query_frame = queries[..., 0].long().to(queries.dtype)
            start = queries[..., 1:3] / cfg.stride  # feature-map cells

            # the feature patch around each query in its own frame, per level: (B, N, side, side, C)
            templates = []
            for lvl, fmap in enumerate(pyramid):
                centre = torch.cat([start / 2**lvl, query_frame[..., None]], dim=-1)  # [x, y, t]
                pts = centre[:, :, None, None, :] + torch.cat([offsets, offsets.new_zeros(side, side, 1)], -1)
                templates.append(sample_volume(fmap.transpose(1, 2), pts))

            coords = start[:, None].expand(b, t, n, 2)
            vis_logit = queries.new_zeros(b, t, n)
            conf_logit = queries.new_zeros(b, t, n)
            # displacements are given to the transformer in units of the whole feature map
            map_size = queries.new_tensor([cfg.model_resolution[1], cfg.model_resolution[0]]) / cfg.stride
            time_emb = self.time_embedding(t)
            for _ in range(iters):
                tokens = [vis_logit[..., None], conf_logit[..., None]]
                for lvl, (fmap, template) in enumerate(zip(pyramid, templates)):
                    pts = (coords / 2**lvl)[:, :, :, None, None, :] + offsets  # (B, T, N, side, side, 2)
                    local = sample_maps(fmap.flatten(0, 1), pts.flatten(0, 1)).unflatten(0, (b, t))
                    volume = torch.einsum("btnhwc,bnijc->btnhwij", local, template)
                    tokens.append(self.corr_mlp(volume.flatten(-4)))
                to_next = F.pad(coords[:, :-1] - coords[:, 1:], (0, 0, 0, 0, 0, 1))  # zero at the last frame
                to_prev = F.pad(coords[:, 1:] - coords[:, :-1], (0, 0, 0, 0, 1, 0))  # zero at the first frame
                motion = torch.cat([to_next, to_prev], dim=-1) / map_size.repeat(2)
                tokens.append(motion_encoding(motion, cfg.posenc_degrees))
                x = torch.cat(tokens, dim=-1).transpose(1, 2) + time_emb[:, None]  # (B, N, T, D)
                delta = self.updateformer(x).transpose(1, 2)  # (B, T, N, 4)
                coords = coords + delta[..., :2]
                vis_logit = vis_logit + delta[..., 2]
                conf_logit = conf_logit + delta[..., 3]
            return coords * cfg.stride, torch.sigmoid(vis_logit), torch.sigmoid(conf_logit)

        def forward(self, video, queries, iters: int = 4):
            return self.track(self.encode(video), queries, iters)

    CoTracker3.__module__ = __name__
    CoTracker3.__qualname__ = "CoTracker3"
    return {"CoTracker3": CoTracker3}


def __getattr__(name: str):
    if name == "CoTracker3":
        return _torch_classes()["CoTracker3"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["CoTracker3"])


# --------------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------------


def config_from_state_dict(state: Mapping, **settings) -> CoTracker3Config:
    """The :class:`CoTracker3Config` a state dict was saved from: every size the weights determine is read
    from their shapes (``window_len`` from ``time_emb``, widths, depths, ...); the others (``stride``,
    ``model_resolution``, ``num_heads``, ``posenc_degrees``) take ``settings`` or the released model's
    values. ``settings`` override everything (a wrong one then fails to load). Raises ``KeyError`` for a
    missing key, ``ValueError`` for impossible shapes."""
    def shape(key):
        return tuple(state[key].shape)

    posenc = settings.get("posenc_degrees", CoTracker3Config.posenc_degrees)
    hidden, input_dim = shape("updateformer.input_transform.weight")
    corr_out, corr_hidden = shape("corr_mlp.fc2.weight")
    patch_cells = shape("corr_mlp.fc1.weight")[1]
    side = round(patch_cells**0.25)
    levels, rest = divmod(input_dim - 2 - 4 * (1 + 2 * posenc), corr_out)
    if side**4 != patch_cells or side % 2 == 0 or rest or levels < 1:
        raise ValueError(f"corr_mlp {shape('corr_mlp.fc1.weight')} / input_transform {(hidden, input_dim)} "
                         "do not fit a CoTracker3 layout")

    def depth(block):
        found = {int(m.group(1)) for k in state if (m := re.match(rf"updateformer\.{block}\.(\d+)\.", k))}
        return max(found) + 1 if found else 0

    inferred = dict(
        window_len=shape("time_emb")[1],
        latent_dim=shape("fnet.conv3.weight")[0],
        hidden_size=hidden,
        num_virtual_tracks=shape("updateformer.virual_tracks")[1],
        time_depth=depth("time_blocks"),
        space_depth=depth("space_virtual_blocks"),
        mlp_ratio=shape("updateformer.time_blocks.0.mlp.fc1.weight")[0] / hidden,
        corr_hidden=corr_hidden,
        corr_out=corr_out,
        corr_radius=(side - 1) // 2,
        corr_levels=levels,
    )
    return replace(CoTracker3Config(**inferred), **settings)


def load_cotracker(path: str | os.PathLike, device: str = "auto", **settings):
    """A :class:`CoTracker3` in eval mode on ``device`` (:func:`~dynpose100k.models.torch_device`: ``auto`` is
    the GPU when there is one) from a local ``.pth`` state dict (bare, or under a
    ``"model"`` key), e.g. the released ``scaled_offline.pth``. Sizes come from the weights (see
    :func:`config_from_state_dict`, which takes ``settings``); loading is strict. Raises
    :class:`TrackerModelError` naming ``path`` for a missing or unreadable file or mismatched keys/shapes."""
    path = Path(path)
    if not path.is_file():
        raise TrackerModelError(f"{path}: no CoTracker checkpoint here (file missing)")
    torch = require("torch", "models")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip, or torch errors: all mean "not a readable checkpoint"
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TrackerModelError(f"{path}: unreadable checkpoint ({type(e).__name__}: {first})") from e
    state = obj["model"] if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping) else obj
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise TrackerModelError(f"{path}: not a state dict of tensors")
    try:
        config = config_from_state_dict(state, **settings)
    except KeyError as e:
        raise TrackerModelError(f"{path}: not a CoTracker3 checkpoint (no key {e.args[0]})") from e
    except (ValueError, IndexError) as e:
        raise TrackerModelError(f"{path}: not a CoTracker3 checkpoint ({e})") from e
    model = _torch_classes()["CoTracker3"](config)
    report = LoadReport.compare(model.state_dict(), state)
    if not report.ok:
        raise TrackerModelError(report.describe(f"{path}: weights do not fit CoTracker3"))
    model.load_state_dict(state, strict=True)
    return model.to(torch_device(device)).eval()


# --------------------------------------------------------------------------------------------------------
# the project's Tracker interface
# --------------------------------------------------------------------------------------------------------


class CoTrackerTracker:
    """:class:`dynpose100k.pose.tracking.Tracker` backed by CoTracker3 offline.

    ``CoTrackerTracker(path_or_model, device="auto", iters=6, max_queries=None, support_grid=6,
    threshold=0.6)``:

    - ``path_or_model``: a local checkpoint path (loaded with :func:`load_cotracker`) or a built
      :class:`CoTracker3`;
    - ``iters``: refinement iterations (6, as the reference offline predictor runs it);
    - ``max_queries``: queries tracked per model call (memory); ``None``: all at once. The frames are
      encoded once per call whatever the chunking;
    - ``support_grid``: a ``g x g`` grid of extra frame-0 queries tracked along with each chunk and dropped,
      as the reference predictor does (0: none);
    - ``threshold``: a point is visible where ``vis * conf > threshold`` (the rule of the reference online
      predictor and evaluation; the offline predictor thresholds ``vis`` alone at 0.9). The product also
      drops points whose position the model is unsure of, which structure from motion would only be misled by.

    ``__call__(frames, queries) -> (tracks, visible)``: ``frames`` ``(T, H, W, 3)`` uint8 RGB or
    ``(T, H, W)`` grey, ``queries`` ``(Q, 2)`` ``[x, y]`` pixels in frame 0; ``tracks`` ``(T, Q, 2)`` float32
    pixels of the input frames, ``visible`` ``(T, Q)`` bool. Frames are resized to the model resolution
    (bilinear, corner-aligned), positions scaled accordingly; frame 0 holds the queries exactly, all
    visible. Positions are estimated in every frame, also where ``visible`` is False.
    """

    colour = True
    """Takes RGB frames (:func:`dynpose100k.pose.tracking.track_video` hands them over unconverted)."""

    def __init__(self, path_or_model, device: str = "auto", iters: int = 6, max_queries: int | None = None,
                 support_grid: int = 6, threshold: float = 0.6):
        self.torch = require("torch", "models")
        device = torch_device(device)
        if isinstance(path_or_model, (str, os.PathLike)):
            path_or_model = load_cotracker(path_or_model, device)
        self.model = path_or_model.to(device).eval()
        self.device = device
        self.iters = iters
        self.max_queries = max_queries
        self.threshold = threshold
        self.grid = support_grid_points(support_grid, self.model.config.model_resolution)

    def __call__(self, frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        F = torch.nn.functional
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = np.repeat(frames[..., None], 3, axis=-1)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3), got {frames.shape}")
        queries = np.asarray(queries, np.float32).reshape(-1, 2)
        T, H, W = frames.shape[:3]
        Q = len(queries)
        if H < 2 or W < 2:
            raise ValueError(f"frames of {H}x{W} pixels are too small")
        tracks = np.empty((T, Q, 2), np.float32)
        visible = np.zeros((T, Q), bool)
        if Q and T:
            mh, mw = self.model.config.model_resolution
            to_model = np.array([(mw - 1) / (W - 1), (mh - 1) / (H - 1)], np.float32)
            to_input = np.array([(W - 1) / (mw - 1), (H - 1) / (mh - 1)], np.float32)
            with torch.inference_mode():
                video = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float()
                video = F.interpolate(video, (mh, mw), mode="bilinear", align_corners=True)
                pyramid = self.model.encode(video[None])
                chunk = self.max_queries or Q
                for s in range(0, Q, chunk):
                    xy = np.concatenate([queries[s : s + chunk] * to_model, self.grid])
                    rows = torch.from_numpy(np.concatenate([np.zeros((len(xy), 1), np.float32), xy], 1))
                    coords, vis, conf = self.model.track(pyramid, rows[None].to(self.device), self.iters)
                    k = min(chunk, Q - s)
                    tracks[:, s : s + k] = coords[0, :, :k].cpu().numpy() * to_input
                    visible[:, s : s + k] = (vis[0, :, :k] * conf[0, :, :k] > self.threshold).cpu().numpy()
        if T:
            tracks[0], visible[0] = queries, True
        return tracks, visible
