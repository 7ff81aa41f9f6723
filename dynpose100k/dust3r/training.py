"""Fine-tuning DUSt3R with Hugging Face Accelerate (one GPU, many GPUs, or CPU).

Recipe: AdamW (0.9, 0.95), weight decay on weight matrices only (none on biases and norms), per-iteration
linear warmup then half-cosine decay to ``min_lr``, gradient accumulation, symmetrised pairs (every pair is
also seen swapped), optional frozen encoder, bf16 autocast on GPU (heads in fp32). State (model, optimiser,
RNG, step counter) is saved with ``accelerator.save_state`` and resumed automatically; the model is also
exported in the official checkpoint layout (``checkpoint-last.pth``, loadable by :func:`load_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import DynPoseError, check_range
from .checkpoint import load_checkpoint, save_checkpoint
from .data import PairConfig, PairDataset, ShardPairStream, collate_pairs, record_from_synth, symmetrize
from .losses import LossTerms, conf_regression_loss, relative_pose_loss
from .model import DUSt3R, build_model

__all__ = ["TrainConfig", "load_config", "lr_at", "param_groups", "compute_loss", "train"]

log = logging.getLogger(__name__)


class ConfigError(DynPoseError):
    """A training configuration file that is missing, malformed or names unknown keys."""


@dataclass(frozen=True)
class TrainConfig:
    """One fine-tuning run (YAML keys are these field names)."""

    preset: str = "tiny_linear"
    """Architecture when starting from random weights (see ``model.PRESETS``); ignored with ``init``."""
    init: str | None = None
    """Official checkpoint to start from (``.pth``, ``.safetensors`` or folder)."""
    freeze_encoder: bool = True
    """Freeze patch embedding + encoder blocks (the known dynamic fine-tune recipe)."""
    data_source: str = "synth"
    """``shards`` (our WebDataset shards) or ``synth`` (rendered videos with exact geometry)."""
    train_shards: str | None = None
    """Dataset folder, shard or glob for training (``data_source: shards``)."""
    val_shards: str | None = None
    """Held-out shards for evaluation (``data_source: shards``)."""
    synth_train_videos: int = 4
    """Number of rendered training videos (``data_source: synth``)."""
    synth_val_videos: int = 1
    """Number of rendered evaluation videos (other seeds)."""
    synth_hw: tuple[int, int] = (96, 160)
    """Rendered frame size ``(H, W)``."""
    synth_duration: float = 2.0
    """Rendered clip length in seconds (12 fps)."""
    size: tuple[int, int] = (64, 96)
    """Model input ``(H, W)`` of training crops."""
    max_gap: int = 9
    """Largest frame gap of a pair."""
    scale_aug: float = 1.2
    """Random extra zoom before cropping."""
    pose_only: bool = False
    """Train from records without tracks with the pose term only."""
    pairs_per_epoch: int = 20000
    """Pairs per epoch (map-style data) or videos x pairs_per_video per epoch (shards)."""
    pairs_per_video: int = 4
    """Pairs drawn from each streamed shard video."""
    num_workers: int = 0
    """DataLoader workers per process."""
    batch_size: int = 4
    """Pairs per process per micro-batch (x2 views with symmetrisation)."""
    grad_accum: int = 1
    """Micro-batches per optimiser step (effective batch = batch_size x grad_accum x processes)."""
    lr: float = 5e-5
    """Peak learning rate."""
    min_lr: float = 1e-6
    """Final learning rate of the half-cosine."""
    warmup_steps: int = 100
    """Linear warmup length in optimiser steps."""
    max_steps: int = 1000
    """Total optimiser steps."""
    weight_decay: float = 0.05
    """AdamW decay on weight matrices."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    grad_clip: float | None = 1.0
    """Gradient norm clip (None disables)."""
    alpha: float = 0.2
    """Confidence regulariser of the pointmap loss."""
    pose_weight: float = 0.0
    """Weight of the relative-pose term (0 disables; >0 required with ``pose_only``)."""
    mixed_precision: str = "bf16"
    """``bf16``/``fp16``/``no``; applied on GPU only (CPU runs in fp32)."""
    output_dir: str = "outputs/finetune"
    """Folder of state, checkpoints, log and resolved config."""
    log_every: int = 10
    """Steps between log lines."""
    eval_every: int = 500
    """Steps between evaluations (0 disables)."""
    eval_pairs: int = 64
    """Fixed held-out pairs per evaluation."""
    save_every: int = 500
    """Steps between saved states (the final step is always saved)."""
    resume: bool = True
    """Continue from ``output_dir/state`` when present."""
    seed: int = 0
    """Seed of data sampling and initialisation."""
    extra: dict = field(default_factory=dict)
    """Free-form notes stored with the run."""

    def __post_init__(self):
        for name, low in (("synth_train_videos", 1), ("synth_val_videos", 0), ("max_gap", 1), ("pairs_per_epoch", 1),
                          ("pairs_per_video", 1), ("num_workers", 0), ("batch_size", 1), ("grad_accum", 1),
                          ("warmup_steps", 0), ("max_steps", 1), ("log_every", 1), ("eval_every", 0),
                          ("eval_pairs", 1), ("save_every", 1), ("min_lr", 0), ("weight_decay", 0), ("alpha", 0),
                          ("pose_weight", 0), ("grad_clip", 0)):
            check_range(name, getattr(self, name), low)
        check_range("lr", self.lr, 0, low_open=True)


