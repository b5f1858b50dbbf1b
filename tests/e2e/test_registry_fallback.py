"""Host fallback and resolve quirks, with a scripted fake endpoint in front of the open fixture registry."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.registry.client import RegistryClient
from seabox.oci import reference

pytestmark = pytest.mark.e2e


class Fake:
    """An endpoint that answers every request with ``status``, or proxies GETs to ``upstream``
    while refusing HEAD (``head_status``), counting what it saw."""

    def __init__(self, *, status: int = 0, head_status: int = 0, upstream: str = "127.0.0.1:5000",
                 corrupt_blobs: bool = False) -> None:  # fmt: skip
        self.status, self.head_status, self.upstream = status, head_status, upstream
        self.corrupt_blobs = corrupt_blobs
        self.seen: list[str] = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                fake.seen.append(f"HEAD {self.path}")
                if fake.status or fake.head_status:
                    self._reply(fake.status or fake.head_status)
                    return
                self._reply(200)

            def do_GET(self) -> None:
                fake.seen.append(f"GET {self.path}")
                if fake.status:
                    self._reply(fake.status, b'{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}')
                    return
                c = http.client.HTTPConnection(fake.upstream, timeout=30)
                c.request("GET", self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
                r = c.getresponse()
                body = r.read()
                if fake.corrupt_blobs and "/blobs/" in self.path and len(body) > 100:
                    body = body[:50] + bytes([body[50] ^ 0xFF]) + body[51:]  # same size, wrong bytes
                # no Docker-Content-Digest: the client must compute the digest itself
                self._reply(r.status, body, {"Content-Type": r.getheader("Content-Type", "")})
                c.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fakes() -> Iterator[list[Fake]]:
    made: list[Fake] = []
    yield made
    for f in made:
        f.close()


def _hosts(tmp: Path, registry: str, server: str, mirrors: list[str]) -> Path:
    d = tmp / "hosts" / registry
    d.mkdir(parents=True)
    text = f'server = "{server}"\n' + "".join(f'[host."{m}"]\n  capabilities = ["pull", "resolve"]\n' for m in mirrors)
    (d / "hosts.toml").write_text(text)
    return tmp / "hosts"


def test_mirror_answering_5xx_is_skipped(fixtures_info: dict, tmp_path: Path, fakes: list[Fake]) -> None:
    bad = Fake(status=503)
    fakes.append(bad)
    hosts = _hosts(tmp_path, "docker.io", "http://127.0.0.1:5000", [f"http://{bad.host}"])
    img = pull("busybox:oci", content_store=ContentStore(tmp_path / "c"), hosts_dir=hosts)
    assert img.target.digest == fixtures_info["images"]["busybox-oci"]["digest"]
    assert bad.seen and bad.seen[0].startswith("HEAD /v2/library/busybox/manifests/oci")
    assert "ns=docker.io" in bad.seen[0]  # mirrors are told which registry the request is for


def test_all_hosts_failing_reports_each(tmp_path: Path, fakes: list[Fake]) -> None:
    a, b = Fake(status=503), Fake(status=502)
    fakes += [a, b]
    hosts = _hosts(tmp_path, "example.test", f"http://{b.host}", [f"http://{a.host}"])
    with RegistryClient(hosts_dir=hosts) as c, pytest.raises(errdefs.Unavailable) as ei:
        c.resolve(reference.parse("example.test/x/y:z"))
    assert a.host in str(ei.value) or b.host in str(ei.value)


def test_resolve_without_digest_header_falls_back_to_get(fixtures_info: dict, tmp_path: Path, fakes: list[Fake]) -> None:
    f = Fake(head_status=405)
    fakes.append(f)
    hosts = _hosts(tmp_path, f.host, f"http://{f.host}", [])
    ref = reference.parse(f"{f.host}/library/busybox:latest")
    with RegistryClient(hosts_dir=hosts) as c:
        d = c.resolve(ref).descriptor
    assert d.digest == fixtures_info["images"]["busybox"]["digest"]
    assert d.media_type == fixtures_info["images"]["busybox"]["mediaType"]
    assert [s.split(" ")[0] for s in f.seen] == ["HEAD", "GET"]


@pytest.mark.root
def test_corrupt_layer_from_registry_is_refused(fixtures_info: dict, tmp_path: Path, fakes: list[Fake]) -> None:
    from seabox.snapshots.overlay import OverlaySnapshotter

    f = Fake(corrupt_blobs=True)
    fakes.append(f)
    hosts = _hosts(tmp_path, f.host, f"http://{f.host}", [])
    store = ContentStore(tmp_path / "c")
    snap = OverlaySnapshotter(tmp_path / "snap")
    try:
        with pytest.raises(errdefs.FailedPrecondition, match="digest mismatch"):
            pull(f"{f.host}/library/busybox:latest", content_store=store, snapshotter=snap, hosts_dir=hosts)
        layer = fixtures_info["images"]["busybox"]["layers"][0]["digest"]
        assert not store.exists(layer)
        assert [s.name for s in snap.walk()] == []  # nothing committed, the extraction removed
    finally:
        snap.close()
