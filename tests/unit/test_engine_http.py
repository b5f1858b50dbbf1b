"""The HTTP edge: routing, errors as Docker's {"message"}, chunked streams, hijack."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from seabox import errdefs
from seabox.engine import http
from seabox.engine.http import Reply, Request, Router


def _router() -> Router:
    r = Router()
    r.add("GET", "/containers/{id}/json", lambda req: Reply(200, {"id": req.params["id"]}))
    r.add("GET", "/images/{name:.+}/json", lambda req: Reply(200, {"name": req.params["name"]}))
    r.add("POST", "/boom", lambda req: (_ for _ in ()).throw(errdefs.NotFound('container "x": not found')))
    r.add("POST", "/conflict", lambda req: (_ for _ in ()).throw(errdefs.AlreadyExists("name in use")))
    r.add("POST", "/echo", lambda req: Reply(201, {"body": req.json(), "q": req.q("a"), "f": req.filters()}))
    r.add("GET", "/stream", lambda req: Reply(200, iter([b"one\n", b"", b"two\n"])))

    def hijack(req: Request) -> Reply:
        def take(conn: socket.socket, rfile: object) -> None:
            conn.sendall(b"raw:" + conn.recv(5))

        return Reply(200, None, "application/vnd.docker.raw-stream", hijack=take)

    r.add("POST", "/attach", hijack)
    return r


def _exchange(raw: bytes) -> bytes:
    a, b = socket.socketpair()
    t = threading.Thread(target=http.serve_connection, args=(_router(), b), daemon=True)
    t.start()
    a.sendall(raw)
    a.shutdown(socket.SHUT_WR)
    out = b""
    a.settimeout(5)
    while True:
        chunk = a.recv(65536)
        if not chunk:
            break
        out += chunk
    a.close()
    t.join(5)
    return out


def _body(resp: bytes) -> bytes:
    return resp.split(b"\r\n\r\n", 1)[1]


def test_route_params_with_version_prefix_and_slashes() -> None:
    out = _exchange(b"GET /v1.41/containers/abc/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200")
    assert json.loads(_body(out)) == {"id": "abc"}
    out = _exchange(b"GET /images/127.0.0.1:5000/library/busybox:latest/json HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
    assert json.loads(_body(out)) == {"name": "127.0.0.1:5000/library/busybox:latest"}
    assert b"Api-Version: 1.41" in out


@pytest.mark.parametrize(("path", "status"), [("/boom", 404), ("/conflict", 409), ("/nowhere", 404)])
def test_errors_map_to_docker_status_and_message(path: str, status: int) -> None:
    out = _exchange(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    assert out.startswith(f"HTTP/1.1 {status}".encode())
    assert "message" in json.loads(_body(out))


def test_method_not_allowed() -> None:
    out = _exchange(b"DELETE /containers/abc/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 405")


def test_json_body_query_and_filters() -> None:
    body = b'{"k": 1}'
    flt = "%7B%22name%22%3A%7B%22web%22%3Atrue%7D%7D"  # {"name":{"web":true}} (the old map form)
    out = _exchange(b"POST /echo?a=b&filters=" + flt.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 201")
    assert json.loads(_body(out)) == {"body": {"k": 1}, "q": "b", "f": {"name": ["web"]}}


def test_bad_json_is_400() -> None:
    out = _exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{x}")
    assert out.startswith(b"HTTP/1.1 400")


def test_chunked_stream() -> None:
    out = _exchange(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in out
    assert _body(out) == b"4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"


def test_hijack_with_upgrade_gets_101_then_raw_bytes() -> None:
    out = _exchange(b"POST /attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                    b"Content-Length: 0\r\n\r\nhello")
    assert out.startswith(b"HTTP/1.1 101")
    assert b"Upgrade: tcp" in out
    assert _body(out) == b"raw:hello"


def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    req = b"GET /v1.41/containers/a/json HTTP/1.1\r\nHost: x\r\n\r\n"
    out = _exchange(req + req.replace(b"/a/", b"/b/"))
    assert out.count(b"HTTP/1.1 200") == 2
