"""Test helpers shipped with the registry client: tiny images, a private registry, a token server.

* ``build_layout`` writes a small OCI image layout (one or more platforms, gzip,
  zstd or uncompressed layers) that ``skopeo copy oci:<dir> docker://...`` can push.
* ``LocalRegistry`` runs Debian's ``docker-registry`` on a free 127.0.0.1 port with
  temp storage (optionally with htpasswd basic auth), and stops it.
* ``TokenAuthProxy`` is a bearer-token realm plus a reverse proxy in front of a
  registry: requests without a valid token get ``401 Bearer realm=...``; tokens are
  issued for basic credentials (or anonymously when allowed) and expire.

None of this is used by seabox itself; it lives here so every test module (and
other engineers' tests) can build on the same pieces.  Everything binds 127.0.0.1.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from seabox.oci import image as oci


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_tar(files: dict[str, bytes], *, mtime: int = 1_700_000_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                    tf.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(files[name]), 0o644, mtime
            tf.addfile(ti, io.BytesIO(files[name]))
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


_LAYER_TYPES = {"gzip": oci.OCI_LAYER_GZIP, "zstd": oci.OCI_LAYER_ZSTD, "": oci.OCI_LAYER}


@dataclass
class BuiltImage:
    layout: Path
    index_digest: str  # the top-level descriptor's digest (index or manifest)
    media_type: str
    manifests: dict[str, str]  # "os/arch[/variant]" -> manifest digest
    layers: dict[str, list[str]]  # platform -> layer blob digests
    diff_ids: dict[str, list[str]]


def build_layout(
    dest: Path,
    *,
    platforms: tuple[str, ...] = ("linux/amd64",),
    layers: list[dict[str, bytes]] | None = None,
    compression: str = "gzip",
    tag: str = "latest",
    index: bool | None = None,
) -> BuiltImage:
    """An OCI layout at ``dest`` with one manifest per platform (an index if several or ``index``)."""
    dest.mkdir(parents=True, exist_ok=True)
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(b: bytes) -> str:
        d = _sha(b)
        (blobs / d[7:]).write_bytes(b)
        return d

    layers = layers or [{"etc/hello": b"hello\n"}, {"etc/world": b"world\n", "bin/x": b"#!/bin/sh\n"}]
    descs = []
    out_manifests: dict[str, str] = {}
    out_layers: dict[str, list[str]] = {}
    out_diffs: dict[str, list[str]] = {}
    for p in platforms:
        parts = p.split("/")
        plat = oci.Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
        ldescs, diff_ids = [], []
        for files in layers:
            raw = make_tar({**files, f"etc/platform-{plat.architecture}": p.encode()})
            comp = compress(raw, compression)
            ldescs.append(oci.Descriptor(_LAYER_TYPES[compression], put(comp), len(comp)))
            diff_ids.append(_sha(raw))
        cfg = {
            "architecture": plat.architecture,
            "os": plat.os,
            **({"variant": plat.variant} if plat.variant else {}),
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
        cb = json.dumps(cfg).encode()
        m = oci.Manifest(oci.OCI_MANIFEST, oci.Descriptor(oci.OCI_CONFIG, put(cb), len(cb)), tuple(ldescs))
        mb = m.to_json()
        md = put(mb)
        out_manifests[p] = md
        out_layers[p] = [x.digest for x in ldescs]
        out_diffs[p] = diff_ids
        descs.append(oci.Descriptor(oci.OCI_MANIFEST, md, len(mb), platform=plat))
    use_index = index if index is not None else len(platforms) > 1
    if use_index:
        ib = oci.Index(oci.OCI_INDEX, tuple(descs)).to_json()
        top = oci.Descriptor(oci.OCI_INDEX, put(ib), len(ib), annotations={oci.ANNOTATION_REF_NAME: tag})
    else:
        d = descs[0]
        top = oci.Descriptor(d.media_type, d.digest, d.size, annotations={oci.ANNOTATION_REF_NAME: tag})
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top.to_dict()]}))
    return BuiltImage(dest, top.digest, top.media_type, out_manifests, out_layers, out_diffs)


def skopeo_push(layout: Path, tag: str, dest_ref: str, *, creds: str | None = None,
                all_platforms: bool = True) -> None:  # fmt: skip
    """``skopeo copy oci:<layout>:<tag> docker://<dest_ref>`` over plain HTTP (the oracle pushing)."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if all_platforms:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout}:{tag}", f"docker://{dest_ref}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