def load_config(path=None, sets: dict | None = None, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML file, then ``sets`` (values as given, None included: ``--set
    grad_clip=null`` disables the clip), then keyword ``overrides`` (None: not given); unknown keys raise
    ``ConfigError``."""
    import yaml

    data = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of settings")
    data.update(sets or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{path or 'config'}: unknown keys {', '.join(unknown)}")
    for k, v in data.items():
        data[k] = _number(k, v, str(names[k].type)) if v is not None else v
    for k in ("size", "synth_hw", "betas"):
        if k in data:
            data[k] = tuple(data[k])
    return TrainConfig(**data)


def _number(key: str, value, kind: str):
    """``value`` as the number a ``float``/``int`` field needs (YAML reads ``5e-5`` as a string); other
    fields pass through."""
    base = kind.split("|")[0].strip()
    if base not in ("float", "int"):
        return value
    try:
        x = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        x = None
    if x is None or (base == "int" and x != int(x)):
        raise ConfigError(f"{key}: expected {'an integer' if base == 'int' else 'a number'}, got {value!r}")
    return int(x) if base == "int" else x


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimiser step ``step``: linear warmup, then half-cosine from ``lr`` to ``min_lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed (matrices/kernels) and non-decayed (biases, norms)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def compute_loss(model: DUSt3R, batch: dict, cfg: TrainConfig) -> LossTerms:
    """Loss of a symmetrised batch (see :func:`data.symmetrize`): pointmap term + ``pose_weight`` x pose term."""
    r1, r2 = model(batch["img1"], batch["img2"])
    reg, dist = conf_regression_loss(r1["pts3d"], r2["pts3d_in_other_view"], r1["conf"], r2["conf"],
                                     batch["pts1"], batch["pts2"], batch["valid1"], batch["valid2"], cfg.alpha)
    pose = reg.new_zeros(())
    if cfg.pose_weight > 0:
        half = batch["img1"].shape[0] // 2  # row k's view 2 is row (k + half)'s view 1 in its own frame
        pose = relative_pose_loss(torch.roll(r1["pts3d"], half, 0), r2["pts3d_in_other_view"],
                                  torch.roll(r1["conf"], half, 0), r2["conf"], batch["T21"])
    return LossTerms(reg + cfg.pose_weight * pose, reg.detach(), pose.detach(), dist)


def _synth_records(n: int, seed0: int, cfg: TrainConfig) -> list[dict]:
    from ..synth import render

    return [record_from_synth(render("good", seed0 + k, height=cfg.synth_hw[0], width=cfg.synth_hw[1],
                                     duration=cfg.synth_duration)) for k in range(n)]


def _shard_records(source, limit: int) -> list[dict]:
    from ..shards.reader import iter_samples
    from .data import record_from_shard

    out = []
    for s in iter_samples(source):
        out.append(record_from_shard(s))
        if len(out) >= limit:
            break
    return out


def build_datasets(cfg: TrainConfig):
    """``(train_dataset, val_dataset)`` for the configured source."""
    pc = PairConfig(size=cfg.size, max_gap=cfg.max_gap, scale_aug=cfg.scale_aug, pose_only=cfg.pose_only)
    if cfg.data_source == "synth":
        train = PairDataset(_synth_records(cfg.synth_train_videos, 1000 + cfg.seed, cfg), pc,
                            cfg.pairs_per_epoch, cfg.seed)
        val_recs = _synth_records(cfg.synth_val_videos, 5000 + cfg.seed, cfg)
    elif cfg.data_source == "shards":
        if not cfg.train_shards:
            raise ConfigError("data_source: shards needs train_shards")
        train = ShardPairStream(cfg.train_shards, pc, max(1, cfg.pairs_per_epoch // cfg.pairs_per_video),
                                cfg.pairs_per_video, seed=cfg.seed)
        val_recs = _shard_records(cfg.val_shards, 16) if cfg.val_shards else []
    else:
        raise ConfigError(f"unknown data_source {cfg.data_source!r} (shards or synth)")
    if not val_recs:
        return train, None
    return train, PairDataset(val_recs, dataclasses.replace(pc, scale_aug=1.0), cfg.eval_pairs, cfg.seed + 1)


class _Progress:
    """Optimiser-step counter saved with the accelerator state."""

    def __init__(self):
        self.step = 0

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, d):
        self.step = int(d["step"])


def _build_model(cfg: TrainConfig) -> DUSt3R:
    if cfg.init:
        model, _ = load_checkpoint(cfg.init)
    else:
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.preset)
    model.freeze_encoder(cfg.freeze_encoder)
    return model.train()


@torch.no_grad()
def evaluate(model, loader, cfg: TrainConfig, accelerator) -> dict:
    """Mean loss terms over the fixed held-out pairs."""
    model.eval()
    tot = torch.zeros(3, device=accelerator.device)
    for batch in loader:
        t = compute_loss(model, symmetrize(batch), cfg)
        tot += torch.stack([t.total.detach(), t.regression, t.mean_dist]).float()
    model.train()
    tot = accelerator.reduce(tot, reduction="mean") / max(1, len(loader))
    return {"val_loss": float(tot[0]), "val_regression": float(tot[1]), "val_mean_dist": float(tot[2])}


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) fine-tuning; returns a summary dict (final step, last losses, seconds per step)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if cfg.pose_only and cfg.pose_weight <= 0:
        raise ConfigError("pose_only training needs pose_weight > 0")
    out = Path(cfg.output_dir)
    cuda = torch.cuda.is_available()
    mp = cfg.mixed_precision if cuda else "no"
    if cuda:  # the heads run in fp32: let their matmuls use TF32
        torch.backends.cuda.matmul.allow_tf32 = True
    acc = Accelerator(mixed_precision=mp, gradient_accumulation_steps=cfg.grad_accum, project_dir=str(out))
    set_seed(cfg.seed)
    main = acc.is_main_process
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    model = _build_model(cfg)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    train_ds, val_ds = build_datasets(cfg)
    mk = lambda ds, shuffle=False: torch.utils.data.DataLoader(  # noqa: E731
        ds, batch_size=cfg.batch_size, shuffle=shuffle, num_workers=cfg.num_workers, collate_fn=collate_pairs,
        drop_last=True, pin_memory=cuda)
    train_dl = mk(train_ds)
    val_dl = mk(val_ds) if val_ds is not None and cfg.eval_every > 0 else None
    model, opt, train_dl = acc.prepare(model, opt, train_dl)
    if val_dl is not None:
        val_dl = acc.prepare(val_dl)
    prog = _Progress()
    acc.register_for_checkpointing(prog)
    state_dir = out / "state"
    if cfg.resume and (state_dir / "progress.json").is_file():
        acc.load_state(str(state_dir))
        log.info("resumed from %s at step %d", state_dir, prog.step)

    def save():
        acc.wait_for_everyone()
        acc.save_state(str(state_dir))
        if main:
            (state_dir / "progress.json").write_text(json.dumps({"step": prog.step}))
            save_checkpoint(out / "checkpoint-last.pth", acc.unwrap_model(model), epoch=epoch, step=prog.step)

    logf = (out / "log.jsonl").open("a") if main else None
    try:
        n_batches = len(train_dl)
    except TypeError:  # a resampled stream: no exact resume position, so draw a fresh stream after resume
        n_batches = None
        train_ds.seed = cfg.seed + prog.step
    micro = prog.step * cfg.grad_accum
    epoch = micro // n_batches if n_batches else 0
    skip = micro % n_batches if n_batches else 0
    last, t0, s0 = {}, time.perf_counter(), prog.step
    while prog.step < cfg.max_steps:
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        dl = acc.skip_first_batches(train_dl, skip) if skip else train_dl
        skip, batches = 0, 0
        for batch in dl:
            batches += 1
            with acc.accumulate(model):
                for g in opt.param_groups:
                    g["lr"] = lr_at(prog.step, cfg)
                terms = compute_loss(model, symmetrize(batch), cfg)
                acc.backward(terms.total)
                if acc.sync_gradients and cfg.grad_clip:
                    acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
            if not acc.sync_gradients:
                continue
            prog.step += 1
            last = {"step": prog.step, "lr": lr_at(prog.step - 1, cfg), "loss": float(terms.total.detach()),
                    "regression": float(terms.regression), "pose": float(terms.pose),
                    "mean_dist": float(terms.mean_dist)}
            if val_dl is not None and prog.step % cfg.eval_every == 0:
                last.update(evaluate(model, val_dl, cfg, acc))
            if main and (prog.step % cfg.log_every == 0 or "val_loss" in last or prog.step == cfg.max_steps):
                log.info("step %d %s", prog.step, " ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "step"))
                logf.write(json.dumps(last) + "\n")
                logf.flush()
            if prog.step % cfg.save_every == 0 or prog.step == cfg.max_steps:
                save()
            if prog.step >= cfg.max_steps:
                break
        if not batches:  # a pass that gives no batch would loop for ever
            raise ConfigError(f"the training data gave no batch of {cfg.batch_size} pairs in an epoch "
                              f"(pairs_per_epoch {cfg.pairs_per_epoch}; batches are never partial)")
        epoch += 1
    if logf:
        logf.close()
    sec = (time.perf_counter() - t0) / max(1, prog.step - s0)
    return {**last, "step": prog.step, "sec_per_step": sec, "output_dir": str(out)}
