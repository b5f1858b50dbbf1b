"""The content service over a real unix socket: streaming writes, reads, labels, namespaces, leases."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from seabox.api.gen.containerd.api.services.content.v1 import content_pb2 as pb
from seabox.api.gen.containerd.api.services.content.v1 import content_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as lpb
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2_grpc as lgrpc
from seabox.daemon.config import Config, GRPCConfig
from seabox.daemon.server import Daemon

DATA = bytes(range(256)) * 4096  # 1 MiB
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 grpc=GRPCConfig(address=str(tmp_path / "s.sock"), max_workers=8))
    d = Daemon(cfg)
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def stub(daemon: Daemon) -> Iterator[pb_grpc.ContentStub]:
    ch = grpc.insecure_channel(f"unix:{daemon.address}")
    try:
        yield pb_grpc.ContentStub(ch)
    finally:
        ch.close()


def md(ns: str = "default", lease: str = "") -> list[tuple[str, str]]:
    out = [("containerd-namespace", ns)]
    if lease:
        out.append(("containerd-lease", lease))
    return out


def write(stub: pb_grpc.ContentStub, reqs: list[pb.WriteContentRequest], ns: str = "default",
          lease: str = "") -> list[pb.WriteContentResponse]:
    return list(stub.Write(iter(reqs), metadata=md(ns, lease)))


def commit_all(stub: pb_grpc.ContentStub, ref: str = "r1", ns: str = "default", **labels: str) -> None:
    write(stub, [
        pb.WriteContentRequest(action=pb.STAT, ref=ref, expected=DIGEST, total=len(DATA)),
        pb.WriteContentRequest(action=pb.WRITE, ref=ref, offset=0, data=DATA[:1000]),
        pb.WriteContentRequest(action=pb.COMMIT, ref=ref, offset=1000, data=DATA[1000:], total=len(DATA),
                               expected=DIGEST, labels=labels),
    ], ns=ns)


def test_write_read_info_update(stub: pb_grpc.ContentStub) -> None:
    resps = write(stub, [
        pb.WriteContentRequest(action=pb.STAT, ref="r1", expected=DIGEST, total=len(DATA)),
        pb.WriteContentRequest(action=pb.WRITE, ref="r1", data=DATA[:4096]),
        pb.WriteContentRequest(action=pb.COMMIT, offset=4096, data=DATA[4096:], total=len(DATA), expected=DIGEST,
                               labels={"a": "1"}),
    ])
    assert [r.action for r in resps] == [pb.STAT, pb.WRITE, pb.COMMIT]
    assert resps[0].offset == 0 and resps[0].total == len(DATA) and resps[0].started_at.seconds > 0
    assert resps[1].offset == 4096
    assert resps[2].digest == DIGEST and resps[2].offset == len(DATA)
    info = stub.Info(pb.InfoRequest(digest=DIGEST), metadata=md()).info
    assert (info.digest, info.size, dict(info.labels)) == (DIGEST, len(DATA), {"a": "1"})
    got = b"".join(r.data for r in stub.Read(pb.ReadContentRequest(digest=DIGEST), metadata=md()))
    assert got == DATA
    part = list(stub.Read(pb.ReadContentRequest(digest=DIGEST, offset=10, size=20), metadata=md()))
    assert [(r.offset, r.data) for r in part] == [(10, DATA[10:30])]
    upd = stub.Update(pb.UpdateRequest(info=pb.Info(digest=DIGEST, labels={"b": "2"}),
                                       update_mask=field_mask_pb2.FieldMask(paths=["labels.b"])), metadata=md())
    assert dict(upd.info.labels) == {"a": "1", "b": "2"}
    listed = [i.digest for r in stub.List(pb.ListContentRequest(filters=["labels.b==2"]), metadata=md()) for i in r.info]
    assert listed == [DIGEST]
    assert [r.info for r in stub.List(pb.ListContentRequest(filters=["labels.b==3"]), metadata=md())] == []


def test_resume_and_offsets(stub: pb_grpc.ContentStub) -> None:
    # a first stream writes part of the blob and goes away
    write(stub, [pb.WriteContentRequest(action=pb.WRITE, ref="res", expected=DIGEST, total=len(DATA), data=DATA[:5000])])
    st = stub.Status(pb.StatusRequest(ref="res"), metadata=md()).status
    assert (st.ref, st.offset, st.total, st.expected) == ("res", 5000, len(DATA), DIGEST)
    assert [s.ref for s in stub.ListStatuses(pb.ListStatusesRequest(), metadata=md()).statuses] == ["res"]
    assert list(stub.ListStatuses(pb.ListStatusesRequest(), metadata=md("other")).statuses) == []
    # writing at the wrong offset is OUT_OF_RANGE; continuing at the right one works
    with pytest.raises(grpc.RpcError) as e:
        write(stub, [pb.WriteContentRequest(action=pb.WRITE, ref="res", offset=4000, data=b"x")])
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    resps = write(stub, [
        pb.WriteContentRequest(action=pb.STAT, ref="res"),
        pb.WriteContentRequest(action=pb.COMMIT, ref="res", offset=5000, data=DATA[5000:], expected=DIGEST,
                               total=len(DATA)),
    ])
    assert resps[0].offset == 5000 and resps[1].digest == DIGEST
    assert stub.ListStatuses(pb.ListStatusesRequest(), metadata=md()).statuses == []


def test_digest_mismatch_and_abort(stub: pb_grpc.ContentStub) -> None:
    bad = "sha256:" + "0" * 64
    with pytest.raises(grpc.RpcError) as e:
        write(stub, [pb.WriteContentRequest(action=pb.COMMIT, ref="bad", data=DATA, expected=bad, total=len(DATA))])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    write(stub, [pb.WriteContentRequest(action=pb.WRITE, ref="gone", data=b"abc")])
    stub.Abort(pb.AbortRequest(ref="gone"), metadata=md())
    with pytest.raises(grpc.RpcError) as e:
        stub.Status(pb.StatusRequest(ref="gone"), metadata=md())
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        write(stub, [pb.WriteContentRequest(action=pb.WRITE, data=b"no ref")])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_namespaces_share_bytes_not_visibility(stub: pb_grpc.ContentStub, daemon: Daemon) -> None:
    commit_all(stub, ns="a", x="a-only")
    with pytest.raises(grpc.RpcError) as e:
        stub.Info(pb.InfoRequest(digest=DIGEST), metadata=md("b"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # writing known bytes in another namespace makes them visible there without a transfer
    with pytest.raises(grpc.RpcError) as e:
        write(stub, [pb.WriteContentRequest(action=pb.STAT, ref="rb", expected=DIGEST, total=len(DATA))], ns="b")
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert dict(stub.Info(pb.InfoRequest(digest=DIGEST), metadata=md("b")).info.labels) == {}
    with pytest.raises(grpc.RpcError) as e:  # and a second write in "a" is refused
        write(stub, [pb.WriteContentRequest(action=pb.STAT, ref="ra", expected=DIGEST)], ns="a")
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert daemon.metadata is not None
    blob = Path(daemon.cfg.root) / "content" / "blobs" / "sha256" / DIGEST.split(":")[1]
    stub.Delete(pb.DeleteContentRequest(digest=DIGEST), metadata=md("a"))
    assert blob.exists()  # still owned by "b"
    stub.Delete(pb.DeleteContentRequest(digest=DIGEST), metadata=md("b"))
    assert not blob.exists()
    with pytest.raises(grpc.RpcError) as e:
        stub.Delete(pb.DeleteContentRequest(digest=DIGEST), metadata=md("b"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_lease_header_holds_ingest_and_blob(stub: pb_grpc.ContentStub, daemon: Daemon) -> None:
    ch = grpc.insecure_channel(f"unix:{daemon.address}")
    leases = lgrpc.LeasesStub(ch)
    leases.Create(lpb.CreateRequest(id="pull"), metadata=md())
    write(stub, [pb.WriteContentRequest(action=pb.COMMIT, ref="lr", data=DATA, expected=DIGEST, total=len(DATA))],
          lease="pull")
    got = {(r.type, r.id) for r in leases.ListResources(lpb.ListResourcesRequest(id="pull"), metadata=md()).resources}
    assert got == {("ingests", "lr"), ("content", DIGEST)}
    with pytest.raises(grpc.RpcError) as e:
        write(stub, [pb.WriteContentRequest(action=pb.WRITE, ref="x", data=b"1")], lease="nosuch")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    ch.close()


def test_bad_digests(stub: pb_grpc.ContentStub) -> None:
    for bad in ("", "md5:abc", "sha256:xyz"):
        with pytest.raises(grpc.RpcError) as e:
            stub.Info(pb.InfoRequest(digest=bad), metadata=md())
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
