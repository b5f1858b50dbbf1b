"""The SQLite database behind seaboxd's metadata: schema, one writer, many readers.

SQLite allows one writer at a time; rather than let threads race for the file lock (and
see ``database is locked``), the daemon funnels every write through one connection guarded
by a ``threading.Lock`` and wraps it in a transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``).
Readers get a connection per thread in WAL mode, so a slow ``List`` never blocks a ``Create``.

Schema notes, for the issues that build on it:

- ``labels`` holds the labels of every kind of object (``kind`` is ``namespace``,
  ``container``, ``image``, ``lease``, ``content``, ``snapshot``); GC references are labels
  with keys under ``containerd.io/gc.ref.`` (and ``containerd.io/gc.root``,
  ``containerd.io/gc.expire``), found through the ``labels_key`` index.
- ``lease_resources`` records what a lease keeps alive (``type`` is ``content``,
  ``snapshots/<snapshotter>``, ``ingests``, ``images`` ...).
- ``content`` and ``snapshots`` record per-namespace ownership of blobs and snapshots; the
  content store and snapshotters own the bytes, these tables own who uses them.
- Times are integers: nanoseconds since the epoch, UTC.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    namespace TEXT NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (namespace, kind, name, key)
);
CREATE INDEX IF NOT EXISTS labels_key ON labels (key, namespace, kind);
CREATE TABLE IF NOT EXISTS containers (
    namespace             TEXT NOT NULL,
    id                    TEXT NOT NULL,
    image                 TEXT NOT NULL DEFAULT '',
    runtime_name          TEXT NOT NULL DEFAULT '',
    runtime_options_type  TEXT,
    runtime_options_value BLOB,
    spec_type             TEXT,
    spec_value            BLOB,
    snapshotter           TEXT NOT NULL DEFAULT '',
    snapshot_key          TEXT NOT NULL DEFAULT '',
    sandbox               TEXT NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE TABLE IF NOT EXISTS container_extensions (
    namespace TEXT NOT NULL,
    id        TEXT NOT NULL,
    name      TEXT NOT NULL,
    type_url  TEXT NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (namespace, id, name)
);
CREATE TABLE IF NOT EXISTS images (
    namespace          TEXT NOT NULL,
    name               TEXT NOT NULL,
    target_media_type  TEXT NOT NULL DEFAULT '',
    target_digest      TEXT NOT NULL DEFAULT '',
    target_size        INTEGER NOT NULL DEFAULT 0,
    target_annotations TEXT NOT NULL DEFAULT '{}',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX IF NOT EXISTS images_digest ON images (target_digest);
CREATE TABLE IF NOT EXISTS leases (
    namespace  TEXT NOT NULL,
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE TABLE IF NOT EXISTS lease_resources (
    namespace TEXT NOT NULL,
    lease     TEXT NOT NULL,
    type      TEXT NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (namespace, lease, type, id)
);
CREATE TABLE IF NOT EXISTS content (
    namespace  TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, digest)
);
CREATE TABLE IF NOT EXISTS snapshots (
    namespace   TEXT NOT NULL,
    snapshotter TEXT NOT NULL,
    key         TEXT NOT NULL,
    backend_key TEXT NOT NULL,
    parent      TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, snapshotter, key)
);
"""


def now_ns() -> int:
    """The current time as integer nanoseconds since the epoch (how the schema stores time)."""
    return time.time_ns()


class DB:
    """An open metadata database at ``path`` (created with its schema if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        with self.write() as tx:
            tx.executescript_in_tx(SCHEMA)
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        self._all: list[sqlite3.Connection] = [self._writer]
        self._all_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction: commits when the block ends, rolls back if it raises."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._writer)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A consistent read snapshot on this thread's own connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        conn.execute("BEGIN")
        try:
            yield Tx(conn)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()


class Tx:
    """A thin handle on a connection inside a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        self.conn.executemany(sql, rows)

    def executescript_in_tx(self, script: str) -> None:
        for stmt in script.split(";"):
            if stmt.strip():
                self.conn.execute(stmt)

    def one(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        return list(self.conn.execute(sql, params).fetchall())

    # labels, shared by every kind of object

    def labels(self, namespace: str, kind: str, name: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT key, value FROM labels WHERE namespace=? AND kind=? AND name=? ORDER BY key",
            (namespace, kind, name),
        ).fetchall()
        return {str(k): str(v) for k, v in rows}

    def set_labels(self, namespace: str, kind: str, name: str, labels: dict[str, str]) -> None:
        self.conn.execute("DELETE FROM labels WHERE namespace=? AND kind=? AND name=?", (namespace, kind, name))
        self.conn.executemany(
            "INSERT INTO labels (namespace, kind, name, key, value) VALUES (?, ?, ?, ?, ?)",
            [(namespace, kind, name, k, v) for k, v in sorted(labels.items())],
        )

    def drop_labels(self, namespace: str, kind: str, name: str) -> None:
        self.conn.execute("DELETE FROM labels WHERE namespace=? AND kind=? AND name=?", (namespace, kind, name))

    def ensure_namespace(self, namespace: str) -> bool:
        """Create ``namespace`` if it does not exist yet (objects create their namespace, as
        in containerd). Returns True when it was created."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO namespaces (name, created_at) VALUES (?, ?)", (namespace, now_ns())
        )
        return cur.rowcount > 0
