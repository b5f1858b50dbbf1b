"""Pseudo-terminals for container processes and runc's console-socket protocol.

Design reason: the pty must be allocated *inside* the container (from its own devpts through
/dev/ptmx) so the slave is a path the container can see; the master is handed to whoever
listens on --console-socket as one SCM_RIGHTS message (the payload is a name, as runc sends),
and the slave becomes the process's controlling terminal and stdio.
"""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

from seabox.linux import syscalls as s


def open_pty() -> tuple[int, str]:
    """Allocate a pty from /dev/ptmx; return (master fd, slave path)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, s.TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, s.TIOCGPTN, b"\0" * 4))[0]
    return master, f"/dev/pts/{n}"


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def send_fd(sock_fd: int, name: str, fd: int) -> None:
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        sock.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    finally:
        sock.close()


def recv_fd(sock: socket.socket) -> tuple[str, int]:
    """The receiving side (used by tests and by a shim): returns (name, fd)."""
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise OSError("no file descriptor received on the console socket")
    return msg.decode(errors="replace"), fds[0]


def connect_console_socket(path: str) -> int:
    """Connect to the console socket; returns an fd (inheritable by forked children)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock.detach()


def make_controlling_terminal(slave_fd: int) -> None:
    """New session, the slave as controlling terminal and as fds 0, 1, 2."""
    os.setsid()
    fcntl.ioctl(slave_fd, s.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave_fd, fd)
    if slave_fd > 2:
        os.close(slave_fd)
