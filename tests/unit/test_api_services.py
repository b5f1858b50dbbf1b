"""seaboxd's containerd services over a real gRPC unix socket, driven with the generated stubs.

The daemon runs in-process (no root needed) in temp dirs; each test talks to it as a
containerd client would: the namespace in the ``containerd-namespace`` header, errors as
gRPC status codes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, empty_pb2, field_mask_pb2

from seabox.api.gen.containerd.api.events import namespace_pb2 as ns_events
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as cpb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2_grpc as cgrpc
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2 as epb
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2_grpc as egrpc
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2 as ipb
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2_grpc as igrpc
from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2 as inpb
from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2_grpc as ingrpc
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as lpb
from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2_grpc as lgrpc
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2 as npb
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as ngrpc
from seabox.api.gen.containerd.api.services.version.v1 import version_pb2_grpc as vgrpc
from seabox.api.gen.containerd.api.types import descriptor_pb2
from seabox.daemon.config import Config, GRPCConfig
from seabox.daemon.server import Daemon

SPEC = any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec", value=b'{"ociVersion":"1.0.2"}')


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 grpc=GRPCConfig(address=str(tmp_path / "s.sock"), max_workers=8))
    d = Daemon(cfg)
    d.start()
    ch = grpc.insecure_channel(f"unix:{tmp_path / 's.sock'}")
    try:
        yield ch
    finally:
        ch.close()
        d.stop()
    assert not (tmp_path / "s.sock").exists()


def md(ns: str = "default") -> list[tuple[str, str]]:
    return [("containerd-namespace", ns)]


def code_of(fn, *args, **kw) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, **kw)
    return e.value.code()  # type: ignore[no-any-return]


def test_socket_mode(tmp_path: Path, channel: grpc.Channel) -> None:
    assert (tmp_path / "s.sock").stat().st_mode & 0o777 == 0o660


def test_version_and_uuid(channel: grpc.Channel) -> None:
    import seabox

    v = vgrpc.VersionStub(channel).Version(empty_pb2.Empty())
    assert v.version == seabox.__version__
    uuid = ingrpc.IntrospectionStub(channel).Server(empty_pb2.Empty()).uuid
    assert len(uuid) == 36


def test_namespace_header_required_and_validated(channel: grpc.Channel) -> None:
    c = cgrpc.ContainersStub(channel)
    with pytest.raises(grpc.RpcError) as e:
        c.List(cpb.ListContainersRequest())
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "namespace is required: failed precondition"
    assert code_of(c.List, cpb.ListContainersRequest(), metadata=md("bad name")) == grpc.StatusCode.INVALID_ARGUMENT
    assert list(c.List(cpb.ListContainersRequest(), metadata=md("unknown")).containers) == []


def test_namespaces_service(channel: grpc.Channel) -> None:
    n = ngrpc.NamespacesStub(channel)
    n.Create(npb.CreateNamespaceRequest(namespace=npb.Namespace(name="x", labels={"a": "b"})))
    assert code_of(n.Create, npb.CreateNamespaceRequest(namespace=npb.Namespace(name="x"))) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(n.Create, npb.CreateNamespaceRequest(namespace=npb.Namespace(name="x/y"))) == grpc.StatusCode.INVALID_ARGUMENT
    upd = n.Update(npb.UpdateNamespaceRequest(namespace=npb.Namespace(name="x", labels={"c": "d"}),
                                              update_mask=field_mask_pb2.FieldMask(paths=["labels.c"])))
    assert dict(upd.namespace.labels) == {"a": "b", "c": "d"}
    assert [x.name for x in n.List(npb.ListNamespacesRequest()).namespaces] == ["x"]
    cgrpc.ContainersStub(channel).Create(
        cpb.CreateContainerRequest(container=cpb.Container(id="c", spec=SPEC, runtime=cpb.Container.Runtime(name="r"))),
        metadata=md("x"),
    )
    with pytest.raises(grpc.RpcError) as e:
        n.Delete(npb.DeleteNamespaceRequest(name="x"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "containers" in (e.value.details() or "")
    cgrpc.ContainersStub(channel).Delete(cpb.DeleteContainerRequest(id="c"), metadata=md("x"))
    n.Delete(npb.DeleteNamespaceRequest(name="x"))
    assert code_of(n.Get, npb.GetNamespaceRequest(name="x")) == grpc.StatusCode.NOT_FOUND


def test_containers_service(channel: grpc.Channel) -> None:
    c = cgrpc.ContainersStub(channel)
    opts = any_pb2.Any(type_url="containerd.runc.v1.Options", value=b"\x08\x01")
    req = cpb.Container(id="web", image="docker.io/library/busybox:latest", labels={"app": "web"}, spec=SPEC,
                        runtime=cpb.Container.Runtime(name="io.containerd.runc.v2", options=opts),
                        snapshotter="overlayfs", snapshot_key="web")
    req.extensions["e"].CopyFrom(any_pb2.Any(type_url="x/y", value=b"\x00\xff"))
    created = c.Create(cpb.CreateContainerRequest(container=req), metadata=md()).container
    assert created.created_at.seconds > 0
    got = c.Get(cpb.GetContainerRequest(id="web"), metadata=md()).container
    assert got.spec == SPEC and got.runtime.options == opts and got.extensions["e"].value == b"\x00\xff"
    assert got.snapshot_key == "web" and dict(got.labels) == {"app": "web"}
    assert code_of(c.Create, cpb.CreateContainerRequest(container=req), metadata=md()) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(c.Get, cpb.GetContainerRequest(id="nope"), metadata=md()) == grpc.StatusCode.NOT_FOUND
    bad = cpb.Container(id="nospec", runtime=cpb.Container.Runtime(name="r"))
    assert code_of(c.Create, cpb.CreateContainerRequest(container=bad), metadata=md()) == grpc.StatusCode.INVALID_ARGUMENT
    upd = c.Update(cpb.UpdateContainerRequest(container=cpb.Container(id="web", labels={"x": "1"}),
                                             update_mask=field_mask_pb2.FieldMask(paths=["labels.x"])), metadata=md())
    assert dict(upd.container.labels) == {"app": "web", "x": "1"} and upd.container.spec == SPEC
    listed = c.List(cpb.ListContainersRequest(filters=["labels.x==1"]), metadata=md()).containers
    assert [x.id for x in listed] == ["web"]
    streamed = [m.container.id for m in c.ListStream(cpb.ListContainersRequest(), metadata=md())]
    assert streamed == ["web"]
    assert list(c.List(cpb.ListContainersRequest(), metadata=md("other")).containers) == []
    c.Delete(cpb.DeleteContainerRequest(id="web"), metadata=md())
    assert code_of(c.Delete, cpb.DeleteContainerRequest(id="web"), metadata=md()) == grpc.StatusCode.NOT_FOUND


def test_images_service(channel: grpc.Channel) -> None:
    i = igrpc.ImagesStub(channel)
    target = descriptor_pb2.Descriptor(media_type="application/vnd.oci.image.manifest.v1+json",
                                       digest="sha256:" + "0" * 64, size=7)
    i.Create(ipb.CreateImageRequest(image=ipb.Image(name="example.com/a:1", target=target)), metadata=md())
    got = i.Get(ipb.GetImageRequest(name="example.com/a:1"), metadata=md()).image
    assert got.target == target
    i.Update(ipb.UpdateImageRequest(image=ipb.Image(name="example.com/a:1", labels={"k": "v"}),
                                    update_mask=field_mask_pb2.FieldMask(paths=["labels"])), metadata=md())
    assert dict(i.Get(ipb.GetImageRequest(name="example.com/a:1"), metadata=md()).image.labels) == {"k": "v"}
    assert [x.name for x in i.List(ipb.ListImagesRequest(), metadata=md()).images] == ["example.com/a:1"]
    i.Delete(ipb.DeleteImageRequest(name="example.com/a:1"), metadata=md())
    assert code_of(i.Get, ipb.GetImageRequest(name="example.com/a:1"), metadata=md()) == grpc.StatusCode.NOT_FOUND


def test_leases_service(channel: grpc.Channel) -> None:
    stub = lgrpc.LeasesStub(channel)
    lease = stub.Create(lpb.CreateRequest(id="l1", labels={"a": "b"}), metadata=md()).lease
    assert lease.id == "l1" and lease.created_at.seconds > 0
    stub.AddResource(lpb.AddResourceRequest(id="l1", resource=lpb.Resource(id="k", type="snapshots/overlayfs")),
                     metadata=md())
    res = stub.ListResources(lpb.ListResourcesRequest(id="l1"), metadata=md()).resources
    assert [(r.id, r.type) for r in res] == [("k", "snapshots/overlayfs")]
    stub.DeleteResource(lpb.DeleteResourceRequest(id="l1", resource=lpb.Resource(id="k", type="snapshots/overlayfs")),
                        metadata=md())
    assert [x.id for x in stub.List(lpb.ListRequest(), metadata=md()).leases] == ["l1"]
    stub.Delete(lpb.DeleteRequest(id="l1"), metadata=md())
    assert code_of(stub.Delete, lpb.DeleteRequest(id="l1"), metadata=md()) == grpc.StatusCode.NOT_FOUND


def test_introspection_plugins(channel: grpc.Channel) -> None:
    stub = ingrpc.IntrospectionStub(channel)
    ids = {(p.type, p.id) for p in stub.Plugins(inpb.PluginsRequest()).plugins}
    for svc in ("containers", "events", "images", "introspection", "leases", "namespaces", "version"):
        assert ("io.containerd.grpc.v1", svc) in ids
    only = stub.Plugins(inpb.PluginsRequest(filters=["id==leases"])).plugins
    assert [p.id for p in only] == ["leases"]


def test_events_publish_and_subscribe(channel: grpc.Channel) -> None:
    ev = egrpc.EventsStub(channel)
    stream = ev.Subscribe(epb.SubscribeRequest(filters=['topic=="/namespaces/create"', "topic==/test/one"]))
    got: list[epb.Envelope] = []
    done = threading.Event()

    def read() -> None:
        try:
            for env in stream:
                got.append(env)
                if env.topic == "/namespaces/create":
                    break
        except grpc.RpcError:
            pass
        done.set()

    t = threading.Thread(target=read)
    t.start()
    # wait until the subscription is registered: publish probes until one arrives
    payload = any_pb2.Any(type_url="example.Test", value=b"hi")
    for _ in range(100):
        ev.Publish(epb.PublishRequest(topic="/test/one", event=payload), metadata=md("pub"))
        if got or done.wait(0.05):
            break
    ngrpc.NamespacesStub(channel).Create(npb.CreateNamespaceRequest(namespace=npb.Namespace(name="fresh")))
    done.wait(10)
    stream.cancel()
    t.join(10)
    assert got[0].topic == "/test/one" and got[0].namespace == "pub" and got[0].event == payload
    created = [e for e in got if e.topic == "/namespaces/create"]
    assert created and created[0].namespace == "fresh"
    assert created[0].event.type_url == "containerd.events.NamespaceCreate"
    msg = ns_events.NamespaceCreate()
    msg.ParseFromString(created[0].event.value)
    assert msg.name == "fresh"
    assert code_of(ev.Publish, epb.PublishRequest(topic="no-slash", event=payload), metadata=md()) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(ev.Publish, epb.PublishRequest(topic="/x", event=payload)) == grpc.StatusCode.FAILED_PRECONDITION


def test_unexpected_errors_are_internal_and_the_daemon_keeps_serving(
    channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seabox.metadata.namespaces import NamespaceStore

    def boom(self: NamespaceStore) -> list[object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(NamespaceStore, "list", boom)
    n = ngrpc.NamespacesStub(channel)
    with pytest.raises(grpc.RpcError) as e:
        n.List(npb.ListNamespacesRequest())
    assert e.value.code() == grpc.StatusCode.INTERNAL and "disk on fire" in (e.value.details() or "")
    monkeypatch.undo()
    assert list(n.List(npb.ListNamespacesRequest()).namespaces) == []


@pytest.mark.parametrize(
    "filters",
    [['labels.a=="unterminated'], ["id~=/(/"], ["==x"]],
)
def test_bad_filters_are_invalid_argument(channel: grpc.Channel, filters: list[str]) -> None:
    c = cgrpc.ContainersStub(channel)
    assert code_of(c.List, cpb.ListContainersRequest(filters=filters), metadata=md()) == grpc.StatusCode.INVALID_ARGUMENT
    ev = egrpc.EventsStub(channel)
    stream = ev.Subscribe(epb.SubscribeRequest(filters=filters))
    with pytest.raises(grpc.RpcError) as e:
        next(iter(stream))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_field_masks_and_labels(channel: grpc.Channel) -> None:
    c = cgrpc.ContainersStub(channel)
    c.Create(cpb.CreateContainerRequest(container=cpb.Container(id="m", spec=SPEC,
                                                                runtime=cpb.Container.Runtime(name="r"))),
             metadata=md())
    bad_mask = cpb.UpdateContainerRequest(container=cpb.Container(id="m"),
                                          update_mask=field_mask_pb2.FieldMask(paths=["snapshotter"]))
    assert code_of(c.Update, bad_mask, metadata=md()) == grpc.StatusCode.INVALID_ARGUMENT
    huge = cpb.UpdateContainerRequest(container=cpb.Container(id="m", labels={"k": "v" * 5000}),
                                      update_mask=field_mask_pb2.FieldMask(paths=["labels.k"]))
    assert code_of(c.Update, huge, metadata=md()) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(c.Update, cpb.UpdateContainerRequest(container=cpb.Container(id="absent")), metadata=md()) == (
        grpc.StatusCode.NOT_FOUND
    )


def test_event_field_filters(channel: grpc.Channel) -> None:
    ev = egrpc.EventsStub(channel)
    stream = ev.Subscribe(epb.SubscribeRequest(filters=["event.name==wanted", "topic==/probe"]))
    got: list[epb.Envelope] = []
    live = threading.Event()

    def read() -> None:
        try:
            for env in stream:
                if env.topic == "/probe":
                    live.set()
                    continue
                got.append(env)
                break
        except grpc.RpcError:
            pass

    t = threading.Thread(target=read)
    t.start()
    probe = any_pb2.Any(type_url="example.Probe", value=b"")
    for _ in range(200):  # publish probes until the subscription is live
        ev.Publish(epb.PublishRequest(topic="/probe", event=probe), metadata=md())
        if live.wait(0.05):
            break
    n = ngrpc.NamespacesStub(channel)
    n.Create(npb.CreateNamespaceRequest(namespace=npb.Namespace(name="other")))
    n.Create(npb.CreateNamespaceRequest(namespace=npb.Namespace(name="wanted")))
    t.join(10)
    stream.cancel()
    t.join(10)
    assert live.is_set()
    assert [(e.namespace, e.topic) for e in got] == [("wanted", "/namespaces/create")]


def test_stop_is_bounded_when_a_handler_never_returns(tmp_path: Path) -> None:
    from seabox.metadata.namespaces import NamespaceStore

    release = threading.Event()
    entered = threading.Event()
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 grpc=GRPCConfig(address=str(tmp_path / "s.sock"), max_workers=4))
    d = Daemon(cfg)
    d.start()
    original = NamespaceStore.list

    def hang(self: NamespaceStore) -> list[object]:
        entered.set()
        release.wait(60)  # a handler that ignores cancellation, e.g. a wait on a stuck task
        return []

    NamespaceStore.list = hang  # type: ignore[method-assign, assignment]
    ch = grpc.insecure_channel(f"unix:{tmp_path / 's.sock'}")
    try:
        fut = ngrpc.NamespacesStub(ch).List.future(npb.ListNamespacesRequest())
        assert entered.wait(30)
        d.stop(grace=0.2)
        assert d.stuck
        assert not (tmp_path / "s.sock").exists()
        fut.cancel()
    finally:
        release.set()
        NamespaceStore.list = original  # type: ignore[method-assign]
        ch.close()
