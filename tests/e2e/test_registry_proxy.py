"""HTTP(S)_PROXY / NO_PROXY: plain-HTTP forwarding and CONNECT tunnels through a local proxy."""

from __future__ import annotations

import http.client
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from seabox import errdefs
from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.registry.transport import proxy_for

pytestmark = pytest.mark.e2e

NAMES = {"open.sbt.test:5000": ("127.0.0.1", 5000), "tls.sbt.test:5002": ("127.0.0.1", 5002)}


class Proxy(socketserver.ThreadingTCPServer):
    """A forward proxy that knows the fake *.sbt.test names (they map to the fixture registries)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []
        self.auth: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://user:p%40ss@127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: Proxy

    def handle(self) -> None:
        while True:
            line = self.rfile.readline().decode()
            if not line:
                return
            method, target, _ = line.split(" ", 2)
            headers: dict[str, str] = {}
            while (h := self.rfile.readline().decode().strip()) != "":
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            self.server.seen.append(f"{method} {target}")
            self.server.auth.append(headers.get("proxy-authorization", ""))
            if method == "CONNECT":
                up = socket.create_connection(NAMES[target])
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                socks = [self.connection, up]
                while True:
                    r, _, _ = select.select(socks, [], [], 30)
                    if not r:
                        return
                    for s in r:
                        data = s.recv(65536)
                        if not data:
                            up.close()
                            return
                        (up if s is self.connection else self.connection).sendall(data)
            sp = urlsplit(target)
            n = int(headers.get("content-length", "0"))
            body = self.rfile.read(n) if n else None
            c = http.client.HTTPConnection(*NAMES[sp.netloc], timeout=30)
            fwd = {k: v for k, v in headers.items() if k not in ("proxy-authorization", "connection")}
            c.request(method, sp.path + ("?" + sp.query if sp.query else ""), body=body, headers=fwd)
            r = c.getresponse()
            data = r.read()
            self.wfile.write(f"HTTP/1.1 {r.status} {r.reason}\r\n".encode())
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.wfile.write(f"{k}: {v}\r\n".encode())
            self.wfile.write(f"Content-Length: {len(data)}\r\n\r\n".encode())
            if method != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
            c.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.shutdown()
    p.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for k in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(k, raising=False)
        monkeypatch.delenv(k.upper(), raising=False)
    return monkeypatch


def _hosts(tmp: Path, name: str, server: str, extra: str = "") -> Path:
    d = tmp / "hosts" / name
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text(f'server = "{server}"\n{extra}')
    return tmp / "hosts"


def test_plain_http_through_proxy(fixtures_info: dict, proxy: Proxy, no_proxy_env: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:  # fmt: skip
    hosts = _hosts(tmp_path, "open.sbt.test:5000", "http://open.sbt.test:5000")
    ref = "open.sbt.test:5000/library/busybox:latest"
    with pytest.raises(errdefs.Unavailable):  # the name does not resolve without the proxy
        pull(ref, content_store=ContentStore(tmp_path / "c0"), hosts_dir=hosts)
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    img = pull(ref, content_store=ContentStore(tmp_path / "c"), hosts_dir=hosts)
    assert img.target.digest == fixtures_info["images"]["busybox"]["digest"]
    assert proxy.seen[0].startswith("HEAD http://open.sbt.test:5000/v2/library/busybox/manifests/latest")
    assert proxy.auth[0] == "Basic dXNlcjpwQHNz"  # user:p@ss from the proxy URL
    no_proxy_env.setenv("NO_PROXY", "localhost,.sbt.test")
    with pytest.raises(errdefs.Unavailable):
        pull(ref, content_store=ContentStore(tmp_path / "c2"), hosts_dir=hosts)


def test_https_through_connect_tunnel(fixtures_info: dict, proxy: Proxy, no_proxy_env: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:  # fmt: skip
    hosts = _hosts(tmp_path, "tls.sbt.test:5002", "https://tls.sbt.test:5002", "skip_verify = true\n")
    no_proxy_env.setenv("https_proxy", proxy.url)
    img = pull("tls.sbt.test:5002/library/busybox:latest", content_store=ContentStore(tmp_path / "c"), hosts_dir=hosts)
    assert img.target.digest == fixtures_info["images"]["tls-busybox"]["digest"]
    assert proxy.seen[0] == "CONNECT tls.sbt.test:5002"


def test_proxy_selection(no_proxy_env: pytest.MonkeyPatch) -> None:
    assert proxy_for("https", "registry.example") is None
    no_proxy_env.setenv("HTTPS_PROXY", "proxy.corp:3128")
    no_proxy_env.setenv("NO_PROXY", "internal.corp,10.0.0.0/8,exact.example:5000")
    assert proxy_for("https", "registry.example") == ("proxy.corp:3128", {})
    assert proxy_for("http", "registry.example") is None  # no HTTP_PROXY
    assert proxy_for("https", "127.0.0.1:5000") is None  # loopback is never proxied
    assert proxy_for("https", "reg.internal.corp") is None
    assert proxy_for("https", "10.1.2.3:5000") is None
    assert proxy_for("https", "exact.example:5000") is None
    assert proxy_for("https", "exact.example:5001") is not None
