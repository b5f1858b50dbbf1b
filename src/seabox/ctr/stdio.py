"""A task's stdio as containerd's cio does it: FIFOs the client creates and opens.

The client makes ``<dir>/<id>-stdin``, ``-stdout`` and ``-stderr`` and passes their paths
in the task's Create/Exec request; the shim opens the other ends.  Each direction is a
thread copying between a FIFO and the local fd.  Opening a FIFO's read end blocks until
a writer comes, so the output threads open it themselves, and :meth:`FifoSet.close`
releases any thread still waiting (the task never started) by opening the write end.
stdin is opened read-write, which never blocks; its EOF is reported to the daemon through
the ``close_stdin`` callback (CloseIO), as ctr does when its own stdin ends.

:class:`RawTerminal` puts the local terminal in raw mode for ``-t`` and restores it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_FIFO_ROOT = "/run/seabox/fifo"


def fifo_root(explicit: str = "") -> Path:
    """``--fifo-dir``, else /run/seabox/fifo when we may create it, else the temp dir."""
    if explicit:
        return Path(explicit)
    root = Path(DEFAULT_FIFO_ROOT)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root
    except OSError:
        import tempfile

        return Path(tempfile.gettempdir()) / "seabox-fifo"


class FifoSet:
    """The FIFOs of one process (task init or exec) and the threads copying through them."""

    def __init__(self, root: Path, pid_id: str, *, stdin: bool, terminal: bool) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir = root / os.urandom(8).hex()
        self.dir.mkdir(mode=0o700)
        self.stdin = str(self.dir / f"{pid_id}-stdin") if stdin else ""
        self.stdout = str(self.dir / f"{pid_id}-stdout")
        self.stderr = "" if terminal else str(self.dir / f"{pid_id}-stderr")
        for p in (self.stdin, self.stdout, self.stderr):
            if p:
                os.mkfifo(p, 0o600)
        self._threads: list[threading.Thread] = []
        self._out_threads: list[threading.Thread] = []
        self._out_paths: list[str] = []
        self._stdin_fd = -1
        self._closed = False
        self.started = threading.Event()  # set by the caller once the process has started

    def start(
        self,
        *,
        in_fd: int | None,
        out_fd: int,
        err_fd: int,
        close_stdin: Callable[[], None] | None = None,
    ) -> None:
        """Start copying: local ``in_fd`` → stdin FIFO, FIFOs → ``out_fd``/``err_fd``."""
        if self.stdin:
            self._stdin_fd = os.open(self.stdin, os.O_RDWR | os.O_CLOEXEC)
            if in_fd is not None:
                t = threading.Thread(target=self._copy_in, args=(in_fd, close_stdin), daemon=True, name="stdin")
                t.start()
                self._threads.append(t)
        for path, fd in ((self.stdout, out_fd), (self.stderr, err_fd)):
            if path:
                t = threading.Thread(target=self._copy_out, args=(path, fd), daemon=True, name="stdout")
                t.start()
                self._out_threads.append(t)
                self._out_paths.append(path)

    def _copy_in(self, in_fd: int, close_stdin: Callable[[], None] | None) -> None:
        try:
            while True:
                b = os.read(in_fd, 32768)
                if not b:
                    break
                fd = self._stdin_fd
                if fd < 0:
                    return
                view = memoryview(b)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
        except OSError:
            return
        # CloseIO only once the task is started (the shim has the FIFO open: what we wrote
        # stays in it), and with our end closed first: the process sees EOF once no writer is left
        self.started.wait()
        fd, self._stdin_fd = self._stdin_fd, -1
        if fd >= 0:
            os.close(fd)
        if close_stdin is not None:
            with contextlib.suppress(Exception):
                close_stdin()

    def _copy_out(self, path: str, out_fd: int) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    return
                view = memoryview(b)
                while view:
                    n = os.write(out_fd, view)
                    view = view[n:]
        except OSError:
            return
        finally:
            os.close(fd)

    def wait(self, timeout: float = 5.0) -> None:
        """Wait for the output to drain (the process's ends closed)."""
        for t in self._out_threads:
            t.join(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.started.set()
        # a thread still blocked opening its read end (the task never opened the other end) is
        # released by a writer appearing; the thread may not have reached open() yet: retry
        for path, t in zip(self._out_paths, self._out_threads, strict=True):
            deadline = time.monotonic() + 1.0
            while t.is_alive() and time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
                t.join(0.01)
        if self._stdin_fd >= 0:
            fd, self._stdin_fd = self._stdin_fd, -1
            os.close(fd)
        shutil.rmtree(self.dir, ignore_errors=True)


class RawTerminal:
    """The local terminal in raw mode while in use (``-t``), restored afterwards."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        import termios
        import tty

        if os.isatty(self.fd):
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(columns, rows) of the terminal on ``fd``, or None."""
    try:
        sz = os.get_terminal_size(fd)
    except OSError:
        return None
    return sz.columns, sz.lines
