"""Load and save DUSt3R checkpoints in the official formats, safely.

* ``.pth``: a dict with ``model`` (state dict) and ``args`` (an ``argparse.Namespace`` whose ``model`` field is
  the constructor string, e.g. ``"AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(512, 512), ...)"``).
  Read with ``torch.load(weights_only=True)`` and only ``argparse.Namespace`` allow-listed; the constructor
  string is parsed as keyword literals (``ast``), never evaluated.
* A folder (or ``.safetensors`` file) with ``model.safetensors`` + ``config.json`` (the constructor keywords).
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import math
import pickle
import re
from dataclasses import fields
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..models import LoadReport
from .model import DUSt3R, DUSt3RConfig

__all__ = ["parse_constructor", "config_from_kwargs", "load_checkpoint", "load_state_dict_checked",
           "save_checkpoint", "save_safetensors", "LoadReport"]

log = logging.getLogger(__name__)

_NAMES = {"inf": math.inf, "nan": math.nan, "Infinity": math.inf, "True": True, "False": False, "None": None}
OFFICIAL_MODEL_ARGS = frozenset({
    "output_mode", "head_type", "depth_mode", "conf_mode", "freeze", "landscape_only", "patch_embed_cls",
    "img_size", "patch_size", "mask_ratio", "enc_embed_dim", "enc_depth", "enc_num_heads", "dec_embed_dim",
    "dec_depth", "dec_num_heads", "mlp_ratio", "norm_im2_in_dec", "pos_embed"})
"""Keyword arguments the official ``AsymmetricCroCo3DStereo`` constructor accepts (its own and CroCo's)."""
_IGNORED = OFFICIAL_MODEL_ARGS - {f.name for f in fields(DUSt3RConfig)}
"""Official arguments this implementation has no field for (they are accepted and ignored)."""


def _literal(node: ast.AST, text: str):
    """A Python literal from an AST node, also accepting the names ``inf``/``nan`` (as the official strings
    write ``-inf``); anything else (calls, attributes, other names) is refused."""
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, text)
        if isinstance(v, (int, float)):
            return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_literal(e, text) for e in node.elts]
        return tuple(vals) if isinstance(node, ast.Tuple) else vals
    if isinstance(node, ast.Dict):
        return {_literal(k, text): _literal(v, text) for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise CheckpointError(
            f"constructor string holds a non-literal value {ast.unparse(node)!r}: {text[:120]}"
        ) from None


def parse_constructor(text: str) -> tuple[str, dict]:
    """``"Name(k=v, ...)"`` -> ``("Name", {k: v})`` without evaluating anything."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise CheckpointError(f"cannot parse model constructor string: {e.msg}: {text[:120]}") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise CheckpointError(f"model constructor string is not 'Name(key=value, ...)': {text[:120]}")
    return node.func.id, {kw.arg: _literal(kw.value, text) for kw in node.keywords}


def config_from_kwargs(kw: dict) -> DUSt3RConfig:
    """Official constructor keywords -> ``DUSt3RConfig`` (unknown keys are ignored with a warning)."""
    kw = dict(kw)
    pe = kw.get("pos_embed", "RoPE100")
    if not str(pe).startswith("RoPE"):
        raise CheckpointError(f"pos_embed={pe!r} is not supported (only RoPE<freq>, as in the public checkpoints)")
    if kw.get("output_mode", "pts3d") != "pts3d":
        raise CheckpointError(f"output_mode={kw['output_mode']!r} is not supported (only pts3d)")
    out = {"rope_freq": float(str(pe)[4:] or 100)}
    names = {f.name for f in fields(DUSt3RConfig)}
    for k, v in kw.items():
        if k in _IGNORED:
            continue
        if k not in names:  # the key/shape check on loading still catches any architecture mismatch
            log.warning("ignoring unknown model argument %s=%r", k, v)
            continue
        if k == "img_size":
            v = (v, v) if isinstance(v, int) else tuple(v)
        elif isinstance(v, list):
            v = tuple(v)
        out[k] = v
    return DUSt3RConfig(**out)


def _complete_aliases(sd: dict) -> dict:
    """Fill keys the official files may store once only: the DPT projections are registered under two
    names (safetensors keeps one), and a CroCo-style file has no second decoder (it starts as a copy)."""
    sd = dict(sd)
    for k in list(sd):
        m = _ALIAS_A.match(k) or _ALIAS_B.match(k)
        if m:
            pre, i, rest = m.group(1), int(m.group(2)), m.group(3)
            other = f"{pre}layer{i + 1}_rn.{rest}" if m.re is _ALIAS_A else f"{pre}layer_rn.{i - 1}.{rest}"
            sd.setdefault(other, sd[k])
    if not any(k.startswith("dec_blocks2.") for k in sd):
        sd.update({"dec_blocks2." + k[len("dec_blocks."):]: v for k, v in sd.items() if k.startswith("dec_blocks.")})
    return sd


_ALIAS_A = re.compile(r"(.*\.scratch\.)layer_rn\.(\d)\.(.*)")
_ALIAS_B = re.compile(r"(.*\.scratch\.)layer(\d)_rn\.(.*)")


def load_state_dict_checked(model: DUSt3R, sd: dict, *, strict: bool = True, source: str = "state dict") -> LoadReport:
    """Load ``sd`` into ``model``; with ``strict`` any missing/unexpected/mis-shaped key raises
    ``CheckpointError`` listing them; otherwise matching keys load and the rest is reported."""
    sd = _complete_aliases(sd)
    own = model.state_dict()
    rep = LoadReport.compare(own, sd)
    if not rep.ok:
        msg = rep.describe(source)
        if strict:
            raise CheckpointError(msg)
        log.warning("loading non-strictly: %s", msg)
    bad = {m.split(":")[0] for m in rep.mismatched}
    model.load_state_dict({k: v for k, v in sd.items() if k in own and k not in bad}, strict=False)
    return rep


def _read_pth(path: Path, trust_remote_pickle: bool) -> dict:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not trust_remote_pickle:
            lines = str(e).strip().splitlines()
            first = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[-1]).strip()[:160]
            raise CheckpointError(f"{path}: holds objects outside the allow-list ({first}); pass "
                                  "trust_remote_pickle=True only for files you trust") from None
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:160]})") from None
    log.warning("%s: loading with full unpickling (trust_remote_pickle=True)", path)
    return torch.load(path, map_location="cpu", weights_only=False)


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors.torch import load_file

    folder = path if path.is_dir() else path.parent
    st = path if path.is_file() else folder / "model.safetensors"
    cfg_path = folder / "config.json"
    if not st.is_file() or not cfg_path.is_file():
        raise CheckpointError(f"{path}: expected model.safetensors and config.json")
    try:
        return load_file(str(st)), json.loads(cfg_path.read_text())
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read safetensors checkpoint ({e})") from None


def load_checkpoint(path, *, strict: bool = True, trust_remote_pickle: bool = False,
                    config: DUSt3RConfig | None = None) -> tuple[DUSt3R, LoadReport]:
    """Build the model described by an official checkpoint and load its weights.

    ``path``: a ``.pth`` file, a ``.safetensors`` file or a folder with ``model.safetensors`` + ``config.json``.
    ``config`` overrides the architecture stored in the file. Returns ``(model, report)``; the model is on CPU
    in eval mode. Raises ``CheckpointError`` for unreadable files or (with ``strict``) key mismatches.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.is_dir() or path.suffix == ".safetensors":
        sd, kw = _read_safetensors(path)
    else:
        ck = _read_pth(path, trust_remote_pickle)
        if not isinstance(ck, dict) or "model" not in ck:
            raise CheckpointError(f"{path}: not a DUSt3R checkpoint (no 'model' state dict)")
        sd, args = ck["model"], ck.get("args")
        kw = None
        if config is None:
            text = getattr(args, "model", None) if args is not None else None
            if not isinstance(text, str):
                raise CheckpointError(f"{path}: no args.model constructor string; pass config= explicitly")
            _, kw = parse_constructor(text)
    cfg = config or config_from_kwargs(kw)
    model = DUSt3R(cfg)
    rep = load_state_dict_checked(model, sd, strict=strict, source=str(path))
    log.info("loaded %s (%s head, %d tensors)", path, cfg.head_type, len(sd))
    return model.eval(), rep


def save_checkpoint(path, model: DUSt3R, *, epoch: int = 0, **extra) -> Path:
    """Write ``{"model": state_dict, "args": Namespace(model=<constructor string>), "epoch": epoch, **extra}``,
    the layout of the official training code, so the file also loads there (``eval(args.model)`` then a
    strict ``load_state_dict``). ``extra`` must be plain tensors/numbers/strings so the file stays
    ``weights_only``-loadable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    args = argparse.Namespace(model=model.cfg.constructor_string())
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"model": sd, "args": args, "epoch": int(epoch), **extra}, tmp)
    tmp.replace(path)
    return path


def save_safetensors(folder, model: DUSt3R) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (constructor keywords) into ``folder``."""
    from safetensors.torch import save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))
    _, kw = parse_constructor(model.cfg.constructor_string())
    (folder / "config.json").write_text(json.dumps(kw, indent=1))
    return folder
