"""Snapshots and diff services over a real unix socket, on the native and overlayfs snapshotters.

Nothing here mounts: prepare/commit/view only create directories and metadata, and the
diff service applies layers straight into the snapshot directories.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from seabox.api.gen.containerd.api.services.content.v1 import content_pb2 as cpb
from seabox.api.gen.containerd.api.services.content.v1 import content_pb2_grpc as cgrpc
from seabox.api.gen.containerd.api.services.diff.v1 import diff_pb2 as dpb
from seabox.api.gen.containerd.api.services.diff.v1 import diff_pb2_grpc as dgrpc
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as lpb
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2_grpc as lgrpc
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2 as npb
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as ngrpc
from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as pb
from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import descriptor_pb2
from seabox.daemon.config import Config, GRPCConfig
from seabox.daemon.server import Daemon


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 grpc=GRPCConfig(address=str(tmp_path / "s.sock"), max_workers=8))
    d = Daemon(cfg)
    d.start()
    ch = grpc.insecure_channel(f"unix:{d.address}")
    lgrpc.LeasesStub(ch).Create(lpb.CreateRequest(id="t"), metadata=[("containerd-namespace", "default")])
    try:
        yield ch
    finally:
        ch.close()
        d.stop()


def md(ns: str = "default") -> list[tuple[str, str]]:
    # work in "default" happens under the lease "t" (made by the fixture), as containerd clients
    # do, so a GC pass set off by a removal never takes a snapshot the test still uses
    if ns == "default":
        return [("containerd-namespace", ns), ("containerd-lease", "t")]
    return [("containerd-namespace", ns)]


def layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip layer holding ``files``, and its diff ID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), "sha256:" + hashlib.sha256(plain).hexdigest()


def put(ch: grpc.Channel, blob: bytes, ns: str = "default") -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    list(cgrpc.ContentStub(ch).Write(iter([cpb.WriteContentRequest(
        action=cpb.COMMIT, ref=digest, data=blob, expected=digest, total=len(blob))]), metadata=md(ns)))
    return digest


@pytest.mark.parametrize("snapshotter", ["native", "overlayfs"])
def test_snapshot_lifecycle(channel: grpc.Channel, snapshotter: str) -> None:
    s = pb_grpc.SnapshotsStub(channel)
    mounts = s.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key="k1", labels={"a": "1"}),
                       metadata=md()).mounts
    assert len(mounts) == 1 and mounts[0].type == "bind"
    s.Commit(pb.CommitSnapshotRequest(snapshotter=snapshotter, name="base", key="k1"), metadata=md())
    info = s.Stat(pb.StatSnapshotRequest(snapshotter=snapshotter, key="base"), metadata=md()).info
    assert (info.name, info.parent, info.kind, dict(info.labels)) == ("base", "", pb.COMMITTED, {"a": "1"})
    child = s.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key="work", parent="base"),
                      metadata=md()).mounts
    if snapshotter == "overlayfs":
        assert child[0].type == "overlay" and any(o.startswith("upperdir=") for o in child[0].options)
    assert s.Mounts(pb.MountsRequest(snapshotter=snapshotter, key="work"), metadata=md()).mounts == child
    view = s.View(pb.ViewSnapshotRequest(snapshotter=snapshotter, key="v", parent="base"), metadata=md()).mounts
    assert "ro" in view[0].options
    upd = s.Update(pb.UpdateSnapshotRequest(snapshotter=snapshotter, info=pb.Info(name="base", labels={"b": "2"}),
                                            update_mask=field_mask_pb2.FieldMask(paths=["labels.b"])), metadata=md())
    assert dict(upd.info.labels) == {"a": "1", "b": "2"}
    listed = {i.name: (i.parent, i.kind) for r in s.List(pb.ListSnapshotsRequest(snapshotter=snapshotter),
                                                         metadata=md()) for i in r.info}
    assert listed == {"base": ("", pb.COMMITTED), "work": ("base", pb.ACTIVE), "v": ("base", pb.VIEW)}
    kinds = [i.name for r in s.List(pb.ListSnapshotsRequest(snapshotter=snapshotter, filters=["parent==base"]),
                                    metadata=md()) for i in r.info]
    assert sorted(kinds) == ["v", "work"]
    assert s.Usage(pb.UsageRequest(snapshotter=snapshotter, key="base"), metadata=md()).inodes >= 1
    # other namespaces see nothing, and cannot use this namespace's parents
    assert [r.info for r in s.List(pb.ListSnapshotsRequest(snapshotter=snapshotter), metadata=md("other"))] == []
    with pytest.raises(grpc.RpcError) as e:
        s.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key="x", parent="base"), metadata=md("other"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        s.Remove(pb.RemoveSnapshotRequest(snapshotter=snapshotter, key="base"), metadata=md())
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # has children
    with pytest.raises(grpc.RpcError) as e:
        ngrpc.NamespacesStub(channel).Delete(npb.DeleteNamespaceRequest(name="default"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "snapshots" in (e.value.details() or "")
    for key in ("work", "v", "base"):
        s.Remove(pb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key), metadata=md())
    with pytest.raises(grpc.RpcError) as e:
        s.Stat(pb.StatSnapshotRequest(snapshotter=snapshotter, key="base"), metadata=md())
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == 'snapshot "base": not found'  # the namespace prefix stays inside
    held = lgrpc.LeasesStub(channel).ListResources(lpb.ListResourcesRequest(id="t"), metadata=md()).resources
    assert {(r.type, r.id) for r in held} >= {(f"snapshots/{snapshotter}", "k1"), (f"snapshots/{snapshotter}", "base")}


def test_unknown_snapshotter(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as e:
        pb_grpc.SnapshotsStub(channel).Prepare(pb.PrepareSnapshotRequest(snapshotter="zfs", key="k"), metadata=md())
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("snapshotter", ["native", "overlayfs"])
def test_apply_layers_and_diff_back(channel: grpc.Channel, snapshotter: str, tmp_path: Path) -> None:
    s = pb_grpc.SnapshotsStub(channel)
    diff = dgrpc.DiffStub(channel)
    blob1, id1 = layer({"etc/hello": b"hello\n", "etc/keep": b"k"})
    d1 = put(channel, blob1)
    gz = "application/vnd.oci.image.layer.v1.tar+gzip"
    mounts = s.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key="x1"), metadata=md()).mounts
    applied = diff.Apply(dpb.ApplyRequest(diff=descriptor_pb2.Descriptor(media_type=gz, digest=d1, size=len(blob1)),
                                          mounts=mounts), metadata=md()).applied
    assert applied.digest == id1 and applied.media_type == "application/vnd.oci.image.layer.v1.tar"
    s.Commit(pb.CommitSnapshotRequest(snapshotter=snapshotter, name="l1", key="x1"), metadata=md())
    blob2, id2 = layer({"etc/hello": b"hello again\n"})
    d2 = put(channel, blob2)
    mounts2 = s.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key="x2", parent="l1"), metadata=md()).mounts
    applied2 = diff.Apply(dpb.ApplyRequest(diff=descriptor_pb2.Descriptor(media_type=gz, digest=d2, size=len(blob2)),
                                           mounts=mounts2), metadata=md()).applied
    assert applied2.digest == id2
    # the changes of x2 against l1, made into a layer, hold exactly the changed file
    view = s.View(pb.ViewSnapshotRequest(snapshotter=snapshotter, key="lv", parent="l1"), metadata=md()).mounts
    made = diff.Diff(dpb.DiffRequest(left=view, right=mounts2, media_type=gz, labels={"k": "v"}), metadata=md()).diff
    info = cgrpc.ContentStub(channel).Info(cpb.InfoRequest(digest=made.digest), metadata=md()).info
    assert info.labels["containerd.io/uncompressed"].startswith("sha256:") and info.labels["k"] == "v"
    data = b"".join(r.data for r in cgrpc.ContentStub(channel).Read(cpb.ReadContentRequest(digest=made.digest),
                                                                    metadata=md()))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]
    assert files == {"etc/hello": b"hello again\n"}
    # a layer another namespace cannot see cannot be applied there
    with pytest.raises(grpc.RpcError) as e:
        diff.Apply(dpb.ApplyRequest(diff=descriptor_pb2.Descriptor(media_type=gz, digest=d1), mounts=mounts2),
                   metadata=md("other"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        diff.Apply(dpb.ApplyRequest(diff=descriptor_pb2.Descriptor(media_type="text/plain", digest=d1),
                                    mounts=mounts2), metadata=md())
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
