"""Attached I/O for run/start -a/attach/exec: the hijacked connection, both directions.

With a TTY the connection carries raw bytes; the local terminal goes to raw mode (restored on
every exit path) and SIGWINCH resizes the remote one.  Without a TTY the output is stdcopy
frames, split to our stdout and stderr.  Stdin is pumped by a thread; at its EOF the write side
is shut down (docker's CloseWrite) so the container sees EOF too.
"""

from __future__ import annotations

import _socket
import os
import sys

from seabox.client.stdcopy import STDERR, SYSTEMERR, Demuxer

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

    from seabox.client.http import Response


def terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        sz = os.get_terminal_size(fd)
    except OSError:
        return None
    return sz.lines, sz.columns


class RawTerminal:
    """Context manager: the tty on ``fd`` in raw mode (a no-op when ``fd`` is not a tty)."""

    def __init__(self, fd: int, enable: bool) -> None:
        self.fd = fd
        self.enable = enable and os.isatty(fd)
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        if self.enable:
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def pump_stdin(sock: _socket.socket, stdin_fd: int, detach_keys: bytes = b"\x10\x11") -> threading.Thread:
    """Copy our stdin into ``sock`` in a daemon thread; half-close at EOF."""
    import threading  # only here: ``threading`` costs ~7 ms of start-up for `run` without -i

    def run() -> None:
        try:
            while True:
                try:
                    data = os.read(stdin_fd, 32768)
                except OSError:
                    data = b""
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            return
        try:
            sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=run, daemon=True, name="stdin")
    t.start()
    return t


def copy_output(resp: Response, tty: bool, stdout_fd: int = 1, stderr_fd: int = 2) -> str:
    """Copy the hijacked stream to our fds until the daemon closes it; returns any system error text."""
    syserr = ""
    dm = None if tty else Demuxer()
    for chunk in resp.iter_chunks():
        if dm is None:
            _write_all(stdout_fd, chunk)
            continue
        for stream, data in dm.feed(chunk):
            if stream == SYSTEMERR:
                syserr += data.decode("utf-8", "replace")
            else:
                _write_all(stderr_fd if stream == STDERR else stdout_fd, data)
    return syserr


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BrokenPipeError:
            return
        view = view[n:]


def on_resize(resize: Callable[[int, int], None], fd: int = 1) -> None:
    """Resize now and on every SIGWINCH."""
    import signal
    import threading

    def handler(*_a: object) -> None:
        size = terminal_size(fd)
        if size:
            try:
                resize(*size)
            except Exception:
                pass

    handler()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGWINCH, handler)


def stdin_is_tty() -> bool:
    return sys.stdin is not None and os.isatty(0)
