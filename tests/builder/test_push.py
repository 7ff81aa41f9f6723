import pytest
from pose_fixtures import write_pose_dir

import builder.hub as hub
from builder import write_dataset
from dynpose100k.cli import main
from dynpose100k.errors import DynPoseError
from dynpose100k.shards import build_sample


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no saved login
    d, frames = write_pose_dir(tmp_path / "p", "v0", n=4)
    write_dataset([build_sample(d, frames)], tmp_path / "ds")
    return tmp_path / "ds"


def test_dry_run_lists_published_files_only(dataset, capsys):
    (dataset / "data" / ".train-000009.tar.tmp").write_bytes(b"partial")
    assert main(["push", str(dataset), "--repo", "org/name", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "would upload 3 file(s)" in out and "data/train-000000.tar" in out and ".tmp" not in out
    assert "licence is 'unknown'" in err  # a reminder before publishing
    from builder.card import write_card

    write_card(dataset, license="cc-by-4.0")
    assert main(["push", str(dataset), "--repo", "org/name", "--dry-run"]) == 0
    assert "licence" not in capsys.readouterr().err


def test_push_needs_token_and_valid_repo(dataset, capsys):
    assert main(["push", str(dataset), "--repo", "org/name"]) == 1
    assert "no Hugging Face token" in capsys.readouterr().err
    with pytest.raises(DynPoseError, match="ORG/NAME"):
        hub.plan_upload(dataset, "justaname")


def test_push_calls_hub_api(dataset, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    plan = hub.push(dataset, "org/name", token="hf_test", private=True)
    assert calls[0] == ("init", "hf_test")
    assert calls[1] == ("create_repo", "org/name", {"repo_type": "dataset", "private": True, "exist_ok": True})
    shards, card = calls[2][1], calls[3][1]  # shards first, the card and manifest last
    assert shards["repo_type"] == "dataset" and shards["folder_path"] == str(dataset)
    assert shards["allow_patterns"] == ["data/train-*.tar"]
    assert card["allow_patterns"] == ["README.md", "manifest.jsonl"]
    assert plan.files == ("data/train-000000.tar", "manifest.jsonl", "README.md")  # the upload order


def test_push_refuses_modified_shard(dataset):
    tar = dataset / "data" / "train-000000.tar"
    tar.write_bytes(tar.read_bytes()[:-2048])
    with pytest.raises(DynPoseError, match="truncated or modified"):
        hub.push(dataset, "org/name", dry_run=True)


def test_push_without_network_is_one_line(dataset, tmp_path):
    """An unreachable Hub endpoint: one line on stderr and exit 1, no traceback (HF_ENDPOINT is read when
    huggingface_hub is imported, hence a fresh process)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_TOKEN="hf_unused", HF_HOME=str(tmp_path / "hf_home"))
    r = subprocess.run([sys.executable, "-m", "dynpose100k", "push", str(dataset), "--repo", "org/name"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "upload to org/name at http://127.0.0.1:9 failed" in lines[0]


def test_large_push_uses_upload_large_folder_when_available(dataset, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token):
            pass

        def create_repo(self, repo_id, **kw):
            pass

        def upload_large_folder(self, **kw):
            calls.append(("large", kw["allow_patterns"]))

        def upload_folder(self, **kw):
            calls.append(("folder", kw["allow_patterns"]))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "LARGE_BYTES", 1)
    hub.push(dataset, "org/name", token="hf_test")
    assert calls == [("large", hub.SHARD_PATTERNS), ("folder", hub.CARD_PATTERNS)]
    calls.clear()
    monkeypatch.setattr(hub, "LARGE_BYTES", 10**12)
    hub.push(dataset, "org/name", token="hf_test")
    assert calls == [("folder", hub.SHARD_PATTERNS), ("folder", hub.CARD_PATTERNS)]
