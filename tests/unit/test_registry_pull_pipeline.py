"""The pull pipeline's unpack ordering and checks, on in-memory fakes (no registry, no root)."""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from seabox import errdefs
from seabox.images.pull import ProgressEvent, decompressor, unpack
from seabox.images.registry.testing import make_tar
from seabox.oci import image as oci


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class FakeStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.labels: dict[str, dict[str, str]] = {}

    def exists(self, digest: str) -> bool:
        return digest in self.blobs

    def open(self, digest: str) -> BinaryIO:
        return io.BytesIO(self.blobs[digest])

    def writer(self, ref: str, *, expected: str | None = None, total: int | None = None) -> Any:
        raise NotImplementedError

    def update_labels(self, digest: str, labels: dict[str, str | None]) -> None:
        self.labels.setdefault(digest, {}).update({k: v for k, v in labels.items() if v is not None})


class FakeSnapshotter:
    name = "fake"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.active: dict[str, str | None] = {}
        self.committed: dict[str, str | None] = {}
        self.log: list[str] = []

    def stat(self, key: str) -> Any:
        if key not in self.committed:
            raise errdefs.NotFound(key)
        return key

    def prepare(self, key: str, parent: str | None, labels: dict | None = None) -> list[Any]:
        assert parent is None or parent in self.committed, "parent must be committed first"
        self.active[key] = parent
        (self.root / key).mkdir(parents=True)
        self.log.append(f"prepare {key.rsplit('-', 1)[1][:12]} parent={parent and parent[:12]}")
        return []

    def path_of(self, key: str) -> Path:
        return self.root / key

    def commit(self, name: str, key: str, labels: dict | None = None) -> None:
        self.committed[name] = self.active.pop(key)
        self.log.append(f"commit {name[:12]}")

    def remove(self, key: str) -> None:
        self.active.pop(key, None)
        self.log.append(f"remove {key[:8]}")


def image(layers: list[bytes], compression: str = "gzip") -> tuple[FakeStore, oci.Manifest, oci.ImageConfig]:
    store = FakeStore()
    descs, diffs = [], []
    for raw in layers:
        blob = gzip.compress(raw) if compression == "gzip" else raw
        store.blobs[sha(blob)] = blob
        mt = oci.OCI_LAYER_GZIP if compression == "gzip" else oci.OCI_LAYER
        descs.append(oci.Descriptor(mt, sha(blob), len(blob)))
        diffs.append(sha(raw))
    m = oci.Manifest(oci.OCI_MANIFEST, oci.Descriptor(oci.OCI_CONFIG, "sha256:" + "0" * 64, 1), tuple(descs))
    cfg = oci.parse_config({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}})
    return store, m, cfg


def test_layers_applied_in_order_each_after_its_download(tmp_path: Path) -> None:
    raws = [make_tar({f"f{i}": bytes([i]) * 100}) for i in range(4)]
    store, m, cfg = image(raws)
    snap = FakeSnapshotter(tmp_path)
    applied: list[bytes] = []
    waited: list[int] = []
    gates = [threading.Event() for _ in raws]

    def wait_layer(i: int) -> None:
        waited.append(i)
        assert gates[i].wait(5)

    def fake_apply(stream: BinaryIO, target: Path, *, overlay_whiteouts: bool) -> None:
        data = stream.read()
        assert len(waited) == len(applied) + 1  # only layer n's download was awaited before applying n
        applied.append(data)
        (target / "applied").write_bytes(data)

    # downloads complete out of order: 2, 0, 3, 1
    def release() -> None:
        for i in (2, 0, 3, 1):
            gates[i].set()

    t = threading.Thread(target=release)
    t.start()
    events: list[ProgressEvent] = []
    top = unpack(m, cfg, store=store, snapshotter=snap, wait_layer=wait_layer, apply_layer=fake_apply,
                 progress=events.append)  # fmt: skip
    t.join()
    chains = oci.chain_ids(cfg.diff_ids)
    assert top == chains[-1]
    assert applied == raws
    assert waited == [0, 1, 2, 3]
    assert list(snap.committed) == chains
    assert snap.committed[chains[2]] == chains[1]
    assert [e.kind for e in events] == ["extracting", "done"] * 4
    assert store.labels[m.layers[1].digest]["containerd.io/uncompressed"] == cfg.diff_ids[1]


def test_existing_chain_is_not_unpacked_again(tmp_path: Path) -> None:
    store, m, cfg = image([make_tar({"a": b"1"}), make_tar({"b": b"2"}), make_tar({"c": b"3"})])
    chains = oci.chain_ids(cfg.diff_ids)
    snap = FakeSnapshotter(tmp_path)
    snap.committed = {chains[0]: None, chains[1]: chains[0]}
    applied: list[int] = []
    events: list[ProgressEvent] = []
    unpack(m, cfg, store=store, snapshotter=snap, apply_layer=lambda s, t, **k: applied.append(len(s.read())),
           progress=events.append)  # fmt: skip
    assert len(applied) == 1
    assert [e.kind for e in events] == ["already-exists", "already-exists", "extracting", "done"]


