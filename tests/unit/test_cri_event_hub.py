"""The CRI's event hub: every subscriber sees each event once, in order; a slow one loses its oldest."""

from __future__ import annotations

import threading

from seabox.cri import events


def test_each_subscriber_gets_every_event_in_order() -> None:
    hub = events.EventHub()
    a, b = hub.subscribe(), hub.subscribe()
    hub.publish(events.CREATED, "c1", "p1")
    hub.publish(events.STARTED, "c1", "p1")
    for sub in (a, b):
        got = [sub.get(0.1), sub.get(0.1)]
        assert [(e.kind, e.container_id, e.sandbox_id) for e in got if e] == [
            (events.CREATED, "c1", "p1"), (events.STARTED, "c1", "p1")]
        assert sub.get(0.01) is None
    a.close()
    hub.publish(events.STOPPED, "c1", "p1")
    assert a.get(0.01) is None and b.get(0.1) is not None


def test_bounded_queue_drops_the_oldest() -> None:
    hub = events.EventHub(limit=2)
    sub = hub.subscribe()
    for i in range(3):
        hub.publish(events.DELETED, f"c{i}", "p")
    assert sub.dropped == 1
    got = [sub.get(0.1), sub.get(0.1)]
    assert [e.container_id for e in got if e] == ["c1", "c2"]


def test_close_wakes_a_waiting_reader() -> None:
    hub = events.EventHub()
    sub = hub.subscribe()
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(sub.get(30)))
    t.start()
    hub.close()
    t.join(5)
    assert not t.is_alive() and out == [None] and sub.closed
