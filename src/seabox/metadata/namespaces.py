"""Namespaces: the tenancy boundary for every other object.

A namespace comes into existence either explicitly (``Create``) or implicitly, when the
first object is created in it, as in containerd. Deleting one refuses while it still owns
anything, naming what is left.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.metadata.db import DB, now_ns
from seabox.metadata.identifiers import validate, validate_labels

# the tables whose rows belong to a namespace, with the word a user sees for each
OWNED = (
    ("images", "images"),
    ("containers", "containers"),
    ("content", "blobs"),
    ("snapshots", "snapshots"),
    ("leases", "leases"),
)


@dataclass
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


class NamespaceStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def create(self, name: str, labels: dict[str, str] | None = None) -> Namespace:
        validate("namespace", name)
        labels = validate_labels("namespace", name, labels or {})
        with self.db.write() as tx:
            if not tx.ensure_namespace(name):
                raise AlreadyExists(f'namespace "{name}": already exists')
            tx.set_labels(name, "namespace", name, labels)
        return Namespace(name, labels)

    def get(self, name: str) -> Namespace:
        with self.db.read() as tx:
            if tx.one("SELECT 1 FROM namespaces WHERE name=?", (name,)) is None:
                raise NotFound(f'namespace "{name}": not found')
            return Namespace(name, tx.labels(name, "namespace", name))

    def exists(self, name: str) -> bool:
        with self.db.read() as tx:
            return tx.one("SELECT 1 FROM namespaces WHERE name=?", (name,)) is not None

    def list(self) -> list[Namespace]:
        with self.db.read() as tx:
            names = [str(r[0]) for r in tx.all("SELECT name FROM namespaces ORDER BY name")]
            return [Namespace(n, tx.labels(n, "namespace", n)) for n in names]

    def update(self, name: str, labels: dict[str, str], paths: builtins.list[str]) -> Namespace:
        """Apply ``labels`` under the field mask ``paths`` (``labels`` or ``labels.<key>``;
        an empty mask replaces all labels)."""
        validate_labels("namespace", name, labels)
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM namespaces WHERE name=?", (name,)) is None:
                raise NotFound(f'namespace "{name}": not found')
            current = tx.labels(name, "namespace", name)
            current = apply_label_mask("namespace", name, current, labels, paths)
            tx.set_labels(name, "namespace", name, current)
        return Namespace(name, current)

    def delete(self, name: str) -> None:
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM namespaces WHERE name=?", (name,)) is None:
                raise NotFound(f'namespace "{name}": not found')
            left = [word for table, word in OWNED if tx.one(f"SELECT 1 FROM {table} WHERE namespace=? LIMIT 1", (name,))]
            if left:
                raise FailedPrecondition(f'namespace "{name}" must be empty, but it still has {", ".join(left)}')
            tx.drop_labels(name, "namespace", name)
            tx.execute("DELETE FROM namespaces WHERE name=?", (name,))


def apply_label_mask(
    kind: str, name: str, current: dict[str, str], given: dict[str, str], paths: list[str], *, prefix: str = "labels"
) -> dict[str, str]:
    """Field-mask semantics for a label map: ``labels`` replaces the map, ``labels.<key>``
    sets (or, when absent from ``given``, removes) one key; no paths replaces the map."""
    if not paths:
        return dict(given)
    out = dict(current)
    for path in paths:
        if path == prefix:
            out = dict(given)
        elif path.startswith(prefix + "."):
            key = path[len(prefix) + 1 :]
            if key in given and given[key] != "":
                out[key] = given[key]
            else:
                out.pop(key, None)
        else:
            raise InvalidArgument(f'{kind} "{name}": cannot update field "{path}"')
    return out


def stamp() -> int:
    return now_ns()
