"""The lean HTTP/1.1 client against a scripted unix-socket server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.client.http import APIError, Client, normalize_address


class FakeServer:
    """Accepts connections; each is answered by ``handler(request_bytes, conn)``."""

    def __init__(self, path: Path, handler: Callable[[bytes, socket.socket], None]) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.handler = handler
        self.requests: list[bytes] = []
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                        while len(body) < n:
                            body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                self.handler(head + b"\r\n\r\n" + body, conn)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[[Callable[[bytes, socket.socket], None]], tuple[FakeServer, Client]]]:
    servers: list[FakeServer] = []

    def make(handler: Callable[[bytes, socket.socket], None]) -> tuple[FakeServer, Client]:
        s = FakeServer(tmp_path / f"s{len(servers)}.sock", handler)
        servers.append(s)
        return s, Client(f"unix://{tmp_path}/s{len(servers) - 1}.sock", namespace="k8s.io")

    yield make
    for s in servers:
        s.close()


def _answer(status: str, body: bytes, headers: str = "") -> Callable[[bytes, socket.socket], None]:
    def h(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body)

    return h


def test_json_request_headers_and_query(server) -> None:  # type: ignore[no-untyped-def]
    srv, c = server(_answer("200 OK", b'{"Id": "abc"}', "Content-Type: application/json\r\n"))
    assert c.post_json("/containers/create", {"Image": "busybox"}, {"name": "web one", "x": None, "all": True}) == {"Id": "abc"}
    req = srv.requests[0].decode()
    assert req.startswith("POST /v1.41/containers/create?name=web+one&all=1 HTTP/1.1\r\n")
    assert "X-Seabox-Namespace: k8s.io\r\n" in req and "Content-Type: application/json\r\n" in req
    assert req.endswith('{"Image":"busybox"}')


def test_chunked_body_and_json_stream(server) -> None:  # type: ignore[no-untyped-def]
    def h(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b'{"status": "a"}\r\n{"sta', b'tus": "b"}{"status"', b': "c"}\n'):
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")

    _srv, c = server(h)
    resp = c.request("POST", "/images/create")
    assert [m["status"] for m in resp.iter_json()] == ["a", "b", "c"]


def test_error_message_and_status(server) -> None:  # type: ignore[no-untyped-def]
    _srv, c = server(_answer("404 Not Found", b'{"message": "No such container: web"}'))
    with pytest.raises(APIError) as e:
        c.get_json("/containers/web/json")
    assert e.value.status == 404 and str(e.value) == "No such container: web"


def test_body_until_close_and_hijack(server) -> None:  # type: ignore[no-untyped-def]
    def h(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw-")
        got = conn.recv(100)
        conn.sendall(b"echo:" + got)
        conn.shutdown(socket.SHUT_WR)

    srv, c = server(h)
    resp = c.hijack("/containers/x/attach", query={"stream": 1})
    assert resp.status == 101
    assert resp.read1() == b"raw-"
    resp.sock.sendall(b"ping")
    assert resp.read() == b"echo:ping"
    assert b"Upgrade: tcp" in srv.requests[0]


def test_streamed_upload_is_chunked(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def h(req: bytes, conn: socket.socket) -> None:
        conn.settimeout(5)
        data = req.partition(b"\r\n\r\n")[2]
        while not data.endswith(b"0\r\n\r\n"):
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))

    _srv, c = server(h)
    f = tmp_path / "blob"
    f.write_bytes(b"x" * 70000)
    with open(f, "rb") as fh:
        echoed = c.request("PUT", "/containers/x/archive", body=fh).read()
    assert echoed.startswith(b"10000\r\n") and echoed.endswith(b"\r\n0\r\n\r\n")


def test_daemon_down_message(tmp_path: Path) -> None:
    c = Client(str(tmp_path / "none.sock"))
    with pytest.raises(errdefs.Unavailable, match=r"^Cannot connect to seaboxd at unix://.*none\.sock\. Is seaboxd running\?"):
        c.get_json("/version")


def test_addresses() -> None:
    assert normalize_address("/run/x.sock") == "unix:///run/x.sock"
    assert normalize_address("unix:///a") == "unix:///a"
    assert normalize_address("tcp://1.2.3.4:2375") == "tcp://1.2.3.4:2375"
    assert normalize_address("") == "unix:///run/seabox/seaboxd.sock"
    with pytest.raises(errdefs.InvalidArgument):
        normalize_address("ssh://host")
