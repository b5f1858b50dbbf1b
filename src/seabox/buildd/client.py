"""The buildd client: options in, JSON-line events out (``http.client`` over a unix socket).

The client does the parts that need the caller's view of the world: it reads the
Dockerfile, applies .dockerignore to choose the context files (sent as a tar, or
— for a daemon on this host — just the directory path), reads ``--secret`` files,
and looks up registry credentials in the caller's config.json for the hosts the
build pulls from and pushes to.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


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
    secrets: dict[str, str] = field(default_factory=dict)  # id → source file
    labels: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, str]] = field(default_factory=list)
    push: bool = False
    send_context: bool = False  # stream the context as a tar even to a local daemon
    config_path: str | None = None  # docker config.json with logins


class Client:
    def __init__(self, address: str | None = None) -> None:
        self.address = address or default_address()

    def _conn(self, timeout: float | None = None) -> _UnixConnection:
        path = _path(self.address)
        if not os.path.exists(path):
            raise NotRunning(self.address)
        return _UnixConnection(path, timeout)

    def _request(self, method: str, url: str, body: bytes | None = None, timeout: float | None = 30) -> Any:
        conn = self._conn(timeout)
        try:
            conn.request(method, url, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except (ConnectionRefusedError, FileNotFoundError):
            raise NotRunning(self.address) from None
        finally:
            conn.close()
        if resp.status != 200:
            raise errdefs.FailedPrecondition(data.get("message", f"HTTP {resp.status}"))
        return data

    def ping(self) -> bool:
        try:
            self._request("GET", "/_ping", timeout=5)
            return True
        except (NotRunning, OSError):
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
        conn = self._conn(None)
        try:
            conn.putrequest("POST", "/build")
            conn.putheader("Content-Type", "application/x-seabox-build")
            conn.putheader("Content-Length", str(len(header) + len(body)))
            conn.endheaders()
            conn.send(header)
            if body:
                conn.send(body)
            resp = conn.getresponse()
            result: dict[str, Any] | None = None
            for line in _lines(resp):
                ev = json.loads(line)
                if ev.get("type") == "error":
                    raise BuildFailed(ev.get("message", "build failed"))
                if ev.get("type") == "result":
                    result = ev
                on_event(ev)
        except (ConnectionRefusedError, FileNotFoundError):
            raise NotRunning(self.address) from None
        finally:
            conn.close()
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
            try:
                with open(src, "rb") as f:
                    secrets[sid] = base64.b64encode(f.read()).decode()
            except OSError as e:
                raise errdefs.NotFound(errdefs.subject("secret", sid, f"cannot read {src}: {e.strerror}")) from None
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
        }
        body = b""
        if req.send_context:
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
    if o.get("dest") and o["dest"] != "-":
        o["dest"] = os.path.abspath(o["dest"])
    return o


def _credentials(req: BuildRequest, dockerfile: str) -> dict[str, list[str]]:
    """Logins for the registries of the tags and of every FROM line (a cheap textual scan)."""
    from seabox.images.registry.credentials import CredentialStore
    from seabox.oci import reference as references

    hosts: set[str] = set()
    refs = list(req.tags)
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


def _lines(resp: http.client.HTTPResponse) -> Iterator[bytes]:
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


