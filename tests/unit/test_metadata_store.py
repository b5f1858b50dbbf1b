"""The SQLite metadata layer: CRUD, field masks, namespace isolation, transactions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.metadata.containers import Container, TypedBlob
from seabox.metadata.filters import parse_all
from seabox.metadata.images import Image, Target
from seabox.metadata.leases import Resource
from seabox.metadata.store import MetadataStore

SPEC = TypedBlob("types.containerd.io/opencontainers/runtime-spec/1/Spec", b'{"ociVersion":"1.0.2"}')
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    s = MetadataStore(tmp_path / "meta.db")
    yield s  # type: ignore[misc]
    s.close()


def _container(id: str = "web", **kw: object) -> Container:
    return Container(id=id, spec=SPEC, runtime_name="io.containerd.runc.v2", **kw)  # type: ignore[arg-type]


def test_namespace_crud_and_labels(store: MetadataStore) -> None:
    store.namespaces.create("a", {"x": "1"})
    with pytest.raises(AlreadyExists, match='namespace "a": already exists'):
        store.namespaces.create("a")
    assert store.namespaces.get("a").labels == {"x": "1"}
    store.namespaces.update("a", {"y": "2"}, ["labels.y"])
    assert store.namespaces.get("a").labels == {"x": "1", "y": "2"}
    store.namespaces.update("a", {}, ["labels.x"])
    assert store.namespaces.get("a").labels == {"y": "2"}
    store.namespaces.update("a", {"z": "3"}, [])
    assert store.namespaces.get("a").labels == {"z": "3"}
    assert [n.name for n in store.namespaces.list()] == ["a"]
    store.namespaces.delete("a")
    with pytest.raises(NotFound, match='namespace "a": not found'):
        store.namespaces.get("a")


@pytest.mark.parametrize("bad", ["", "-a", "a..b", "a/b", "a b", "x" * 77, "ünï"])
def test_invalid_namespace_names(store: MetadataStore, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        store.namespaces.create(bad)


def test_delete_refuses_non_empty_namespace(store: MetadataStore) -> None:
    store.containers.create("busy", _container())
    store.images.create("busy", Image("docker.io/library/busybox:latest", Target("application/x", DIGEST, 10)))
    with pytest.raises(FailedPrecondition, match="still has images, containers"):
        store.namespaces.delete("busy")
    store.containers.delete("busy", "web")
    store.images.delete("busy", "docker.io/library/busybox:latest")
    store.namespaces.delete("busy")


def test_objects_create_their_namespace(store: MetadataStore) -> None:
    assert not store.namespaces.exists("implicit")
    store.leases.create("implicit", "l1")
    assert store.namespaces.exists("implicit")


def test_container_roundtrip_keeps_spec_verbatim(store: MetadataStore) -> None:
    ext = {"ext1": TypedBlob("example.com/Thing", b"\x00\x01binary")}
    created = store.containers.create(
        "ns", _container(labels={"app": "web"}, image="img", snapshotter="overlayfs", snapshot_key="web-snap",
                         runtime_options=TypedBlob("containerd.runc.v1.Options", b"\x08\x01"), extensions=ext)
    )
    got = store.containers.get("ns", "web")
    assert got == created
    assert got.spec == SPEC and got.extensions == ext
    assert got.created_at == got.updated_at > 0


def test_container_errors(store: MetadataStore) -> None:
    store.containers.create("ns", _container())
    with pytest.raises(AlreadyExists, match='container "web": already exists'):
        store.containers.create("ns", _container())
    with pytest.raises(InvalidArgument, match="spec must be set"):
        store.containers.create("ns", Container(id="nospec", runtime_name="r"))
    with pytest.raises(InvalidArgument, match="runtime name"):
        store.containers.create("ns", Container(id="norun", spec=SPEC))
    with pytest.raises(InvalidArgument):
        store.containers.create("ns", _container("bad/id"))
    with pytest.raises(NotFound, match='container "nope": not found'):
        store.containers.get("ns", "nope")
    with pytest.raises(NotFound):
        store.containers.delete("ns", "nope")


def test_container_update_field_masks(store: MetadataStore) -> None:
    store.containers.create("ns", _container(labels={"a": "1", "b": "2"}, image="old"))
    new_spec = TypedBlob(SPEC.type_url, b'{"ociVersion":"1.1.0"}')
    given = _container(labels={"c": "3"}, image="new")
    given.spec = new_spec
    got = store.containers.update("ns", given, ["labels.c", "labels.a"])
    assert got.labels == {"b": "2", "c": "3"} and got.image == "old" and got.spec == SPEC
    got = store.containers.update("ns", given, ["image", "spec"])
    assert got.image == "new" and got.spec == new_spec and got.labels == {"b": "2", "c": "3"}
    assert got.updated_at > got.created_at
    with pytest.raises(InvalidArgument, match='cannot update field "runtime"'):
        store.containers.update("ns", given, ["runtime"])
    other = _container()
    other.runtime_name = "io.other"
    with pytest.raises(InvalidArgument, match="runtime is immutable"):
        store.containers.update("ns", other, [])


def test_namespace_isolation(store: MetadataStore) -> None:
    store.containers.create("a", _container("web", labels={"ns": "a"}))
    store.containers.create("b", _container("web", labels={"ns": "b"}))
    assert store.containers.get("a", "web").labels == {"ns": "a"}
    assert store.containers.get("b", "web").labels == {"ns": "b"}
    store.containers.delete("a", "web")
    assert [c.id for c in store.containers.list("a")] == []
    assert [c.id for c in store.containers.list("b")] == ["web"]
    assert store.containers.list("never-used") == []
    store.leases.create("a", "l")
    with pytest.raises(NotFound):
        store.leases.list_resources("b", "l")


def test_container_list_filters(store: MetadataStore) -> None:
    store.containers.create("ns", _container("a1", labels={"app": "web", "tier": "front"}, image="nginx"))
    store.containers.create("ns", _container("a2", labels={"app": "db"}, image="postgres"))
    store.containers.create("ns", _container("b1", image="nginx"))

    def ids(*filters: str) -> list[str]:
        return [c.id for c in store.containers.list("ns", parse_all(list(filters)))]

    assert ids() == ["a1", "a2", "b1"]
    assert ids("labels.app==web") == ["a1"]
    assert ids("labels.app") == ["a1", "a2"]
    assert ids("image==nginx") == ["a1", "b1"]
    assert ids("image==nginx,labels.tier==front") == ["a1"]
    assert ids("id==a2", "id==b1") == ["a2", "b1"]
    assert ids("id~=^a") == ["a1", "a2"]
    assert ids("labels.app!=web") == ["a2", "b1"]
    assert ids('runtime.name=="io.containerd.runc.v2",id==b1') == ["b1"]


def test_images_crud_and_masks(store: MetadataStore) -> None:
    img = Image("docker.io/library/busybox:latest", Target("application/vnd.oci.image.index.v1+json", DIGEST, 123),
                labels={"k": "v"})
    store.images.create("ns", img)
    with pytest.raises(AlreadyExists):
        store.images.create("ns", img)
    with pytest.raises(InvalidArgument, match="not a valid digest"):
        store.images.create("ns", Image("x", Target("m", "nope", 1)))
    with pytest.raises(InvalidArgument, match="media type"):
        store.images.create("ns", Image("x", Target("", DIGEST, 1)))
    got = store.images.get("ns", img.name)
    assert got.target == img.target and got.labels == {"k": "v"}
    other = "sha256:" + "cd" * 32
    upd = store.images.update("ns", Image(img.name, Target("application/x", other, 5), {"n": "1"}), ["labels.n"])
    assert upd.target.digest == DIGEST and upd.labels == {"k": "v", "n": "1"}
    upd = store.images.update("ns", Image(img.name, Target("application/x", other, 5)), ["target"])
    assert upd.target.digest == other
    assert [i.name for i in store.images.list("ns", parse_all([f"target.digest=={other}"]))] == [img.name]
    store.images.delete("ns", img.name)
    with pytest.raises(NotFound, match="image"):
        store.images.get("ns", img.name)


def test_leases_and_resources(store: MetadataStore) -> None:
    lease = store.leases.create("ns", "", {"containerd.io/gc.expire": "2030-01-01T00:00:00Z"})
    assert lease.id and lease.created_at > 0
    with pytest.raises(AlreadyExists):
        store.leases.create("ns", lease.id)
    store.leases.add_resource("ns", lease.id, Resource(DIGEST, "content"))
    store.leases.add_resource("ns", lease.id, Resource("snap1", "snapshots/overlayfs"))
    store.leases.add_resource("ns", lease.id, Resource("snap1", "snapshots/overlayfs"))  # idempotent
    with pytest.raises(InvalidArgument, match="unsupported resource type"):
        store.leases.add_resource("ns", lease.id, Resource("x", "bogus"))
    assert store.leases.list_resources("ns", lease.id) == [
        Resource(DIGEST, "content"), Resource("snap1", "snapshots/overlayfs"),
    ]
    store.leases.delete_resource("ns", lease.id, Resource(DIGEST, "content"))
    assert len(store.leases.list_resources("ns", lease.id)) == 1
    assert [x.id for x in store.leases.list("ns")] == [lease.id]
    store.leases.delete("ns", lease.id)
    assert store.leases.list("ns") == []
    with pytest.raises(NotFound):
        store.leases.delete("ns", lease.id)


def test_failed_transaction_rolls_back(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), store.db.write() as tx:
        tx.execute("INSERT INTO namespaces (name, created_at) VALUES ('ghost', 1)")
        raise RuntimeError("boom")
    assert not store.namespaces.exists("ghost")


def test_persists_across_reopen_and_keeps_uuid(tmp_path: Path) -> None:
    s = MetadataStore(tmp_path / "m.db")
    s.containers.create("ns", _container())
    u = s.server_uuid()
    s.close()
    s = MetadataStore(tmp_path / "m.db")
    try:
        assert s.containers.get("ns", "web").spec == SPEC
        assert s.server_uuid() == u
    finally:
        s.close()


def test_concurrent_writers_do_not_collide(store: MetadataStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                store.containers.create("ns", _container(f"c{n}-{i}"))
                store.containers.list("ns")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.containers.list("ns")) == 80


def test_blob_ownership_per_namespace(store: MetadataStore) -> None:
    store.content.add("a", DIGEST, 10, {"containerd.io/gc.ref.content.l.0": "sha256:" + "1" * 64})
    store.content.add("b", DIGEST, 10)
    assert store.content.get("a", DIGEST).labels == {"containerd.io/gc.ref.content.l.0": "sha256:" + "1" * 64}
    assert store.content.get("b", DIGEST).labels == {}
    upd = store.content.update("b", DIGEST, {"x": "1"}, ["labels.x"])
    assert upd.labels == {"x": "1"} and upd.updated_at >= upd.created_at
    assert [b.digest for b in store.content.list("a")] == [DIGEST]
    with pytest.raises(FailedPrecondition, match="blobs"):
        store.namespaces.delete("a")
    assert store.content.delete("a", DIGEST) is False  # "b" still owns it
    assert store.content.delete("b", DIGEST) is True
    with pytest.raises(NotFound, match="content"):
        store.content.get("b", DIGEST)


def test_lease_ids_accept_containerd_random_ids(store: MetadataStore) -> None:
    for id in ("225573434-BjU-", "1-_a_-", "x", "/tmp/mnt"):
        store.leases.create("ns", id)
    for bad in ("tab\there", "x" * 4097):
        with pytest.raises(InvalidArgument):
            store.leases.create("ns", bad)
