"""Leases: named holds that keep resources from garbage collection while a client works.

A lease records resources by (type, id): ``content`` (a digest), ``ingests`` (an ingest
ref), ``snapshots/<snapshotter>`` (a snapshot key), ``images`` (an image name). The garbage
collector (next issue) treats every leased resource as a root; a lease with the
``containerd.io/gc.expire`` label stops counting after that time.
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass, field
from functools import partial

from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.metadata.db import DB, now_ns
from seabox.metadata.filters import Filter, labels_field
from seabox.metadata.identifiers import validate_labels


@dataclass
class Lease:
    id: str
    created_at: int = 0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    id: str
    type: str


def _check_id(id: str) -> None:
    # containerd does not hold lease ids to the identifier rule: its clients make them from a
    # time and base64url bytes ("225573434-BjU-") or use a mount path (ctr images mount), so
    # only printable text of sane length is required
    if not id or len(id) > 4096 or not id.isprintable():
        raise InvalidArgument(f'lease "{id[:64]}": id must be 1-4096 printable characters')


def _check_resource(lease: str, r: Resource) -> None:
    if not r.id:
        raise InvalidArgument(f'lease "{lease}": resource id must be set')
    if r.type in ("content", "ingests", "images") or (r.type.startswith("snapshots/") and len(r.type) > 10):
        return
    raise InvalidArgument(f'lease "{lease}": unsupported resource type "{r.type}"')


def _field(lease: Lease, path: tuple[str, ...]) -> tuple[str, bool]:
    if path[0] == "labels":
        return labels_field(lease.labels, path)
    if path == ("id",):
        return lease.id, True
    return "", False


class LeaseStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def create(self, namespace: str, id: str = "", labels: dict[str, str] | None = None) -> Lease:
        if not id:
            id = f"{now_ns()}-{secrets.token_hex(3)}"
        _check_id(id)
        labels = validate_labels("lease", id, labels or {})
        lease = Lease(id, now_ns(), labels)
        with self.db.write() as tx:
            tx.ensure_namespace(namespace)
            if tx.one("SELECT 1 FROM leases WHERE namespace=? AND id=?", (namespace, id)):
                raise AlreadyExists(f'lease "{id}": already exists')
            tx.execute("INSERT INTO leases (namespace, id, created_at) VALUES (?, ?, ?)", (namespace, id, lease.created_at))
            tx.set_labels(namespace, "lease", id, labels)
        return lease

    def delete(self, namespace: str, id: str) -> None:
        with self.db.write() as tx:
            if tx.execute("DELETE FROM leases WHERE namespace=? AND id=?", (namespace, id)).rowcount == 0:
                raise NotFound(f'lease "{id}": not found')
            tx.execute("DELETE FROM lease_resources WHERE namespace=? AND lease=?", (namespace, id))
            tx.drop_labels(namespace, "lease", id)

    def list(self, namespace: str, flt: Filter | None = None) -> list[Lease]:
        with self.db.read() as tx:
            rows = tx.all("SELECT id, created_at FROM leases WHERE namespace=? ORDER BY created_at, id", (namespace,))
            out = [Lease(str(i), int(c), tx.labels(namespace, "lease", str(i))) for i, c in rows]
        if flt is not None:
            out = [x for x in out if flt.match(partial(_field, x))]
        return out

    def add_resource(self, namespace: str, lease: str, r: Resource) -> None:
        _check_resource(lease, r)
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM leases WHERE namespace=? AND id=?", (namespace, lease)) is None:
                raise NotFound(f'lease "{lease}": not found')
            tx.execute(
                "INSERT OR IGNORE INTO lease_resources (namespace, lease, type, id) VALUES (?, ?, ?, ?)",
                (namespace, lease, r.type, r.id),
            )

    def delete_resource(self, namespace: str, lease: str, r: Resource) -> None:
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM leases WHERE namespace=? AND id=?", (namespace, lease)) is None:
                raise NotFound(f'lease "{lease}": not found')
            tx.execute(
                "DELETE FROM lease_resources WHERE namespace=? AND lease=? AND type=? AND id=?",
                (namespace, lease, r.type, r.id),
            )

    def list_resources(self, namespace: str, lease: str) -> builtins.list[Resource]:
        with self.db.read() as tx:
            if tx.one("SELECT 1 FROM leases WHERE namespace=? AND id=?", (namespace, lease)) is None:
                raise NotFound(f'lease "{lease}": not found')
            rows = tx.all(
                "SELECT id, type FROM lease_resources WHERE namespace=? AND lease=? ORDER BY type, id", (namespace, lease)
            )
        return [Resource(str(i), str(t)) for i, t in rows]
