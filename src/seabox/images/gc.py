"""Garbage collection of blobs and snapshots: a pure mark phase, then a small sweep.

containerd's model.  Roots are images (each references its target blob), containers
(their snapshot), unexpired leases (the content, snapshots and ingests they hold,
which is how an in-flight pull keeps blobs that no image references yet), and
anything labelled ``containerd.io/gc.root``.  Edges come from labels:

* ``containerd.io/gc.ref.content.<anything>`` = a digest (manifest → config and
  layers, index → manifests), on blobs, snapshots, containers and images;
* ``containerd.io/gc.ref.snapshot.<snapshotter>[/<anything>]`` = a snapshot key
  (a config → its unpacked chain);
* a snapshot references its parent.

``collect`` takes plain data (dicts of labels) and returns what is unreachable, so
the policy is tested without any store; ``gather`` reads the stores, ``sweep``
deletes (snapshots leaf-first, since a parent with children cannot be removed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seabox import errdefs

LABEL_ROOT = "containerd.io/gc.root"
PREFIX_REF_CONTENT = "containerd.io/gc.ref.content."
PREFIX_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
DEFAULT_INGEST_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True, order=True)
class Node:
    kind: str  # content, snapshot, ingest, image, container, lease
    name: str
    snapshotter: str = ""


@dataclass
class Lease:
    id: str
    expires_at: float | None = None  # epoch seconds; None never expires
    content: set[str] = field(default_factory=set)
    snapshots: set[tuple[str, str]] = field(default_factory=set)  # (snapshotter, key)
    ingests: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)


LABEL_EXPIRE = "containerd.io/gc.expire"


def parse_expire(value: str) -> float | None:
    """``containerd.io/gc.expire`` (RFC 3339) as epoch seconds; None when absent or unparsable."""
    from datetime import datetime

    if not value:
        return None
    v = value.strip().replace("Z", "+00:00")
    if "." in v:  # Python wants at most 6 fractional digits
        head, _, rest = v.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        v = f"{head}.{digits[:6]}{tz}"
    try:
        return datetime.fromisoformat(v).timestamp()
    except ValueError:
        return None


def lease_from(id: str, labels: Mapping[str, str], resources: Iterable[tuple[str, str]]) -> Lease:
    """A ``Lease`` from containerd-style labels and (type, id) resources.

    Resource types: ``content`` (a digest), ``snapshots/<snapshotter>`` (a key), ``ingests`` (a ref).
    """
    lease = Lease(id, parse_expire(labels.get(LABEL_EXPIRE, "")), labels=dict(labels))
    for kind, rid in resources:
        if kind == "content":
            lease.content.add(rid)
        elif kind.startswith("snapshots/"):
            lease.snapshots.add((kind.split("/", 1)[1], rid))
        elif kind == "ingests":
            lease.ingests.add(rid)
    return lease


@dataclass
class ContainerRef:
    id: str
    snapshotter: str = ""
    snapshot_key: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class SnapshotRec:
    parent: str | None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class GCResult:
    content: list[str] = field(default_factory=list)
    snapshots: list[tuple[str, str]] = field(default_factory=list)  # leaf first
    ingests: list[str] = field(default_factory=list)
    marked: set[Node] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def label_refs(labels: Mapping[str, str]) -> Iterable[Node]:
    """The objects a set of labels points at."""
    for k, v in labels.items():
        if not v:
            continue
        if k.startswith(PREFIX_REF_CONTENT):
            yield Node("content", v)
        elif k.startswith(PREFIX_REF_SNAPSHOT):
            snapshotter = k[len(PREFIX_REF_SNAPSHOT):].split("/", 1)[0]
            if snapshotter:
                yield Node("snapshot", v, snapshotter)


def collect(
    *,
    images: Mapping[str, str],
    content: Mapping[str, Mapping[str, str]],
    snapshots: Mapping[str, Mapping[str, SnapshotRec]],
    containers: Sequence[ContainerRef] = (),
    leases: Sequence[Lease] = (),
    ingests: Mapping[str, float] = {},  # ref -> last update (epoch seconds)
    now: float | None = None,
    ingest_max_age: float = DEFAULT_INGEST_MAX_AGE,
) -> GCResult:
    """Mark from the roots and return the unreachable blobs, snapshots and stale ingests.

    ``images``: name → target digest; ``content``: digest → labels;
    ``snapshots``: snapshotter → key → ``SnapshotRec``.
    """
    t = time.time() if now is None else now
    edges: dict[Node, list[Node]] = {}
    roots: list[Node] = []

    for name, target in images.items():
        n = Node("image", name)
        roots.append(n)
        edges[n] = [Node("content", target)]
    for c in containers:
        n = Node("container", c.id)
        roots.append(n)
        out = list(label_refs(c.labels))
        if c.snapshot_key:
            out.append(Node("snapshot", c.snapshot_key, c.snapshotter))
        edges[n] = out
    for lease in leases:
        if lease.expires_at is not None and lease.expires_at <= t:
            continue
        n = Node("lease", lease.id)
        roots.append(n)
        edges[n] = ([Node("content", d) for d in lease.content]
                    + [Node("snapshot", k, s) for s, k in lease.snapshots]
                    + [Node("ingest", r) for r in lease.ingests])
    for digest, labels in content.items():
        n = Node("content", digest)
        edges[n] = list(label_refs(labels))
        if LABEL_ROOT in labels:
            roots.append(n)
    for snapshotter, recs in snapshots.items():
        for key, rec in recs.items():
            n = Node("snapshot", key, snapshotter)
            out = list(label_refs(rec.labels))
            if rec.parent:
                out.append(Node("snapshot", rec.parent, snapshotter))
            edges[n] = out
            if LABEL_ROOT in rec.labels:
                roots.append(n)

    marked: set[Node] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in marked:
            continue
        marked.add(n)
        stack.extend(m for m in edges.get(n, ()) if m not in marked)

    res = GCResult(marked=marked)
    res.content = sorted(d for d in content if Node("content", d) not in marked)
    for snapshotter, recs in snapshots.items():
        dead = [k for k in recs if Node("snapshot", k, snapshotter) not in marked]

        def depth(k: str, recs: Mapping[str, SnapshotRec] = recs) -> int:
            d, seen = 0, set()
            p = recs[k].parent
            while p is not None and p in recs and p not in seen:
                seen.add(p)
                d += 1
                p = recs[p].parent
            return d

        res.snapshots.extend((snapshotter, k) for k in sorted(dead, key=lambda k: (-depth(k), k)))
    res.ingests = sorted(r for r, updated in ingests.items()
                         if Node("ingest", r) not in marked and t - updated > ingest_max_age)
    return res


def gather(store: Any, snapshotters: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]],
                                                                   dict[str, dict[str, SnapshotRec]],
                                                                   dict[str, float]]:
    """Read labels from a ``ContentStore`` and snapshotters into ``collect``'s plain inputs."""
    content = {i.digest: dict(i.labels) for i in store.list()} if store is not None else {}
    snaps: dict[str, dict[str, SnapshotRec]] = {}
    for name, sn in snapshotters.items():
        snaps[name] = {i.name: SnapshotRec(i.parent, dict(i.labels)) for i in sn.walk()}
    ingests = {s.ref: s.updated_at for s in store.statuses()} if store is not None else {}
    return content, snaps, ingests


