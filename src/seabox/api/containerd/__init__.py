"""containerd v1 gRPC services served by seaboxd, one module per service.

Each servicer translates wire messages to seabox objects, calls the library (metadata
stores, the event exchange), publishes the event containerd would publish, and translates
back. :func:`register` adds every service that is implemented to a grpc server and returns
the introspection entries describing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from seabox.events.exchange import Exchange
from seabox.metadata.store import MetadataStore


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


def register(server: grpc.Server, deps: Deps) -> list[PluginEntry]:
    from seabox.api.containerd import containers, events, images, introspection, leases, namespaces, version

    entries: list[PluginEntry] = [
        PluginEntry("io.containerd.event.v1", "exchange"),
        PluginEntry("io.containerd.metadata.v1", "sqlite", exports={"path": str(deps.metadata.db.path)}),
    ]
    for mod in (containers, events, images, leases, namespaces, version, introspection):
        mod.add(server, deps)
        entries.append(PluginEntry("io.containerd.grpc.v1", mod.PLUGIN_ID, requires=mod.REQUIRES))
    deps.plugins[:] = entries
    return entries
