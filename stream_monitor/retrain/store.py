"""The dedup store: which retrain requests were already resolved, kept on disk.

A request is *resolved* once it was handled successfully (``done``), replaced by
a newer request of its incident before it was handled (``superseded``), or sent
to the dead-letter topic (``dead_lettered``). A resolved request that is
delivered again (its offset commit was lost: a crash, a rebalance) is skipped.

The store is one SQLite file written with ``synchronous=FULL``: a resolution is
on disk (fsync) before the offset is committed, so a crash between the two
re-delivers the request and the store stops a second run. It is bounded: it
keeps the newest ``max_entries`` resolutions (100,000 by default, a few MB) and
forgets the oldest. Re-delivery only ever concerns requests after the last
committed offset, so the bound only has to exceed the requests resolved between
two commits (one, normally).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["DedupStore", "Resolution", "Status"]

Status = Literal["done", "superseded", "dead_lettered"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resolved (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    superseded_by TEXT,
    resolved_at REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Resolution:
    request_id: str
    status: Status
    superseded_by: str | None


class DedupStore:
    """Durable request-id set with a status per id (see the module docstring).

    Parameters
    ----------
    path:
        The SQLite file; its directory is created when missing.
    max_entries:
        How many resolutions are kept; the oldest are forgotten beyond that.
    """

    def __init__(self, path: Path | str, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = Path(path)
        self.max_entries = max_entries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync at every commit: durable before the offset
        self._db.execute(_SCHEMA)

    def get(self, request_id: str) -> Resolution | None:
        row = self._db.execute(
            "SELECT status, superseded_by FROM resolved WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else Resolution(request_id, row[0], row[1])

    def resolve(self, request_id: str, status: Status, superseded_by: str | None = None) -> None:
        """Record one resolution (replacing an earlier one of the same id) durably."""
        self.resolve_many([(request_id, status, superseded_by)])

    def resolve_many(self, items: list[tuple[str, Status, str | None]]) -> None:
        """Record several resolutions in one transaction, then trim to ``max_entries``."""
        if not items:
            return
        now = time.time()
        with self._transaction():
            for request_id, status, by in items:
                self._db.execute("DELETE FROM resolved WHERE request_id = ?", (request_id,))
                self._db.execute(
                    "INSERT INTO resolved (request_id, status, superseded_by, resolved_at) VALUES (?, ?, ?, ?)",
                    (request_id, status, by, now),
                )
            self._db.execute(
                "DELETE FROM resolved WHERE seq <= (SELECT MAX(seq) FROM resolved) - ?", (self.max_entries,)
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM resolved").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
