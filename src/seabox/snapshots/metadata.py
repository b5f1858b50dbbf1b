"""Snapshot metadata in SQLite (WAL): key, parent, kind, labels, numeric id, usage.

The numeric id names the snapshot's directory (``snapshots/<id>``), which keeps
overlay lowerdir lists short and lets ``commit`` rename a snapshot without moving
any files.  The daemon opens the same file for its own bookkeeping, so the schema
is plain and the connection is per snapshotter with a lock around each transaction.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seabox import errdefs


class Kind(enum.StrEnum):
    VIEW = "View"
    ACTIVE = "Active"
    COMMITTED = "Committed"


@dataclass
class SnapshotInfo:
    name: str
    parent: str | None
    kind: Kind
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0


@dataclass
class Usage:
    size: int = 0
    inodes: int = 0


@dataclass
class Row:
    id: int
    info: SnapshotInfo
    usage: Usage


_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    parent TEXT,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    inodes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
"""


def _sub(key: str, msg: str) -> str:
    return errdefs.subject("snapshot", key, msg)


class MetaStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _row(r: tuple) -> Row:
        rid, key, parent, kind, labels, created, updated, size, inodes = r
        return Row(rid, SnapshotInfo(key, parent, Kind(kind), json.loads(labels), created, updated),
                   Usage(size, inodes))

    _COLS = "id, key, parent, kind, labels, created, updated, size, inodes"

    def get(self, key: str, db: sqlite3.Connection | None = None) -> Row:
        with self._lock:
            r = (db or self._db).execute(f"SELECT {self._COLS} FROM snapshots WHERE key = ?", (key,)).fetchone()
        if r is None:
            raise errdefs.NotFound(_sub(key, "not found"))
        return self._row(r)

    def find(self, key: str) -> Row | None:
        try:
            return self.get(key)
        except errdefs.NotFound:
            return None

    def all(self) -> list[Row]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._COLS} FROM snapshots ORDER BY id").fetchall()
        return [self._row(r) for r in rows]

    def chain(self, key: str) -> list[Row]:
        """The snapshot and its ancestors, nearest first."""
        out = []
        k: str | None = key
        while k is not None:
            row = self.get(k)
            out.append(row)
            k = row.info.parent
        return out

    def create(self, key: str, parent: str | None, kind: Kind, labels: dict[str, str] | None) -> Row:
        if not key:
            raise errdefs.InvalidArgument(_sub(key, "empty key"))
        now = time.time()
        with self.tx() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise errdefs.AlreadyExists(_sub(key, "already exists"))
            if parent is not None:
                p = self.get(parent, db)
                if p.info.kind != Kind.COMMITTED:
                    raise errdefs.FailedPrecondition(_sub(key, f"parent {parent!r} is not committed"))
            cur = db.execute(
                "INSERT INTO snapshots (key, parent, kind, labels, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (key, parent, kind.value, json.dumps(labels or {}), now, now),
            )
            rid = cur.lastrowid
        assert rid is not None
        return Row(rid, SnapshotInfo(key, parent, kind, dict(labels or {}), now, now), Usage())

    def commit(self, name: str, key: str, labels: dict[str, str] | None, usage: Usage) -> Row:
        now = time.time()
        with self.tx() as db:
            row = self.get(key, db)
            if row.info.kind != Kind.ACTIVE:
                raise errdefs.FailedPrecondition(_sub(key, f"is {row.info.kind.value}, only Active can be committed"))
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise errdefs.AlreadyExists(_sub(name, "already exists"))
            merged = dict(row.info.labels)
            merged.update(labels or {})
            db.execute(
                "UPDATE snapshots SET key = ?, kind = ?, labels = ?, updated = ?, size = ?, inodes = ? WHERE id = ?",
                (name, Kind.COMMITTED.value, json.dumps(merged), now, usage.size, usage.inodes, row.id),
            )
        return Row(row.id, SnapshotInfo(name, row.info.parent, Kind.COMMITTED, merged, row.info.created, now), usage)

    def remove(self, key: str) -> Row:
        with self.tx() as db:
            row = self.get(key, db)
            if db.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone():
                raise errdefs.FailedPrecondition(_sub(key, "has children, remove them first"))
            db.execute("DELETE FROM snapshots WHERE id = ?", (row.id,))
        return row

    def update(self, info: SnapshotInfo, fieldpaths: list[str] | None) -> SnapshotInfo:
        with self.tx() as db:
            row = self.get(info.name, db)
            labels = dict(row.info.labels)
            if not fieldpaths:
                labels = dict(info.labels)
            else:
                for fp in fieldpaths:
                    if fp == "labels":
                        labels = dict(info.labels)
                    elif fp.startswith("labels."):
                        k = fp[len("labels."):]
                        if k in info.labels and info.labels[k] != "":
                            labels[k] = info.labels[k]
                        else:
                            labels.pop(k, None)
                    else:
                        raise errdefs.InvalidArgument(_sub(info.name, f"cannot update field {fp!r}"))
            now = time.time()
            db.execute("UPDATE snapshots SET labels = ?, updated = ? WHERE id = ?", (json.dumps(labels), now, row.id))
        return SnapshotInfo(row.info.name, row.info.parent, row.info.kind, labels, row.info.created, now)
