"""seabox.ctr.wire against the generated protobuf classes: same fields, and bytes from each
side read back by the other to the same values (both directions), for every message the
lean ``run`` path exchanges."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import any_pb2, empty_pb2, timestamp_pb2

from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as cpb
from seabox.api.gen.containerd.api.services.content.v1 import content_pb2 as ctpb
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2 as ipb
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as lpb
from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as tpb
from seabox.api.gen.containerd.api.types import descriptor_pb2, mount_pb2
from seabox.ctr import wire as w

PAIRS: list[tuple[type[w.Message], Any]] = [
    (w.Empty, empty_pb2.Empty), (w.Any_, any_pb2.Any), (w.Timestamp, timestamp_pb2.Timestamp),
    (w.Descriptor, descriptor_pb2.Descriptor), (w.Mount, mount_pb2.Mount),
    (w.Lease, lpb.Lease), (w.CreateLeaseRequest, lpb.CreateRequest), (w.CreateLeaseResponse, lpb.CreateResponse),
    (w.DeleteLeaseRequest, lpb.DeleteRequest),
    (w.Image, ipb.Image), (w.GetImageRequest, ipb.GetImageRequest), (w.GetImageResponse, ipb.GetImageResponse),
    (w.ReadContentRequest, ctpb.ReadContentRequest), (w.ReadContentResponse, ctpb.ReadContentResponse),
    (w.SnapshotInfo, spb.Info), (w.StatSnapshotRequest, spb.StatSnapshotRequest),
    (w.StatSnapshotResponse, spb.StatSnapshotResponse), (w.PrepareSnapshotRequest, spb.PrepareSnapshotRequest),
    (w.PrepareSnapshotResponse, spb.PrepareSnapshotResponse), (w.RemoveSnapshotRequest, spb.RemoveSnapshotRequest),
    (w.Runtime, cpb.Container.Runtime), (w.Container, cpb.Container),
    (w.CreateContainerRequest, cpb.CreateContainerRequest), (w.CreateContainerResponse, cpb.CreateContainerResponse),
    (w.DeleteContainerRequest, cpb.DeleteContainerRequest),
    (w.CreateTaskRequest, tpb.CreateTaskRequest), (w.CreateTaskResponse, tpb.CreateTaskResponse),
    (w.StartRequest, tpb.StartRequest), (w.StartResponse, tpb.StartResponse), (w.WaitRequest, tpb.WaitRequest),
    (w.WaitResponse, tpb.WaitResponse), (w.DeleteTaskRequest, tpb.DeleteTaskRequest),
    (w.DeleteTaskResponse, tpb.DeleteResponse), (w.KillRequest, tpb.KillRequest), (w.CloseIORequest, tpb.CloseIORequest),
]  # fmt: skip

T = {  # FieldDescriptor.type numbers
    "string": 9, "bytes": 12, "bool": 8, "message": 11, "int64": 3, "int32": 5, "uint32": 13, "enum": 14,
}  # fmt: skip
KIND_TYPES = {
    w.STRING: {T["string"]}, w.BYTES: {T["bytes"]}, w.BOOL: {T["bool"]}, w.UINT: {T["uint32"]},
    w.INT: {T["int64"], T["int32"], T["enum"]}, w.MESSAGE: {T["message"]}, w.MAP: {T["message"]},
    w.REP_STRING: {T["string"]}, w.REP_MESSAGE: {T["message"]}, w.MAP_MESSAGE: {T["message"]},
}  # fmt: skip


def _repeated(f: Any) -> bool:
    return bool(f.is_repeated) if hasattr(f, "is_repeated") else f.label == 3


@pytest.mark.parametrize(("lean", "gen"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_same_fields_as_the_proto(lean: type[w.Message], gen: Any) -> None:
    desc = gen.DESCRIPTOR
    assert {f.number: f.name for f in desc.fields} == {n: name for n, name, _, _ in lean.FIELDS}
    for number, name, kind, sub in lean.FIELDS:
        f = desc.fields_by_number[number]
        assert f.type in KIND_TYPES[kind], name
        is_map = f.message_type is not None and f.message_type.GetOptions().map_entry
        assert _repeated(f) == (kind in (w.REP_STRING, w.REP_MESSAGE, w.MAP, w.MAP_MESSAGE)), name
        assert is_map == (kind in (w.MAP, w.MAP_MESSAGE)), name
        if kind == w.INT:
            assert sub == (64 if f.type == T["int64"] else 32), name
        if kind in (w.MESSAGE, w.REP_MESSAGE):
            assert sub.FIELDS is not None and f.message_type.name.rstrip("_") in (sub.__name__.rstrip("_"), "Info",
                                                                                   "DeleteResponse"), name  # fmt: skip


def _fill(lean: type[w.Message], gen: Any, seed: int) -> tuple[w.Message, Any]:
    """A lean and a generated message holding the same non-default value in every field."""
    kw: dict[str, Any] = {}
    g = gen()
    for number, name, kind, sub in lean.FIELDS:
        s = seed * 31 + number
        if kind == w.STRING:
            v: Any = f"{name}-{s}-ünï"
            setattr(g, name, v)
        elif kind == w.BYTES:
            v = bytes([s % 256, 0, 255]) * 3
            setattr(g, name, v)
        elif kind == w.BOOL:
            v = True
            setattr(g, name, v)
        elif kind == w.UINT:
            v = 4_000_000_000 - s
            setattr(g, name, v)
        elif kind == w.INT:
            v = -(s * 1_000_003) if sub == 64 else -s
            if gen.DESCRIPTOR.fields_by_number[number].type == T["enum"]:
                v = 1 + s % 2
            setattr(g, name, v)
        elif kind == w.MESSAGE:
            v, gv = _fill(sub, getattr(g, name).__class__, s)
            getattr(g, name).CopyFrom(gv)
        elif kind == w.REP_STRING:
            v = [f"o{s}", "", "x=y"]
            getattr(g, name).extend(v)
        elif kind == w.REP_MESSAGE:
            pairs = [_fill(sub, getattr(g, name).add().__class__, s + i) for i in range(2)]
            del getattr(g, name)[:]
            v = [p[0] for p in pairs]
            getattr(g, name).extend([p[1] for p in pairs])
        elif kind == w.MAP:
            v = {f"k{s}": "v", "empty": "", "ü": "ß"}
            getattr(g, name).update(v)
        else:  # MAP_MESSAGE
            v = {}
            for i, key in enumerate(("a", "b")):
                lv, gv = _fill(sub, any_pb2.Any, s + i)
                v[key] = lv
                getattr(g, name)[key].CopyFrom(gv)
        kw[name] = v
    return lean(**kw), g


@pytest.mark.parametrize(("lean", "gen"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_round_trip_both_ways(lean: type[w.Message], gen: Any) -> None:
    for seed in (1, 7):
        lm, gm = _fill(lean, gen, seed)
        parsed = gen.FromString(lm.SerializeToString())  # lean -> generated
        assert parsed == gm
        assert lean.FromString(gm.SerializeToString()) == lm  # generated -> lean
        assert lean.FromString(lm.SerializeToString()) == lm
    # all defaults: nothing on the wire, either side
    assert lean().SerializeToString() == b"" == gen().SerializeToString()
    assert lean.FromString(b"") == lean()


def test_presence_of_submessages() -> None:
    c = w.Container(id="c1", spec=w.Any_(type_url="t", value=b"{}"))
    assert c.HasField("spec") and not c.HasField("runtime")
    g = cpb.Container.FromString(c.SerializeToString())
    assert g.HasField("spec") and not g.HasField("runtime")
    back = w.Container.FromString(cpb.Container(id="x", runtime=cpb.Container.Runtime()).SerializeToString())
    assert back.HasField("runtime") and not back.HasField("spec") and back.runtime.name == ""


def test_unknown_fields_are_skipped() -> None:
    full = tpb.DeleteResponse(id="c", pid=7, exit_status=3, exited_at={"seconds": 5}).SerializeToString()
    assert w.DeleteTaskRequest.FromString(full) == w.DeleteTaskRequest(container_id="c")  # fields 2-4 unknown there
    with pytest.raises(w.DecodeError):
        w.StartResponse.FromString(full)  # field 1 is a string there, a uint32 here: not skipped silently
    img = ipb.Image(name="n", labels={"a": "b"}).SerializeToString() + b"\xa8\x06\x05"  # field 101 varint
    assert w.Image.FromString(img).name == "n"


@pytest.mark.parametrize("bad", [b"\x0a\x05ab", b"\x08", b"\x08\xff", b"\x0b", b"\x00\x01", b"\x08" + b"\xff" * 11])
def test_malformed_input_raises(bad: bytes) -> None:
    with pytest.raises(w.DecodeError):
        w.StartRequest.FromString(bad)


def test_varints() -> None:
    for v in (0, 1, 127, 128, 300, 2**32 - 1, 2**63 - 1):
        assert w.decode_varint(w.encode_varint(v), 0) == (v, len(w.encode_varint(v)))
    assert len(w.encode_varint(-1)) == 10


def test_methods_name_real_rpcs() -> None:
    services = {d.full_name: d for m in (lpb, ipb, ctpb, spb, cpb, tpb) for d in m.DESCRIPTOR.services_by_name.values()}
    for path, (req, resp, streaming) in w.METHODS.items():
        svc, method = path.strip("/").split("/")
        md = services[svc].methods_by_name[method]
        assert md.server_streaming == streaming and not md.client_streaming, path
        pairs = dict(PAIRS)
        assert pairs[req].DESCRIPTOR.full_name == md.input_type.full_name, path
        assert pairs[resp].DESCRIPTOR.full_name == md.output_type.full_name, path
