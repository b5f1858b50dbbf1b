"""Foreground ``run``/``exec`` with a terminal and no --console-socket: runc's own tty proxy.

Design reason: the container's pty is always created inside the container and handed over a
console socket (one code path); in the foreground case seabox-runc simply is that receiver —
it listens on a private socket in its state root, takes the master, puts its own terminal in
raw mode and copies bytes both ways until the process exits, forwarding window-size changes.
"""

from __future__ import annotations

import os
import select
import socket


class ConsoleListener:
    def __init__(self, directory: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.path = os.path.join(directory, f".console-{os.getpid()}.sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self, timeout: float = 30.0) -> int:
        from seabox.linux.console import recv_fd

        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        try:
            _name, fd = recv_fd(conn)
        finally:
            conn.close()
        return fd

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    try:
        data = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, data)
    except OSError:
        pass


def proxy(master: int, pid: int) -> int:
    """Copy stdin -> master and master -> stdout until ``pid`` (our child) exits; return its code."""
    import signal
    import termios
    import tty

    from seabox.runtime.exec import exit_code

    stdin, stdout = 0, 1
    saved = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin)
        _copy_winsize(stdin, master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(stdin, master))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda signum, _f: os.kill(pid, signum))
    watch = [master, stdin]
    status = None
    try:
        while status is None:
            try:
                ready, _, _ = select.select(watch, [], [], 0.1)
            except InterruptedError:
                ready = []
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if fd == master:
                    if data:
                        os.write(stdout, data)
                    else:
                        watch = [x for x in watch if x != master]
                elif data:
                    os.write(master, data)
                else:
                    watch = [x for x in watch if x != stdin]
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        while True:  # drain what the process wrote last
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            os.write(stdout, data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        os.close(master)
    return exit_code(status)
