"""HTTP for registries: pooled keep-alive connections, auth retries, streamed bodies.

stdlib only (``http.client`` + ``ssl``): importing an HTTP library would cost every
CLI command more than the whole registry client.  One ``Transport`` is shared by all
threads of a pull; each request takes an idle connection for its endpoint (or opens
one) and gives it back when the response body has been read to the end, so
concurrent layer downloads run over parallel connections and sequential requests
reuse them.  Bodies are never buffered: ``Response.read(n)`` streams from the socket,
and request bodies may be file objects (sent in chunks by http.client).

A 401 is handed to the ``Authorizer`` which returns the header to retry with (once).
Redirects (blob storage backends use them) are followed for GET/HEAD, without the
registry's Authorization header when they leave the host.  ``HTTP_PROXY``,
``HTTPS_PROXY`` and ``NO_PROXY`` are honoured (CONNECT tunnels for HTTPS) except for
loopback registries, as docker and containerd do.  Connection-level
failures become ``errdefs.Unavailable`` naming the endpoint; certificate failures
say so and never fall back to plain HTTP.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from typing import IO
from urllib.parse import urljoin, urlsplit

from seabox import errdefs
from seabox.images.registry.auth import Authorizer, NoCredentials, basic_header
from seabox.images.registry.errors import error_from_response
from seabox.images.registry.hosts import RegistryHost, TLSContexts, is_loopback

USER_AGENT = "seabox/0.1"
CHUNK = 1 << 20


class Response:
    """A streaming response.  Read to EOF or ``close()`` it; the connection is then reused."""

    def __init__(self, transport: Transport, key: tuple[str, str], conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, url: str) -> None:  # fmt: skip
        self._t = transport
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self.url = url

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def read(self, n: int = -1) -> bytes:
        if self._conn is None:
            return b""
        try:
            b = self._resp.read() if n is None or n < 0 else self._resp.read(n)
        except (OSError, http.client.HTTPException) as e:
            self._discard()
            raise errdefs.Unavailable(f"registry {self._key[1]}: reading {self.url}: {e}") from e
        if not b or self._resp.isclosed():
            self._release()
        return b

    def readinto(self, buf: bytearray | memoryview) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def readable(self) -> bool:
        return True

    def read_all(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            b = self.read(min(CHUNK, limit + 1 - len(out)))
            if not b:
                return bytes(out)
            out += b
            if len(out) > limit:
                self.close()
                raise errdefs.FailedPrecondition(f"registry {self._key[1]}: response from {self.url} exceeds {limit} bytes")

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._resp.isclosed() and not self._resp.will_close:
                self._t._put(self._key, conn)
            else:
                conn.close()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        if self._conn is None:
            return
        # drain a small remainder to keep the connection, else drop it
        length = self._resp.length
        if length is not None and length <= 64 * 1024:
            try:
                self._resp.read()
            except (OSError, http.client.HTTPException):
                self._discard()
                return
            self._release()
        else:
            self._discard()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_cert_error(e: BaseException) -> bool:
    return isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)


def _not_tls(e: BaseException) -> bool:
    s = str(e)
    return isinstance(e, ssl.SSLError) and ("WRONG_VERSION_NUMBER" in s or "wrong version number" in s
                                            or "record layer failure" in s or "UNEXPECTED_RECORD" in s)  # fmt: skip


def proxy_for(scheme: str, netloc: str) -> tuple[str, dict[str, str]] | None:
    """The proxy (``host:port``, extra headers) for a request, from ``HTTP(S)_PROXY``/``NO_PROXY``.

    Loopback registries are never proxied (Go's, hence docker's and containerd's, rule).
    """
    if not any(k.lower() in ("http_proxy", "https_proxy", "all_proxy") for k in os.environ):
        return None  # the common case: no urllib import
    if is_loopback(netloc):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    hostname = urlsplit("//" + netloc).hostname or netloc
    if _no_proxy(proxies.get("no", ""), hostname, netloc):
        return None
    raw = proxies.get(scheme) or proxies.get("all")
    if not raw:
        return None
    sp = urlsplit(raw if "://" in raw else "http://" + raw)
    if not sp.hostname:
        return None
    headers: dict[str, str] = {}
    if sp.username is not None:
        from urllib.parse import unquote

        headers["Proxy-Authorization"] = basic_header(unquote(sp.username), unquote(sp.password or ""))
    port = sp.port or (443 if sp.scheme == "https" else 80)
    return f"{sp.hostname}:{port}", headers


def _no_proxy(spec: str, hostname: str, netloc: str) -> bool:
    """``NO_PROXY`` matching: ``*``, exact host or host:port, domain suffixes (``.corp`` or ``corp``), CIDRs."""
    import ipaddress

    host = hostname.lower().strip("[]")
    for raw in spec.split(","):
        e = raw.strip().lower()
        if not e:
            continue
        if e == "*" or e == netloc.lower() or e == host:
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(e, strict=False):
                return True
            continue
        except ValueError:
            pass
        if ":" in e:
            continue  # an entry with a port matches only that exact host:port (checked above)
        d = e.lstrip(".")
        if host == d or host.endswith("." + d):
            return True
    return False


class Transport:
    """Shared HTTP client for all registries of one operation (pull, push, login)."""

    def __init__(self, authorizer: Authorizer, *, timeout: float = 60.0, tls: TLSContexts | None = None) -> None:
        self.authorizer = authorizer
        self.timeout = timeout
        self.tls = tls or TLSContexts()
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._ctx_for: dict[str, ssl.SSLContext] = {}
        self._plain: set[str] = set()  # loopback netlocs found to speak plain HTTP

    # -- connections --------------------------------------------------------------
    def _get(self, scheme: str, netloc: str, host: RegistryHost | None) -> tuple[http.client.HTTPConnection, bool]:
        key = (scheme, netloc)
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        proxy = proxy_for(scheme, netloc)
        if scheme == "https":
            ctx = self.tls.for_host(host) if host is not None else self._default_ctx()
            if proxy is not None:
                # CONNECT through the proxy, then TLS with the registry (its name is checked, not the proxy's)
                tunnel = http.client.HTTPSConnection(proxy[0], timeout=self.timeout, context=ctx, blocksize=CHUNK)
                tunnel.set_tunnel(netloc, headers=proxy[1])
                return tunnel, False
            return http.client.HTTPSConnection(netloc, timeout=self.timeout, context=ctx, blocksize=CHUNK), False
        if proxy is not None:
            via = http.client.HTTPConnection(proxy[0], timeout=self.timeout, blocksize=CHUNK)
            via.seabox_proxy_headers = proxy[1]  # type: ignore[attr-defined]
            return via, False
        return http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=CHUNK), False

    def _default_ctx(self) -> ssl.SSLContext:
        return self.tls.for_host(RegistryHost("https", "-"))

    def _put(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            lst = self._idle.setdefault(key, [])
            if len(lst) < 8:
                lst.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for lst in self._idle.values() for c in lst]
            self._idle.clear()
        for c in conns:
            c.close()

    def scheme_for(self, host: RegistryHost) -> str:
        return "http" if host.netloc in self._plain else host.scheme

    # -- requests -----------------------------------------------------------------
    def send(self, method: str, scheme: str, netloc: str, target: str, headers: dict[str, str],
              body: bytes | IO[bytes] | Iterable[bytes] | None, host: RegistryHost | None) -> Response:  # fmt: skip
        replayable = body is None or isinstance(body, bytes)
        for attempt in range(2):
            conn, reused = self._get(scheme, netloc, host)
            try:
                via = getattr(conn, "seabox_proxy_headers", None)
                if via is not None:  # plain HTTP through a proxy: absolute-form request target
                    conn.request(method, f"http://{netloc}{target}", body=body, headers={**headers, **via})
                else:
                    conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                if reused and replayable and attempt == 0:
                    continue
                raise errdefs.Unavailable(f"registry {netloc}: {method} {target}: connection lost: {e}") from e
            except ssl.SSLError as e:
                conn.close()
                if _is_cert_error(e):
                    raise errdefs.Unavailable(
                        f"registry {netloc}: TLS certificate verification failed: {getattr(e, 'verify_message', '') or e}"
                        " (configure the registry's CA file in its hosts.toml \"ca\", or skip_verify)"
                    ) from e
                raise
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and replayable and attempt == 0:
                    continue
                why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
                if isinstance(e, socket.timeout):
                    why = "timed out"
                raise errdefs.Unavailable(f"registry {netloc}: {why}") from e
            return Response(self, (scheme, netloc), conn, resp, f"{scheme}://{netloc}{target}")
        raise AssertionError("unreachable")

    def request(
        self,
        host: RegistryHost,
        method: str,
        path: str,
        *,
        scopes: list[str],
        headers: Mapping[str, str] | None = None,
        body: bytes | IO[bytes] | None = None,
        subject: str = "",
        what: str = "",
        ok: Iterable[int] = (200,),
        follow_redirects: bool = True,
    ) -> Response:
        """Send ``method path`` (``path`` relative to the host's ``/v2`` base, or an absolute URL).

        Statuses in ``ok`` return the Response; others raise the mapped errdefs error
        (naming ``subject``).  401s are answered through the authorizer once.
        """
        ok = set(ok)
        hdrs: dict[str, str] = {"User-Agent": USER_AGENT}
        hdrs.update(dict(host.header))
        if headers:
            hdrs.update(headers)
        if isinstance(body, bytes):
            hdrs.setdefault("Content-Length", str(len(body)))
        elif body is None and method in ("PUT", "POST", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        auth = self.authorizer.header(host.netloc, scopes)
        if auth:
            hdrs["Authorization"] = auth
        had_auth = auth is not None
        url = path if "://" in path else None
        retried_401 = False
        for _ in range(8):
            if url is not None:
                sp = urlsplit(url)
                scheme, netloc = sp.scheme, sp.netloc
                target = sp.path + ("?" + sp.query if sp.query else "")
                same = netloc == host.netloc
            else:
                scheme, netloc, target, same = self.scheme_for(host), host.netloc, host.path + path, True
            if not same:
                hdrs.pop("Authorization", None)
            try:
                resp = self.send(method, scheme, netloc, target, hdrs, body, host if same else None)
            except ssl.SSLError as e:
                if same and host.http_fallback and scheme == "https" and _not_tls(e):
                    with self._lock:
                        self._plain.add(host.netloc)
                    continue
                hint = ""
                if "BAD_CERTIFICATE" in str(e) or "CERTIFICATE_REQUIRED" in str(e):
                    hint = ' (the registry wants a client certificate: configure "client" in its hosts.toml)'
                raise errdefs.Unavailable(f"registry {netloc}: TLS error: {e}{hint}") from e
            if resp.status == 401 and same:
                www = resp.headers.get_all("WWW-Authenticate") or []
                b401 = resp.read_all(1 << 20) if method != "HEAD" else b""
                streamed = body is not None and not isinstance(body, bytes)
                if retried_401 or not www or streamed:
                    raise error_from_response(401, b401, subject or host.netloc, what=what)
                try:
                    hdrs["Authorization"] = self.authorizer.on_unauthorized(host.netloc, www, scopes, had_auth)
                except NoCredentials:
                    raise error_from_response(401, b401, subject or host.netloc, what=what) from None
                had_auth = retried_401 = True
                continue
            if resp.status in (301, 302, 303, 307, 308) and follow_redirects and method in ("GET", "HEAD"):
                loc = resp.header("Location")
                resp.close()
                if not loc:
                    raise errdefs.Unavailable(f"registry {netloc}: redirect without Location")
                url = urljoin(f"{scheme}://{netloc}{target}", loc)
                continue
            if resp.status in ok:
                return resp
            b = resp.read_all(1 << 20) if method != "HEAD" else b""
            raise error_from_response(resp.status, b, subject or host.netloc, what=what)
        raise errdefs.Unavailable(f"registry {host.netloc}: too many redirects or retries for {path}")

