"""Containers service: stored container records (create/get/list/list-stream/update/delete).

The spec and runtime options are opaque Any values, stored and returned verbatim. Events:
/containers/create, /containers/update, /containers/delete.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import from_any, publish_event, timestamp, to_any
from seabox.api.errors import rpc, rpc_stream
from seabox.api.gen.containerd.api.events import container_pb2 as ev
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as pb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2_grpc as pb_grpc
from seabox.metadata.containers import Container
from seabox.metadata.filters import parse_all

PLUGIN_ID = "containers"
REQUIRES = ("io.containerd.metadata.v1",)


def to_wire(c: Container) -> pb.Container:
    out = pb.Container(
        id=c.id,
        labels=c.labels,
        image=c.image,
        snapshotter=c.snapshotter,
        snapshot_key=c.snapshot_key,
        created_at=timestamp(c.created_at),
        updated_at=timestamp(c.updated_at),
    )
    out.runtime.name = c.runtime_name
    if c.runtime_options is not None:
        out.runtime.options.CopyFrom(to_any(c.runtime_options))
    if c.spec is not None:
        out.spec.CopyFrom(to_any(c.spec))
    for k, v in c.extensions.items():
        out.extensions[k].CopyFrom(to_any(v))
    return out


def from_wire(m: pb.Container) -> Container:
    return Container(
        id=m.id,
        labels=dict(m.labels),
        image=m.image,
        runtime_name=m.runtime.name,
        runtime_options=from_any(m.runtime.options) if m.runtime.HasField("options") else None,
        spec=from_any(m.spec) if m.HasField("spec") else None,
        snapshotter=m.snapshotter,
        snapshot_key=m.snapshot_key,
        extensions={k: from_any(v) for k, v in m.extensions.items()},
    )


class ContainersService(pb_grpc.ContainersServicer):
    def __init__(self, deps: Deps) -> None:
        self.store = deps.metadata.containers
        self.exchange = deps.exchange
        self.deps = deps

    @rpc
    def Get(self, request: pb.GetContainerRequest, context: grpc.ServicerContext) -> pb.GetContainerResponse:
        ns = nsctx.from_context(context)
        return pb.GetContainerResponse(container=to_wire(self.store.get(ns, request.id)))

    @rpc
    def List(self, request: pb.ListContainersRequest, context: grpc.ServicerContext) -> pb.ListContainersResponse:
        ns = nsctx.from_context(context)
        found = self.store.list(ns, parse_all(list(request.filters)))
        return pb.ListContainersResponse(containers=[to_wire(c) for c in found])

    @rpc_stream
    def ListStream(
        self, request: pb.ListContainersRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ListContainerMessage]:
        ns = nsctx.from_context(context)
        for c in self.store.list(ns, parse_all(list(request.filters))):
            yield pb.ListContainerMessage(container=to_wire(c))

    @rpc
    def Create(self, request: pb.CreateContainerRequest, context: grpc.ServicerContext) -> pb.CreateContainerResponse:
        ns = nsctx.from_context(context)
        c = self.store.create(ns, from_wire(request.container))
        created = ev.ContainerCreate(id=c.id, image=c.image)
        created.runtime.name = c.runtime_name
        if c.runtime_options is not None:
            created.runtime.options.CopyFrom(to_any(c.runtime_options))
        publish_event(self.exchange, ns, "/containers/create", created)
        return pb.CreateContainerResponse(container=to_wire(c))

    @rpc
    def Update(self, request: pb.UpdateContainerRequest, context: grpc.ServicerContext) -> pb.UpdateContainerResponse:
        ns = nsctx.from_context(context)
        c = self.store.update(ns, from_wire(request.container), list(request.update_mask.paths))
        publish_event(self.exchange,
            ns,
            "/containers/update",
            ev.ContainerUpdate(id=c.id, image=c.image, labels=c.labels, snapshot_key=c.snapshot_key),
        )
        return pb.UpdateContainerResponse(container=to_wire(c))

    @rpc
    def Delete(self, request: pb.DeleteContainerRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.delete(ns, request.id)
        publish_event(self.exchange, ns, "/containers/delete", ev.ContainerDelete(id=request.id))
        self.deps.collect_garbage()
        return empty_pb2.Empty()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_ContainersServicer_to_server(ContainersService(deps), server)
