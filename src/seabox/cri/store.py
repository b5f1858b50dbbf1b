"""Pod sandbox and container records of the CRI, kept in SQLite.

Design reason: kubelet expects sandboxes and containers to outlive a runtime restart with
their metadata, labels, annotations, IPs, log paths and exit codes; the running side (tasks)
is recovered by the TaskManager from the shims, so this store keeps only what the CRI itself
decided.  A record is one JSON document per row (the CRI's objects are nested and evolve;
queries are by id, kind and sandbox only), written in one transaction per change.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    sandbox TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""

SANDBOX, CONTAINER = "sandbox", "container"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def put(self, kind: str, rec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO records (kind, id, sandbox, doc) VALUES (?, ?, ?, ?)",
                             (kind, rec["id"], rec.get("sandbox_id", ""), json.dumps(rec)))

    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM records WHERE kind=? AND id=?", (kind, id)).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM records WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: str, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, id))

    def close(self) -> None:
        with self._lock:
            self._db.close()
