"""Which namespaces own which blobs, and each namespace's labels on them.

The bytes live once in the content store (seabox.content), shared by every namespace;
this table says which namespace may see a blob, as containerd's metadata does, and holds
the labels per namespace (so ``containerd.io/gc.ref.*`` labels set in ``k8s.io`` do not
leak into ``default``). A blob that no namespace owns any more is garbage.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from seabox.errdefs import NotFound
from seabox.metadata.db import DB, now_ns
from seabox.metadata.identifiers import validate_labels
from seabox.metadata.namespaces import apply_label_mask


@dataclass
class Blob:
    digest: str
    size: int
    created_at: int = 0
    updated_at: int = 0
    labels: dict[str, str] = field(default_factory=dict)


class BlobStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def add(self, namespace: str, digest: str, size: int, labels: dict[str, str] | None = None) -> Blob:
        """Record that ``namespace`` owns ``digest``; labels given are merged into its labels."""
        validate_labels("content", digest, labels or {})
        ts = now_ns()
        with self.db.write() as tx:
            tx.ensure_namespace(namespace)
            tx.execute(
                "INSERT OR IGNORE INTO content (namespace, digest, size, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (namespace, digest, size, ts, ts),
            )
            if labels:
                merged = tx.labels(namespace, "content", digest)
                merged.update(labels)
                tx.set_labels(namespace, "content", digest, merged)
                tx.execute("UPDATE content SET updated_at=? WHERE namespace=? AND digest=?", (ts, namespace, digest))
        return self.get(namespace, digest)

    def get(self, namespace: str, digest: str) -> Blob:
        with self.db.read() as tx:
            row = tx.one(
                "SELECT size, created_at, updated_at FROM content WHERE namespace=? AND digest=?", (namespace, digest)
            )
            if row is None:
                raise NotFound(f'content digest "{digest}": not found')
            return Blob(digest, int(row[0]), int(row[1]), int(row[2]), tx.labels(namespace, "content", digest))

    def has(self, namespace: str, digest: str) -> bool:
        with self.db.read() as tx:
            return tx.one("SELECT 1 FROM content WHERE namespace=? AND digest=?", (namespace, digest)) is not None

    def list(self, namespace: str) -> builtins.list[Blob]:
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT digest, size, created_at, updated_at FROM content WHERE namespace=? ORDER BY digest", (namespace,)
            )
            return [Blob(str(d), int(s), int(c), int(u), tx.labels(namespace, "content", str(d))) for d, s, c, u in rows]

    def update(self, namespace: str, digest: str, labels: dict[str, str], paths: builtins.list[str]) -> Blob:
        validate_labels("content", digest, labels)
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM content WHERE namespace=? AND digest=?", (namespace, digest)) is None:
                raise NotFound(f'content digest "{digest}": not found')
            new = apply_label_mask("content", digest, tx.labels(namespace, "content", digest), labels, paths)
            tx.set_labels(namespace, "content", digest, new)
            tx.execute("UPDATE content SET updated_at=? WHERE namespace=? AND digest=?", (now_ns(), namespace, digest))
        return self.get(namespace, digest)

    def delete(self, namespace: str, digest: str) -> bool:
        """Forget ``digest`` in ``namespace``; True when no namespace owns it any more."""
        with self.db.write() as tx:
            if tx.execute("DELETE FROM content WHERE namespace=? AND digest=?", (namespace, digest)).rowcount == 0:
                raise NotFound(f'content digest "{digest}": not found')
            tx.drop_labels(namespace, "content", digest)
            return tx.one("SELECT 1 FROM content WHERE digest=? LIMIT 1", (digest,)) is None
