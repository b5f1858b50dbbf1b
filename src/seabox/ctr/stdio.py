"""A task's stdio as containerd's cio does it: FIFOs the client creates and opens.

The client makes ``<dir>/<id>-stdin``, ``-stdout`` and ``-stderr`` and passes their paths
in the task's Create/Exec request; the shim opens the other ends.  Each direction is a
thread copying between a FIFO and the local fd.  Opening a FIFO's read end blocks until
a writer comes, so the output threads open it themselves, and :meth:`FifoSet.close`
releases any thread still waiting (the task never started) by opening the write end.
stdin is opened read-write, which never blocks; its EOF is reported to the daemon through
the ``close_stdin`` callback (CloseIO), as ctr does when its own stdin ends.

:class:`RawTerminal` puts the local terminal in raw mode for ``-t`` and restores it.
:class:`IOOptions` says where the local side is.  Paths are plain strings (pathlib and
shutil would add ~20 ms to every ``run``), and the copying threads are :mod:`_thread`
threads behind the few methods of threading's that are used (threading brings functools,
collections and weakref machinery: ~7 ms).
"""

from __future__ import annotations

import _thread
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_FIFO_ROOT = "/run/seabox/fifo"


class IOOptions:
    """Where the local side of a process's stdio is (fds), and how to treat it."""

    def __init__(self, stdin_fd: int | None = 0, stdout_fd: int = 1, stderr_fd: int = 2, terminal: bool = False,
                 null_io: bool = False, fifo_dir: str = "") -> None:  # fmt: skip
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.terminal = terminal
        self.null_io = null_io
        self.fifo_dir = fifo_dir

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"IOOptions({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def fifo_root(explicit: str = "") -> str:
    """``--fifo-dir``, else /run/seabox/fifo when we may create it, else the temp dir."""
    if explicit:
        return explicit
    try:
        os.makedirs(DEFAULT_FIFO_ROOT, mode=0o700, exist_ok=True)
        return DEFAULT_FIFO_ROOT
    except OSError:
        import tempfile

        return os.path.join(tempfile.gettempdir(), "seabox-fifo")


class Event:
    """threading.Event's set / is_set / wait, on one lock (held while unset)."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._guard = _thread.allocate_lock()
        self._set = False

    def set(self) -> None:
        with self._guard:
            if not self._set:
                self._set = True
                self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        if self._lock.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            self._lock.release()
        return self._set


class Thread:
    """A daemon thread with threading.Thread's start / join(timeout) / is_alive."""

    def __init__(self, target: Callable[..., object], args: tuple[Any, ...] = (), name: str = "") -> None:
        self.name = name
        self._target, self._args = target, args
        self._done = Event()
        self._started = False

    def start(self) -> None:
        self._started = True
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            self._target(*self._args)
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()


class FifoSet:
    """The FIFOs of one process (task init or exec) and the threads copying through them."""

    def __init__(self, root: str | os.PathLike[str], pid_id: str, *, stdin: bool, terminal: bool) -> None:
        root = os.fspath(root)
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.dir = os.path.join(root, os.urandom(8).hex())
        os.mkdir(self.dir, 0o700)
        self.stdin = os.path.join(self.dir, f"{pid_id}-stdin") if stdin else ""
        self.stdout = os.path.join(self.dir, f"{pid_id}-stdout")
        self.stderr = "" if terminal else os.path.join(self.dir, f"{pid_id}-stderr")
        for p in (self.stdin, self.stdout, self.stderr):
            if p:
                os.mkfifo(p, 0o600)
        self._threads: list[Thread] = []
        self._out_threads: list[Thread] = []
        self._out_paths: list[str] = []
        self._stdin_fd = -1
        self._closed = False
        self.started = Event()  # set by the caller once the process has started

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
                t = Thread(self._copy_in, (in_fd, close_stdin), name="stdin")
                t.start()
                self._threads.append(t)
        for path, fd in ((self.stdout, out_fd), (self.stderr, err_fd)):
            if path:
                t = Thread(self._copy_out, (path, fd), name="stdout")
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
            try:
                close_stdin()
            except Exception:
                pass

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
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
                except OSError:
                    pass
                t.join(0.01)
        if self._stdin_fd >= 0:
            fd, self._stdin_fd = self._stdin_fd, -1
            os.close(fd)
        for p in (self.stdin, self.stdout, self.stderr):  # all that was made in the directory
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


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
