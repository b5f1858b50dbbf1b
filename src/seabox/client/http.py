"""A lean HTTP/1.1 client over a unix (or TCP) socket, for the Docker Engine API.

Why not ``http.client``: it imports the email package (several milliseconds) and cannot hand
over the raw connection after a ``101 UPGRADED`` answer, which attach and exec need (docker
"hijacks" the connection and then speaks raw bytes or stdcopy frames both ways).  The protocol
subset is small: one request per connection, ``Content-Length`` or ``chunked`` bodies, or a body
that runs until the server closes.  The C modules ``_socket`` and ``_json`` are used directly:
``socket`` and ``json`` import ``enum``, ``selectors`` and ``re``, the bulk of a command's start-up.
"""

from __future__ import annotations

import _socket
import os

from seabox import errdefs, jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO

    Socket = _socket.socket

API_VERSION = "v1.41"
DEFAULT_ADDRESS = "unix:///run/seabox/seaboxd.sock"
NAMESPACE_HEADER = "X-Seabox-Namespace"


class APIError(errdefs.SeaboxError):
    """An error answer of the daemon (status and its ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonUnavailable(errdefs.Unavailable):
    pass


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encode ``text`` (UTF-8), leaving unreserved characters and ``safe`` (urllib.parse costs ~3 ms to import)."""
    ok = _SAFE | frozenset(safe.encode())
    return "".join(chr(b) if b in ok else f"%{b:02X}" for b in text.encode())


def urlencode(items: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k).replace('%20', '+')}={quote(v).replace('%20', '+')}" for k, v in items)


def normalize_address(address: str) -> str:
    """``/path``, ``unix:///path`` or ``tcp://host:port`` → canonical form."""
    if not address:
        return DEFAULT_ADDRESS
    if address.startswith(("unix://", "tcp://")):
        return address
    if address.startswith("/") or address.startswith("."):
        return "unix://" + os.path.abspath(address)
    if address.startswith("fd://") or "://" in address:
        raise errdefs.InvalidArgument(f'address "{address}": unsupported scheme (use unix:// or tcp://)')
    return "tcp://" + address


def unavailable_message(address: str) -> str:
    return (
        f"Cannot connect to seaboxd at {address}. Is seaboxd running? "
        "Start it with `seaboxd` or `systemctl start seaboxd`."
    )


