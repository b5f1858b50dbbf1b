"""Snapshots service: namespaced snapshots over seabox's overlayfs and native snapshotters.

The snapshotters (seabox.snapshots) know nothing of namespaces; this layer gives each
namespace its own key space by storing ``<namespace>/<key>`` in the backend and stripping
the prefix on the way out (names and parents alike), and records ownership in the metadata
database so a namespace that still has snapshots cannot be deleted. Events:
/snapshot/prepare, /snapshot/commit, /snapshot/remove.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import publish_event, timestamp
from seabox.api.errors import rpc, rpc_stream
from seabox.api.gen.containerd.api.events import snapshot_pb2 as ev
from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as pb
from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import mount_pb2
from seabox.errdefs import InvalidArgument, SeaboxError
from seabox.metadata.db import now_ns
from seabox.metadata.filters import labels_field, parse_all
from seabox.metadata.leases import Resource
from seabox.snapshots.base import Snapshotter
from seabox.snapshots.metadata import Kind, SnapshotInfo
from seabox.snapshots.mount import Mount

PLUGIN_ID = "snapshots"
REQUIRES = ("io.containerd.snapshotter.v1",)
LIST_BATCH = 100
_KINDS = {Kind.VIEW: pb.VIEW, Kind.ACTIVE: pb.ACTIVE, Kind.COMMITTED: pb.COMMITTED}


def mounts_to_wire(mounts: list[Mount]) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type=m.type, source=m.source, options=list(m.options)) for m in mounts]


def _strip(ns: str, key: str | None) -> str:
    return key[len(ns) + 1 :] if key and key.startswith(ns + "/") else (key or "")


def _info(ns: str, i: SnapshotInfo) -> pb.Info:
    return pb.Info(name=_strip(ns, i.name), parent=_strip(ns, i.parent), kind=_KINDS[i.kind],
                   created_at=timestamp(int(i.created * 1e9)), updated_at=timestamp(int(i.updated * 1e9)),
                   labels=i.labels)


def _field(ns: str, i: SnapshotInfo, path: tuple[str, ...]) -> tuple[str, bool]:
    if path[0] == "labels":
        return labels_field(i.labels, path)
    if path == ("name",):
        return _strip(ns, i.name), True
    if path == ("parent",):
        return _strip(ns, i.parent), i.parent is not None
    if path == ("kind",):
        return i.kind.value.lower(), True
    return "", False


F = TypeVar("F", bound=Callable[..., Any])


def unprefixed(fn: F) -> F:
    """Errors from the backend name ``<namespace>/<key>``; the client knows only ``<key>``."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except SeaboxError as e:
            try:
                ns = nsctx.from_context(context)
            except SeaboxError:
                raise e from None
            raise type(e)(str(e).replace(f'"{ns}/', '"').replace(f"'{ns}/", "'")) from None

    return wrapper  # type: ignore[return-value]


