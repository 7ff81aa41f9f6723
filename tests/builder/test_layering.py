"""The flow runs one way: shard stages never import the Hugging Face side (``builder``)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by ``path`` (anywhere in the file, lazy imports included);
    relative imports resolve to ``dynpose100k``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("dynpose100k" if node.level else (node.module or "").split(".")[0])
    return names


def test_shards_never_import_builder():
    files = sorted((REPO / "dynpose100k" / "shards").rglob("*.py"))
    assert len(files) > 5
    offenders = [str(f.relative_to(REPO)) for f in files if "builder" in _imports(f)]
    assert not offenders, f"modules under dynpose100k/shards import builder: {offenders}"


def _reads(node, key: str) -> bool:
    """``node`` reads ``key`` from a dict (``m[key]`` or ``m.get(key)``)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and n.slice.value == key:
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get" and n.args \
                and isinstance(n.args[0], ast.Constant) and n.args[0].value == key:
            return True
    return False


def _compares(node, op) -> bool:
    return any(isinstance(n, ast.Compare) and any(isinstance(o, op) for o in n.ops) for n in ast.walk(node))


def test_the_quality_rule_exists_once():
    """One implementation of the reprojection / registration selection (``QualityRule``): no other function
    or lambda in the package, builder or eval reads both flags and tests them with ``<`` and ``>=``."""
    hits = []
    files = [*(REPO / "dynpose100k").rglob("*.py"), *(REPO / "builder").rglob("*.py"), *(REPO / "eval").rglob("*.py")]
    for f in sorted(files):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.Lambda)) and _reads(node, "reproj_error_px_720p") \
                    and _reads(node, "registered_fraction") \
                    and _compares(node, ast.Lt) and _compares(node, ast.GtE):
                hits.append(f"{f.relative_to(REPO)}:{node.lineno}")
    assert len(hits) == 1 and hits[0].startswith("dynpose100k/shards/subset.py"), hits


def test_no_import_cycle_between_shards_and_builder():
    import subprocess
    import sys

    # importing either package first works (a cycle would fail on one of the orders)
    for first in ("builder", "dynpose100k.shards"):
        code = f"import {first}, builder, builder.card, builder.hub, builder.load, dynpose100k.shards.release"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.returncode == 0, r.stderr
