"""containerd v1 gRPC services served by seaboxd, one module per service.

Each servicer translates wire messages to seabox objects, calls the library (metadata
stores, content store, snapshotters, the event exchange), publishes the event containerd
would publish, and translates back. :func:`register` adds every service whose libraries
were given to a grpc server and returns the introspection entries describing them. Served
today: version, namespaces, containers, images, leases, content, snapshots, diff, events,
introspection. Not yet: tasks (they need the shim).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from seabox.content.store import ContentStore
from seabox.events.exchange import Exchange
from seabox.metadata.gc import Scheduler
from seabox.metadata.store import MetadataStore
from seabox.snapshots.base import Snapshotter


@dataclass(frozen=True)
class PluginEntry:
    """One line of ``ctr plugins ls``: what seaboxd loaded."""

    type: str
    id: str
    requires: tuple[str, ...] = ()
    exports: dict[str, str] = field(default_factory=dict)
    platforms: tuple[tuple[str, str, str], ...] = ()


@dataclass
class Deps:
    """What the servicers share: stores, the exchange, and who the daemon is."""

    metadata: MetadataStore
    exchange: Exchange
    version: str
    revision: str
    uuid: str
    plugins: list[PluginEntry] = field(default_factory=list)
    content: ContentStore | None = None
    snapshotters: dict[str, Snapshotter] = field(default_factory=dict)
    gc: Scheduler | None = None

    def collect_garbage(self, *, sync: bool = False) -> None:
        """After a deletion: schedule a GC pass (or run it now for a ``sync`` request)."""
        if self.gc is not None:
            self.gc.schedule(sync=sync)


def register(server: grpc.Server, deps: Deps) -> list[PluginEntry]:
    from seabox.api.containerd import (
        containers,
        content,
        diff,
        events,
        images,
        introspection,
        leases,
        namespaces,
        snapshots,
        version,
    )

    entries: list[PluginEntry] = [
        PluginEntry("io.containerd.event.v1", "exchange"),
        PluginEntry("io.containerd.metadata.v1", "sqlite", exports={"path": str(deps.metadata.db.path)}),
    ]
    if deps.content is not None:
        entries.append(PluginEntry("io.containerd.content.v1", "content", exports={"root": str(deps.content.root)}))
    for name, sn in sorted(deps.snapshotters.items()):
        entries.append(PluginEntry("io.containerd.snapshotter.v1", name, exports={"root": str(sn.root)}))
    if deps.content is not None and deps.snapshotters:
        entries.append(PluginEntry("io.containerd.differ.v1", "walking", requires=("io.containerd.content.v1",)))
    mods = [containers, events, images, leases, namespaces, version, introspection]
    if deps.content is not None:
        mods.insert(1, content)
    if deps.snapshotters:
        mods.append(snapshots)
        if deps.content is not None:
            mods.append(diff)
    for mod in mods:
        mod.add(server, deps)
        entries.append(PluginEntry("io.containerd.grpc.v1", mod.PLUGIN_ID, requires=mod.REQUIRES))
    deps.plugins[:] = entries
    return entries
