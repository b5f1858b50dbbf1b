"""The in-process event exchange: publish, forward, filtered subscriptions, overflow."""

from __future__ import annotations

import pytest

from seabox.errdefs import InvalidArgument, Unavailable
from seabox.events import exchange as ex
from seabox.events.exchange import Envelope, Exchange
from seabox.metadata.filters import parse_all


def test_publish_reaches_matching_subscribers() -> None:
    x = Exchange()
    everything = x.subscribe()
    exits = x.subscribe(parse_all(['topic=="/tasks/exit"']))
    k8s = x.subscribe(parse_all(["namespace==k8s.io"]))
    x.publish("default", "/tasks/exit", "containerd.events.TaskExit", b"\x0a\x01a")
    x.publish("k8s.io", "/tasks/start", "containerd.events.TaskStart", b"")
    got = everything.next(timeout=1)
    assert got is not None and got.topic == "/tasks/exit" and got.namespace == "default" and got.value == b"\x0a\x01a"
    assert everything.next(timeout=1).topic == "/tasks/start"  # type: ignore[union-attr]
    assert exits.next(timeout=1).topic == "/tasks/exit"  # type: ignore[union-attr]
    assert exits.next(timeout=0.05) is None
    assert k8s.next(timeout=1).namespace == "k8s.io"  # type: ignore[union-attr]
    assert k8s.next(timeout=0.05) is None


def test_event_field_filters_use_the_adaptor() -> None:
    def fields(env: Envelope, path: tuple[str, ...]) -> tuple[str, bool]:
        return (env.value.decode(), True) if path == ("id",) else ("", False)

    x = Exchange(fields)
    sub = x.subscribe(parse_all(["event.id==web"]))
    x.publish("default", "/containers/create", "t", b"db")
    x.publish("default", "/containers/create", "t", b"web")
    assert sub.next(timeout=1).value == b"web"  # type: ignore[union-attr]
    assert sub.next(timeout=0.05) is None


@pytest.mark.parametrize("topic", ["tasks/exit", "/", "/tasks//exit", "/tasks/ex it"])
def test_bad_topics(topic: str) -> None:
    with pytest.raises(InvalidArgument, match="topic"):
        Exchange().publish("default", topic, "t", b"")


def test_bad_namespace() -> None:
    with pytest.raises(InvalidArgument):
        Exchange().publish("bad ns", "/x", "t", b"")


def test_forward_keeps_envelope() -> None:
    x = Exchange()
    sub = x.subscribe()
    env = Envelope(42, "ns", "/snapshot/commit", "containerd.events.SnapshotCommit", b"v")
    x.forward(env)
    assert sub.next(timeout=1) == env


def test_close_and_unsubscribe() -> None:
    x = Exchange()
    sub = x.subscribe()
    assert x.subscribers() == 1
    sub.close()
    assert x.subscribers() == 0
    x.publish("default", "/x", "t", b"")
    assert sub.next(timeout=0.05) is None
    other = x.subscribe()
    x.close()
    assert other.closed and x.subscribers() == 0


def test_slow_subscriber_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "QUEUE_SIZE", 3)
    x = Exchange()
    slow = x.subscribe()
    for i in range(5):
        x.publish("default", f"/t{i}", "t", b"")
    assert x.subscribers() == 0
    seen = [slow.next(timeout=0.1) for _ in range(3)]
    assert [e.topic for e in seen if e] == ["/t0", "/t1", "/t2"]
    with pytest.raises(Unavailable):
        slow.next(timeout=0.1)
