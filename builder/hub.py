"""Upload a dataset directory to the Hugging Face Hub (``HfApi.create_repo``, then the shards, then the card).

Only the published files travel: ``README.md`` (the card), ``manifest.jsonl`` and ``data/train-*.tar``;
lock and temporary files and the card settings ``card.json`` stay behind. Shards are checked against the
manifest before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dynpose100k.errors import DynPoseError, ShardError
from dynpose100k.shards.reader import MANIFEST, shard_paths

logger = logging.getLogger(__name__)

SHARD_PATTERNS = ["data/train-*.tar"]
CARD_PATTERNS = ["README.md", MANIFEST]


@dataclass(frozen=True)
class UploadPlan:
    """What :func:`push` sends."""

    repo_id: str
    """``ORG/NAME`` of the dataset repository."""
    files: tuple[str, ...]
    """Paths relative to the dataset directory."""
    bytes: int
    """Total size."""


def plan_upload(dataset_dir, repo_id: str) -> UploadPlan:
    """Check ``dataset_dir`` (card present, shards match the manifest) and list the files to upload."""
    d = Path(dataset_dir)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise DynPoseError(f"repo id {repo_id!r} must look like ORG/NAME")
    if not d.is_dir():
        raise ShardError(f"{d}: no such dataset folder")
    if not (d / "README.md").is_file():
        raise ShardError(f"{d}: no README.md dataset card (run `dynpose100k shard` first)")
    tars = shard_paths(d, verify=True)
    files = [str(t.relative_to(d)) for t in tars] + [MANIFEST, "README.md"]  # in the order they are uploaded
    return UploadPlan(repo_id, tuple(files), sum((d / f).stat().st_size for f in files))


def resolve_token(token: str | None = None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the token saved by ``hf auth login`` (``None`` if none)."""
    from huggingface_hub import get_token

    return token or get_token()


LARGE_BYTES = 5_000_000_000
"""Above this many bytes, shards go through ``HfApi.upload_large_folder`` when the installed client has it."""


def _client_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the Hub client raises for network and HTTP failures (its HTTP library differs by version)."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError

    errors: list[type[BaseException]] = [HfHubHTTPError, OSError, ValueError]
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def push(dataset_dir, repo_id: str, *, token: str | None = None, private: bool = False,
         revision: str | None = None, dry_run: bool = False) -> UploadPlan:
    """Create the dataset repo (if needed) and upload the planned files; ``dry_run`` only plans.

    Shards go first, the card and the manifest last in their own commit, so the repository never declares
    shards it does not hold yet (an interrupted push leaves the previous card in place; pushing again skips
    files already uploaded). Above ``LARGE_BYTES``, shards use ``upload_large_folder`` (resumable, parallel,
    several commits) when the client has it; ``huggingface_hub`` >= 2 removed it because its
    ``upload_folder`` streams, batches and resumes large folders itself. Network and HTTP failures raise a
    one-line ``DynPoseError``.
    """
    plan = plan_upload(dataset_dir, repo_id)
    if dry_run:
        return plan
    tok = resolve_token(token)
    if not tok:
        raise DynPoseError("no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`")
    from huggingface_hub import HfApi

    api = HfApi(token=tok)
    n = len(plan.files) - 2
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if plan.bytes > LARGE_BYTES and hasattr(api, "upload_large_folder"):
            api.upload_large_folder(repo_id=repo_id, folder_path=str(dataset_dir), repo_type="dataset",
                                    revision=revision, allow_patterns=SHARD_PATTERNS)
        else:
            api.upload_folder(folder_path=str(dataset_dir), repo_id=repo_id, repo_type="dataset",
                              allow_patterns=SHARD_PATTERNS, revision=revision,
                              commit_message=f"dynpose100k: {n} shard(s)")
        api.upload_folder(folder_path=str(dataset_dir), repo_id=repo_id, repo_type="dataset",
                          allow_patterns=CARD_PATTERNS, revision=revision,
                          commit_message=f"dynpose100k: card and manifest ({n} shard(s))")
    except _client_errors() as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DynPoseError(f"upload to {repo_id} at {_endpoint()} failed: {type(e).__name__}: {first}") from None
    return plan


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT
