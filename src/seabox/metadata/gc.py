"""Garbage collection per namespace, and a scheduler that runs it after deletions.

The policy is seabox.images.gc's pure ``collect`` (roots: images, containers, unexpired
leases, ``containerd.io/gc.root``; edges: ``containerd.io/gc.ref.*`` labels and snapshot
parents). This module feeds it one namespace at a time from the metadata database, the
namespaced snapshot keys and the namespace's ingests, then sweeps: dead snapshots leaf
first, dead blobs out of the namespace (and off the disk once no namespace owns them),
stale ingests aborted.

When it runs follows containerd's lazy policy rather than collecting after every delete:
a ``sync`` request (``ctr images rm --sync``, a lease deleted with sync) runs a pass before
answering; other deletions only count, and every ``threshold`` of them set off a pass on a
background thread (debounced). Objects nothing refers to -- a view made by ``ctr snapshots
view``, a blob ingested without a lease -- therefore live until such a pass, as they do in
containerd, which is why clients hold leases or ``containerd.io/gc.root`` labels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seabox import errdefs
from seabox.images import gc as policy
from seabox.metadata.store import MetadataStore

log = logging.getLogger("seabox.gc")


@dataclass
class Report:
    namespaces: int = 0
    content: list[tuple[str, str]] = field(default_factory=list)  # (namespace, digest)
    snapshots: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, snapshotter, key)
    ingests: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def collect_namespace(
    meta: MetadataStore, content: Any, snapshotters: Mapping[str, Any], ns: str, *, now: float | None = None,
    dry_run: bool = False,
) -> Report:
    images = {i.name: i.target.digest for i in meta.images.list(ns)}
    blobs = {b.digest: b.labels for b in meta.content.list(ns)}
    prefix = ns + "/"
    snaps: dict[str, dict[str, policy.SnapshotRec]] = {}
    for name, sn in snapshotters.items():
        recs: dict[str, policy.SnapshotRec] = {}
        for info in sn.walk():
            if info.name.startswith(prefix):
                parent = info.parent[len(prefix):] if info.parent and info.parent.startswith(prefix) else None
                recs[info.name[len(prefix):]] = policy.SnapshotRec(parent, dict(info.labels))
        snaps[name] = recs
    containers = [policy.ContainerRef(c.id, c.snapshotter, c.snapshot_key, dict(c.labels))
                  for c in meta.containers.list(ns)]
    leases = [policy.lease_from(x.id, x.labels, [(r.type, r.id) for r in meta.leases.list_resources(ns, x.id)])
              for x in meta.leases.list(ns)]
    ingests = {}
    if content is not None:
        ingests = {s.ref[len(prefix):]: s.updated_at for s in content.statuses() if s.ref.startswith(prefix)}
    res = policy.collect(images=images, content=blobs, snapshots=snaps, containers=containers, leases=leases,
                         ingests=ingests, now=now)
    report = Report(1, [(ns, d) for d in res.content], [(ns, s, k) for s, k in res.snapshots],
                    [(ns, r) for r in res.ingests])
    if dry_run:
        return report
    for _, snapshotter, key in report.snapshots:
        try:
            snapshotters[snapshotter].remove(prefix + key)
            with meta.db.write() as tx:
                tx.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?", (ns, snapshotter, key))
        except (errdefs.SeaboxError, OSError) as e:
            report.errors.append(str(e))
    for _, digest in report.content:
        try:
            if meta.content.delete(ns, digest) and content is not None:
                content.delete(digest)
        except errdefs.NotFound:
            pass
        except (errdefs.SeaboxError, OSError) as e:
            report.errors.append(str(e))
    for _, ref in report.ingests:
        try:
            content.abort(prefix + ref)
        except errdefs.NotFound:
            pass
        except errdefs.SeaboxError as e:
            report.errors.append(str(e))
    return report


def collect_all(meta: MetadataStore, content: Any, snapshotters: Mapping[str, Any], *,
                now: float | None = None) -> Report:
    total = Report()
    for ns in meta.namespaces.list():
        r = collect_namespace(meta, content, snapshotters, ns.name, now=now)
        total.namespaces += 1
        total.content += r.content
        total.snapshots += r.snapshots
        total.ingests += r.ingests
        total.errors += r.errors
    return total


DELETION_THRESHOLD = 100


class Scheduler:
    """Runs ``collect_all``: now for sync requests, else after every ``threshold`` deletions."""

    def __init__(self, meta: MetadataStore, content: Any, snapshotters: Mapping[str, Any],
                 delay: float = 0.1, threshold: int = DELETION_THRESHOLD) -> None:
        self.meta, self.content, self.snapshotters, self.delay = meta, content, snapshotters, delay
        self.threshold = threshold
        self._deletions = 0
        self._count_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def schedule(self, *, sync: bool = False) -> Report | None:
        """Note a deletion; run a pass now (``sync``) or when enough deletions piled up."""
        if sync:
            return self.run()
        with self._count_lock:
            self._deletions += 1
            due = self._deletions >= self.threshold
        if due:
            self._wake.set()
        return None

    def run(self) -> Report:
        with self._run_lock:
            with self._count_lock:
                self._deletions = 0
            t0 = time.monotonic()
            report = collect_all(self.meta, self.content, self.snapshotters)
            self.passes += 1
        log.debug("gc pass", extra={"fields": {
            "content": len(report.content), "snapshots": len(report.snapshots), "ingests": len(report.ingests),
            "errors": len(report.errors), "ms": round((time.monotonic() - t0) * 1000, 1)}})
        for err in report.errors:
            log.warning("gc could not remove an object", extra={"fields": {"error": err}})
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            time.sleep(self.delay)  # let a burst of deletions finish first
            self._wake.clear()
            try:
                self.run()
            except Exception:
                log.exception("gc pass failed")
