"""Test helpers for the Engine API: an HTTP client over a unix socket (stdlib only).

Shipped with the library (as trio does) so e2e tests and benchmarks speak to seaboxd the
same way: ``EngineClient(sock).json("POST", "/containers/create", body)``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from seabox.engine import stdcopy


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = 120) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class EngineClient:
    def __init__(self, path: str, namespace: str = "", version: str = "v1.41") -> None:
        self.path = path
        self.namespace = namespace
        self.prefix = f"/{version}" if version else ""
        self._conn: _UnixConnection | None = None

    def conn(self) -> _UnixConnection:
        if self._conn is None:
            self._conn = _UnixConnection(self.path)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.namespace:
            h["X-Seabox-Namespace"] = self.namespace
        h.update(extra or {})
        return h

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        q = {k: (("1" if v else "0") if isinstance(v, bool) else v) for k, v in (query or {}).items()
             if v is not None}
        return self.prefix + quote(path, safe="/:@") + (("?" + urlencode(q, doseq=True)) if q else "")

    def raw(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        c = self.conn()
        try:
            c.request(method, self.url(path, query), body=data, headers=self._headers(headers))
            r = c.getresponse()
            out = r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        return r.status, dict(r.getheaders()), out

    def json(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Any:
        status, _, out = self.raw(method, path, body, query, headers)
        if status >= 400:
            try:
                msg = json.loads(out).get("message", "")
            except ValueError:
                msg = out.decode(errors="replace")
            raise APIError(status, msg)
        if not out.strip():
            return None
        try:
            return json.loads(out)
        except ValueError:
            return [json.loads(x) for x in out.splitlines() if x.strip()]

    def stream(self, method: str, path: str, query: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Iterator[bytes]:
        c = _UnixConnection(self.path, timeout=None)
        try:
            c.request(method, self.url(path, query), headers=self._headers(headers))
            r = c.getresponse()
            if r.status >= 400:
                raise APIError(r.status, r.read().decode(errors="replace"))
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    return
                yield chunk
        finally:
            c.close()

    def logs(self, cid: str, **query: Any) -> tuple[bytes, bytes]:
        q = {"stdout": True, "stderr": True, **query}
        _, _, out = self.raw("GET", f"/containers/{cid}/logs", query=q)
        frames, _ = stdcopy.deframe(out)
        return (b"".join(d for s, d in frames if s == stdcopy.STDOUT),
                b"".join(d for s, d in frames if s == stdcopy.STDERR))

    def hijack(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> socket.socket:
        """Send a request with ``Upgrade: tcp``; return the raw socket after the response head."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        data = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {self.url(path, query)} HTTP/1.1", "Host: localhost", "Connection: Upgrade",
                "Upgrade: tcp", "Content-Type: application/json", f"Content-Length: {len(data)}"]
        if self.namespace:
            head.append(f"X-Seabox-Namespace: {self.namespace}")
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise APIError(0, "connection closed before the response head")
            buf += chunk
        head_text, rest = buf.split(b"\r\n\r\n", 1)
        status = int(head_text.split(b" ", 2)[1])
        if status >= 400:
            raise APIError(status, rest.decode(errors="replace"))
        if rest:
            s2 = _Prefixed(s, rest)
            return s2  # type: ignore[return-value]
        return s


class _Prefixed:
    """A socket whose first recv returns bytes already read past the response head."""

    def __init__(self, s: socket.socket, pending: bytes) -> None:
        self.s = s
        self.pending = pending

    def recv(self, n: int) -> bytes:
        if self.pending:
            out, self.pending = self.pending[:n], self.pending[n:]
            return out
        return self.s.recv(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s, name)


def read_all(s: Any) -> bytes:
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


# -- a private seaboxd for Engine API tests ---------------------------------------------------


