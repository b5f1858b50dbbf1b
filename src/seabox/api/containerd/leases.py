"""Leases service: create/delete/list leases and the resources each one holds.

Deleting a lease does not collect anything yet: garbage collection arrives with the
content and snapshot services (the daemon issue); the ``sync`` flag is accepted.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import timestamp
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as pb
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2_grpc as pb_grpc
from seabox.metadata.filters import parse_all
from seabox.metadata.leases import Lease, Resource

PLUGIN_ID = "leases"
REQUIRES = ("io.containerd.metadata.v1",)


def _wire(lease: Lease) -> pb.Lease:
    return pb.Lease(id=lease.id, created_at=timestamp(lease.created_at), labels=lease.labels)


class LeasesService(pb_grpc.LeasesServicer):
    def __init__(self, deps: Deps) -> None:
        self.store = deps.metadata.leases
        self.deps = deps

    @rpc
    def Create(self, request: pb.CreateRequest, context: grpc.ServicerContext) -> pb.CreateResponse:
        ns = nsctx.from_context(context)
        return pb.CreateResponse(lease=_wire(self.store.create(ns, request.id, dict(request.labels))))

    @rpc
    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.delete(ns, request.id)
        self.deps.collect_garbage(sync=request.sync)
        return empty_pb2.Empty()

    @rpc
    def List(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        ns = nsctx.from_context(context)
        return pb.ListResponse(leases=[_wire(x) for x in self.store.list(ns, parse_all(list(request.filters)))])

    @rpc
    def AddResource(self, request: pb.AddResourceRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.add_resource(ns, request.id, Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    @rpc
    def DeleteResource(self, request: pb.DeleteResourceRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.delete_resource(ns, request.id, Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    @rpc
    def ListResources(
        self, request: pb.ListResourcesRequest, context: grpc.ServicerContext
    ) -> pb.ListResourcesResponse:
        ns = nsctx.from_context(context)
        found = self.store.list_resources(ns, request.id)
        return pb.ListResourcesResponse(resources=[pb.Resource(id=r.id, type=r.type) for r in found])


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_LeasesServicer_to_server(LeasesService(deps), server)
