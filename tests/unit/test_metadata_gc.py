"""Namespaced garbage collection over the metadata, the content store and a snapshotter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.content.store import ContentStore
from seabox.metadata.gc import Scheduler, collect_all, collect_namespace
from seabox.metadata.images import Image, Target
from seabox.metadata.leases import Resource
from seabox.metadata.store import MetadataStore
from seabox.snapshots.native import NativeSnapshotter

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[MetadataStore, ContentStore, dict[str, NativeSnapshotter]]]:
    meta = MetadataStore(tmp_path / "meta.db")
    store = ContentStore(tmp_path / "content")
    sn = NativeSnapshotter(tmp_path / "snap")
    try:
        yield meta, store, {"native": sn}
    finally:
        sn.close()
        meta.close()


def blob(meta: MetadataStore, store: ContentStore, ns: str, data: bytes, **labels: str) -> str:
    d = store.put(data)
    meta.content.add(ns, d, len(data), dict(labels))
    return d


def test_image_keeps_its_graph_and_the_rest_goes(world) -> None:  # type: ignore[no-untyped-def]
    meta, store, sns = world
    layer = blob(meta, store, "ns", b"layer")
    config = blob(meta, store, "ns", b"config", **{"containerd.io/gc.ref.snapshot.native": "chain"})
    manifest = blob(meta, store, "ns", b"manifest", **{"containerd.io/gc.ref.content.config": config,
                                                        "containerd.io/gc.ref.content.l.0": layer})
    loose = blob(meta, store, "ns", b"loose")
    sns["native"].prepare("ns/x", None)
    sns["native"].commit("ns/chain", "ns/x")
    sns["native"].prepare("ns/orphan", None)
    meta.images.create("ns", Image("img", Target(MANIFEST, manifest, 8)))
    report = collect_namespace(meta, store, sns, "ns")
    assert report.content == [("ns", loose)] and report.snapshots == [("ns", "native", "orphan")]
    assert not store.exists(loose) and store.exists(layer)
    assert [i.name for i in sns["native"].walk()] == ["ns/chain"]
    meta.images.delete("ns", "img")
    report = collect_namespace(meta, store, sns, "ns")
    assert {d for _, d in report.content} == {manifest, config, layer}
    assert list(sns["native"].walk()) == []


def test_namespaces_are_collected_apart(world) -> None:  # type: ignore[no-untyped-def]
    meta, store, sns = world
    d = blob(meta, store, "a", b"shared")
    blob(meta, store, "b", b"shared")
    meta.images.create("b", Image("keep", Target(MANIFEST, d, 6)))
    collect_all(meta, store, sns)
    assert not meta.content.has("a", d) and meta.content.has("b", d)
    assert store.exists(d)  # "b" still owns the bytes


def test_leases_roots_and_expiry(world) -> None:  # type: ignore[no-untyped-def]
    meta, store, sns = world
    held = blob(meta, store, "ns", b"held")
    rooted = blob(meta, store, "ns", b"rooted", **{"containerd.io/gc.root": "x"})
    lease = meta.leases.create("ns", "pull")
    meta.leases.add_resource("ns", lease.id, Resource(held, "content"))
    meta.leases.create("ns", "old", {"containerd.io/gc.expire": "2000-01-01T00:00:00Z"})
    expired = blob(meta, store, "ns", b"expired")
    meta.leases.add_resource("ns", "old", Resource(expired, "content"))
    report = collect_namespace(meta, store, sns, "ns")
    assert [d for _, d in report.content] == [expired]
    assert store.exists(held) and store.exists(rooted)
    meta.leases.delete("ns", "pull")
    assert [d for _, d in collect_namespace(meta, store, sns, "ns").content] == [held]


def test_dry_run_deletes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    meta, store, sns = world
    d = blob(meta, store, "ns", b"x")
    assert collect_namespace(meta, store, sns, "ns", dry_run=True).content == [("ns", d)]
    assert store.exists(d) and meta.content.has("ns", d)


def test_scheduler_sync_and_background(world) -> None:  # type: ignore[no-untyped-def]
    meta, store, sns = world
    gc = Scheduler(meta, store, sns, delay=0.01, threshold=2)
    gc.start()
    try:
        d = blob(meta, store, "ns", b"a")
        report = gc.schedule(sync=True)
        assert report is not None and report.content == [("ns", d)]
        d2 = blob(meta, store, "ns", b"b")
        assert gc.schedule() is None  # one deletion: below the threshold, nothing runs
        assert gc.passes == 1 and store.exists(d2)
        assert gc.schedule() is None  # the second sets off a background pass
        deadline = time.monotonic() + 30
        while store.exists(d2) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not store.exists(d2)
    finally:
        gc.stop()
