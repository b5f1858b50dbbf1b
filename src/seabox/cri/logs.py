"""Container output to kubelet's log file, in the CRI log format.

Format (one entry per line of output)::

    2026-01-02T03:04:05.123456789Z stdout F hello
    2026-01-02T03:04:05.123456789Z stderr P <the first 16 KiB of a longer line>

Design reason (the choice between a shim log mode and a daemon relay): the shim already
writes stdio to FIFOs that survive the daemon (it opens them read-write, so a daemon that goes
away only makes the container block once a FIFO is full — it never loses output or gets
EPIPE).  seaboxd reads the FIFOs in one thread per stream and writes the file; after a daemon
restart the relay is started again on the same FIFOs and carries on where the kernel buffer
left off.  No shim change is needed; a "cri" log driver in the shim would keep logging while
seaboxd is down and is the better long-term home (asked of the shim's owner).
``ReopenContainerLog`` closes and reopens the path (kubelet renamed the old file).
Attach clients subscribe to the same relay and get the raw bytes.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

MAX_LINE = 16 * 1024


def timestamp(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def format_entry(stream: str, tag: str, content: bytes, ns: int | None = None) -> bytes:
    return f"{timestamp(ns)} {stream} {tag} ".encode() + content + b"\n"


def parse_entry(line: str) -> tuple[str, str, str, str]:
    """(time, stream, tag, content) of one CRI log line (for tests and readers)."""
    ts, stream, tag, content = line.rstrip("\n").split(" ", 3) if line.count(" ") >= 3 else (*line.split(" "), "")
    return ts, stream, tag, content


class LineSplitter:
    """Bytes of one stream → (tag, content) entries: full lines ``F``, cut long lines ``P``."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.buf = b""
        self.max_line = max_line

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self.buf += data
        out: list[tuple[str, bytes]] = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line, self.buf = self.buf[:i], self.buf[i + 1:]
            while len(line) > self.max_line:
                out.append(("P", line[:self.max_line]))
                line = line[self.max_line:]
            out.append(("F", line.removesuffix(b"\r")))
        while len(self.buf) > self.max_line:
            out.append(("P", self.buf[:self.max_line]))
            self.buf = self.buf[self.max_line:]
        return out

    def flush(self) -> list[tuple[str, bytes]]:
        if not self.buf:
            return []
        rest, self.buf = self.buf, b""
        return [("F", rest)]


Subscriber = Callable[[str, bytes], None]


class LogRelay:
    """Reads a container's stdout/stderr FIFOs; writes the CRI log and feeds attach clients."""

    def __init__(self, path: str, fifos: dict[str, str]) -> None:
        self.path = path
        self.fifos = fifos  # stream name ("stdout"/"stderr") → FIFO path
        self._lock = threading.Lock()
        self._f: object | None = None
        self._subs: list[Subscriber] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._open()

    def _open(self) -> None:
        if not self.path:
            self._f = None
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "ab", buffering=0)  # noqa: SIM115 (closed in close/reopen)

    def reopen(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()  # type: ignore[attr-defined]
            self._open()

    def subscribe(self, fn: Subscriber) -> None:
        with self._lock:
            self._subs.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subs.remove(fn)

    def start(self) -> None:
        for stream, fifo in self.fifos.items():
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            t = threading.Thread(target=self._run, args=(stream, fd), name=f"cri-log-{stream}", daemon=True)
            self._threads.append(t)
            t.start()

    def _write(self, stream: str, entries: list[tuple[str, bytes]]) -> None:
        if not entries:
            return
        ns = time.time_ns()
        data = b"".join(format_entry(stream, tag, c, ns) for tag, c in entries)
        with self._lock:
            if self._f is not None:
                self._f.write(data)  # type: ignore[attr-defined]

    def _run(self, stream: str, fd: int) -> None:
        split = LineSplitter()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        try:
            while not self._stop.is_set():
                if not poller.poll(500):
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    break  # the writer (the shim) closed: the process is gone
                with self._lock:
                    subs = list(self._subs)
                for fn in subs:
                    with contextlib.suppress(Exception):
                        fn(stream, data)
                self._write(stream, split.feed(data))
            self._write(stream, split.flush())
        finally:
            os.close(fd)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def close(self) -> None:
        self._stop.set()
        self.wait(2.0)
        with self._lock:
            if self._f is not None:
                self._f.close()  # type: ignore[attr-defined]
                self._f = None
