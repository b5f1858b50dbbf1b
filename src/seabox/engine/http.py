"""The Engine API's HTTP/1.1 side: a stdlib request handler, a regex router, JSON replies.

Design reason: the mux hands over an accepted connection, so the server is a
``BaseHTTPRequestHandler`` run on that one socket (keep-alive, HTTP/1.1) rather than a
listening ``HTTPServer``.  Handlers are plain functions ``(req) -> Reply``; errors are
seabox.errdefs exceptions mapped to Docker's status codes at this single edge, with Docker's
``{"message": ...}`` body.  Streaming endpoints (pull progress, logs -f, events) return an
iterator of chunks sent with chunked transfer encoding; attach/exec *hijack* the connection:
the handler receives the raw socket after the ``101 UPGRADED`` (or ``200``) head is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from seabox import errdefs

log = logging.getLogger("seabox.engine.http")

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def status_of(e: BaseException) -> int:
    if isinstance(e, HTTPError):
        return e.status
    if isinstance(e, errdefs.NotFound):
        return 404
    if isinstance(e, errdefs.AlreadyExists):
        return 409
    if isinstance(e, errdefs.InvalidArgument):
        return 400
    if isinstance(e, errdefs.FailedPrecondition):
        return 409
    if isinstance(e, errdefs.Unavailable):
        return 503
    if isinstance(e, errdefs.Unauthorized):
        return 401
    return 500


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    conn: socket.socket | None = None
    handler: Any = None

    def q(self, name: str, default: str = "") -> str:
        v = self.query.get(name)
        return v[-1] if v else default

    def qbool(self, name: str, default: bool = False) -> bool:
        v = self.query.get(name)
        if not v:
            return default
        return v[-1].lower() in ("1", "true", "yes", "on")

    def qint(self, name: str, default: int = 0) -> int:
        v = self.q(name)
        if v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise errdefs.InvalidArgument(f"query {name}={v!r}: not an integer") from None

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise errdefs.InvalidArgument(f"request body: invalid JSON: {e}") from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's ``filters`` query: ``{"name": ["a"]}`` or the old ``{"name": {"a": true}}``."""
        raw = self.q("filters")
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError:
            raise errdefs.InvalidArgument(f"invalid filters: {raw}") from None
        out: dict[str, list[str]] = {}
        for k, v in (doc or {}).items():
            out[k] = list(v) if isinstance(v, list) else [x for x, on in dict(v).items() if on]
        return out


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; bytes → raw; iterator of bytes → chunked stream
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hijack: Callable[[socket.socket, Any], None] | None = None  # takes over the connection
    after: Callable[[], object] | None = None  # runs once the reply is sent (work the client need not wait for)


Route = Callable[[Request], Reply]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []

    def add(self, method: str, pattern: str, fn: Route) -> None:
        """``pattern``: a path with ``{param}`` (one segment) or ``{param:regex}`` parts."""

        def part(m: re.Match[str]) -> str:
            return f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})"

        self.routes.append((method, re.compile("^" + re.sub(r"\{(\w+)(?::([^}]+))?\}", part, pattern) + "$"), fn))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for m, rx, fn in self.routes:
            mt = rx.match(path)
            if mt:
                if m == method or (method == "HEAD" and m == "GET"):
                    return fn, {k: unquote(v) for k, v in mt.groupdict().items()}
                allowed = True
        if allowed:
            raise HTTPError(405, f"{method} {path}: method not allowed")
        raise HTTPError(404, f"page not found: {path}")


class Hijacked:
    """The raw connection after a hijack: reads first return what the HTTP parser had
    already buffered past the request head (a client may send stdin right after it)."""

    def __init__(self, sock: socket.socket, rfile: Any) -> None:
        self.sock = sock
        self.rfile = rfile

    def recv(self, n: int) -> bytes:
        data: bytes = self.rfile.read1(n)
        return data

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "seabox-engine"
    router: Router  # set on the subclass made by serve_connection

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format % args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        mv = _VERSION_PREFIX.match(path)
        if mv:
            path = mv.group(2)
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        req = Request(self.command, path, parse_qs(url.query, keep_blank_values=True), self.headers, body,
                      conn=self.connection, handler=self)
        try:
            fn, req.params = self.router.match(self.command, path)
            reply = fn(req)
        except Exception as e:  # the edge: every error becomes Docker's {"message": ...}
            status = status_of(e)
            if status == 500:
                log.exception("request failed", extra={"fields": {"path": self.path}})
            reply = Reply(status, {"message": str(e)})
        try:
            self._send(reply)
        finally:
            if reply.after is not None:
                reply.after()

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            line = self.rfile.readline()
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                break
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        return b"".join(parts)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, r: Reply) -> None:
        headers = {"Api-Version": API_VERSION, "Docker-Experimental": "false", "Ostype": "linux",
                   "Server": "seabox-engine"}
        headers.update(r.headers)
        if r.hijack is not None:
            upgrade = "upgrade" in self.headers.get("Connection", "").lower()
            headers["Content-Type"] = r.content_type
            if upgrade:
                headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
                self._head(101, headers)
            else:
                self._head(200, headers)
            self.wfile.flush()
            self.close_connection = True
            try:
                r.hijack(Hijacked(self.connection, self.rfile), self.rfile)  # type: ignore[arg-type]
            except OSError:
                pass
            return
        body = r.body
        if body is None:
            headers["Content-Length"] = "0"
            self._head(r.status, headers)
            return
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode() + b"\n"
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode()
        else:
            headers["Content-Type"] = r.content_type
            headers["Transfer-Encoding"] = "chunked"
            self._head(r.status, headers)
            self.wfile.flush()
            it: Iterator[bytes] = iter(body)
            try:
                for part in it:
                    if part:
                        self.wfile.write(_chunk(part))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
            return
        headers["Content-Type"] = r.content_type
        headers["Content-Length"] = str(len(data))
        self._head(r.status, headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


def serve_connection(router: Router, conn: socket.socket) -> None:
    """Serve HTTP/1.1 requests on one accepted connection until it closes."""
    cls = type("EngineHandler", (Handler,), {"router": router})
    try:
        cls(conn, "", None)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def json_lines(items: Iterable[dict]) -> Iterator[bytes]:
    for it in items:
        yield json.dumps(it).encode() + b"\r\n"
