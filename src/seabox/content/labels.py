"""Blob labels and timestamps, behind a tiny interface.

The store keeps one small JSON file per blob (``meta/sha256/<hex>.json``), written
atomically (temp file + rename), so label updates of different blobs never contend.
The daemon will later keep blob metadata in its SQLite database: it only has to
provide another ``LabelStore``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class BlobMeta:
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


class LabelStore(Protocol):
    def get(self, hexdigest: str) -> BlobMeta | None: ...

    def put(self, hexdigest: str, meta: BlobMeta) -> None: ...

    def delete(self, hexdigest: str) -> None: ...


class JsonLabelStore:
    """One JSON document per blob under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, hexdigest: str) -> Path:
        return self.root / f"{hexdigest}.json"

    def get(self, hexdigest: str) -> BlobMeta | None:
        try:
            raw = json.loads(self._path(hexdigest).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return BlobMeta(
            labels=dict(raw.get("labels") or {}),
            created_at=float(raw.get("created_at", 0.0)),
            updated_at=float(raw.get("updated_at", 0.0)),
        )

    def put(self, hexdigest: str, meta: BlobMeta) -> None:
        path = self._path(hexdigest)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        tmp.write_text(
            json.dumps({"labels": meta.labels, "created_at": meta.created_at, "updated_at": meta.updated_at})
        )
        os.replace(tmp, path)

    def delete(self, hexdigest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(hexdigest).unlink()
