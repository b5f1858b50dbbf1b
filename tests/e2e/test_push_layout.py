"""seabox pushes an image it never pulled (uncompressed and zstd layers) and pulls it back unpacked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.push import push
from seabox.images.registry.testing import LocalRegistry, build_layout
from seabox.oci import image as oci
from seabox.snapshots.overlay import OverlaySnapshotter

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture(scope="module")
def reg() -> Iterator[LocalRegistry]:
    with LocalRegistry() as r:
        yield r


def _ingest(layout: Path, store: ContentStore) -> oci.Descriptor:
    for blob in (layout / "blobs" / "sha256").iterdir():
        store.put(blob.read_bytes())
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    return oci.Descriptor.from_dict(top)


@pytest.mark.parametrize("compression", ["", "zstd", "gzip"])
def test_push_then_pull_unpacked(reg: LocalRegistry, tmp_path: Path, compression: str) -> None:
    b = build_layout(tmp_path / "layout", compression=compression, platforms=("linux/amd64", "linux/arm64"),
                     layers=[{"etc/a": b"A" * 10000}, {"etc/b": b"B", "usr/bin/tool": b"#!/bin/sh\n"}])  # fmt: skip
    src = ContentStore(tmp_path / "src")
    desc = _ingest(b.layout, src)
    ref = f"{reg.host}/made/{compression or 'plain'}:v1"
    res = push(ref, desc, content_store=src, plain_http=True, chunk_size=4096)
    assert res.descriptor.digest == b.index_digest
    assert len(res.uploaded) == 2 * (2 + 1)  # per platform: two layers and a config
    dst = ContentStore(tmp_path / "dst")
    snap = OverlaySnapshotter(tmp_path / "snap")
    try:
        img = pull(ref, content_store=dst, snapshotter=snap, plain_http=True, platform="linux/arm64")
        assert img.config.architecture == "arm64"
        assert img.manifest.layers[0].media_type == {"": oci.OCI_LAYER, "zstd": oci.OCI_LAYER_ZSTD,
                                                      "gzip": oci.OCI_LAYER_GZIP}[compression]  # fmt: skip
        root = snap.path_of(img.snapshot)
        # the top snapshot's own dir holds only the last layer; its parent chain holds the rest
        assert (root / "usr" / "bin" / "tool").read_bytes() == b"#!/bin/sh\n"
        assert (snap.path_of(img.chain_ids[0]) / "etc" / "a").read_bytes() == b"A" * 10000
        assert (snap.path_of(img.chain_ids[0]) / "etc" / "platform-arm64").exists()
    finally:
        snap.close()
