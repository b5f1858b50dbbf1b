"""Images service: named image records (create/get/list/update/delete).

Events: /images/create, /images/update, /images/delete (whose messages live in the images
service's proto package on the wire, as in containerd).
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import publish_event, timestamp
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.events import image_pb2 as ev
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2 as pb
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import descriptor_pb2
from seabox.metadata.filters import parse_all
from seabox.metadata.images import Image, Target

PLUGIN_ID = "images"
REQUIRES = ("io.containerd.metadata.v1",)


def to_wire(img: Image) -> pb.Image:
    t = img.target
    return pb.Image(
        name=img.name,
        labels=img.labels,
        target=descriptor_pb2.Descriptor(
            media_type=t.media_type, digest=t.digest, size=t.size, annotations=t.annotations
        ),
        created_at=timestamp(img.created_at),
        updated_at=timestamp(img.updated_at),
    )


def from_wire(m: pb.Image) -> Image:
    t = m.target
    return Image(
        name=m.name,
        labels=dict(m.labels),
        target=Target(t.media_type, t.digest, t.size, dict(t.annotations)),
    )


class ImagesService(pb_grpc.ImagesServicer):
    def __init__(self, deps: Deps) -> None:
        self.store = deps.metadata.images
        self.exchange = deps.exchange
        self.deps = deps

    @rpc
    def Get(self, request: pb.GetImageRequest, context: grpc.ServicerContext) -> pb.GetImageResponse:
        ns = nsctx.from_context(context)
        return pb.GetImageResponse(image=to_wire(self.store.get(ns, request.name)))

    @rpc
    def List(self, request: pb.ListImagesRequest, context: grpc.ServicerContext) -> pb.ListImagesResponse:
        ns = nsctx.from_context(context)
        found = self.store.list(ns, parse_all(list(request.filters)))
        return pb.ListImagesResponse(images=[to_wire(i) for i in found])

    @rpc
    def Create(self, request: pb.CreateImageRequest, context: grpc.ServicerContext) -> pb.CreateImageResponse:
        ns = nsctx.from_context(context)
        img = self.store.create(ns, from_wire(request.image))
        publish_event(self.exchange, ns, "/images/create", ev.ImageCreate(name=img.name, labels=img.labels))
        return pb.CreateImageResponse(image=to_wire(img))

    @rpc
    def Update(self, request: pb.UpdateImageRequest, context: grpc.ServicerContext) -> pb.UpdateImageResponse:
        ns = nsctx.from_context(context)
        img = self.store.update(ns, from_wire(request.image), list(request.update_mask.paths))
        publish_event(self.exchange, ns, "/images/update", ev.ImageUpdate(name=img.name, labels=img.labels))
        return pb.UpdateImageResponse(image=to_wire(img))

    @rpc
    def Delete(self, request: pb.DeleteImageRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.delete(ns, request.name)
        publish_event(self.exchange, ns, "/images/delete", ev.ImageDelete(name=request.name))
        self.deps.collect_garbage(sync=request.sync)
        return empty_pb2.Empty()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_ImagesServicer_to_server(ImagesService(deps), server)