class Response:
    """Status, headers and a body reader for one answer; ``sock`` stays open until ``close``."""

    def __init__(self, sock: Socket, rfile: Reader, status: int, reason: str, headers: dict[str, str],
                 method: str = "GET") -> None:  # fmt: skip
        self.sock = sock
        self.rfile = rfile
        self.status = status
        self.reason = reason
        self.headers = headers
        te = headers.get("transfer-encoding", "").lower()
        self.chunked = "chunked" in te
        cl = headers.get("content-length")
        self.remaining: int | None = int(cl) if cl is not None and not self.chunked else None
        self._chunk_left = 0
        self._eof = False
        if status in (204, 304) or method == "HEAD":  # no body, whatever the headers say
            self.chunked = False
            self.remaining = 0

    def read1(self, n: int = 65536) -> bytes:
        """Some body bytes (b"" at the end), as soon as they arrive."""
        if self._eof:
            return b""
        if self.chunked:
            if self._chunk_left == 0:
                line = self.rfile.readline()
                if not line:
                    self._eof = True
                    return b""
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline()
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    self._eof = True
                    return b""
                self._chunk_left = size
            data = self.rfile.read1(min(n, self._chunk_left))
            if not data:
                self._eof = True
                return b""
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self.rfile.readline()
            return data
        if self.remaining is not None:
            if self.remaining <= 0:
                self._eof = True
                return b""
            data = self.rfile.read1(min(n, self.remaining))
            if not data:
                self._eof = True
                return b""
            self.remaining -= len(data)
            return data
        data = self.rfile.read1(n)
        if not data:
            self._eof = True
        return data

    def read(self) -> bytes:
        out = bytearray()
        while True:
            b = self.read1()
            if not b:
                break
            out += b
        return bytes(out)

    def read_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            b = self.read1(n - len(out))
            if not b:
                break
            out += b
        return bytes(out)

    def iter_chunks(self) -> Iterator[bytes]:
        while True:
            b = self.read1()
            if not b:
                return
            yield b

    def iter_lines(self) -> Iterator[bytes]:
        buf = b""
        for chunk in self.iter_chunks():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    yield line
        if buf.strip():
            yield buf

    def iter_json(self) -> Iterator[Any]:
        """A stream of JSON objects (one per line, or concatenated as dockerd's events are)."""
        buf = ""
        for chunk in self.iter_chunks():
            buf += chunk.decode("utf-8", "replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    obj, end = jsonlite.scan(buf)
                except ValueError:
                    break  # incomplete: wait for more
                buf = buf[end:]
                yield obj
        buf = buf.strip()
        if buf:
            yield jsonlite.loads(buf)

    def json(self) -> Any:
        data = self.read()
        self.close()
        return jsonlite.loads(data) if data.strip() else None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Reader:
    """A minimal buffered reader over a socket (``readline``, ``read1``), like ``makefile("rb")``."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            if not self._fill():
                line, self.buf = self.buf, b""
                return line
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read1(self, n: int = 65536) -> bytes:
        if not self.buf and not self._fill():
            return b""
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class Client:
    """One daemon endpoint; every request opens its own connection (the CLI makes few)."""

    def __init__(self, address: str = DEFAULT_ADDRESS, namespace: str = "default", *,
                 version: str = API_VERSION, timeout: float | None = None) -> None:  # fmt: skip
        self.address = normalize_address(address)
        self.namespace = namespace
        self.version = version
        self.timeout = timeout
        self.debug = False  # --debug: each request line on stderr

    # -- transport -----------------------------------------------------------------------------
    def connect(self) -> Socket:
        try:
            if self.address.startswith("unix://"):
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                try:
                    s.connect(self.address[len("unix://") :])
                except OSError:
                    s.close()
                    raise
            else:
                hostport = self.address[len("tcp://") :].rstrip("/")
                host, _, port = hostport.rpartition(":")
                fam, typ, proto, _c, sa = _socket.getaddrinfo(host.strip("[]") or "127.0.0.1", int(port or 2375), 0,
                                                             _socket.SOCK_STREAM)[0]  # fmt: skip
                s = _socket.socket(fam, typ, proto)
                s.settimeout(self.timeout)
                try:
                    s.connect(sa)
                except OSError:
                    s.close()
                    raise
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
            if isinstance(e, PermissionError):
                raise DaemonUnavailable(
                    f"permission denied while trying to connect to seaboxd at {self.address}"
                ) from None
            raise DaemonUnavailable(unavailable_message(self.address)) from None
        except OSError as e:
            raise DaemonUnavailable(f"{unavailable_message(self.address)} ({e.strerror or e})") from None
        return s

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        p = f"/{self.version}{path}" if self.version else path
        if query:
            items: list[tuple[str, str]] = []
            for k, v in query.items():
                if v is None or v is False:
                    continue
                if v is True:
                    v = "1"
                if isinstance(v, (list, tuple)):
                    items.extend((k, str(x)) for x in v)
                else:
                    items.append((k, str(v)))
            if items:
                p += "?" + urlencode(items)
        return p

    def send(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
             headers: dict[str, str] | None = None, upgrade: bool = False) -> Socket:  # fmt: skip
        """Send a request; the caller reads the answer with ``response(sock)``."""
        hdrs = {"Host": "seaboxd", "User-Agent": "seabox-cli", NAMESPACE_HEADER: self.namespace}
        data: bytes | None = None
        stream: BinaryIO | None = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
                hdrs["Content-Type"] = "application/octet-stream"
            elif hasattr(body, "read"):
                stream = body
                hdrs["Content-Type"] = "application/x-tar"
                hdrs["Transfer-Encoding"] = "chunked"
            else:
                data = jsonlite.dumps(body, ascii=False).encode()
                hdrs["Content-Type"] = "application/json"
        if data is not None:
            hdrs["Content-Length"] = str(len(data))
        elif stream is None and method in ("POST", "PUT"):
            hdrs["Content-Length"] = "0"
        if upgrade:
            hdrs["Connection"] = "Upgrade"
            hdrs["Upgrade"] = "tcp"
        else:
            hdrs["Connection"] = "close"  # one request per connection: a body without a length ends at close
        if headers:
            hdrs.update(headers)
        head = f"{method} {quote(self.url(path, query), safe='/?=&%:@,+;!*()')} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        if self.debug:
            os.write(2, f"DEBU[seabox] {head.splitlines()[0]} ({len(data or b'')} bytes)\n".encode())
        s = self.connect()
        try:
            s.sendall(head.encode() + (data or b""))
            if stream is not None:
                while True:
                    chunk = stream.read(1 << 16)
                    if not chunk:
                        break
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                s.sendall(b"0\r\n\r\n")
        except BrokenPipeError:
            pass  # the daemon answered early (an error); read it
        except OSError as e:
            s.close()
            raise DaemonUnavailable(f"{unavailable_message(self.address)} ({e})") from None
        return s

    def response(self, s: Socket, *, check: bool = True, method: str = "GET", rfile: Reader | None = None) -> Response:
        rfile = rfile or Reader(s)
        line = rfile.readline()
        if not line:
            s.close()
            raise DaemonUnavailable(f"seaboxd at {self.address} closed the connection without an answer")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            s.close()
            raise errdefs.SeaboxError(f"seaboxd at {self.address}: malformed answer {line[:80]!r}") from None
        reason = parts[2] if len(parts) > 2 else ""
        headers: dict[str, str] = {}
        while True:
            h = rfile.readline()
            if not h or h in (b"\r\n", b"\n"):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        resp = Response(s, rfile, status, reason, headers, method)
        if status == 100:
            return self.response(s, check=check, method=method, rfile=rfile)
        if check and status >= 400:
            raise error_from(resp)
        return resp

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None, check: bool = True) -> Response:  # fmt: skip
        s = self.send(method, path, query=query, body=body, headers=headers)
        return self.response(s, check=check, method=method)

    # -- conveniences --------------------------------------------------------------------------
    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query).json()

    def post_json(self, path: str, body: Any = None, query: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.request("POST", path, query=query, body=body, headers=headers).json()

    def post(self, path: str, query: dict[str, Any] | None = None, body: Any = None) -> None:
        self.request("POST", path, query=query, body=body).close()

    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, query=query).json()

    def hijack(self, path: str, *, query: dict[str, Any] | None = None, body: Any = None) -> Response:
        """POST with ``Upgrade: tcp``; the answer (101 or 200) leaves the socket for raw use."""
        s = self.send("POST", path, query=query, body=body, upgrade=True)
        return self.response(s)


def error_from(resp: Response) -> APIError:
    try:
        raw = resp.read()
    finally:
        resp.close()
    msg = ""
    try:
        obj = jsonlite.loads(raw)
        if isinstance(obj, dict):
            msg = str(obj.get("message") or "")
    except ValueError:
        msg = raw.decode("utf-8", "replace").strip()
    return APIError(resp.status, msg or f"{resp.status} {resp.reason}")
