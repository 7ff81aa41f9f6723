"""The curation ledger: one SQLite row per work item, written by the parent process only.

SQLite in WAL mode with ``synchronous=FULL``, one transaction per update, so a run killed at any moment
leaves every committed row intact and at most the items in flight still ``pending``. An item's life is
:class:`~dynpose100k.curate.stages.ItemStatus`; the ``status`` column holds its plain string value.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..video import other_source
from .inputs import WorkItem
from .stages import FAILED, ItemResult, ItemStatus

__all__ = ["Ledger"]

PENDING, ERROR, KEPT, SHARDED = (ItemStatus.PENDING.value, ItemStatus.ERROR.value, ItemStatus.KEPT.value,
                                 ItemStatus.SHARDED.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    start REAL,
    end_ REAL,
    meta TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending',  -- ItemStatus.PENDING
    reason TEXT,
    filter_score REAL,
    filter_reasons TEXT,
    registered_fraction REAL,
    reproj_error_px_720p REAL,
    num_frames INTEGER,
    timings TEXT,
    pose_dir TEXT,
    shard TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL,
    config_hash TEXT,
    run INTEGER
);
CREATE INDEX IF NOT EXISTS items_status ON items(status);
CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY AUTOINCREMENT, started REAL, config TEXT,
                                 config_hash TEXT, settings TEXT, finished REAL);
CREATE TABLE IF NOT EXISTS processed (run INTEGER NOT NULL, item_id TEXT NOT NULL, status TEXT NOT NULL);
"""
# columns added after the first release: (table, column, type); older ledgers are migrated on open
_ADDED = (("items", "config_hash", "TEXT"), ("items", "run", "INTEGER"), ("runs", "config_hash", "TEXT"),
          ("runs", "settings", "TEXT"), ("runs", "finished", "REAL"))


def _other_window(held: tuple, new: tuple) -> bool:
    """Whether two ``(start, end)`` windows (None: the video's start or end) differ by more than a frame."""
    return any((a is None) != (b is None) or (a is not None and abs(a - b) > 0.02) for a, b in zip(held, new))


def _clip(path: str, start, end, window: bool) -> str:
    """``path``, with its window in seconds where ``window``."""
    if not window:
        return path
    return f"{path} [{0.0 if start is None else start:.2f}-{'end' if end is None else f'{end:.2f}'} s]"


