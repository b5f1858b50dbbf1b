"""Diff service: apply a layer from the content store onto a snapshot's mounts, or make one.

Apply decompresses the blob by its media type and applies it with seabox.snapshots.apply
straight into the directory the mounts describe: an overlay mount's upper dir (whiteouts
become overlay whiteouts, the lower dirs supply implied parents) or a bind mount's source
(the full tree: for the native snapshotter whiteouts delete; under the overlayfs
snapshotter's root it is a first layer, kept overlay-style). Nothing is mounted, so no
mount can leak if the daemon dies mid-apply. The result is the uncompressed layer's
descriptor (its diff ID). Diff writes the changes of the right mounts against the left
ones into the content store, labelled ``containerd.io/uncompressed`` with the diff ID.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import grpc

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.services.diff.v1 import diff_pb2 as pb
from seabox.api.gen.containerd.api.services.diff.v1 import diff_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import descriptor_pb2, mount_pb2
from seabox.errdefs import InvalidArgument, NotImplementedYet
from seabox.metadata.leases import Resource
from seabox.oci.digest import parse_sha256
from seabox.snapshots.apply import apply_layer
from seabox.snapshots.diff import MEDIA_TYPES, write_diff
from seabox.snapshots.mount import Mount

PLUGIN_ID = "diff"
REQUIRES = ("io.containerd.content.v1", "io.containerd.snapshotter.v1")
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"


def compression_of(media_type: str) -> str:
    """"gzip", "zstd" or "" (plain tar) for a layer media type; NotImplementedYet otherwise."""
    base = media_type.replace(".nondistributable", "")
    if base in ("application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar"):
        return ""
    if base in ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"):
        return "gzip"
    if base in ("application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar.zstd"):
        return "zstd"
    raise NotImplementedYet(f'media type "{media_type}": unsupported layer type')


def _mounts(ms: list[mount_pb2.Mount]) -> list[Mount]:
    return [Mount(m.type, m.source, list(m.options)) for m in ms]


def _option(m: Mount, name: str) -> str | None:
    for o in m.options:
        if o.startswith(name + "="):
            return o[len(name) + 1 :]
    return None


class DiffService(pb_grpc.DiffServicer):
    def __init__(self, deps: Deps) -> None:
        assert deps.content is not None
        self.store = deps.content
        self.blobs = deps.metadata.content
        self.leases = deps.metadata.leases
        overlay = deps.snapshotters.get("overlayfs")
        self.overlay_root = overlay.root if overlay is not None else None

    def _target(self, mounts: list[Mount]) -> tuple[Path, bool, list[Path]]:
        """(directory to apply into, overlay-style whiteouts, lower dirs nearest first)."""
        if len(mounts) != 1:
            raise InvalidArgument(f"apply needs exactly one mount, got {len(mounts)}")
        m = mounts[0]
        if m.type == "overlay":
            upper = _option(m, "upperdir")
            if upper is None:
                raise InvalidArgument("overlay mount without upperdir is read-only")
            lowers = [Path(p) for p in (_option(m, "lowerdir") or "").split(":") if p]
            return Path(upper), True, lowers
        if m.type == "bind" or "bind" in m.options or "rbind" in m.options:
            src = Path(m.source)
            overlay = self.overlay_root is not None and src.is_relative_to(self.overlay_root)
            return src, overlay, []
        raise InvalidArgument(f'mount type "{m.type}" is not supported for apply')

    @rpc
    def Apply(self, request: pb.ApplyRequest, context: grpc.ServicerContext) -> pb.ApplyResponse:
        ns = nsctx.from_context(context)
        d = parse_sha256(request.diff.digest)
        self.blobs.get(ns, d)  # visible in this namespace, or NotFound
        compression = compression_of(request.diff.media_type)
        target, overlay, lowers = self._target(_mounts(list(request.mounts)))
        from seabox.images.pull import decompressor  # lazily: it brings the registry client along

        with self.store.open(d) as raw:
            result = apply_layer(decompressor(raw, compression), target, overlay_whiteouts=overlay, parents=lowers)
        return pb.ApplyResponse(applied=descriptor_pb2.Descriptor(
            media_type=LAYER_TAR, digest=result.diff_id, size=result.size))

    @rpc
    def Diff(self, request: pb.DiffRequest, context: grpc.ServicerContext) -> pb.DiffResponse:
        ns = nsctx.from_context(context)
        media = request.media_type or MEDIA_TYPES["gzip"]
        compression = compression_of(media) or "uncompressed"
        left, right = _mounts(list(request.left)), _mounts(list(request.right))
        if len(right) != 1:
            raise InvalidArgument(f"diff needs exactly one right mount, got {len(right)}")
        upper_opt = _option(right[0], "upperdir")
        ref = request.ref or f"diff-{secrets.token_hex(8)}"
        with self.store.writer(f"{ns}/{ref}") as w:
            w.truncate(0)
            if upper_opt is not None:
                result = write_diff(None, Path(upper_opt), w, compression=compression, overlay=True)  # type: ignore[arg-type]
            else:
                result = write_diff(left or None, Path(right[0].source), w, compression=compression)  # type: ignore[arg-type]
            info = w.commit(result.size, result.digest)
        labels = dict(request.labels)
        labels[LABEL_UNCOMPRESSED] = result.diff_id
        self.blobs.add(ns, info.digest, info.size, labels)
        lease = nsctx.lease_from_context(context)
        if lease:
            self.leases.add_resource(ns, lease, Resource(info.digest, "content"))
        return pb.DiffResponse(diff=descriptor_pb2.Descriptor(media_type=media, digest=info.digest, size=info.size))


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_DiffServicer_to_server(DiffService(deps), server)
