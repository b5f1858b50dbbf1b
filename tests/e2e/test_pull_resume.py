"""Interrupted pulls: a SIGKILLed pull leaves an ingest that the next pull resumes and verifies."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.registry.client import RegistryClient
from seabox.oci import image as oci

pytestmark = pytest.mark.e2e

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from seabox.content.store import ContentStore
    from seabox.images.pull import pull

    def progress(e):
        if e.kind == "downloading" and e.current >= 4 << 20:
            os.kill(os.getpid(), signal.SIGKILL)

    pull(sys.argv[1], content_store=ContentStore(Path(sys.argv[2])), progress=progress)
    """
)


def test_sigkill_during_pull_then_pull_again(fixtures_info: dict, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["nginx"]
    root = tmp_path / "content"
    p = subprocess.run([sys.executable, "-c", KILLER, fx["ref"], str(root)], capture_output=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()
    store = ContentStore(root)
    layer = fx["layers"][0]["digest"]
    assert not store.exists(layer)
    partial = [s for s in store.statuses() if s.offset > 0]
    assert partial, "the killed pull left no ingest to resume"

    c = RegistryClient()
    ranges: list[str] = []
    request = c.transport.request

    def rec(host: Any, method: str, path: str, **kw: Any) -> Any:
        if "/blobs/" in path and kw.get("headers", {}).get("Range"):
            ranges.append(kw["headers"]["Range"])
        return request(host, method, path, **kw)

    c.transport.request = rec  # type: ignore[method-assign]
    img = pull(fx["ref"], content_store=store, client=c)
    c.close()
    assert img.target.digest == fx["digest"]
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"  # resumed, not restarted
    for d in [fx["digest"], img.manifest.config.digest, *(x.digest for x in img.manifest.layers)]:
        with store.open(d) as f:
            assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == d
    assert store.statuses() == []


def test_corrupt_partial_ingest_is_discarded_and_refetched(fixtures_info: dict, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["busybox"]
    store = ContentStore(tmp_path / "content")
    layer = fx["layers"][0]["digest"]
    w = store.writer(f"pull-{layer}", expected=layer)
    w.write(b"\0" * 1000)  # bytes that are not the blob's first 1000
    w.close()
    img = pull(fx["ref"], content_store=store)
    assert store.exists(layer)
    with store.open(layer) as f:
        assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == layer
    assert oci.layer_compression(img.manifest.layers[0].media_type) == "gzip"


KILLER_UNPACK = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from seabox.content.store import ContentStore
    from seabox.images.pull import pull
    from seabox.snapshots.overlay import OverlaySnapshotter

    def progress(e):
        if e.kind == "downloading" and e.current >= 8 << 20:
            os.kill(os.getpid(), signal.SIGKILL)

    root = Path(sys.argv[2])
    pull(sys.argv[1], content_store=ContentStore(root / "content"), snapshotter=OverlaySnapshotter(root / "snap"),
         progress=progress)
    """
)


@pytest.mark.root
def test_sigkill_while_streaming_into_unpack(fixtures_info: dict, tmp_path: Path) -> None:
    from seabox.snapshots.overlay import OverlaySnapshotter

    fx = fixtures_info["images"]["nginx"]
    p = subprocess.run([sys.executable, "-c", KILLER_UNPACK, fx["ref"], str(tmp_path)], capture_output=True, timeout=180)
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()
    store = ContentStore(tmp_path / "content")
    snap = OverlaySnapshotter(tmp_path / "snap")
    try:
        img = pull(fx["ref"], content_store=store, snapshotter=snap)
        assert (snap.path_of(img.snapshot) / "usr" / "sbin" / "nginx").exists()
        assert snap.stat(img.snapshot).kind.name.lower() == "committed"
        with store.open(fx["layers"][0]["digest"]) as f:
            assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == fx["layers"][0]["digest"]
    finally:
        snap.close()
