"""The buildd client: options in, JSON-line events out (``http.client`` over a unix socket).

HTTP is spoken directly on the socket (a request line, headers, and a response read
as lines): ``http.client`` would cost ~60 ms of imports (ssl, email) on every
``seabox build``, more than a fully cached build takes in the daemon.

The client does the parts that need the caller's view of the world: it reads the
Dockerfile, applies .dockerignore to choose the context files (sent as a tar, or
— for a daemon on this host — just the directory path), reads ``--secret`` files,
and looks up registry credentials in the caller's config.json for the hosts the
build pulls from and pushes to.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from seabox import errdefs

DEFAULT_ADDRESS = "unix:///run/seabox/buildd.sock"


class NotRunning(errdefs.Unavailable):
    def __init__(self, address: str) -> None:
        super().__init__(f"seabox-buildd is not running at {address}: start it with `seabox-buildd` "
                         "(or `systemctl start seabox-buildd`)")


class BuildFailed(Exception):
    pass


def default_address() -> str:
    return os.environ.get("BUILDKIT_HOST") or os.environ.get("SEABOX_BUILDD_ADDRESS") or DEFAULT_ADDRESS


def _path(address: str) -> str:
    return address.removeprefix("unix://").removeprefix("unix:")


class _Response:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.f: BinaryIO = sock.makefile("rb")
        line = self.f.readline(65536)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise errdefs.Unavailable(f"seabox-buildd: malformed response {line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            h = self.f.readline(65536)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def read(self) -> bytes:
        n = self.headers.get("content-length")
        return self.f.read(int(n)) if n is not None else self.f.read()

    def readline(self) -> bytes:
        return self.f.readline()

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def _request(path: str, method: str, url: str, parts: list[bytes], content_type: str,
             timeout: float | None) -> _Response:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        total = sum(len(p) for p in parts)
        head = (f"{method} {url} HTTP/1.1\r\nHost: buildd\r\nConnection: close\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {total}\r\n\r\n").encode()
        try:
            s.sendall(head + (parts[0] if parts else b""))
            for p in parts[1:]:
                if p:
                    s.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered early (e.g. a Dockerfile error) and stopped reading: read its answer
        return _Response(s)
    except BaseException:
        s.close()
        raise


@dataclass
class BuildRequest:
    context_dir: str
    dockerfile: str = ""  # path; default <context>/Dockerfile
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    platform: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # id → source file, or env:VARIABLE
    labels: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, str]] = field(default_factory=list)
    push: bool = False
    send_context: bool = False  # stream the context as a tar even to a local daemon
    config_path: str | None = None  # docker config.json with logins
    cache_from: list[str] = field(default_factory=list)  # --cache-from specs (remotecache.parse_spec)
    cache_to: list[str] = field(default_factory=list)


class Client:
    def __init__(self, address: str | None = None) -> None:
        self.address = address or default_address()

    def _path(self) -> str:
        path = _path(self.address)
        if not os.path.exists(path):
            raise NotRunning(self.address)
        return path

    def _request(self, method: str, url: str, body: bytes | None = None, timeout: float | None = 30) -> Any:
        try:
            resp = _request(self._path(), method, url, [body or b""], "application/json", timeout)
        except (ConnectionRefusedError, FileNotFoundError):
            raise NotRunning(self.address) from None
        try:
            data = json.loads(resp.read() or b"{}")
        finally:
            resp.close()
        if resp.status != 200:
            raise errdefs.FailedPrecondition(data.get("message", f"HTTP {resp.status}"))
        return data

    def ping(self) -> bool:
        """Whether a daemon answers; a transient error (not "no socket"/"refused") is retried."""
        for attempt in range(3):
            try:
                self._request("GET", "/_ping", timeout=10)
                return True
            except (NotRunning, ConnectionRefusedError, FileNotFoundError):
                return False
            except (OSError, ValueError, errdefs.SeaboxError):
                if attempt == 2:
                    raise
        return False

    def du(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/du")["records"])

    def prune(self, keep_storage: int = 0) -> dict[str, int]:
        return dict(self._request("POST", "/prune", json.dumps({"keep_storage": keep_storage}).encode(), timeout=None))

    def build(self, req: BuildRequest, on_event: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Run a build; every event goes to ``on_event``; returns the result event or raises BuildFailed."""
        if not self.ping():
            raise NotRunning(self.address)
        header, body = self._encode(req)
        try:
            resp = _request(self._path(), "POST", "/build", [header, body], "application/x-seabox-build", None)
        except (ConnectionRefusedError, FileNotFoundError):
            raise NotRunning(self.address) from None
        result: dict[str, Any] | None = None
        try:
            if resp.status != 200:
                raise BuildFailed(f"seabox-buildd answered HTTP {resp.status}: {resp.read()[:200]!r}")
            for line in _lines(resp):
                ev = json.loads(line)
                if ev.get("type") == "error":
                    raise BuildFailed(ev.get("message", "build failed"))
                if ev.get("type") == "result":
                    result = ev
                on_event(ev)
        finally:
            resp.close()
        if result is None:
            raise BuildFailed("seabox-buildd closed the connection before the build finished")
        return result

    def _encode(self, req: BuildRequest) -> tuple[bytes, bytes]:
        from seabox.build.ignore import read_rules, walk

        ctx = os.path.abspath(req.context_dir)
        if not os.path.isdir(ctx):
            raise errdefs.NotFound(errdefs.subject("build context", req.context_dir, "not found or not a directory"))
        dfpath = req.dockerfile or os.path.join(ctx, "Dockerfile")
        if req.dockerfile == "-":
            import sys

            text = sys.stdin.read()
            dfname = "Dockerfile"
        else:
            try:
                with open(dfpath, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise errdefs.NotFound(errdefs.subject("Dockerfile", dfpath, e.strerror or str(e))) from None
            dfname = os.path.relpath(dfpath, ctx) if os.path.abspath(dfpath).startswith(ctx + os.sep) \
                else os.path.basename(dfpath)
        secrets = {}
        for sid, src in req.secrets.items():
            if src.startswith("env:"):  # --secret id=X,env=VAR (the CLI checked that VAR is set)
                secrets[sid] = base64.b64encode(os.environ.get(src[4:], "").encode()).decode()
                continue
            try:
                with open(src, "rb") as f:
                    secrets[sid] = base64.b64encode(f.read()).decode()
            except OSError as e:
                raise errdefs.NotFound(errdefs.subject("secret", sid, f"cannot read {src}: {e.strerror}")) from None
        from seabox.buildd.remotecache import parse_spec

        cache_from = [parse_spec(c, exporting=False) for c in req.cache_from]
        cache_to = [parse_spec(c, exporting=True) for c in req.cache_to]
        outputs = list(req.outputs)
        if req.push and not any(o.get("type") == "image" for o in outputs):
            outputs.append({"type": "image", "push": "true"})
        elif req.push:
            for o in outputs:
                if o.get("type") == "image":
                    o["push"] = "true"
        doc: dict[str, Any] = {
            "dockerfile": text, "dockerfile_name": dfname,
            "dockerfile_path": os.path.abspath(dfpath) if req.dockerfile != "-" else "",
            "build_args": req.build_args, "target": req.target, "no_cache": req.no_cache, "pull": req.pull,
            "platform": req.platform, "secrets": secrets, "labels": req.labels, "tags": req.tags,
            "outputs": [_absolute_dest(o) for o in outputs], "credentials": _credentials(req, text),
            "cache_from": [_absolute_dest(c) for c in cache_from], "cache_to": [_absolute_dest(c) for c in cache_to],
        }
        body = b""
        if req.send_context:
            import tarfile

            rules = read_rules(ctx, dfpath if req.dockerfile != "-" else None)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for rel in walk(ctx, rules):
                    tf.add(os.path.join(ctx, rel), arcname=rel, recursive=False)
            body = buf.getvalue()
        else:
            doc["context_dir"] = ctx
        return json.dumps(doc).encode() + b"\n", body


def _absolute_dest(o: dict[str, str]) -> dict[str, str]:
    o = dict(o)
    for k in ("dest", "src"):
        if o.get(k) and o[k] != "-":
            o[k] = os.path.abspath(o[k])
    return o


def _credentials(req: BuildRequest, dockerfile: str) -> dict[str, list[str]]:
    """Logins for the registries of the tags and of every FROM line (a cheap textual scan)."""
    from seabox.images.registry.credentials import CredentialStore
    from seabox.oci import reference as references

    hosts: set[str] = set()
    refs = list(req.tags)
    for spec in [*req.cache_from, *req.cache_to]:  # registries of --cache-from/--cache-to
        for part in spec.split(","):
            k, sep, v = part.partition("=")
            refs.append(v if sep and k.strip() == "ref" else part if not sep else "")
    for line in dockerfile.splitlines():
        parts = line.strip().split()
        if parts and parts[0].upper() == "FROM":
            refs.extend(p for p in parts[1:] if not p.startswith("--"))
    for r in refs:
        try:
            hosts.add(references.parse_with_default_tag(r).domain)
        except Exception:
            continue
    store = CredentialStore(req.config_path) if req.config_path else CredentialStore()
    out = {}
    for h in hosts:
        try:
            c = store.lookup(h)
        except Exception:
            c = None
        if c:
            out[h] = [c[0], c[1]]
    return out


def _lines(resp: _Response) -> Iterator[bytes]:
    while True:
        line = resp.readline()
        if not line:
            return
        if line.strip():
            yield line


def parse_output(spec: str) -> dict[str, str]:
    """``type=oci,dest=x.tar`` → dict; a bare path means ``type=local,dest=<path>`` (docker's shorthand)."""
    if "=" not in spec:
        return {"type": "local", "dest": spec}
    out: dict[str, str] = {}
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            raise errdefs.InvalidArgument(errdefs.subject("output", spec, f"malformed field {part!r}"))
        out[k.strip()] = v.strip()
    if out.get("type") not in ("image", "registry", "oci", "docker", "local", "tar"):
        raise errdefs.InvalidArgument(errdefs.subject("output type", out.get("type", ""),
                                                      "not one of image, registry, oci, docker, local"))
    return out


