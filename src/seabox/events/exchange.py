"""The event exchange: services publish, subscribers receive what their filters select.

Why in-process and simple: every publisher and every subscriber lives in the daemon (the
gRPC Events service is a thin edge over this), so a lock, a list of subscribers and one
bounded queue each are enough. A subscriber that falls more than ``QUEUE_SIZE`` events
behind is cut off rather than allowed to grow the daemon's memory; its stream ends with an
error. Events are opaque here: a type URL and bytes (a protobuf Any without protobuf).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from seabox.errdefs import InvalidArgument, Unavailable
from seabox.metadata.filters import Filter
from seabox.metadata.identifiers import validate

QUEUE_SIZE = 4096


@dataclass(frozen=True)
class Envelope:
    timestamp: int  # nanoseconds since the epoch
    namespace: str
    topic: str
    type_url: str
    value: bytes


# reads event.<field> from an envelope's payload; supplied by the layer that can decode it
EventFields = Callable[[Envelope, tuple[str, ...]], tuple[str, bool]]


def validate_topic(topic: str) -> str:
    if not topic.startswith("/"):
        raise InvalidArgument(f'topic "{topic}": must start with "/"')
    parts = topic[1:].split("/")
    if not parts or parts == [""]:
        raise InvalidArgument(f'topic "{topic}": must have at least one component')
    for part in parts:
        try:
            validate("topic component", part)
        except InvalidArgument:
            raise InvalidArgument(f'topic "{topic}": component "{part}" is not a valid identifier')
    return topic


class Subscription:
    """One subscriber's queue; iterate with :meth:`next` or as an iterator, then close."""

    def __init__(self, exchange: Exchange, flt: Filter) -> None:
        self._exchange = exchange
        self.filter = flt
        self._q: queue.Queue[Envelope | None] = queue.Queue(QUEUE_SIZE)
        self.closed = False
        self.overflowed = False

    def offer(self, env: Envelope) -> None:
        if self.closed:
            return
        try:
            self._q.put_nowait(env)
        except queue.Full:
            self.overflowed = True
            self.close()

    def next(self, timeout: float | None = None) -> Envelope | None:
        """The next event, or None on timeout or after close."""
        if self.closed and self._q.empty():
            if self.overflowed:
                raise Unavailable("event subscriber fell too far behind and was dropped")
            return None
        try:
            env = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if env is None and self.overflowed:
            raise Unavailable("event subscriber fell too far behind and was dropped")
        return env

    def __iter__(self) -> Iterator[Envelope]:
        while not self.closed or not self._q.empty():
            env = self.next(timeout=0.5)
            if env is not None:
                yield env

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._exchange._remove(self)
            try:
                self._q.put_nowait(None)  # wake a blocked reader
            except queue.Full:
                pass


class Exchange:
    def __init__(self, event_fields: EventFields | None = None) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._event_fields = event_fields

    def publish(self, namespace: str, topic: str, type_url: str, value: bytes) -> Envelope:
        validate("namespace", namespace)
        validate_topic(topic)
        env = Envelope(time.time_ns(), namespace, topic, type_url, value)
        self._dispatch(env)
        return env

    def forward(self, env: Envelope) -> None:
        validate("namespace", env.namespace)
        validate_topic(env.topic)
        self._dispatch(env)

    def subscribe(self, flt: Filter | None = None) -> Subscription:
        sub = Subscription(self, flt or Filter())
        with self._lock:
            self._subs.append(sub)
        return sub

    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def close(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.close()

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def _dispatch(self, env: Envelope) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            if s.filter.match(lambda path, env=env: self._field(env, path)):  # type: ignore[misc]
                s.offer(env)

    def _field(self, env: Envelope, path: tuple[str, ...]) -> tuple[str, bool]:
        if path == ("namespace",):
            return env.namespace, True
        if path == ("topic",):
            return env.topic, True
        if path[0] == "event" and len(path) > 1 and self._event_fields is not None:
            return self._event_fields(env, path[1:])
        return "", False
