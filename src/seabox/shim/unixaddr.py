"""AF_UNIX addresses longer than the kernel's 108-byte ``sun_path``.

Design reason: a shim's sockets live in its state dir, ``<state>/shims/<namespace>/<id>/``, and a
64-hex container id with a long namespace pushes ``shim.sock`` and ``console-N.sock`` past the
107 usable bytes of ``sockaddr_un.sun_path`` ("AF_UNIX path too long").  Shortening the names
would only move the limit; instead the socket keeps its real path (recorded in the shim's state, so
a restarted daemon finds it) and, when that path is too long, ``bind``/``connect`` go through a
directory fd: ``/proc/self/fd/<n>/<name>`` resolves the directory by the fd, so only the short
magic-link path is in ``sun_path``.  Another process (the runtime connecting to a console socket)
reaches it through ``/proc/<pid>/fd/<n>/<name>`` of a process that holds the directory open.
"""

from __future__ import annotations

import os
from typing import Any

MAX_PATH = 107  # sun_path is 108 bytes including the terminating NUL


def fits(path: str) -> bool:
    return len(os.fsencode(path)) <= MAX_PATH


def _via_dir(sock: Any, path: str, op: str) -> None:
    d, name = os.path.split(path)
    fd = os.open(d or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        short = f"/proc/self/fd/{fd}/{name}"
        if not fits(short):
            raise OSError(36, "socket name too long", path)  # ENAMETOOLONG: the name alone is too long
        getattr(sock, op)(short)
    finally:
        os.close(fd)


def bind(sock: Any, path: str) -> None:
    """``sock.bind(path)``, through the directory's fd when ``path`` is longer than sun_path."""
    if fits(path):
        sock.bind(path)
    else:
        _via_dir(sock, path, "bind")


def connect(sock: Any, path: str) -> None:
    """``sock.connect(path)``, through the directory's fd when ``path`` is longer than sun_path."""
    if fits(path):
        sock.connect(path)
    else:
        _via_dir(sock, path, "connect")


class DirHandle:
    """Holds ``path``'s directory open so another process can reach ``path`` as
    ``/proc/<our pid>/fd/<n>/<name>`` (see :meth:`address`); a short path is passed as is."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        if not fits(path):
            self.fd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def address(self) -> str:
        """The name another process (same or more privileged user) can connect to."""
        if self.fd < 0:
            return self.path
        return f"/proc/{os.getpid()}/fd/{self.fd}/{os.path.basename(self.path)}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
