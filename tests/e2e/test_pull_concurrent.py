"""Two pulls of the same image into one store and snapshotter at once: both succeed, nothing duplicated."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from seabox.content.store import ContentStore
from seabox.images.pull import Image, pull
from seabox.snapshots.overlay import OverlaySnapshotter

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_concurrent_pulls_share_blobs_and_snapshots(fixtures_info: dict, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["busybox"]
    store = ContentStore(tmp_path / "content")
    snap = OverlaySnapshotter(tmp_path / "snap")
    results: list[Image] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(pull(fx["ref"], content_store=store, snapshotter=snap))
        except BaseException as e:
            errors.append(e)

    try:
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len({r.snapshot for r in results}) == 1 and len(results) == 3
        names = [s.name for s in snap.walk()]
        assert sorted(names) == sorted(set(names))
        assert all(not n.startswith("extract-") for n in names)  # no active extraction left behind
        for info in store.list():
            with store.open(info.digest) as f:
                assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == info.digest
        assert store.statuses() == []
    finally:
        snap.close()