class Ledger:
    """Per-item status store of one curation output folder."""

    run: int | None = None
    """Id of the run started by :meth:`start_run` (recorded with every item it processes)."""
    config_hash: str | None = None
    """Settings hash of that run (recorded with every item it processes)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        for table, col, typ in _ADDED:
            if col not in {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {col} {typ}")

    def close(self) -> None:
        self.db.close()

    def start_run(self, config: dict, config_hash: str | None = None, settings: dict | None = None) -> int:
        """Record a run and its settings; items processed from now on carry its id and ``config_hash``."""
        cur = self.db.execute("INSERT INTO runs(started, config, config_hash, settings) VALUES (?, ?, ?, ?)",
                              (time.time(), json.dumps(config), config_hash, json.dumps(settings)))
        self.run, self.config_hash = int(cur.lastrowid), config_hash
        return self.run

    def finish_run(self) -> None:
        if self.run is not None:
            self.db.execute("UPDATE runs SET finished=? WHERE run=?", (time.time(), self.run))

    def runs(self) -> list[dict]:
        """Every run, oldest first: ``run``, ``started``, ``finished``, ``config``, ``config_hash``,
        ``settings`` and ``items`` (ids of the items that run processed, in order)."""
        out = []
        for r in self.db.execute("SELECT * FROM runs ORDER BY run").fetchall():
            q = "SELECT item_id FROM processed WHERE run=? ORDER BY rowid"
            ids = [x[0] for x in self.db.execute(q, (r["run"],))]
            out.append({"run": r["run"], "started": r["started"], "finished": r["finished"],
                        "config_hash": r["config_hash"], "settings": json.loads(r["settings"] or "null"),
                        "config": json.loads(r["config"] or "null"), "items": ids})
        return out

    def adopt_unhashed(self, config_hash: str) -> int:
        """Give items processed before hashes were recorded (``config_hash`` NULL, not pending) ``config_hash``
        (the settings of the last run that touched them). Returns how many."""
        cur = self.db.execute("UPDATE items SET config_hash=? WHERE config_hash IS NULL AND status != ?",
                              (config_hash, PENDING))
        return cur.rowcount

    def relabel(self, old_hash: str, config_hash: str) -> int:
        """Give the processed items of ``old_hash`` ``config_hash`` (settings that decide alike). Returns how many."""
        cur = self.db.execute("UPDATE items SET config_hash=? WHERE config_hash=? AND status != ?",
                              (config_hash, old_hash, PENDING))
        return cur.rowcount

    def stale(self, config_hash: str) -> dict[str, list[str]]:
        """``{other_hash: [item_id, ...]}`` of processed (not pending) items decided under other settings."""
        out: dict[str, list[str]] = {}
        q = "SELECT item_id, config_hash FROM items WHERE status != ? AND config_hash IS NOT ? ORDER BY item_id"
        for r in self.db.execute(q, (PENDING, config_hash)):
            out.setdefault(r["config_hash"], []).append(r["item_id"])
        return out

    def settings_of(self, config_hash: str | None) -> dict | None:
        """The settings recorded for ``config_hash`` by the latest run that used it (None if unknown)."""
        r = self.db.execute("SELECT settings FROM runs WHERE config_hash IS ? AND settings IS NOT NULL "
                            "ORDER BY run DESC LIMIT 1", (config_hash,)).fetchone()
        return json.loads(r[0]) if r and r[0] else None

    def register(self, items: list[WorkItem], retry_failed: bool = False) -> None:
        """Add new items; with ``retry_failed`` send failed items back to ``pending``. Items that are still
        pending (or retried) take the freshly resolved path and window; input errors are recorded at once."""
        with self.db:
            self.db.execute("BEGIN")
            if retry_failed:
                self.db.execute(
                    f"UPDATE items SET status=?, reason=NULL WHERE status IN ({','.join('?' * len(FAILED))})",
                    (PENDING, *(f.value for f in FAILED)),
                )
            for it in items:
                self.db.execute(
                    "INSERT OR IGNORE INTO items(item_id, path, start, end_, meta, updated) VALUES (?,?,?,?,?,?)",
                    (it.item_id, it.path, it.start, it.end, json.dumps(it.meta), time.time()),
                )
                self.db.execute(
                    "UPDATE items SET path=?, start=?, end_=?, meta=? WHERE item_id=? AND status=?",
                    (it.path, it.start, it.end, json.dumps(it.meta), it.item_id, PENDING),
                )
                if it.error is not None:
                    cur = self.db.execute(
                        "UPDATE items SET status=?, reason=?, attempts=attempts+1, updated=?, config_hash=?, "
                        "run=? WHERE item_id=? AND status=?",
                        (ERROR, it.error, time.time(), self.config_hash, self.run, it.item_id, PENDING),
                    )
                    if cur.rowcount and self.run is not None:
                        self.db.execute("INSERT INTO processed(run, item_id, status) VALUES (?,?,?)",
                                        (self.run, it.item_id, ERROR))

    def record(self, r: ItemResult) -> None:
        """Store the outcome of one processed item with the current run's id and settings hash (one
        committed transaction)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE items SET status=?, reason=?, filter_score=?, filter_reasons=?, registered_fraction=?, "
                "reproj_error_px_720p=?, num_frames=?, timings=?, pose_dir=?, attempts=attempts+1, updated=?, "
                "config_hash=?, run=? WHERE item_id=?",
                (r.status.value, r.reason, r.filter_score, json.dumps(list(r.filter_reasons)), r.registered_fraction,
                 r.reproj_error_px_720p, r.num_frames, json.dumps(r.timings), r.pose_dir, time.time(),
                 self.config_hash, self.run, r.item_id),
            )
            if self.run is not None:
                self.db.execute("INSERT INTO processed(run, item_id, status) VALUES (?,?,?)",
                                (self.run, r.item_id, r.status.value))

    def mark_sharded(self, shards: dict[str, str]) -> None:
        """Mark kept items ``{item_id: shard}`` as published (one transaction)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE items SET status=?, shard=?, updated=? WHERE item_id=? AND status=?",
                [(SHARDED, shard, time.time(), i, KEPT) for i, shard in shards.items()],
            )

    def requeue(self, item_ids: list[str]) -> None:
        """Send items back to ``pending`` (their work is redone on this run)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE items SET status=?, reason=NULL, shard=NULL WHERE item_id=?",
                                [(PENDING, i) for i in item_ids])

    def reconcile(self, published: dict[str, str]) -> tuple[int, int]:
        """Make the ledger agree with the shard manifest ``{key: shard}``: kept items already in a published
        shard become ``sharded``; ``sharded`` items missing from it go back to ``kept`` to be written again.
        Returns (promoted, demoted)."""
        promoted = demoted = 0
        with self.db:
            self.db.execute("BEGIN")
            rows = self.db.execute("SELECT item_id, status FROM items WHERE status IN (?,?)", (KEPT, SHARDED))
            for row in rows.fetchall():
                key, status = row["item_id"], row["status"]
                if status == KEPT and key in published:
                    self.db.execute("UPDATE items SET status=?, shard=? WHERE item_id=?",
                                    (SHARDED, published[key], key))
                    promoted += 1
                elif status == SHARDED and key not in published:
                    self.db.execute("UPDATE items SET status=?, shard=NULL WHERE item_id=?", (KEPT, key))
                    demoted += 1
        return promoted, demoted

    def conflicts(self, items: list[WorkItem]) -> list[tuple[str, str, str]]:
        """``(item_id, recorded clip, new clip)`` for each of ``items`` whose id names an item already decided
        here from another video (:func:`~dynpose100k.video.other_source` of the recorded and the new ``meta``:
        a known size or content digest that differs) or another window of it (a CSV whose windows changed,
        e.g. ``dynpose100k shots`` run again with other lengths). Such an item would be taken as done; the
        caller refuses the run instead. Pending items are not conflicts: they take the new path when
        registered (a moved input folder)."""
        rows = {}
        ids = [it.item_id for it in items]
        for k in range(0, len(ids), 500):  # one query per 500 ids (SQLite caps the bound parameters)
            chunk = ids[k : k + 500]
            q = (f"SELECT item_id, path, start, end_, meta, status FROM items "
                 f"WHERE item_id IN ({','.join('?' * len(chunk))})")
            rows.update((r["item_id"], r) for r in self.db.execute(q, chunk))
        out = []
        for it in items:
            row = rows.get(it.item_id)
            if row is None or row["status"] == PENDING:
                continue
            moved = _other_window((row["start"], row["end_"]), (it.start, it.end))
            if moved or other_source(json.loads(row["meta"]), it.meta):
                out.append((it.item_id, _clip(row["path"], row["start"], row["end_"], moved),
                            _clip(it.path, it.start, it.end, moved)))
        return out

    def items(self, status: ItemStatus | tuple[ItemStatus, ...] | None = None) -> list[sqlite3.Row]:
        """Rows of the items with ``status`` (one or several; all items when None), by id."""
        if status is None:
            return self.db.execute("SELECT * FROM items ORDER BY item_id").fetchall()
        sts = tuple(ItemStatus(s).value for s in ((status,) if isinstance(status, str) else status))
        q = f"SELECT * FROM items WHERE status IN ({','.join('?' * len(sts))}) ORDER BY item_id"
        return self.db.execute(q, sts).fetchall()

    def counts(self) -> dict[ItemStatus, int]:
        """Items per status (every status present, zero when none)."""
        c = dict.fromkeys(ItemStatus, 0)
        rows = self.db.execute("SELECT status, COUNT(*) FROM items GROUP BY status")
        c.update({ItemStatus(r[0]): r[1] for r in rows})
        return c

    def work_item(self, row: sqlite3.Row) -> WorkItem:
        return WorkItem(row["item_id"], row["path"], row["start"], row["end_"], json.loads(row["meta"]))
