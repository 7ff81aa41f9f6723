"""A normal (non-editable) install writes and loads a dataset: the card template ships in the wheel.

The wheel is built offline from a copy of the source tree and installed into a fresh virtual environment
that sees this environment's packages (torch, datasets, ...) through a ``.pth`` line, so nothing is
downloaded; the editable install of this environment stays inactive there (its finder ``.pth`` is not
processed), and the test checks that the code it runs comes from the wheel. It runs from a folder
without the source tree.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "build", "dist", "outputs", "__pycache__", ".pytest_cache"}


def _run(cmd, cwd, env, timeout=240):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_wheel_install_curates_and_loads(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HOME=str(tmp_path / "hf"),
               HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", src],
         tmp_path, env)
    (wheel,) = (tmp_path / "wheel").glob("dynpose100k-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    (py,) = env_dir.glob("bin/python")
    (sp,) = env_dir.glob("lib/python*/site-packages")
    (sp / "outer_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([py, "-m", "pip", "install", "--no-deps", "--ignore-installed", wheel], tmp_path, env)
    shutil.rmtree(src)  # nothing can come from the source tree

    work = tmp_path / "work"
    work.mkdir()
    r = _run([py, "-c", "import dynpose100k, builder.card as c; print(dynpose100k.__file__); "
                        "print(c.template_path())"], work, env)
    assert all(line.startswith(str(env_dir)) for line in r.stdout.split()), r.stdout
    exe = env_dir / "bin" / "dynpose100k"
    _run([exe, "synth", "--out", "synth", "--num", "2", "--kind", "good", "--size", "320x180", "--duration", "3",
          "--seed", "1"], work, env)
    _run([exe, "curate", "synth", "--out", "cur", "--workers", "2", "--no-progress", "--filter-threshold", "0",
          "--min-registered", "0", "--license", "cc-by-4.0"], work, env)
    kept = json.loads((work / "cur" / "summary.json").read_text())["funnel"]["in_shards"]
    assert kept >= 1  # (smaller clips fall below the pose engine's minimum evidence); whatever is kept must load
    ds_dir = work / "cur" / "dynpose-100k"
    assert "license: cc-by-4.0" in (ds_dir / "README.md").read_text()
    r = _run([py, "-c", "from datasets import load_dataset; ds = load_dataset('cur/dynpose-100k', split='train'); "
                        "print(len(ds), type(ds[0]['frames.mp'][0]).__name__)"], work, env)
    assert r.stdout.split()[-2:] == [str(kept), "JpegImageFile"], r.stdout
