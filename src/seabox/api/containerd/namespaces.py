"""Namespaces service: create/get/list/update/delete namespaces and their labels.

Like containerd's, this service needs no namespace header (the namespace is the object).
It publishes /namespaces/create, /namespaces/update and /namespaces/delete, each in the
namespace concerned.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from seabox.api.containerd import Deps
from seabox.api.convert import publish_event
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.events import namespace_pb2 as ev
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2 as pb
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as pb_grpc
from seabox.errdefs import InvalidArgument
from seabox.metadata.namespaces import Namespace

PLUGIN_ID = "namespaces"
REQUIRES = ("io.containerd.metadata.v1",)


def _wire(ns: Namespace) -> pb.Namespace:
    return pb.Namespace(name=ns.name, labels=ns.labels)


class NamespacesService(pb_grpc.NamespacesServicer):
    def __init__(self, deps: Deps) -> None:
        self.store = deps.metadata.namespaces
        self.exchange = deps.exchange


    @rpc
    def Get(self, request: pb.GetNamespaceRequest, context: grpc.ServicerContext) -> pb.GetNamespaceResponse:
        return pb.GetNamespaceResponse(namespace=_wire(self.store.get(request.name)))

    @rpc
    def List(self, request: pb.ListNamespacesRequest, context: grpc.ServicerContext) -> pb.ListNamespacesResponse:
        return pb.ListNamespacesResponse(namespaces=[_wire(n) for n in self.store.list()])

    @rpc
    def Create(self, request: pb.CreateNamespaceRequest, context: grpc.ServicerContext) -> pb.CreateNamespaceResponse:
        ns = self.store.create(request.namespace.name, dict(request.namespace.labels))
        publish_event(self.exchange, ns.name, "/namespaces/create", ev.NamespaceCreate(name=ns.name, labels=ns.labels))
        return pb.CreateNamespaceResponse(namespace=_wire(ns))

    @rpc
    def Update(self, request: pb.UpdateNamespaceRequest, context: grpc.ServicerContext) -> pb.UpdateNamespaceResponse:
        name = request.namespace.name
        if not name:
            raise InvalidArgument("namespace name must be set")
        ns = self.store.update(name, dict(request.namespace.labels), list(request.update_mask.paths))
        publish_event(self.exchange, ns.name, "/namespaces/update", ev.NamespaceUpdate(name=ns.name, labels=ns.labels))
        return pb.UpdateNamespaceResponse(namespace=_wire(ns))

    @rpc
    def Delete(self, request: pb.DeleteNamespaceRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.store.delete(request.name)
        publish_event(self.exchange, request.name, "/namespaces/delete", ev.NamespaceDelete(name=request.name))
        return empty_pb2.Empty()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_NamespacesServicer_to_server(NamespacesService(deps), server)
