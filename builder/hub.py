"""Upload a dataset directory to the Hugging Face Hub (``HfApi.create_repo`` + ``upload_folder``).

Only the published files travel: ``README.md`` (the card), ``manifest.jsonl`` and ``data/train-*.tar``;
lock and temporary files stay behind. Shards are checked against the manifest before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dynpose100k.errors import DynPoseError, ShardError
from dynpose100k.shards.reader import MANIFEST, shard_paths

logger = logging.getLogger(__name__)

ALLOW_PATTERNS = ["README.md", MANIFEST, "data/train-*.tar"]


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
    if not (d / "README.md").is_file():
        raise ShardError(f"{d}: no README.md dataset card (run `dynpose100k shard` first)")
    tars = shard_paths(d, verify=True)
    files = ["README.md", MANIFEST] + [str(t.relative_to(d)) for t in tars]
    return UploadPlan(repo_id, tuple(files), sum((d / f).stat().st_size for f in files))


def resolve_token(token: str | None = None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the token saved by ``hf auth login`` (``None`` if none)."""
    from huggingface_hub import get_token

    return token or get_token()


def push(dataset_dir, repo_id: str, *, token: str | None = None, private: bool = False,
         revision: str | None = None, dry_run: bool = False) -> UploadPlan:
    """Create the dataset repo (if needed) and upload the planned files; ``dry_run`` only plans."""
    plan = plan_upload(dataset_dir, repo_id)
    if dry_run:
        return plan
    tok = resolve_token(token)
    if not tok:
        raise DynPoseError("no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=tok)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(dataset_dir), repo_id=repo_id, repo_type="dataset",
                          allow_patterns=ALLOW_PATTERNS, revision=revision,
                          commit_message=f"dynpose100k: {len(plan.files) - 2} shard(s)")
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise DynPoseError(f"upload to {repo_id} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return plan
