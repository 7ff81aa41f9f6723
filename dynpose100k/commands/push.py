"""``dynpose100k push``: upload a dataset directory to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

HELP = "upload a generated dataset directory to the Hugging Face Hub"
EXAMPLES = """
  dynpose100k push outputs/dynpose-100k --repo my-org/dynpose-100k --dry-run     # list what would be sent
  HF_TOKEN=hf_... dynpose100k push outputs/dynpose-100k --repo my-org/dynpose-100k --private

Uploads README.md (the card with configs + features), manifest.jsonl and data/train-*.tar after checking
every shard against the manifest. The upload needs network access to huggingface.co (not available in
offline or CI sandboxes: use --dry-run there) and a token with write access
(--token, HF_TOKEN, or `hf auth login`). Afterwards: load_dataset("my-org/dynpose-100k", streaming=True).
"""


def add_arguments(p):
    p.add_argument("dataset", type=Path, help="dataset folder (README.md, manifest.jsonl, data/)")
    p.add_argument("--repo", required=True, help="dataset repository ORG/NAME (created if missing)")
    p.add_argument("--token", help="Hugging Face token (default: HF_TOKEN or the saved login)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to upload to (default: main)")
    p.add_argument("--dry-run", action="store_true", help="check and list the files; upload nothing")


def run(args) -> int:
    import sys

    from builder.card import read_settings
    from builder.hub import push

    plan = push(args.dataset, args.repo, token=args.token, private=args.private, revision=args.revision,
                dry_run=args.dry_run)
    if read_settings(args.dataset).license == "unknown":
        print("note: the card's licence is 'unknown'; set it with --license on shard/curate/subset/import-release",
              file=sys.stderr)
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(plan.files)} file(s), {plan.bytes / 1e6:.1f} MB to datasets/{plan.repo_id}:")
    for f in plan.files:
        print(f"  {f}")
    return 0
