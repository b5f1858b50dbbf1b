"""Image records: a name pointing at a target descriptor (usually a manifest or an index).

The record is shallow: it does not check that the target's blobs are present; pulling and
unpacking (the images issue) make them so, and the garbage collector keeps them while an
image refers to them.
"""

from __future__ import annotations

import builtins
import json
import re
from dataclasses import dataclass, field, replace
from functools import partial

from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.metadata.db import DB, Tx, now_ns
from seabox.metadata.filters import Filter, labels_field
from seabox.metadata.identifiers import validate_labels
from seabox.metadata.namespaces import apply_label_mask

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass
class Target:
    media_type: str = ""
    digest: str = ""
    size: int = 0
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    name: str
    target: Target = field(default_factory=Target)
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0


def _field(img: Image, path: tuple[str, ...]) -> tuple[str, bool]:
    head = path[0]
    if head == "labels":
        return labels_field(img.labels, path)
    if head == "name" and len(path) == 1:
        return img.name, True
    if head == "target" and len(path) == 2:
        if path[1] == "digest":
            return img.target.digest, True
        if path[1] in ("mediatype", "media_type"):
            return img.target.media_type, True
    if head == "annotations":
        return labels_field(img.target.annotations, path)
    return "", False


def _check(img: Image) -> None:
    if not img.name:
        raise InvalidArgument("image name must not be empty")
    validate_labels("image", img.name, img.labels)
    if not img.target.media_type:
        raise InvalidArgument(f'image "{img.name}": target media type must be set')
    if not _DIGEST.match(img.target.digest):
        raise InvalidArgument(f'image "{img.name}": target digest "{img.target.digest}" is not a valid digest')


class ImageStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def create(self, namespace: str, img: Image) -> Image:
        _check(img)
        ts = now_ns()
        img = replace(img, created_at=ts, updated_at=ts)
        with self.db.write() as tx:
            tx.ensure_namespace(namespace)
            if tx.one("SELECT 1 FROM images WHERE namespace=? AND name=?", (namespace, img.name)):
                raise AlreadyExists(f'image "{img.name}": already exists')
            self._put(tx, namespace, img)
        return img

    def get(self, namespace: str, name: str) -> Image:
        with self.db.read() as tx:
            img = self._get(tx, namespace, name)
        if img is None:
            raise NotFound(f'image "{name}": not found')
        return img

    def list(self, namespace: str, flt: Filter | None = None) -> list[Image]:
        with self.db.read() as tx:
            names = [str(r[0]) for r in tx.all("SELECT name FROM images WHERE namespace=? ORDER BY name", (namespace,))]
            found = [self._get(tx, namespace, n) for n in names]
        out = [i for i in found if i is not None]
        if flt is not None:
            out = [i for i in out if flt.match(partial(_field, i))]
        return out

    def update(self, namespace: str, given: Image, paths: builtins.list[str]) -> Image:
        with self.db.write() as tx:
            cur = self._get(tx, namespace, given.name)
            if cur is None:
                raise NotFound(f'image "{given.name}": not found')
            new = replace(cur, labels=dict(cur.labels), target=replace(cur.target))
            if not paths:
                paths = ["labels", "target"]
            for path in paths:
                if path == "labels" or path.startswith("labels."):
                    new.labels = apply_label_mask("image", given.name, new.labels, given.labels, [path])
                elif path == "annotations" or path.startswith("annotations."):
                    new.target.annotations = apply_label_mask(
                        "image", given.name, new.target.annotations, given.target.annotations, [path],
                        prefix="annotations",
                    )
                elif path == "target":
                    new.target = replace(given.target, annotations=dict(given.target.annotations))
                else:
                    raise InvalidArgument(f'image "{given.name}": cannot update field "{path}"')
            _check(new)
            new.updated_at = now_ns()
            tx.execute("DELETE FROM images WHERE namespace=? AND name=?", (namespace, new.name))
            self._put(tx, namespace, new)
        return new

    def delete(self, namespace: str, name: str) -> None:
        with self.db.write() as tx:
            cur = tx.execute("DELETE FROM images WHERE namespace=? AND name=?", (namespace, name))
            if cur.rowcount == 0:
                raise NotFound(f'image "{name}": not found')
            tx.drop_labels(namespace, "image", name)

    @staticmethod
    def _put(tx: Tx, ns: str, img: Image) -> None:
        t = img.target
        tx.execute(
            "INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, target_annotations,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ns, img.name, t.media_type, t.digest, t.size, json.dumps(t.annotations, sort_keys=True),
             img.created_at, img.updated_at),
        )
        tx.set_labels(ns, "image", img.name, img.labels)

    @staticmethod
    def _get(tx: Tx, ns: str, name: str) -> Image | None:
        row = tx.one(
            "SELECT target_media_type, target_digest, target_size, target_annotations, created_at, updated_at"
            " FROM images WHERE namespace=? AND name=?",
            (ns, name),
        )
        if row is None:
            return None
        mt, dg, size, ann, created, updated = row
        return Image(
            name=name,
            target=Target(str(mt), str(dg), int(size), dict(json.loads(ann))),
            labels=tx.labels(ns, "image", name),
            created_at=int(created),
            updated_at=int(updated),
        )
