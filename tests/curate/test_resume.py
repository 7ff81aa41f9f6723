import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from curate_fakes import fake_stages
from test_runner import _shard_keys, _status

from dynpose100k.curate import CurateConfig, curate

SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from pathlib import Path
from curate_fakes import fake_stages
from dynpose100k.curate import CurateConfig, curate
out = Path({out!r})
curate({pool!r}, CurateConfig(out=out, workers=2, shard_size=2), stages=fake_stages(out, delay=0.4), progress=False)
"""


def _count(out, status):
    try:
        db = sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True, timeout=1)
        return db.execute("SELECT COUNT(*) FROM items WHERE status=?", (status,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigkill_mid_run_then_resume(make_pool, tmp_path):
    names = [f"good_{i}" for i in range(8)] + [f"static_{i}" for i in range(4)]
    pool = make_pool(names, broken=False)
    out = tmp_path / "out"
    code = SCRIPT.format(here=str(Path(__file__).parent), out=str(out), pool=str(pool))
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while _count(out, "sharded") < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    st = _status(out)
    assert 2 <= sum(v == "sharded" for v in st.values()) and "pending" in st.values(), st

    s = curate(pool, CurateConfig(out=out, workers=2, shard_size=2), stages=fake_stages(out), progress=False)
    keys = _shard_keys(out / "dynpose-100k")
    assert sorted(keys) == sorted(n for n in names if n.startswith("good"))  # each kept clip exactly once
    st = _status(out)
    assert sorted(k for k, v in st.items() if v == "sharded") == sorted(keys)
    assert sum(v == "filtered_out" for v in st.values()) == 4
    assert s["funnel"]["in_shards"] == 8 and s["run"]["processed"] < len(names)