def sweep(result: GCResult, store: Any, snapshotters: Mapping[str, Any]) -> GCResult:
    """Delete what ``collect`` found; failures are recorded in ``result.errors``, not raised."""
    for snapshotter, key in result.snapshots:
        try:
            snapshotters[snapshotter].remove(key)
        except (errdefs.SeaboxError, OSError) as e:
            result.errors.append(str(e))
    for digest in result.content:
        try:
            store.delete(digest)
        except errdefs.NotFound:
            pass
        except (errdefs.SeaboxError, OSError) as e:
            result.errors.append(str(e))
    for ref in result.ingests:
        try:
            store.abort(ref)
        except errdefs.NotFound:
            pass
        except errdefs.SeaboxError as e:  # a writer still holds it: it is alive after all
            result.errors.append(str(e))
    return result


def run(
    store: Any,
    snapshotters: Mapping[str, Any],
    *,
    images: Mapping[str, str],
    containers: Sequence[ContainerRef] = (),
    leases: Sequence[Lease] = (),
    now: float | None = None,
    dry_run: bool = False,
) -> GCResult:
    """gather → collect → sweep."""
    content, snaps, ingests = gather(store, snapshotters)
    res = collect(images=images, content=content, snapshots=snaps, containers=containers, leases=leases,
                  ingests=ingests, now=now)
    return res if dry_run else sweep(res, store, snapshotters)