def test_diff_id_mismatch_removes_the_active_snapshot(tmp_path: Path) -> None:
    store, m, _ = image([make_tar({"a": b"1"})])
    bad = oci.parse_config({"architecture": "amd64", "os": "linux",
                            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "f" * 64]}})  # fmt: skip
    snap = FakeSnapshotter(tmp_path)
    with pytest.raises(errdefs.FailedPrecondition, match="diff ID mismatch"):
        unpack(m, bad, store=store, snapshotter=snap, apply_layer=lambda s, t, **k: s.read(10))
    assert not snap.committed and not snap.active
    assert snap.log[-1].startswith("remove")


def test_diff_id_covers_bytes_the_applier_did_not_read(tmp_path: Path) -> None:
    store, m, cfg = image([make_tar({"a": b"x" * 5000})], compression="")
    snap = FakeSnapshotter(tmp_path)
    unpack(m, cfg, store=store, snapshotter=snap, apply_layer=lambda s, t, **k: s.read(512))
    assert list(snap.committed) == oci.chain_ids(cfg.diff_ids)


def test_layer_count_mismatch(tmp_path: Path) -> None:
    store, m, cfg = image([make_tar({"a": b"1"}), make_tar({"b": b"2"})])
    one = oci.parse_config({"architecture": "amd64", "os": "linux",
                            "rootfs": {"type": "layers", "diff_ids": [cfg.diff_ids[0]]}})  # fmt: skip
    with pytest.raises(errdefs.InvalidArgument, match="1 diff IDs for 2 layers"):
        unpack(m, one, store=store, snapshotter=FakeSnapshotter(tmp_path), apply_layer=lambda *a, **k: None)


@pytest.mark.parametrize("compression", ["gzip", "zstd", ""])
def test_decompressors_stream(compression: str) -> None:
    raw = make_tar({"big": bytes(range(256)) * 4096})
    if compression == "gzip":
        blob = gzip.compress(raw)
    elif compression == "zstd":
        import zstandard

        blob = zstandard.ZstdCompressor().compress(raw)
    else:
        blob = raw
    r = decompressor(io.BytesIO(blob), compression)
    out = bytearray()
    while chunk := r.read(65536):
        out += chunk
    assert bytes(out) == raw
    with pytest.raises(errdefs.InvalidArgument):
        decompressor(io.BytesIO(b""), "lz4")


def test_streamed_layer_is_applied_while_it_downloads(tmp_path: Path) -> None:
    from seabox.images.pull import _Pipe

    raw = make_tar({"big": bytes(range(256)) * 8192})
    store, m, cfg = image([raw])
    blob = store.blobs.pop(m.layers[0].digest)  # not in the store: only the pipe has it
    pipe = _Pipe(depth=2)
    order: list[str] = []
    done = threading.Event()

    def download() -> None:
        pipe.start(True)
        for i in range(0, len(blob), 4096):
            pipe.write(blob[i : i + 4096])
        order.append("download finished")
        store.blobs[m.layers[0].digest] = blob
        pipe.finish()
        done.set()

    def wait_layer(i: int) -> None:
        order.append("wait")
        assert done.wait(5)

    def apply(stream: BinaryIO, target: Path, **kw: Any) -> None:
        order.append("apply started")
        while stream.read(1000):
            pass

    t = threading.Thread(target=download)
    t.start()
    unpack(m, cfg, store=store, snapshotter=FakeSnapshotter(tmp_path), wait_layer=wait_layer, apply_layer=apply,
           streams={0: pipe})  # fmt: skip
    t.join()
    # with a 2-chunk queue the download cannot finish before the apply has started reading
    assert order.index("apply started") < order.index("download finished")
    assert order[-1] == "wait" or order.index("wait") > order.index("apply started")


def test_streamed_download_failure_is_the_error_reported(tmp_path: Path) -> None:
    from seabox.images.pull import _Pipe

    raw = make_tar({"f": b"x" * 100000})
    store, m, cfg = image([raw])
    blob = store.blobs.pop(m.layers[0].digest)
    pipe = _Pipe()
    boom = errdefs.Unavailable("registry 127.0.0.1:1: connection lost")

    def download() -> None:
        pipe.start(True)
        pipe.write(blob[:1000])
        pipe.finish(boom)

    def wait_layer(i: int) -> None:
        t.join()
        raise boom

    t = threading.Thread(target=download)
    t.start()
    snap = FakeSnapshotter(tmp_path)
    with pytest.raises(errdefs.Unavailable, match="connection lost"):
        unpack(m, cfg, store=store, snapshotter=snap, wait_layer=wait_layer,
               apply_layer=lambda s, tg, **k: s.read(), streams={0: pipe})  # fmt: skip
    assert not snap.committed and not snap.active


def test_pipe_not_streamed_falls_back_to_the_store(tmp_path: Path) -> None:
    from seabox.images.pull import _Pipe

    raw = make_tar({"f": b"y"})
    store, m, cfg = image([raw])
    pipe = _Pipe()
    pipe.finish()  # the downloader found the blob already stored
    got: list[bytes] = []
    unpack(m, cfg, store=store, snapshotter=FakeSnapshotter(tmp_path), apply_layer=lambda s, tg, **k: got.append(s.read()),
           streams={0: pipe})  # fmt: skip
    assert got == [raw]
