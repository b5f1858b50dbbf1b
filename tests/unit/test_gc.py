"""GC: the mark phase on plain data, then sweeps over a real content store and native snapshotter."""

from seabox.content import ContentStore
from seabox.images.gc import ContainerRef, Lease, Node, SnapshotRec, collect, lease_from, parse_expire, run
from seabox.snapshots.native import NativeSnapshotter

D = {n: "sha256:" + (c * 64) for n, c in
     [("index", "1"), ("m1", "2"), ("m2", "3"), ("cfg", "4"), ("l1", "5"), ("l2", "6"), ("orphan", "7"),
      ("leased", "8"), ("rooted", "9")]}
CFG = "containerd.io/gc.ref.content.config"
SNAP = "containerd.io/gc.ref.snapshot.overlayfs"


def content_graph():
    return {
        D["index"]: {"containerd.io/gc.ref.content.m.0": D["m1"], "containerd.io/gc.ref.content.m.1": D["m2"]},
        D["m1"]: {CFG: D["cfg"], "containerd.io/gc.ref.content.l.0": D["l1"],
                  "containerd.io/gc.ref.content.l.1": D["l2"]},
        D["m2"]: {},
        D["cfg"]: {SNAP: "chain2"},
        D["l1"]: {}, D["l2"]: {}, D["orphan"]: {}, D["leased"]: {},
        D["rooted"]: {"containerd.io/gc.root": "2026-01-01T00:00:00Z"},
    }


def snapshot_graph():
    return {"overlayfs": {
        "chain1": SnapshotRec(None), "chain2": SnapshotRec("chain1"),
        "ctr-rw": SnapshotRec("chain2"), "stale-1": SnapshotRec(None), "stale-2": SnapshotRec("stale-1"),
        "stale-3": SnapshotRec("stale-2"), "by-label": SnapshotRec(None, {"containerd.io/gc.root": "x"}),
    }, "native": {"chain1": SnapshotRec(None)}}


def test_mark_from_image_index():
    res = collect(images={"docker.io/library/busybox:latest": D["index"]}, content=content_graph(),
                  snapshots=snapshot_graph(), now=1000.0)
    assert res.content == sorted([D["orphan"], D["leased"]])
    # the config's snapshot label keeps the whole chain; the container-less rw snapshot goes;
    # stale snapshots go leaf first; the other snapshotter's same-named key is separate
    assert set(res.snapshots) == {("overlayfs", "ctr-rw"), ("overlayfs", "stale-1"), ("overlayfs", "stale-2"),
                                  ("overlayfs", "stale-3"), ("native", "chain1")}
    s = res.snapshots
    assert s.index(("overlayfs", "stale-3")) < s.index(("overlayfs", "stale-2")) < s.index(("overlayfs", "stale-1"))
    assert Node("snapshot", "chain1", "overlayfs") in res.marked


def test_containers_and_leases_are_roots():
    leases = [Lease("pull-1", expires_at=2000.0, content={D["leased"]}, snapshots={("overlayfs", "stale-1")}),
              Lease("old", expires_at=10.0, content={D["orphan"]})]
    res = collect(images={}, content=content_graph(), snapshots=snapshot_graph(),
                  containers=[ContainerRef("web", "overlayfs", "ctr-rw")], leases=leases, now=1000.0)
    assert D["leased"] not in res.content and D["orphan"] in res.content  # expired lease protects nothing
    assert ("overlayfs", "ctr-rw") not in res.snapshots and ("overlayfs", "chain1") not in res.snapshots
    assert ("overlayfs", "stale-1") not in res.snapshots and ("overlayfs", "stale-2") in res.snapshots
    assert D["index"] in res.content  # no image references it any more
    assert D["rooted"] not in res.content


def test_stale_ingests():
    res = collect(images={}, content={}, snapshots={}, ingests={"fresh": 99_000.0, "stale": 0.0, "leased": 0.0},
                  leases=[Lease("l", ingests={"leased"})], now=100_000.0)
    assert res.ingests == ["stale"]


def put(store, data: bytes, labels=None):
    return store.put(data, labels=labels)


def test_lease_protects_in_flight_pull(tmp_path):
    store = ContentStore(tmp_path / "content")
    snaps = NativeSnapshotter(tmp_path / "native")
    try:
        # an in-flight pull: layer and config are in, the manifest and image record are not yet
        layer = put(store, b"layer bytes")
        config = put(store, b'{"config": 1}')
        ingest = store.writer("pull-manifest")
        ingest.write(b'{"partial')
        ingest.close()
        lease = Lease("pull-lease", expires_at=10_000.0, content={layer, config}, ingests={"pull-manifest"})
        res = run(store, {"native": snaps}, images={}, leases=[lease], now=5_000.0 + 10**9)
        # lease expired at this "now": everything goes (the ingest because it is older than a day)
        assert res.content == sorted([layer, config])
        assert not store.exists(layer)

        layer = put(store, b"layer bytes")
        config = put(store, b'{"config": 1}')
        ingest = store.writer("pull-manifest")
        ingest.write(b'{"partial')
        ingest.close()
        res = run(store, {"native": snaps}, images={}, leases=[lease], now=5_000.0)
        assert res.content == [] and res.errors == []
        assert store.exists(layer) and store.exists(config) and store.statuses()[0].ref == "pull-manifest"

        # the pull finishes: a manifest referencing them, an image record, the lease is released
        manifest = put(store, b'{"manifest": 1}', labels={CFG: config, "containerd.io/gc.ref.content.l.0": layer})
        res = run(store, {"native": snaps}, images={"img:1": manifest}, leases=[], now=5_000.0)
        assert res.content == [] and store.exists(layer)
        # the image is removed: all three go
        res = run(store, {"native": snaps}, images={}, now=5_000.0)
        assert sorted(res.content) == sorted([manifest, config, layer])
        assert store.list() == []
    finally:
        snaps.close()


def test_sweep_snapshots_leaf_first(tmp_path):
    store = ContentStore(tmp_path / "content")
    snaps = NativeSnapshotter(tmp_path / "native")
    try:
        parent = None
        for i in range(4):
            snaps.prepare(f"a{i}", parent)
            (snaps.path_of(f"a{i}") / f"f{i}").write_text("x")
            snaps.commit(f"c{i}", f"a{i}")
            parent = f"c{i}"
        cfg = put(store, b"cfg", labels={"containerd.io/gc.ref.snapshot.native": "c1"})
        snaps.prepare("rw", "c3")
        res = run(store, {"native": snaps}, images={"x:1": cfg})
        assert res.errors == []
        assert [k for _, k in res.snapshots] == ["rw", "c3", "c2"]
        assert sorted(i.name for i in snaps.walk()) == ["c0", "c1"]
        res = run(store, {"native": snaps}, images={})
        assert list(snaps.walk()) == [] and store.list() == [] and res.errors == []
    finally:
        snaps.close()


def test_lease_from_containerd_labels_and_resources():
    lease = lease_from("l1", {"containerd.io/gc.expire": "2026-11-25T18:00:00.123456789Z"},
                       [("content", D["l1"]), ("snapshots/overlayfs", "extract-1"), ("ingests", "pull-x"),
                        ("unknown", "z")])
    assert lease.expires_at == parse_expire("2026-11-25T18:00:00.123456Z")
    assert lease.expires_at is not None and abs(lease.expires_at - 1795629600.123456) < 1e-3
    assert lease.content == {D["l1"]} and lease.snapshots == {("overlayfs", "extract-1")}
    assert lease.ingests == {"pull-x"}
    assert parse_expire("garbage") is None and lease_from("x", {}, []).expires_at is None
