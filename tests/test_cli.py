import subprocess
import sys

from dynpose100k.cli import VERBS, build_parser


def test_help_lists_every_verb_with_examples():
    text = build_parser().format_help()
    for verb in VERBS:
        assert verb in text
    assert "examples:" in text


def test_unknown_verb_fails_cleanly():
    r = subprocess.run([sys.executable, "-m", "dynpose100k", "nosuchverb"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr


def test_missing_optional_extra_is_a_one_line_user_error():
    import pytest

    from dynpose100k.errors import DynPoseError
    from dynpose100k.models import require

    with pytest.raises(DynPoseError, match=r"pip install 'dynpose100k\[viz\]'") as e:
        require("no_such_module_for_this_test", "viz")
    assert isinstance(e.value, ImportError) and "\n" not in str(e.value)
