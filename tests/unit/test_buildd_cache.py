"""The SQLite cache db: records round-trip, LRU order, image summaries."""

from __future__ import annotations

import time

from seabox.buildd.cache import CacheDB, Layer, Record


def test_records_round_trip_and_lru(tmp_path):
    db = CacheDB(tmp_path / "cache.db")
    try:
        l1 = Layer("sha256:" + "1" * 64, 10, "sha256:" + "a" * 64, "application/vnd.docker.image.rootfs.diff.tar.gzip")
        db.put(Record("k1", "snap1", [l1], 100, "[s 2/2] RUN x"))
        time.sleep(0.01)
        db.put(Record("k2", "snap2", [l1, l1], 50, "[s 3/3] COPY a b"))
        got = db.get("k1")
        assert got is not None and got.snapshot == "snap1" and got.layers == [l1] and got.size == 100
        assert [r.key for r in db.all()] == ["k1", "k2"]
        time.sleep(0.01)
        db.touch("k1")
        assert [r.key for r in db.all()] == ["k2", "k1"]
        db.delete("k2")
        assert db.get("k2") is None
        db.put_image("ref|", {"manifest": "m", "layers": [l1.to_dict()]})
        assert db.get_image("ref|") == {"manifest": "m", "layers": [l1.to_dict()]}
        assert db.all_images() == [{"manifest": "m", "layers": [l1.to_dict()]}]
    finally:
        db.close()


def test_reopen_keeps_records(tmp_path):
    db = CacheDB(tmp_path / "c.db")
    db.put(Record("k", "s", [], 1, "d"))
    db.close()
    db = CacheDB(tmp_path / "c.db")
    try:
        assert db.get("k") is not None
    finally:
        db.close()
