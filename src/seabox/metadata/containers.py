"""Container records: what a task will be created from (spec, runtime, rootfs snapshot).

A container here is metadata only; it has no state until the tasks service runs it. The
spec and runtime options are kept verbatim as typed blobs (a type URL and bytes), exactly as
the client sent them, so a client reads back byte-for-byte what it stored.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, replace
from functools import partial

from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.metadata.db import DB, Tx, now_ns
from seabox.metadata.filters import Filter, labels_field
from seabox.metadata.identifiers import validate, validate_labels
from seabox.metadata.namespaces import apply_label_mask


@dataclass(frozen=True)
class TypedBlob:
    """A protobuf Any without protobuf: a type URL and the encoded value."""

    type_url: str
    value: bytes


@dataclass
class Container:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    runtime_name: str = ""
    runtime_options: TypedBlob | None = None
    spec: TypedBlob | None = None
    snapshotter: str = ""
    snapshot_key: str = ""
    created_at: int = 0
    updated_at: int = 0
    extensions: dict[str, TypedBlob] = field(default_factory=dict)
    sandbox: str = ""


def _field(c: Container, path: tuple[str, ...]) -> tuple[str, bool]:
    head = path[0]
    if head == "labels":
        return labels_field(c.labels, path)
    if head == "runtime" and (len(path) == 1 or path[1:] == ("name",)):
        return c.runtime_name, True
    simple = {"id": c.id, "image": c.image, "snapshotter": c.snapshotter, "snapshotkey": c.snapshot_key,
              "snapshot_key": c.snapshot_key, "sandbox": c.sandbox}
    if len(path) == 1 and head in simple:
        return simple[head], simple[head] != ""
    return "", False


class ContainerStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def create(self, namespace: str, c: Container) -> Container:
        validate("container", c.id)
        validate_labels("container", c.id, c.labels)
        if c.spec is None:
            raise InvalidArgument(f'container "{c.id}": spec must be set')
        if not c.runtime_name:
            raise InvalidArgument(f'container "{c.id}": runtime name must be set')
        if c.snapshot_key and not c.snapshotter:
            raise InvalidArgument(f'container "{c.id}": snapshotter must be set with a snapshot key')
        ts = now_ns()
        c = replace(c, created_at=ts, updated_at=ts)
        with self.db.write() as tx:
            tx.ensure_namespace(namespace)
            if tx.one("SELECT 1 FROM containers WHERE namespace=? AND id=?", (namespace, c.id)):
                raise AlreadyExists(f'container "{c.id}": already exists')
            self._put(tx, namespace, c)
        return c

    def get(self, namespace: str, id: str) -> Container:
        with self.db.read() as tx:
            c = self._get(tx, namespace, id)
        if c is None:
            raise NotFound(f'container "{id}": not found')
        return c

    def list(self, namespace: str, flt: Filter | None = None) -> list[Container]:
        with self.db.read() as tx:
            ids = [str(r[0]) for r in tx.all("SELECT id FROM containers WHERE namespace=? ORDER BY id", (namespace,))]
            found = [self._get(tx, namespace, i) for i in ids]
        out = [c for c in found if c is not None]
        if flt is not None:
            out = [c for c in out if flt.match(partial(_field, c))]
        return out

    def update(self, namespace: str, given: Container, paths: builtins.list[str]) -> Container:
        validate_labels("container", given.id, given.labels)
        with self.db.write() as tx:
            cur = self._get(tx, namespace, given.id)
            if cur is None:
                raise NotFound(f'container "{given.id}": not found')
            new = replace(cur, labels=dict(cur.labels), extensions=dict(cur.extensions))
            if not paths:
                if given.runtime_name and given.runtime_name != cur.runtime_name:
                    raise InvalidArgument(f'container "{given.id}": runtime is immutable')
                if given.snapshotter and given.snapshotter != cur.snapshotter:
                    raise InvalidArgument(f'container "{given.id}": snapshotter is immutable')
                paths = ["labels", "spec", "extensions", "image", "snapshotkey"]
            for path in paths:
                if path == "labels" or path.startswith("labels."):
                    new.labels = apply_label_mask("container", given.id, new.labels, given.labels, [path])
                elif path.startswith("extensions."):
                    key = path[len("extensions."):]
                    if key in given.extensions:
                        new.extensions[key] = given.extensions[key]
                    else:
                        new.extensions.pop(key, None)
                elif path == "extensions":
                    new.extensions = dict(given.extensions)
                elif path == "spec":
                    if given.spec is None:
                        raise InvalidArgument(f'container "{given.id}": spec must be set')
                    new.spec = given.spec
                elif path == "image":
                    new.image = given.image
                elif path in ("snapshotkey", "snapshot_key"):
                    new.snapshot_key = given.snapshot_key
                else:
                    raise InvalidArgument(f'container "{given.id}": cannot update field "{path}"')
            new.updated_at = now_ns()
            tx.execute("DELETE FROM containers WHERE namespace=? AND id=?", (namespace, new.id))
            tx.execute("DELETE FROM container_extensions WHERE namespace=? AND id=?", (namespace, new.id))
            self._put(tx, namespace, new)
        return new

    def delete(self, namespace: str, id: str) -> None:
        with self.db.write() as tx:
            cur = tx.execute("DELETE FROM containers WHERE namespace=? AND id=?", (namespace, id))
            if cur.rowcount == 0:
                raise NotFound(f'container "{id}": not found')
            tx.execute("DELETE FROM container_extensions WHERE namespace=? AND id=?", (namespace, id))
            tx.drop_labels(namespace, "container", id)

    @staticmethod
    def _put(tx: Tx, ns: str, c: Container) -> None:
        ro = c.runtime_options
        tx.execute(
            "INSERT INTO containers (namespace, id, image, runtime_name, runtime_options_type, runtime_options_value,"
            " spec_type, spec_value, snapshotter, snapshot_key, sandbox, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ns, c.id, c.image, c.runtime_name, ro.type_url if ro else None, ro.value if ro else None,
             c.spec.type_url if c.spec else None, c.spec.value if c.spec else None,
             c.snapshotter, c.snapshot_key, c.sandbox, c.created_at, c.updated_at),
        )
        tx.executemany(
            "INSERT INTO container_extensions (namespace, id, name, type_url, value) VALUES (?, ?, ?, ?, ?)",
            [(ns, c.id, k, v.type_url, v.value) for k, v in sorted(c.extensions.items())],
        )
        tx.set_labels(ns, "container", c.id, c.labels)

    @staticmethod
    def _get(tx: Tx, ns: str, id: str) -> Container | None:
        row = tx.one(
            "SELECT image, runtime_name, runtime_options_type, runtime_options_value, spec_type, spec_value,"
            " snapshotter, snapshot_key, sandbox, created_at, updated_at FROM containers WHERE namespace=? AND id=?",
            (ns, id),
        )
        if row is None:
            return None
        image, rname, rot, rov, st, sv, snapshotter, skey, sandbox, created, updated = row
        ext = {
            str(n): TypedBlob(str(t), bytes(v))
            for n, t, v in tx.all(
                "SELECT name, type_url, value FROM container_extensions WHERE namespace=? AND id=? ORDER BY name",
                (ns, id),
            )
        }
        return Container(
            id=id,
            labels=tx.labels(ns, "container", id),
            image=str(image),
            runtime_name=str(rname),
            runtime_options=TypedBlob(str(rot), bytes(rov)) if rot is not None else None,
            spec=TypedBlob(str(st), bytes(sv)) if st is not None else None,
            snapshotter=str(snapshotter),
            snapshot_key=str(skey),
            created_at=int(created),
            updated_at=int(updated),
            extensions=ext,
            sandbox=str(sandbox),
        )
