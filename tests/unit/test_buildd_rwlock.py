"""RWLock: readers overlap, a writer excludes everyone and is not starved by readers."""

from __future__ import annotations

import threading

from seabox.buildd.rwlock import RWLock


def test_readers_share_and_writer_waits():
    lock = RWLock()
    inside = threading.Event()
    release = threading.Event()
    events: list[str] = []

    def reader() -> None:
        with lock.shared():
            events.append("r-in")
            inside.set()
            release.wait(5)
        events.append("r-out")

    def writer() -> None:
        with lock.exclusive():
            events.append("w")

    t1 = threading.Thread(target=reader)
    t1.start()
    inside.wait(5)
    with lock.shared():  # a second reader gets in while the first holds it
        events.append("r2")
    tw = threading.Thread(target=writer)
    tw.start()
    tw.join(0.2)
    assert "w" not in events  # the writer waits for the reader
    release.set()
    t1.join(5)
    tw.join(5)
    assert "w" in events and "r-out" in events
    assert events[:2] == ["r-in", "r2"]


def test_waiting_writer_blocks_new_readers():
    lock = RWLock()
    order: list[str] = []
    held = threading.Event()
    go = threading.Event()

    def first_reader() -> None:
        with lock.shared():
            held.set()
            go.wait(5)
            order.append("r1")

    def writer() -> None:
        with lock.exclusive():
            order.append("w")

    def late_reader() -> None:
        with lock.shared():
            order.append("r2")

    a = threading.Thread(target=first_reader)
    a.start()
    held.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    while not lock._waiting_writers:  # the writer is queued
        threading.Event().wait(0.01)
    b = threading.Thread(target=late_reader)
    b.start()
    go.set()
    for t in (a, w, b):
        t.join(5)
    assert order == ["r1", "w", "r2"]