class SnapshotsService(pb_grpc.SnapshotsServicer):
    def __init__(self, deps: Deps) -> None:
        self.snapshotters = deps.snapshotters
        self.db = deps.metadata.db
        self.leases = deps.metadata.leases
        self.exchange = deps.exchange
        self.deps = deps

    def _sn(self, name: str) -> Snapshotter:
        sn = self.snapshotters.get(name or "overlayfs")
        if sn is None:
            raise InvalidArgument(f'snapshotter "{name}": not loaded (have {", ".join(sorted(self.snapshotters))})')
        return sn


    def _hold(self, context: grpc.ServicerContext, ns: str, snapshotter: str, key: str) -> None:
        lease = nsctx.lease_from_context(context)
        if lease:
            self.leases.add_resource(ns, lease, Resource(key, f"snapshots/{snapshotter}"))

    def _record(self, ns: str, snapshotter: str, key: str, parent: str, kind: str) -> None:
        ts = now_ns()
        with self.db.write() as tx:
            tx.ensure_namespace(ns)
            tx.execute(
                "INSERT OR REPLACE INTO snapshots (namespace, snapshotter, key, backend_key, parent, kind, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ns, snapshotter, key, f"{ns}/{key}", parent, kind, ts, ts),
            )

    def _create(self, request: pb.PrepareSnapshotRequest | pb.ViewSnapshotRequest, context: grpc.ServicerContext,
                view: bool) -> tuple[str, list[Mount]]:
        ns = nsctx.from_context(context)
        if not request.key:
            raise InvalidArgument("snapshot key must be set")
        sn = self._sn(request.snapshotter)
        parent = f"{ns}/{request.parent}" if request.parent else None
        create = sn.view if view else sn.prepare
        self._hold(context, ns, sn.name, request.key)
        mounts = create(f"{ns}/{request.key}", parent, dict(request.labels))
        self._record(ns, sn.name, request.key, request.parent, "view" if view else "active")
        return ns, mounts

    @rpc
    @unprefixed
    def Prepare(self, request: pb.PrepareSnapshotRequest, context: grpc.ServicerContext) -> pb.PrepareSnapshotResponse:
        ns, mounts = self._create(request, context, view=False)
        publish_event(self.exchange, ns, "/snapshot/prepare", ev.SnapshotPrepare(key=request.key, parent=request.parent))
        return pb.PrepareSnapshotResponse(mounts=mounts_to_wire(mounts))

    @rpc
    @unprefixed
    def View(self, request: pb.ViewSnapshotRequest, context: grpc.ServicerContext) -> pb.ViewSnapshotResponse:
        _, mounts = self._create(request, context, view=True)
        return pb.ViewSnapshotResponse(mounts=mounts_to_wire(mounts))

    @rpc
    @unprefixed
    def Mounts(self, request: pb.MountsRequest, context: grpc.ServicerContext) -> pb.MountsResponse:
        ns = nsctx.from_context(context)
        return pb.MountsResponse(mounts=mounts_to_wire(self._sn(request.snapshotter).mounts(f"{ns}/{request.key}")))

    @rpc
    @unprefixed
    def Commit(self, request: pb.CommitSnapshotRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        if not request.name:
            raise InvalidArgument("snapshot name must be set")
        sn = self._sn(request.snapshotter)
        self._hold(context, ns, sn.name, request.name)
        info = sn.commit(f"{ns}/{request.name}", f"{ns}/{request.key}", dict(request.labels))
        with self.db.write() as tx:
            tx.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?", (ns, sn.name, request.key))
        self._record(ns, sn.name, request.name, _strip(ns, info.parent), "committed")
        publish_event(self.exchange, ns, "/snapshot/commit", ev.SnapshotCommit(key=request.key, name=request.name))
        return empty_pb2.Empty()

    @rpc
    @unprefixed
    def Remove(self, request: pb.RemoveSnapshotRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        sn = self._sn(request.snapshotter)
        sn.remove(f"{ns}/{request.key}")
        with self.db.write() as tx:
            tx.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?", (ns, sn.name, request.key))
        publish_event(self.exchange, ns, "/snapshot/remove", ev.SnapshotRemove(key=request.key))
        self.deps.collect_garbage()
        return empty_pb2.Empty()

    @rpc
    @unprefixed
    def Stat(self, request: pb.StatSnapshotRequest, context: grpc.ServicerContext) -> pb.StatSnapshotResponse:
        ns = nsctx.from_context(context)
        return pb.StatSnapshotResponse(info=_info(ns, self._sn(request.snapshotter).stat(f"{ns}/{request.key}")))

    @rpc
    @unprefixed
    def Update(self, request: pb.UpdateSnapshotRequest, context: grpc.ServicerContext) -> pb.UpdateSnapshotResponse:
        ns = nsctx.from_context(context)
        sn = self._sn(request.snapshotter)
        key = f"{ns}/{request.info.name}"
        cur = sn.stat(key)
        given = SnapshotInfo(key, cur.parent, cur.kind, dict(request.info.labels))
        return pb.UpdateSnapshotResponse(info=_info(ns, sn.update(given, list(request.update_mask.paths))))

    @rpc_stream
    def List(self, request: pb.ListSnapshotsRequest, context: grpc.ServicerContext) -> Iterator[pb.ListSnapshotsResponse]:
        ns = nsctx.from_context(context)
        flt = parse_all(list(request.filters))
        found = [_info(ns, i) for i in self._sn(request.snapshotter).walk()
                 if i.name.startswith(ns + "/") and flt.match(partial(_field, ns, i))]
        for n in range(0, len(found), LIST_BATCH):
            yield pb.ListSnapshotsResponse(info=found[n : n + LIST_BATCH])

    @rpc
    @unprefixed
    def Usage(self, request: pb.UsageRequest, context: grpc.ServicerContext) -> pb.UsageResponse:
        ns = nsctx.from_context(context)
        u = self._sn(request.snapshotter).usage(f"{ns}/{request.key}")
        return pb.UsageResponse(size=u.size, inodes=u.inodes)

    @rpc
    def Cleanup(self, request: pb.CleanupRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        nsctx.from_context(context)
        self._sn(request.snapshotter).cleanup()
        return empty_pb2.Empty()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_SnapshotsServicer_to_server(SnapshotsService(deps), server)
