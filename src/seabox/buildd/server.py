"""seabox-buildd's API: JSON over HTTP/1.1 on a unix socket (stdlib only).

* ``GET /_ping`` → ``{"ok": true}``;
* ``POST /build`` — the body is one JSON line of options followed by the build
  context as a tar stream (files passing .dockerignore, chosen client side), or no
  tar when the options name a ``context_dir`` on this host (a local client skips
  the copy).  The response streams JSON lines: ``step`` (id, name, status
  start/done/error, cached, started/completed), ``log`` (id, line) and finally
  ``result`` (image digest, config digest, names, counts) or ``error`` (message);
* ``GET /du`` → cache records with sizes; ``POST /prune`` with ``{"keep_storage": N}``.

Responses to /build are written as they happen and end with the connection
(``Connection: close``), so a client needs nothing more than ``http.client``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import socketserver
import tarfile
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.build.dockerfile import DockerfileError
from seabox.buildd import output
from seabox.buildd.executor import BuildError, BuildOptions, Engine


class BuildServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, address: str, engine: Engine, seaboxd_address: str) -> None:
        self.engine = engine
        self.seaboxd_address = seaboxd_address
        self.active: set[threading.Event] = set()  # cancel events of running builds
        self.active_lock = threading.Lock()
        path = address.removeprefix("unix://").removeprefix("unix:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.path = path
        super().__init__(path, Handler)
        os.chmod(path, 0o660)

    def cancel_all(self, timeout: float = 20.0) -> None:
        """Cancel running builds (their RUN containers are killed) and wait for them to unwind."""
        import time

        with self.active_lock:
            for ev in self.active:
                ev.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.active_lock:
                if not self.active:
                    return
            time.sleep(0.05)

    def server_close(self) -> None:
        super().server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _message(e: BaseException) -> str:
    if isinstance(e, (DockerfileError, BuildError, errdefs.SeaboxError)):
        return str(e)
    if isinstance(e, OSError):
        return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    return f"{type(e).__name__}: {e}"


class Handler(BaseHTTPRequestHandler):
    server: BuildServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, code: int, doc: Any) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:
        if self.path == "/_ping":
            self._json(200, {"ok": True})
        elif self.path == "/du":
            self._json(200, {"records": self.server.engine.du()})
        else:
            self._json(404, {"message": f"{self.path}: not found"})

    def do_POST(self) -> None:
        if self.path == "/prune":
            try:
                req = json.loads(self._body() or b"{}")
                self._json(200, self.server.engine.prune(int(req.get("keep_storage") or 0)))
            except Exception as e:
                self._json(500, {"message": _message(e)})
        elif self.path == "/build":
            self.build()
        else:
            self._json(404, {"message": f"{self.path}: not found"})

    def build(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        header = self.rfile.readline(16 << 20)
        remaining = length - len(header)
        lock = threading.Lock()
        cancel = threading.Event()
        with self.server.active_lock:
            self.server.active.add(cancel)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def emit(ev: dict[str, Any]) -> None:
            with lock:
                try:
                    self.wfile.write(json.dumps(ev).encode() + b"\n")
                    self.wfile.flush()
                except OSError:
                    cancel.set()  # the client is gone (Ctrl-C): stop the build

        tmp = None
        try:
            req = json.loads(header)
            context_dir = req.get("context_dir") or ""
            if not context_dir:
                tmp = tempfile.mkdtemp(prefix="context-", dir=self.server.engine.state)
                _extract_context(self.rfile, remaining, tmp)
                context_dir = tmp
            emit({"type": "status", "message": "context ready"})
            watcher = threading.Thread(target=_watch_disconnect, args=(self.connection, cancel), daemon=True)
            watcher.start()
            result = run_build(self.server.engine, req, context_dir, emit, self.server.seaboxd_address, cancel)
            emit({"type": "result", **result})
        except Exception as e:
            if not isinstance(e, (DockerfileError, BuildError, errdefs.SeaboxError)):
                traceback.print_exc()
            emit({"type": "error", "message": _message(e)})
        finally:
            cancel.set()  # stops the disconnect watcher
            with self.server.active_lock:
                self.server.active.discard(cancel)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)


class _Limited:
    def __init__(self, f: Any, n: int) -> None:
        self.f = f
        self.n = n

    def read(self, size: int = -1) -> bytes:
        if self.n <= 0:
            return b""
        size = self.n if size < 0 else min(size, self.n)
        b = self.f.read(size)
        self.n -= len(b)
        return b


def _extract_context(stream: Any, n: int, dest: str) -> None:
    from seabox.buildd.fsops import extract_stream

    with tarfile.open(fileobj=_Limited(stream, n), mode="r|") as tf:  # type: ignore[call-overload]
        extract_stream(tf, dest)


def _watch_disconnect(conn: Any, cancel: threading.Event) -> None:
    """Set ``cancel`` when the client closes its end (a quiet RUN would otherwise never notice)."""
    import select

    while not cancel.is_set():
        try:
            r, _, _ = select.select([conn], [], [], 0.5)
            if r and not conn.recv(1, socket.MSG_PEEK):
                cancel.set()
                return
        except (OSError, ValueError):
            return


def run_build(engine: Engine, req: dict[str, Any], context_dir: str, emit: Any,
              seaboxd_address: str, cancel: threading.Event | None = None) -> dict[str, Any]:
    from seabox.buildd import remotecache

    opts = BuildOptions(
        dockerfile=req["dockerfile"],
        context_dir=context_dir,
        dockerfile_name=req.get("dockerfile_name") or "Dockerfile",
        dockerfile_path=req.get("dockerfile_path") or "",
        build_args=dict(req.get("build_args") or {}),
        target=req.get("target") or "",
        no_cache=bool(req.get("no_cache")),
        pull=bool(req.get("pull")),
        platform=req.get("platform") or "",
        secrets={k: base64.b64decode(v) for k, v in (req.get("secrets") or {}).items()},
        labels=dict(req.get("labels") or {}),
        credentials={k: (v[0], v[1]) for k, v in (req.get("credentials") or {}).items()},
        cache_from=[remotecache.check(x, exporting=False) for x in req.get("cache_from") or []],
        cache_to=[remotecache.check(x, exporting=True) for x in req.get("cache_to") or []],
    )
    names = list(req.get("tags") or [])
    outputs = list(req.get("outputs") or [])
    with engine.builds.shared():
        res = engine.build(opts, emit, cancel)
        desc = output.write_image(engine, res)
        for spec in opts.cache_to:
            remotecache.export(engine, spec, res.records, res.layers, opts.credentials.get,
                               lambda line: emit({"type": "status", "message": line}))
    config_digest = json.loads(engine.content.read_bytes(desc.digest))["config"]["digest"]

    def log(line: str) -> None:
        emit({"type": "status", "message": line})

    if not outputs:
        outputs = [{"type": "image"}]
    notes = []
    for out in outputs:
        kind = out.get("type", "image")
        if kind in ("image", "registry"):
            onames = [n for n in (out.get("name", "").split(",") if out.get("name") else names) if n]
            if kind == "registry" or out.get("push") in ("true", "1"):
                output.push(engine, onames, desc, opts.credentials, log)
            if kind == "image" and onames:
                if output.seaboxd_reachable(seaboxd_address):
                    output.to_seaboxd(engine, seaboxd_address, onames, desc, res.layers, config_digest)
                    log(f"exported to seaboxd as {', '.join(onames)}")
                else:
                    notes.append(f"seaboxd is not running at {seaboxd_address}: image kept in buildd only")
        elif kind in ("oci", "docker", "tar"):
            dest = out.get("dest", "")
            if not dest:
                raise errdefs.InvalidArgument(errdefs.subject("output", kind, "needs dest=<file>"))
            output.archive(engine, "oci" if kind == "tar" else kind, dest, names, desc)
        elif kind == "local":
            dest = out.get("dest", "")
            if not dest:
                raise errdefs.InvalidArgument(errdefs.subject("output", kind, "needs dest=<dir>"))
            output.local(engine, res.snapshot, dest)
    for n in notes:
        log(n)
    return {"digest": desc.digest, "config": config_digest, "names": names, "steps": res.steps,
            "cached": res.cached}
