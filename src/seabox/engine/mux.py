"""One unix socket, two protocols: gRPC (HTTP/2) for ctr/CRI and HTTP/1.1 for the seabox CLI.

Design reason: a container that mounts only ``/run/seabox/seaboxd.sock`` (the Jenkins example)
must reach both APIs through that one path.  grpc's server cannot share a listening socket, so
seaboxd's gRPC server listens on an internal socket in the state dir and this acceptor owns the
public one.  Every accepted connection is classified by peeking (``MSG_PEEK``, nothing consumed)
at its first bytes: the HTTP/2 client preface ``PRI * HTTP/2.0`` means gRPC, and the connection
is spliced to the internal socket; anything else is handed, still unread, to the HTTP/1.1
handler on a thread of its own.

The splice is a pair of threads per gRPC connection, each moving bytes one way with
``os.splice`` through a pipe (the data never enters Python); recv/sendall is the fallback where
splice is refused.  gRPC clients keep one connection for many calls, so the per-connection cost
(a connect and two threads) is paid once; the per-call cost is one extra kernel hop each way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("seabox.engine.mux")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PEEK_TIMEOUT = 10.0
CHUNK = 1 << 16

HttpHandler = Callable[[socket.socket], None]


def classify(head: bytes) -> str | None:
    """``"grpc"``, ``"http"`` or None (need more bytes) for a connection's first bytes."""
    n = min(len(head), len(PREFACE))
    if head[:n] != PREFACE[:n]:
        return "http"
    if n == len(PREFACE):
        return "grpc"
    return None


def peek_kind(conn: socket.socket, timeout: float = PEEK_TIMEOUT) -> str | None:
    """Peek until the protocol is known; None if the peer closed or stayed silent."""
    conn.settimeout(timeout)
    try:
        while True:
            head = conn.recv(len(PREFACE), socket.MSG_PEEK)
            if not head:
                return None
            kind = classify(head)
            if kind is not None:
                return kind
            # a partial preface: wait for the rest (the peer sends all 24 bytes at once in practice)
            threading.Event().wait(0.001)
    except (TimeoutError, OSError):
        return None
    finally:
        with contextlib.suppress(OSError):
            conn.settimeout(None)


def _pump_splice(src: socket.socket, dst: socket.socket) -> None:
    r, w = os.pipe()
    try:
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, CHUNK)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dfd, n)
    finally:
        os.close(r)
        os.close(w)


def _pump_copy(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = src.recv_into(buf)
        if n == 0:
            break
        dst.sendall(view[:n])


def pump(src: socket.socket, dst: socket.socket, use_splice: bool = True) -> None:
    """Move bytes src → dst until EOF or an error, then half-close dst's write side."""
    try:
        if use_splice and hasattr(os, "splice"):
            try:
                _pump_splice(src, dst)
            except OSError as e:
                if e.errno not in (22, 38):  # EINVAL/ENOSYS: splice refused here; copy instead
                    raise
                _pump_copy(src, dst)
        else:
            _pump_copy(src, dst)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def splice_pair(a: socket.socket, b: socket.socket, use_splice: bool = True) -> None:
    """Join two sockets both ways; returns when both directions ended; closes both."""
    t = threading.Thread(target=pump, args=(b, a, use_splice), name="mux-back", daemon=True)
    t.start()
    try:
        pump(a, b, use_splice)
        t.join()
    finally:
        a.close()
        b.close()


class Mux:
    """Accepts on ``public``; gRPC connections go to ``grpc_address``, others to ``http``."""

    def __init__(self, public: Path | str, grpc_address: Path | str, http: HttpHandler, *,
                 use_splice: bool = True) -> None:
        self.public = Path(public)
        self.grpc_address = str(grpc_address)
        self.http = http
        self.use_splice = use_splice
        self.sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def listen(self) -> None:
        """Bind and listen on the public path (the caller sets umask/mode/owner)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(self.public))
        s.listen(512)
        self.sock = s

    def start(self) -> None:
        if self.sock is None:
            self.listen()
        self._thread = threading.Thread(target=self._accept_loop, name="mux-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self.sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            threading.Thread(target=self._serve, args=(conn,), name="mux-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            kind = peek_kind(conn)
            if kind is None:
                conn.close()
            elif kind == "grpc":
                self._to_grpc(conn)
            else:
                self.http(conn)
        except Exception:
            log.exception("connection failed")
            with contextlib.suppress(OSError):
                conn.close()

    def _to_grpc(self, conn: socket.socket) -> None:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(self.grpc_address)
        except OSError:
            up.close()
            conn.close()
            return
        splice_pair(conn, up, self.use_splice)

    def close(self) -> None:
        self._closed.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        if self._thread is not None:
            self._thread.join(2)
