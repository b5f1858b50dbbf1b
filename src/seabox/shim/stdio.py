"""A process's stdio as the shim holds it: pipes or a pty on the container side, FIFOs and
log files on the client side, and the relays between them.

Design reason (containerd's model): the client (seaboxd, or ``ctr``) makes FIFOs and passes
their paths; the shim opens them and copies between them and the container's pipes, so the
container never holds a client's file and survives the client going away.  The shim opens the
FIFOs read-write: opening never blocks waiting for the client, and a client that goes away
neither gives the container EPIPE on stdout nor EOF on stdin — stdin is closed only by an
explicit ``close_io``, as in containerd.  A FIFO nobody reads fills up; the relay then stops
reading the container's pipe (back-pressure: the container blocks, it does not lose output).

With a terminal the container's side is a pty whose master arrives over a console socket
(runc's ``--console-socket`` protocol: one SCM_RIGHTS message); the master is both the
stdin target and the stdout source, and ``resize`` sets its window size.
"""

from __future__ import annotations

import errno
import os

from seabox.errdefs import InvalidArgument
from seabox.shim import logs, unixaddr
from seabox.shim.unixaddr import DirHandle

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from seabox.shim.loop import Loop

CHUNK = 65536
PENDING_LIMIT = 256 * 1024


def _nonblock(fd: int) -> None:
    os.set_blocking(fd, False)


def open_fifo(path: str, what: str) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidArgument(f"{what} {path}: {e.strerror}")
    return fd


