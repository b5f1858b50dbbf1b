"""Container lifecycle events for CRI's ``GetContainerEvents`` (kubelet's evented PLEG).

Design reason: kubelet either polls ``ListContainers``/``ListPodSandbox`` every second or, with
the evented PLEG, keeps one ``GetContainerEvents`` stream open and re-reads a pod only when one
of its containers was created, started, stopped or deleted.  The CRI service publishes those
four transitions here, for pods (whose id is both container and sandbox id, as containerd sends
them) and for containers; every open stream has its own bounded queue, so a slow or stuck
client loses its oldest events instead of holding up the CRI calls that publish them.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

CREATED = "CONTAINER_CREATED_EVENT"
STARTED = "CONTAINER_STARTED_EVENT"
STOPPED = "CONTAINER_STOPPED_EVENT"
DELETED = "CONTAINER_DELETED_EVENT"


@dataclass(frozen=True)
class Event:
    kind: str  # one of the four constants above (the names of CRI's ContainerEventType)
    container_id: str
    sandbox_id: str
    created_at: int  # ns since the epoch


class Subscription:
    """One stream's queue; ``get`` returns None on timeout and after the hub closed."""

    def __init__(self, hub: EventHub, limit: int) -> None:
        self._hub = hub
        self._items: collections.deque[Event] = collections.deque(maxlen=limit)
        self._cond = threading.Condition()
        self.closed = False
        self.dropped = 0

    def put(self, ev: Event) -> None:
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(ev)
            self._cond.notify()

    def get(self, timeout: float) -> Event | None:
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._hub._drop(self)


class EventHub:
    def __init__(self, limit: int = 1000) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._limit = limit

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._limit)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, kind: str, container_id: str, sandbox_id: str) -> None:
        ev = Event(kind, container_id, sandbox_id, time.time_ns())
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.put(ev)

    def close(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.close()
