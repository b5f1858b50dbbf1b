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


def test_index_with_attestation_manifest(reg: LocalRegistry, tmp_path: Path) -> None:
    """buildkit-style attestation manifests (unknown/unknown, in-toto layers) travel with platform="all"."""
    b = build_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64"))
    src = ContentStore(tmp_path / "src")
    desc = _ingest(b.layout, src)
    index = oci.parse_index(src.read_bytes(desc.digest))
    stmt = b'{"_type":"https://in-toto.io/Statement/v0.1"}'
    cfg = b"{}"
    att = oci.Manifest(oci.OCI_MANIFEST, oci.Descriptor(oci.OCI_EMPTY, str(src.put(cfg)), len(cfg)),
                       (oci.Descriptor("application/vnd.in-toto+json", str(src.put(stmt)), len(stmt)),))  # fmt: skip
    ab = att.to_json()
    att_desc = oci.Descriptor(oci.OCI_MANIFEST, str(src.put(ab)), len(ab), platform=oci.Platform("unknown", "unknown"),
                              annotations={"vnd.docker.reference.type": "attestation-manifest"})  # fmt: skip
    ib = oci.Index(oci.OCI_INDEX, (*index.manifests, att_desc)).to_json()
    top = oci.Descriptor(oci.OCI_INDEX, str(src.put(ib)), len(ib))
    ref = f"{reg.host}/made/attested:v1"
    push(ref, top, content_store=src, plain_http=True)
    dst = ContentStore(tmp_path / "dst")
    img = pull(ref, content_store=dst, plain_http=True, platform="all")
    assert img.config.architecture in ("amd64", "arm64")
    assert att_desc.digest in {d.digest for d in img.other_platforms}
    assert dst.read_bytes(att.layers[0].digest) == stmt
    host_only = pull(ref, content_store=ContentStore(tmp_path / "d2"), plain_http=True)
    assert host_only.other_platforms == ()
