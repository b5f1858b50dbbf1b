"""Introspection service: the plugins seaboxd loaded and the daemon's uuid.

seaboxd has no plugin loader of containerd's kind; it reports the services it really
serves, in containerd's terms (type ``io.containerd.grpc.v1``, id ``containers`` ...), so
``ctr plugins ls`` reads the same. Filters use the common syntax on ``type`` and ``id``.
"""

from __future__ import annotations

import platform as _platform
from functools import partial

import grpc
from google.protobuf import empty_pb2

from seabox.api.containerd import Deps, PluginEntry
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2 as pb
from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import platform_pb2
from seabox.metadata.filters import parse_all

PLUGIN_ID = "introspection"
REQUIRES: tuple[str, ...] = ()

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def _field(p: PluginEntry, path: tuple[str, ...]) -> tuple[str, bool]:
    if path == ("type",):
        return p.type, True
    if path == ("id",):
        return p.id, True
    return "", False


class IntrospectionService(pb_grpc.IntrospectionServicer):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @rpc
    def Plugins(self, request: pb.PluginsRequest, context: grpc.ServicerContext) -> pb.PluginsResponse:
        flt = parse_all(list(request.filters))
        out = []
        for p in self.deps.plugins:
            if not flt.match(partial(_field, p)):
                continue
            m = pb.Plugin(type=p.type, id=p.id, requires=list(p.requires), exports=p.exports)
            if p.type == "io.containerd.grpc.v1":
                machine = _platform.machine()
                m.platforms.append(platform_pb2.Platform(os="linux", architecture=_ARCH.get(machine, machine)))
            out.append(m)
        return pb.PluginsResponse(plugins=out)

    @rpc
    def Server(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> pb.ServerResponse:
        return pb.ServerResponse(uuid=self.deps.uuid)


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_IntrospectionServicer_to_server(IntrospectionService(deps), server)