class LocalRegistry:
    """Debian's docker-registry on 127.0.0.1:<free port>, temp storage; optional htpasswd auth."""

    def __init__(self, *, htpasswd: tuple[str, str] | None = None, port: int | None = None, tls: bool = False,
                 client_certs: bool = False) -> None:  # fmt: skip
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="sbt-registry-"))
        self.htpasswd = htpasswd
        self.tls = tls or client_certs
        self.client_certs = client_certs
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def client_pair(self) -> tuple[Path, Path]:
        return self.dir / "client.pem", self.dir / "client.key"

    def _make_certs(self) -> None:
        d = self.dir

        def ssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d, timeout=60)

        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sbt test CA")
        (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        for name in ("server", "client"):
            ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=sbt {name}")
            ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")  # fmt: skip

    def start(self) -> LocalRegistry:
        auth = ""
        if self.htpasswd:
            user, pw = self.htpasswd
            out = subprocess.run(["htpasswd", "-Bbn", user, pw], check=True, capture_output=True, text=True).stdout
            (self.dir / "htpasswd").write_text(out)
            auth = f"auth:\n  htpasswd:\n    realm: seabox-test\n    path: {self.dir / 'htpasswd'}\n"
        tls = ""
        if self.tls:
            self._make_certs()
            tls = f"  tls:\n    certificate: {self.dir / 'server.pem'}\n    key: {self.dir / 'server.key'}\n"
            if self.client_certs:
                tls += f"    clientcas:\n      - {self.ca}\n"
        (self.dir / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n{tls}{auth}"
        )
        log = open(self.dir / "log", "wb")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.dir / "config.yml")],
                                     stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start on {self.host}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TokenAuthProxy:
    """A bearer-token realm (``/token``) and a registry proxy requiring its tokens.

    ``users`` maps username → password for token requests with basic auth;
    ``anonymous_pull`` lets anonymous clients get pull-only tokens.  ``token_ttl`` is
    the ``expires_in`` handed out (tokens are rejected after it).  ``token_requests``
    counts issued tokens (tests assert caching with it).
    """

    def __init__(self, upstream: str, *, users: dict[str, str] | None = None, anonymous_pull: bool = False,
                 token_ttl: int = 300) -> None:  # fmt: skip
        self.upstream = upstream
        self.users = users or {}
        self.anonymous_pull = anonymous_pull
        self.token_ttl = token_ttl
        self.tokens: dict[str, tuple[float, set[str]]] = {}  # token -> (expiry, granted scopes)
        self.refresh_tokens: dict[str, str] = {}  # OAuth2 refresh token -> username
        self.token_requests = 0
        self.scopes_requested: list[list[str]] = []
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.realm = f"http://{self.host}/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> TokenAuthProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> TokenAuthProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def expire_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _issue(self, auth: str | None, scopes: list[str]) -> tuple[int, dict[str, Any]]:
        user = None
        if auth and auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(u) != p:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
            user = u
        granted: set[str] = set()
        for sc in scopes:
            res, _, acts = sc.rpartition(":")
            for a in acts.split(","):
                if user is not None or (self.anonymous_pull and a == "pull"):
                    granted.add(f"{res}:{a}")
        if user is None and not self.anonymous_pull:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "anonymous access denied"}]}
        tok = secrets.token_hex(16)
        with self.lock:
            self.token_requests += 1
            self.scopes_requested.append(scopes)
            self.tokens[tok] = (time.monotonic() + self.token_ttl, granted)
        return 200, {"token": tok, "expires_in": self.token_ttl}

    def _needed(self, method: str, path: str) -> str:
        # /v2/<name>/(manifests|blobs|tags)/... -> repository:<name>:pull|push
        p = path.split("?", 1)[0]
        if not p.startswith("/v2/") or p == "/v2/":
            return ""
        rest = p[4:]
        for marker in ("/manifests/", "/blobs/", "/tags/"):
            if marker in rest:
                name = rest.split(marker, 1)[0]
                break
        else:
            return ""
        act = "pull" if method in ("GET", "HEAD") else "push"
        return f"repository:{name}:{act}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _proxy(self) -> None:
                sp = urlsplit(self.path)
                if sp.path == "/token" and self.command == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    form = parse_qs(self.rfile.read(n).decode())
                    rt = form.get("refresh_token", [""])[0]
                    user = proxy.refresh_tokens.get(rt) if form.get("grant_type") == ["refresh_token"] else None
                    auth = None if user is None else "Basic " + base64.b64encode(
                        f"{user}:{proxy.users[user]}".encode()).decode()  # fmt: skip
                    if user is None:
                        code, obj = 401, {"error": "invalid_grant"}
                    else:
                        code, obj = proxy._issue(auth, " ".join(form.get("scope", [])).split())
                    self._send(code, json.dumps(obj).encode(), {"Content-Type": "application/json"})
                    return
                if sp.path == "/token":
                    q = parse_qs(sp.query)
                    code, obj = proxy._issue(self.headers.get("Authorization"), q.get("scope", []))
                    self._send(code, json.dumps(obj).encode(), {"Content-Type": "application/json"})
                    return
                need = proxy._needed(self.command, self.path)
                if self.path.split("?")[0] == "/v2/" or need:
                    auth = self.headers.get("Authorization", "")
                    ok = False
                    if auth.startswith("Bearer "):
                        with proxy.lock:
                            t = proxy.tokens.get(auth[7:])
                        ok = t is not None and t[0] > time.monotonic() and (not need or need in t[1])
                        if need and "?mount=" in self.path and ok:
                            frm = parse_qs(sp.query).get("from", [""])[0]
                            ok = f"repository:{frm}:pull" in t[1]  # type: ignore[index]
                    if not ok:
                        chal = f'Bearer realm="{proxy.realm}",service="seabox-test"'
                        if need:
                            chal += f',scope="{need}"'
                        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
                        self._send(401, body.encode(), {"WWW-Authenticate": chal, "Content-Type": "application/json"})
                        return
                n = int(self.headers.get("Content-Length") or 0)
                body_in = self.rfile.read(n) if n else None
                c = http.client.HTTPConnection(proxy.upstream, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host", "connection")}
                c.request(self.command, self.path, body=body_in, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                out = {k: v for k, v in r.getheaders() if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                if "Location" in out and out["Location"].startswith(f"http://{proxy.upstream}"):
                    out["Location"] = out["Location"].replace(proxy.upstream, proxy.host, 1)
                self.send_response(r.status)
                for k, v in out.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", r.getheader("Content-Length") or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy

        return H


def env_without_proxy() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
