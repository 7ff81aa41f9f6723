"""The curation ledger: one SQLite row per work item, written by the parent process only.

SQLite in WAL mode with ``synchronous=FULL``, one transaction per update, so a run killed at any moment
leaves every committed row intact and at most the items in flight still ``pending``. An item's life:

``pending`` -> ``filtered_out`` | ``pose_failed`` | ``rejected_registration`` | ``error`` | ``kept``
-> ``sharded`` (set only after the shard holding the sample is published).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import WorkItem

__all__ = ["Ledger", "ItemResult", "STATUSES", "FAILED", "FINAL"]

STATUSES = ("pending", "filtered_out", "pose_failed", "rejected_registration", "error", "kept", "sharded")
FAILED = ("pose_failed", "error")
"""Statuses that ``--retry-failed`` sends back to ``pending`` (decisions are not failures)."""
FINAL = ("filtered_out", "rejected_registration", "sharded") + FAILED

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    start REAL,
    end_ REAL,
    meta TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending',
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
    updated REAL
);
CREATE INDEX IF NOT EXISTS items_status ON items(status);
CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY AUTOINCREMENT, started REAL, config TEXT);
"""


@dataclass(frozen=True)
class ItemResult:
    """What processing one item produced (returned by a worker to the parent)."""

    item_id: str
    status: str
    """One of ``filtered_out``, ``pose_failed``, ``rejected_registration``, ``error``, ``kept``."""
    reason: str | None = None
    """One line: why the item was not kept (filter reasons joined, failure message)."""
    filter_score: float | None = None
    filter_reasons: tuple[str, ...] = ()
    registered_fraction: float | None = None
    reproj_error_px_720p: float | None = None
    num_frames: int | None = None
    timings: dict = field(default_factory=dict)
    """Seconds per stage (``decode``, ``filter``, ``pose``)."""
    pose_dir: str | None = None
    """Folder of the pose result (``poses.npz`` + ``result.json``) when pose estimation ran."""


class Ledger:
    """Per-item status store of one curation output folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def start_run(self, config: dict) -> None:
        self.db.execute("INSERT INTO runs(started, config) VALUES (?, ?)", (time.time(), json.dumps(config)))

    def register(self, items: list[WorkItem], retry_failed: bool = False) -> None:
        """Add new items; with ``retry_failed`` send failed items back to ``pending``. Items that are still
        pending (or retried) take the freshly resolved path and window; input errors are recorded at once."""
        with self.db:
            self.db.execute("BEGIN")
            if retry_failed:
                self.db.execute(
                    f"UPDATE items SET status='pending', reason=NULL WHERE status IN ({','.join('?' * len(FAILED))})",
                    FAILED,
                )
            for it in items:
                self.db.execute(
                    "INSERT OR IGNORE INTO items(item_id, path, start, end_, meta, updated) VALUES (?,?,?,?,?,?)",
                    (it.item_id, it.path, it.start, it.end, json.dumps(it.meta), time.time()),
                )
                self.db.execute(
                    "UPDATE items SET path=?, start=?, end_=?, meta=? WHERE item_id=? AND status='pending'",
                    (it.path, it.start, it.end, json.dumps(it.meta), it.item_id),
                )
                if it.error is not None:
                    self.db.execute(
                        "UPDATE items SET status='error', reason=?, attempts=attempts+1, updated=? "
                        "WHERE item_id=? AND status='pending'",
                        (it.error, time.time(), it.item_id),
                    )

    def record(self, r: ItemResult) -> None:
        """Store the outcome of one processed item (one committed transaction)."""
        self.db.execute(
            "UPDATE items SET status=?, reason=?, filter_score=?, filter_reasons=?, registered_fraction=?, "
            "reproj_error_px_720p=?, num_frames=?, timings=?, pose_dir=?, attempts=attempts+1, updated=? "
            "WHERE item_id=?",
            (r.status, r.reason, r.filter_score, json.dumps(list(r.filter_reasons)), r.registered_fraction,
             r.reproj_error_px_720p, r.num_frames, json.dumps(r.timings), r.pose_dir, time.time(), r.item_id),
        )

    def mark_sharded(self, shards: dict[str, str]) -> None:
        """Mark kept items ``{item_id: shard}`` as published (one transaction)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE items SET status='sharded', shard=?, updated=? WHERE item_id=? AND status='kept'",
                [(shard, time.time(), i) for i, shard in shards.items()],
            )

    def requeue(self, item_ids: list[str]) -> None:
        """Send items back to ``pending`` (their work is redone on this run)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE items SET status='pending', reason=NULL WHERE item_id=?",
                                [(i,) for i in item_ids])

    def reconcile(self, published: dict[str, str]) -> tuple[int, int]:
        """Make the ledger agree with the shard manifest ``{key: shard}``: kept items already in a published
        shard become ``sharded``; ``sharded`` items missing from it go back to ``kept`` to be written again.
        Returns (promoted, demoted)."""
        promoted = demoted = 0
        with self.db:
            self.db.execute("BEGIN")
            for row in self.db.execute("SELECT item_id, status, shard FROM items WHERE status IN ('kept','sharded')").fetchall():
                key, status = row["item_id"], row["status"]
                if status == "kept" and key in published:
                    self.db.execute("UPDATE items SET status='sharded', shard=? WHERE item_id=?", (published[key], key))
                    promoted += 1
                elif status == "sharded" and key not in published:
                    self.db.execute("UPDATE items SET status='kept', shard=NULL WHERE item_id=?", (key,))
                    demoted += 1
        return promoted, demoted

    def items(self, status: str | tuple[str, ...] | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM items ORDER BY item_id").fetchall()
        sts = (status,) if isinstance(status, str) else tuple(status)
        q = f"SELECT * FROM items WHERE status IN ({','.join('?' * len(sts))}) ORDER BY item_id"
        return self.db.execute(q, sts).fetchall()

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(STATUSES, 0)
        c.update({r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM items GROUP BY status")})
        return c

    def work_item(self, row: sqlite3.Row) -> WorkItem:
        return WorkItem(row["item_id"], row["path"], row["start"], row["end_"], json.loads(row["meta"]))
