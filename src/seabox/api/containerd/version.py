"""Version service: the daemon's version and source revision (`ctr version`)."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from seabox.api.containerd import Deps
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.services.version.v1 import version_pb2 as pb
from seabox.api.gen.containerd.api.services.version.v1 import version_pb2_grpc as pb_grpc

PLUGIN_ID = "version"
REQUIRES: tuple[str, ...] = ()


class VersionService(pb_grpc.VersionServicer):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @rpc
    def Version(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> pb.VersionResponse:
        return pb.VersionResponse(version=self.deps.version, revision=self.deps.revision)


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_VersionServicer_to_server(VersionService(deps), server)
