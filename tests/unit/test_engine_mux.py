"""The mux: protocol detection by peeking, splicing both ways, HTTP handed over unread."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from seabox.engine import mux


def test_classify_preface_prefixes() -> None:
    assert mux.classify(mux.PREFACE) == "grpc"
    assert mux.classify(mux.PREFACE + b"more") == "grpc"
    assert mux.classify(b"PRI * HT") is None  # could still be the preface
    assert mux.classify(b"GET /_ping HTTP/1.1\r\n") == "http"
    assert mux.classify(b"P") is None
    assert mux.classify(b"POST /x") == "http"


def _echo_server(path: Path) -> tuple[socket.socket, threading.Thread]:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return

            def echo(c: socket.socket = c) -> None:
                with c:
                    while True:
                        data = c.recv(65536)
                        if not data:
                            return
                        c.sendall(b"echo:" + data)

            threading.Thread(target=echo, daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


@pytest.mark.parametrize("use_splice", [True, False])
def test_grpc_connections_are_spliced_and_http_handed_over_unread(tmp_path: Path, use_splice: bool) -> None:
    upstream, _ = _echo_server(tmp_path / "grpc.sock")
    seen: list[bytes] = []

    def http(conn: socket.socket) -> None:
        with conn:
            seen.append(conn.recv(1024))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    m = mux.Mux(tmp_path / "public.sock", tmp_path / "grpc.sock", http, use_splice=use_splice)
    m.start()
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(tmp_path / "public.sock"))
        c.sendall(mux.PREFACE + b"frame")
        got = b""
        while not got.endswith(b"frame"):
            got += c.recv(1024)
        assert got == b"echo:" + mux.PREFACE + b"frame"
        big = b"x" * 300_000
        c.sendall(big)
        want = len(big)
        total = 0
        while total < want:
            chunk = c.recv(65536)
            assert chunk
            total += len(chunk.replace(b"echo:", b""))
        c.close()

        h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        h.connect(str(tmp_path / "public.sock"))
        h.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert h.recv(1024).startswith(b"HTTP/1.1 200 OK")
        h.close()
        assert seen == [b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"]  # nothing consumed by the peek
    finally:
        m.close()
        upstream.close()


def test_silent_or_closed_peer_is_dropped(tmp_path: Path) -> None:
    a, b = socket.socketpair()
    b.close()
    assert mux.peek_kind(a, timeout=1) is None
    a.close()
    c, d = socket.socketpair()
    try:
        assert mux.peek_kind(c, timeout=0.2) is None
    finally:
        c.close()
        d.close()


def test_grpc_upstream_down_closes_the_client(tmp_path: Path) -> None:
    m = mux.Mux(tmp_path / "public.sock", tmp_path / "absent.sock", lambda c: c.close())
    m.start()
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(tmp_path / "public.sock"))
        c.sendall(mux.PREFACE)
        c.settimeout(5)
        try:
            got = c.recv(10)
        except ConnectionResetError:  # closed with our preface unread: a reset, also a close
            got = b""
        assert got == b""
        c.close()
    finally:
        m.close()
