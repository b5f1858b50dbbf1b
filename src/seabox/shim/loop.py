"""A minimal single-threaded event loop over ``select.poll``.

Design reason: the shim is idle nearly all its life; one thread blocked in ``poll`` costs no
CPU and no stack, needs no locks, and keeps the import graph to ``select`` (``selectors`` and
``asyncio`` bring far more).  Callbacks run one at a time; a callback that raises is reported
through ``on_error`` and never stops the loop.
"""

from __future__ import annotations

import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_IN = select.POLLIN | select.POLLPRI
_ERR = select.POLLHUP | select.POLLERR | select.POLLNVAL


class Loop:
    __slots__ = ("on_error", "poller", "readers", "running", "timers", "writers")

    def __init__(self) -> None:
        self.poller = select.poll()
        self.readers: dict[int, Callable[[], None]] = {}
        self.writers: dict[int, Callable[[], None]] = {}
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.running = True
        self.on_error: Callable[[BaseException], None] | None = None

    def _update(self, fd: int) -> None:
        mask = (_IN if fd in self.readers else 0) | (select.POLLOUT if fd in self.writers else 0)
        if mask:
            self.poller.register(fd, mask)
        else:
            try:
                self.poller.unregister(fd)
            except KeyError:
                pass

    def add_reader(self, fd: int, cb: Callable[[], None]) -> None:
        self.readers[fd] = cb
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self.readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, cb: Callable[[], None]) -> None:
        self.writers[fd] = cb
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self.writers.pop(fd, None) is not None:
            self._update(fd)

    def call_later(self, delay: float, cb: Callable[[], None]) -> None:
        self.timers.append((time.monotonic() + delay, cb))
        self.timers.sort(key=lambda t: t[0])

    def _run_cb(self, cb: Callable[[], None]) -> None:
        try:
            cb()
        except Exception as e:
            if self.on_error is not None:
                self.on_error(e)

    def run_once(self, timeout: float | None = None) -> None:
        if self.timers:
            wait = max(0.0, self.timers[0][0] - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        try:
            events = self.poller.poll(None if timeout is None else int(timeout * 1000) + 1)
        except InterruptedError:
            events = []
        for fd, ev in events:
            if ev & (_IN | _ERR) and fd in self.readers:
                self._run_cb(self.readers[fd])
            if ev & (select.POLLOUT | _ERR) and fd in self.writers:
                self._run_cb(self.writers[fd])
            if ev & select.POLLNVAL:
                self.readers.pop(fd, None)
                self.writers.pop(fd, None)
                self._update(fd)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, cb = self.timers.pop(0)
            self._run_cb(cb)

    def run(self) -> None:
        while self.running:
            self.run_once()