class PrivateEngine:
    """What ``private_engine`` yields: the daemon, its temp dir, the names the test owns."""

    def __init__(self, daemon: Any, work: Any, tag: str, admin_chain: str, config: Any) -> None:
        self.d, self.work, self.tag, self.admin_chain, self.config = daemon, work, tag, admin_chain, config


@contextlib.contextmanager
def private_engine(open_registry: str, state: Any, subnet: str, cni_bin: str = "/usr/lib/cni",
                   before_stop: Callable[[PrivateEngine], None] = lambda e: None) -> Iterator[PrivateEngine]:
    """seaboxd on a temp dir and ``state`` (short: shim socket paths), its engine configured
    through ``SEABOX_ENGINE_CONFIG``: docker.io mirrored to ``open_registry``, CNI networks with
    the test's own bridge names (``<tag>-…``), admin chain, file prefix and first subnet.

    At the end ``before_stop`` removes what the test made through the API, the daemon stops,
    and its networks, links and chains, the state and the temp dir go; leftovers found on the
    way fail the test."""
    import os
    import secrets
    import tempfile
    from pathlib import Path

    from seabox.daemon.tasks.testing import purge, remove_tree
    from seabox.daemon.testing import seaboxd
    from seabox.network import iptables as ipt
    from seabox.network import netlink
    from seabox.network.manager import Networks, Settings

    work = Path(tempfile.mkdtemp(prefix="sbt", dir="/tmp"))
    tag = "sbt-" + secrets.token_hex(3)
    hosts = work / "certs.d" / "docker.io"
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(
        'server = "https://registry-1.docker.io"\n\n'
        f'[host."http://{open_registry}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n')
    admin = f"SBT-{tag[4:].upper()}-ADMIN"
    cfg = work / "engine.json"
    cfg.write_text(json.dumps({
        "hosts_dir": str(work / "certs.d"),
        "network": {"conf_dir": str(work / "net.d"), "bin_dirs": [cni_bin], "default_bridge": f"{tag}-d",
                    "bridge_prefix": tag, "admin_chain": admin, "subnet_start": subnet, "file_prefix": f"{tag}-"},
    }))  # fmt: skip
    before_chains = {t: ipt.chains(t) for t in ("filter", "nat")}
    before_links = set(netlink.link_names())
    old = os.environ.get("SEABOX_ENGINE_CONFIG")
    os.environ["SEABOX_ENGINE_CONFIG"] = str(cfg)
    d_cm = seaboxd(work, "--state", str(state))
    d = d_cm.__enter__()
    d.state = state
    e = PrivateEngine(d, work, tag, admin, cfg)
    try:
        yield e
    finally:
        with contextlib.suppress(Exception):
            before_stop(e)
        with contextlib.suppress(Exception):
            d_cm.__exit__(None, None, None)
        if old is None:
            os.environ.pop("SEABOX_ENGINE_CONFIG", None)
        else:
            os.environ["SEABOX_ENGINE_CONFIG"] = old
        problems = purge(state)
        # the default bridge network is created on first use: it and its bridge go too
        st = Settings(conf_dir=str(work / "net.d"), bin_dirs=(cni_bin,), state_dir=str(state / "network"),
                      netns_dir=str(state / "netns"), default_bridge=f"{tag}-d", bridge_prefix=tag,
                      admin_chain=admin, file_prefix=f"{tag}-")  # fmt: skip
        nets = Networks(st)
        for n in nets.list():
            with contextlib.suppress(Exception):
                nets.remove(n.name, allow_default=True)
        for link in netlink.link_names():
            if link.startswith(tag) and link not in before_links:
                netlink.delete_link(link)
        after = {t: ipt.chains(t) for t in ("filter", "nat")}
        ipt.remove_idle_chains(admin, only={c for t in after for c in after[t] - before_chains.get(t, set())})
        remove_tree(work)
        remove_tree(state)
        assert problems == []
        assert [n for n in netlink.link_names() if n.startswith(tag)] == []
