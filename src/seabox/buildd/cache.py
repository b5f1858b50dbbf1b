"""The build cache: step key → committed snapshot + the layer chain that reproduces it.

A record holds everything needed to reuse a step without re-running anything: the
snapshot (named by the key itself, committed in buildd's snapshotter) and the list
of layers (descriptor + diff ID) of the image filesystem up to that step, so an
image can be assembled from the target's last record alone.  ``last_used`` drives
GC: ``prune(keep_storage=N)`` drops least recently used records (and their
snapshots; layer blobs no record references) until the cache fits in N bytes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Layer:
    digest: str
    size: int
    diff_id: str
    media_type: str

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "diff_id": self.diff_id, "media_type": self.media_type}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layer:
        return cls(d["digest"], int(d["size"]), d["diff_id"], d["media_type"])


@dataclass
class Record:
    key: str
    snapshot: str  # committed snapshot holding the filesystem after the step
    layers: list[Layer] = field(default_factory=list)  # the whole chain, base image's first
    size: int = 0  # bytes this record's own layer and snapshot hold
    description: str = ""
    created: float = 0.0
    last_used: float = 0.0


class CacheDB:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost last record after a power cut is only a cache miss
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, snapshot TEXT NOT NULL, layers TEXT NOT NULL,"
            " size INTEGER NOT NULL, description TEXT NOT NULL, created REAL NOT NULL, last_used REAL NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS images (ref TEXT PRIMARY KEY, data TEXT NOT NULL)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _row(r: Any) -> Record:
        return Record(r[0], r[1], [Layer.from_dict(x) for x in json.loads(r[2])], r[3], r[4], r[5], r[6])

    def get(self, key: str) -> Record | None:
        with self._lock:
            r = self._db.execute("SELECT key, snapshot, layers, size, description, created, last_used FROM records"
                                 " WHERE key = ?", (key,)).fetchone()
        return self._row(r) if r else None

    def touch(self, key: str) -> None:
        with self._lock:
            self._db.execute("UPDATE records SET last_used = ? WHERE key = ?", (time.time(), key))

    def put(self, rec: Record) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec.key, rec.snapshot, json.dumps([x.to_dict() for x in rec.layers]), rec.size, rec.description,
                 rec.created or now, now),
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM records WHERE key = ?", (key,))

    def all(self) -> list[Record]:
        with self._lock:
            rows = self._db.execute("SELECT key, snapshot, layers, size, description, created, last_used FROM records"
                                    " ORDER BY last_used").fetchall()
        return [self._row(r) for r in rows]

    # base images pulled into buildd's store (ref → image summary), so a rebuild needs no registry
    def get_image(self, ref: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT data FROM images WHERE ref = ?", (ref,)).fetchone()
        return json.loads(r[0]) if r else None

    def put_image(self, ref: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?)", (ref, json.dumps(data)))

    def all_images(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM images").fetchall()
        return [json.loads(r[0]) for r in rows]
