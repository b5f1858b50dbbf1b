"""Content service: blobs of the shared content store, seen per namespace.

Reads, info, labels and deletes go through the namespace's ownership records
(seabox.metadata.content); the bytes live once in seabox.content's store. Writes follow
containerd's streaming protocol: the first message names the ingest ref; each STAT,
WRITE or COMMIT message gets one response; WRITE at a non-zero offset must continue
exactly where the ingest stands (OUT_OF_RANGE otherwise), WRITE at offset 0 restarts it;
COMMIT verifies size and digest and records the blob in the namespace. A write whose
expected digest is already stored makes the blob visible in the namespace and answers
ALREADY_EXISTS, as containerd's shared content policy does. A ``containerd-lease`` header
puts the ingest and the committed blob under that lease.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import grpc
from google.protobuf import empty_pb2

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import publish_event, timestamp
from seabox.api.errors import rpc, rpc_stream
from seabox.api.gen.containerd.api.events import content_pb2 as ev
from seabox.api.gen.containerd.api.services.content.v1 import content_pb2 as pb
from seabox.api.gen.containerd.api.services.content.v1 import content_pb2_grpc as pb_grpc
from seabox.content.store import Status
from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.metadata.content import Blob
from seabox.metadata.filters import labels_field, parse_all
from seabox.metadata.leases import Resource
from seabox.oci.digest import parse_sha256

PLUGIN_ID = "content"
REQUIRES = ("io.containerd.metadata.v1",)
READ_CHUNK = 1 << 20
LIST_BATCH = 100


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _info(b: Blob) -> pb.Info:
    return pb.Info(digest=b.digest, size=b.size, created_at=timestamp(b.created_at),
                   updated_at=timestamp(b.updated_at), labels=b.labels)


def _status(st: Status, ref: str) -> pb.Status:
    return pb.Status(started_at=timestamp(_ns(st.started_at)), updated_at=timestamp(_ns(st.updated_at)), ref=ref,
                     offset=st.offset, total=st.total or 0, expected=st.expected or "")


def _blob_field(b: Blob, path: tuple[str, ...]) -> tuple[str, bool]:
    if path[0] == "labels":
        return labels_field(b.labels, path)
    if path == ("digest",):
        return b.digest, True
    if path == ("size",):
        return str(b.size), True
    return "", False


def _status_field(ref: str, st: Status, path: tuple[str, ...]) -> tuple[str, bool]:
    if path == ("ref",):
        return ref, True
    if path == ("expected",):
        return st.expected or "", st.expected is not None
    return "", False


class ContentService(pb_grpc.ContentServicer):
    def __init__(self, deps: Deps) -> None:
        assert deps.content is not None
        self.store = deps.content
        self.blobs = deps.metadata.content
        self.leases = deps.metadata.leases
        self.exchange = deps.exchange
        self.deps = deps

    def _hold(self, ns: str, lease: str, kind: str, id: str) -> None:
        if lease:
            self.leases.add_resource(ns, lease, Resource(id, kind))

    @rpc
    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        ns = nsctx.from_context(context)
        return pb.InfoResponse(info=_info(self.blobs.get(ns, parse_sha256(request.digest))))

    @rpc
    def Update(self, request: pb.UpdateRequest, context: grpc.ServicerContext) -> pb.UpdateResponse:
        ns = nsctx.from_context(context)
        d = parse_sha256(request.info.digest)
        paths = list(request.update_mask.paths) or ["labels"]
        return pb.UpdateResponse(info=_info(self.blobs.update(ns, d, dict(request.info.labels), paths)))

    @rpc_stream
    def List(self, request: pb.ListContentRequest, context: grpc.ServicerContext) -> Iterator[pb.ListContentResponse]:
        ns = nsctx.from_context(context)
        flt = parse_all(list(request.filters))
        found = [b for b in self.blobs.list(ns) if flt.match(partial(_blob_field, b))]
        for i in range(0, len(found), LIST_BATCH):
            yield pb.ListContentResponse(info=[_info(b) for b in found[i : i + LIST_BATCH]])

    @rpc
    def Delete(self, request: pb.DeleteContentRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        d = parse_sha256(request.digest)
        if self.blobs.delete(ns, d):
            try:
                self.store.delete(d)
            except NotFound:
                pass
        publish_event(self.exchange, ns, "/content/delete", ev.ContentDelete(digest=d))
        self.deps.collect_garbage()
        return empty_pb2.Empty()

    @rpc_stream
    def Read(self, request: pb.ReadContentRequest, context: grpc.ServicerContext) -> Iterator[pb.ReadContentResponse]:
        ns = nsctx.from_context(context)
        d = parse_sha256(request.digest)
        blob = self.blobs.get(ns, d)
        offset = max(request.offset, 0)
        if offset > blob.size:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, f"read offset {offset} beyond size {blob.size} of {d}")
        remaining = blob.size - offset if request.size <= 0 else min(request.size, blob.size - offset)
        with self.store.open(d) as f:
            f.seek(offset)
            while remaining > 0:
                data = f.read(min(READ_CHUNK, remaining))
                if not data:
                    break
                yield pb.ReadContentResponse(offset=offset, data=data)
                offset += len(data)
                remaining -= len(data)

    @rpc
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        ns = nsctx.from_context(context)
        return pb.StatusResponse(status=_status(self.store.status(f"{ns}/{request.ref}"), request.ref))

    @rpc
    def ListStatuses(self, request: pb.ListStatusesRequest, context: grpc.ServicerContext) -> pb.ListStatusesResponse:
        ns = nsctx.from_context(context)
        flt = parse_all(list(request.filters))
        out = []
        for st in self.store.statuses():
            if not st.ref.startswith(ns + "/"):
                continue
            ref = st.ref[len(ns) + 1 :]
            if flt.match(partial(_status_field, ref, st)):
                out.append(_status(st, ref))
        return pb.ListStatusesResponse(statuses=out)

    @rpc
    def Abort(self, request: pb.AbortRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.store.abort(f"{ns}/{request.ref}")
        return empty_pb2.Empty()

    @rpc_stream
    def Write(
        self, request_iterator: Iterator[pb.WriteContentRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.WriteContentResponse]:
        ns = nsctx.from_context(context)
        lease = nsctx.lease_from_context(context)
        first = next(request_iterator, None)
        if first is None:
            return
        ref = first.ref
        if not ref:
            raise InvalidArgument("first message of a write must name an ingest ref")
        expected = first.expected or None
        total = first.total or None
        if expected is not None:
            d = parse_sha256(expected)
            if self.blobs.has(ns, d):
                raise AlreadyExists(f'content "{d}": already exists')
            if self.store.exists(d):
                size = self.store.info(d).size
                if total is None or total == size:
                    self.blobs.add(ns, d, size, dict(first.labels))
                    self._hold(ns, lease, "content", d)
                    raise AlreadyExists(f'content "{d}": already exists')
        self._hold(ns, lease, "ingests", ref)
        nsref = f"{ns}/{ref}"
        w = self.store.writer(nsref, expected=expected, total=total)
        try:
            req: pb.WriteContentRequest | None = first
            while req is not None:
                if req.ref and req.ref != ref:
                    raise InvalidArgument(f'ingest "{ref}": a write stream may only write one ref, got "{req.ref}"')
                if req.expected:
                    expected = req.expected
                if req.total:
                    total = req.total
                resp = pb.WriteContentResponse(action=req.action)
                if req.action in (pb.WRITE, pb.COMMIT):
                    if req.offset > 0 and req.offset != w.offset:
                        context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                      f"write @{req.offset} must occur at current offset {w.offset}")
                    if req.offset == 0 and w.offset > 0:
                        w.truncate(0)
                    if req.data:
                        w.write(req.data)
                elif req.action != pb.STAT:
                    raise InvalidArgument(f'ingest "{ref}": unknown write action {req.action}')
                resp.offset = w.offset
                resp.total = total or 0
                if req.action == pb.COMMIT:
                    info = w.commit(total or 0, expected or w.digest())
                    self.blobs.add(ns, info.digest, info.size, dict(req.labels))
                    self._hold(ns, lease, "content", info.digest)
                    resp.digest, resp.offset, resp.total = info.digest, info.size, info.size
                    now = timestamp(_ns(info.updated_at))
                    resp.started_at.CopyFrom(now)
                    resp.updated_at.CopyFrom(now)
                    yield resp
                    return
                st = self.store.status(nsref)
                resp.started_at.CopyFrom(timestamp(_ns(st.started_at)))
                resp.updated_at.CopyFrom(timestamp(_ns(st.updated_at)))
                resp.digest = w.digest()
                yield resp
                req = next(request_iterator, None)
        finally:
            w.close()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_ContentServicer_to_server(ContentService(deps), server)