class FifoSink:
    """Non-blocking writes to a client's FIFO, with a bounded pending buffer."""

    __slots__ = ("closing", "fd", "loop", "on_drain", "pending")

    def __init__(self, loop: Loop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.pending = bytearray()
        self.closing = False
        self.on_drain: Callable[[], None] | None = None

    def full(self) -> bool:
        return len(self.pending) >= PENDING_LIMIT

    def write(self, stream: str, data: bytes) -> None:
        if self.fd < 0:
            return
        if not self.pending:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                n = 0
            except OSError:
                self._close()
                return
            data = data[n:]
        if data:
            self.pending += data
            self.loop.add_writer(self.fd, self._drain)

    def _drain(self) -> None:
        try:
            n = os.write(self.fd, self.pending)
        except BlockingIOError:
            return
        except OSError:
            self._close()
            return
        del self.pending[:n]
        if not self.pending:
            self.loop.remove_writer(self.fd)
            if self.closing:
                self._close()
        if self.on_drain is not None and not self.full():
            self.on_drain()

    def flush_stream(self, stream: str) -> None:
        self.closing = True
        if not self.pending:
            self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_writer(self.fd)
            os.close(self.fd)
            self.fd = -1
            self.pending.clear()
            if self.on_drain is not None:
                self.on_drain()

    def close(self) -> None:
        self._close()


class Pump:
    """Copies one container output (pipe or pty master) to its sinks until EOF."""

    __slots__ = ("close_src", "fd", "loop", "on_eof", "paused", "sinks", "stream")

    def __init__(self, loop: Loop, fd: int, stream: str, sinks: list, on_eof: Callable[[], None] | None = None,
                 close_src: bool = True) -> None:
        self.loop = loop
        self.fd = fd
        self.stream = stream
        self.sinks = sinks
        self.on_eof = on_eof
        self.paused = False
        self.close_src = close_src
        _nonblock(fd)
        for s in sinks:
            if isinstance(s, FifoSink):
                s.on_drain = self._maybe_resume
        loop.add_reader(fd, self.readable)

    def _maybe_resume(self) -> None:
        if self.paused and self.fd >= 0 and not any(isinstance(s, FifoSink) and s.full() for s in self.sinks):
            self.paused = False
            self.loop.add_reader(self.fd, self.readable)

    def readable(self) -> None:
        if self.fd < 0:
            return
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self.finish()
            return
        for s in self.sinks:
            s.write(self.stream, data)
        if any(isinstance(s, FifoSink) and s.full() for s in self.sinks):
            self.paused = True
            self.loop.remove_reader(self.fd)

    def drain(self) -> None:
        """Copy what is readable now (used when the process exits)."""
        for _ in range(64):
            if self.fd < 0 or self.paused:
                return
            before = self.fd
            try:
                data = os.read(self.fd, CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.finish()
                return
            for s in self.sinks:
                s.write(self.stream, data)
            if before != self.fd:
                return

    def finish(self) -> None:
        if self.fd < 0:
            return
        self.loop.remove_reader(self.fd)
        if self.close_src:
            os.close(self.fd)
        self.fd = -1
        for s in self.sinks:
            s.flush_stream(self.stream)
        if self.on_eof is not None:
            self.on_eof()


class StdinRelay:
    """Copies the client's stdin FIFO to the container's stdin (pipe or pty master)."""

    __slots__ = ("close_dst", "dst", "fifo", "loop", "pending", "shutting")

    def __init__(self, loop: Loop, fifo: int, dst: int, close_dst: bool) -> None:
        self.loop = loop
        self.fifo = fifo
        self.dst = dst
        self.close_dst = close_dst
        self.pending = bytearray()
        self.shutting = False
        _nonblock(dst)
        loop.add_reader(fifo, self.readable)

    def readable(self) -> None:
        if self.fifo < 0:
            return
        try:
            data = os.read(self.fifo, CHUNK)
        except BlockingIOError:
            return
        if not data:
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        if self.dst < 0:
            return
        if not self.pending:
            try:
                n = os.write(self.dst, data)
            except BlockingIOError:
                n = 0
            except OSError:
                self._close_dst()
                return
            data = data[n:]
        if data:
            self.pending += data
            self.loop.add_writer(self.dst, self._drain)
            if len(self.pending) >= PENDING_LIMIT and self.fifo >= 0:
                self.loop.remove_reader(self.fifo)

    def _drain(self) -> None:
        try:
            n = os.write(self.dst, self.pending)
        except BlockingIOError:
            return
        except OSError:
            self._close_dst()
            return
        del self.pending[:n]
        if not self.pending:
            self.loop.remove_writer(self.dst)
            if self.shutting:
                self._close_dst()
        if len(self.pending) < PENDING_LIMIT and self.fifo >= 0 and not self.shutting:
            self.loop.add_reader(self.fifo, self.readable)

    def close_io(self) -> None:
        """Forward what the client already wrote, then close the container's stdin."""
        if self.shutting:
            return
        self.shutting = True
        if self.fifo >= 0:
            self.loop.remove_reader(self.fifo)
            while True:
                try:
                    data = os.read(self.fifo, CHUNK)
                except OSError:
                    break
                if not data:
                    break
                self._send(data)
            os.close(self.fifo)
            self.fifo = -1
        if not self.pending:
            self._close_dst()

    def _close_dst(self) -> None:
        if self.dst >= 0:
            self.loop.remove_writer(self.dst)
            if self.close_dst:
                os.close(self.dst)
            self.dst = -1
        self.pending.clear()

    def close(self) -> None:
        if self.fifo >= 0:
            self.loop.remove_reader(self.fifo)
            os.close(self.fifo)
            self.fifo = -1
        self._close_dst()


class LogSink:
    __slots__ = ("log", "owner")

    def __init__(self, log: logs.JsonFileLog | logs.PlainFileLog, owner: ProcessIO) -> None:
        self.log = log
        self.owner = owner

    def write(self, stream: str, data: bytes) -> None:
        self.log.write(stream, data)

    def flush_stream(self, stream: str) -> None:
        self.log.flush_stream(stream)
        self.owner.stream_done()


class ProcessIO:
    """The stdio of one process: what to hand the runtime, and the relays afterwards."""

    __slots__ = ("console_dir", "console_path", "console_sock", "container_fds", "fifos", "log", "loop", "master", "pumps",
                 "stdin", "streams_open", "terminal")

    def __init__(self, loop: Loop, *, stdin: str = "", stdout: str = "", stderr: str = "", terminal: bool = False,
                 log: dict | None = None, console_path: str = "") -> None:
        self.loop = loop
        self.terminal = terminal
        self.fifos: dict[str, int] = {}
        self.container_fds: list[int] = []
        self.pumps: list[Pump] = []
        self.stdin: StdinRelay | None = None
        self.master = -1
        self.console_sock: socket.socket | None = None
        self.console_path = console_path
        self.console_dir: DirHandle | None = None
        self.streams_open = 0
        self.log = None
        try:
            self.log = logs.open_log(log)
            for name, path in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
                if path:
                    self.fifos[name] = open_fifo(path, name)
            if terminal:
                if not console_path:
                    raise InvalidArgument("terminal: a console socket path is required")
                import socket  # only for a terminal's console socket

                try:
                    os.unlink(console_path)
                except FileNotFoundError:
                    pass
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.console_sock = sock
                unixaddr.bind(sock, console_path)
                sock.listen(1)
                self.console_dir = DirHandle(console_path)
        except BaseException:
            self.close()
            raise

    # -- before the runtime runs -----------------------------------------------------------------

    def child_stdio(self) -> tuple[int, int, int]:
        """The fds that become the process's 0, 1 and 2 (pipes, or /dev/null)."""
        null = -1

        def devnull() -> int:
            nonlocal null
            if null < 0:
                null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                self.container_fds.append(null)
            return null

        if self.terminal:
            n = devnull()
            return n, n, n
        fds = []
        if "stdin" in self.fifos:
            r, w = os.pipe()
            self.container_fds.append(r)
            self.stdin = StdinRelay(self.loop, self.fifos.pop("stdin"), w, close_dst=True)
            fds.append(r)
        else:
            fds.append(devnull())
        for name in ("stdout", "stderr"):
            sinks: list = []
            if name in self.fifos:
                sinks.append(FifoSink(self.loop, self.fifos.pop(name)))
            if self.log is not None:
                sinks.append(LogSink(self.log, self))
            if not sinks:
                fds.append(devnull())
                continue
            r, w = os.pipe()
            self.container_fds.append(w)
            self.streams_open += 1
            self.pumps.append(Pump(self.loop, r, name, sinks))
            fds.append(w)
        return fds[0], fds[1], fds[2]

    def spawned(self) -> None:
        """The runtime has handed the container its ends: close ours, take the pty master."""
        for fd in self.container_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.container_fds = []
        if self.console_sock is not None:
            self._receive_master()

    def _receive_master(self) -> None:
        from seabox.linux.console import recv_fd

        sock = self.console_sock
        assert sock is not None
        sock.settimeout(10)
        try:
            conn, _ = sock.accept()
        except OSError as e:
            raise InvalidArgument(f"console socket {self.console_path}: no pty master received ({e})")
        try:
            conn.settimeout(10)
            _, self.master = recv_fd(conn)
        finally:
            conn.close()
            self._close_console_sock()
        os.set_inheritable(self.master, False)
        sinks: list = []
        if "stdout" in self.fifos:
            sinks.append(FifoSink(self.loop, self.fifos.pop("stdout")))
        if self.log is not None:
            sinks.append(LogSink(self.log, self))
        self.streams_open += 1
        self.pumps.append(Pump(self.loop, self.master, "stdout", sinks, close_src=False))
        if "stdin" in self.fifos:
            self.stdin = StdinRelay(self.loop, self.fifos.pop("stdin"), self.master, close_dst=False)
        if "stderr" in self.fifos:  # a terminal has no separate stderr
            os.close(self.fifos.pop("stderr"))

    def console_address(self) -> str:
        """The console socket's name for the runtime (``/proc/<shim>/fd/<n>/...`` when the path is
        too long for sun_path)."""
        return self.console_dir.address() if self.console_dir is not None else self.console_path

    def _close_console_sock(self) -> None:
        if self.console_dir is not None:
            self.console_dir.close()
            self.console_dir = None
        if self.console_sock is not None:
            self.console_sock.close()
            self.console_sock = None
            try:
                os.unlink(self.console_path)
            except OSError:
                pass

    # -- while running -------------------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        if self.master < 0:
            raise InvalidArgument("resize: the process has no terminal")
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self.stdin.close_io()

    def exited(self) -> None:
        """The process was reaped: copy what it left in the pipes; a pty is drained and closed."""
        for p in self.pumps:
            p.drain()
        if self.master >= 0:
            for p in self.pumps:
                if p.fd == self.master:
                    p.finish()
            if self.stdin is not None:
                self.stdin.close()
            os.close(self.master)
            self.master = -1

    def stream_done(self) -> None:
        self.streams_open -= 1
        if self.streams_open <= 0 and self.log is not None:
            self.log.close()
            self.log = None

    def close(self) -> None:
        for p in self.pumps:
            p.finish()
        self.pumps = []
        if self.stdin is not None:
            self.stdin.close()
        for fd in list(self.fifos.values()) + self.container_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fifos = {}
        self.container_fds = []
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        self._close_console_sock()
        if self.log is not None:
            self.log.close()
            self.log = None
