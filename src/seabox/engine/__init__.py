"""seaboxd's Docker Engine API (v1.41 shapes) for the ``seabox`` CLI, on seaboxd's own socket.

Pieces: ``mux`` (one public socket: gRPC connections spliced to the internal gRPC socket, the
rest served as HTTP/1.1), ``http`` (handler, router, hijack), ``routes`` (one function per
endpoint), ``containers`` (records, lifecycle, restart policies), ``images``, ``volumes``,
``logs``, ``execs``, ``spec`` (Config/HostConfig → OCI spec), ``stdcopy`` (stream framing).

Design reason: dockerd is a client of containerd; the engine is a client of seaboxd's own
containerd API over the internal socket for images, containers and snapshots (the records stay
consistent with what ctr sees), and calls the TaskManager in-process for tasks (it needs the
shim's json-file log option and exit waits without a gRPC round trip).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("seabox.engine")

GRPC_SOCKET = "grpc.sock"
IDLE_CLIENTS = 4  # pooled connections per namespace (Engine.new_client)


class Engine:
    def __init__(self, settings: Any, deps: Any, tasks: Any) -> None:
        from seabox.engine.containers import Containers
        from seabox.engine.execs import Execs
        from seabox.engine.images import Images

        self.settings = settings
        self.deps = deps
        self.tasks = tasks
        self._clients: dict[str, Any] = {}
        self._idle: dict[str, list[Any]] = {}
        self._closed_clients = False  # new_client's pool: open connections, no lease
        self._clock = threading.Lock()
        self._subs: list[queue.Queue[dict[str, Any] | None]] = []
        self._slock = threading.Lock()
        self._history: collections.deque[dict[str, Any]] = collections.deque(maxlen=1024)  # for ``since``
        self.images = Images(self)
        self.containers = Containers(self)
        self.execs = Execs(self)
        self.started = time.time()

    # -- clients of seaboxd's own gRPC API -----------------------------------------------------

    def client(self, ns: str) -> Any:
        """A shared client for ``ns`` (no leases on it: use new_client for lease-scoped work)."""
        with self._clock:
            c = self._clients.get(ns)
            if c is None:
                from seabox.ctr.client import Client

                c = self._clients[ns] = Client(self.settings.grpc_address, ns)
            return c

    def new_client(self, ns: str) -> Any:
        """A client of its own (for lease-scoped work); its ``close`` gives the open connection
        back to a small pool, so create/remove do not pay a connect and HTTP/2 handshake each."""
        with self._clock:
            idle = self._idle.get(ns)
            if idle:
                return idle.pop()
        from seabox.ctr.client import Client

        c = Client(self.settings.grpc_address, ns)
        really_close = c.close

        def close() -> None:
            c.lease = ""
            with self._clock:
                idle = self._idle.setdefault(ns, [])
                if len(idle) < IDLE_CLIENTS and not self._closed_clients:
                    idle.append(c)
                    return
            really_close()

        c.close = close  # type: ignore[method-assign]
        c.really_close = really_close  # type: ignore[attr-defined]
        return c

    def credentials(self) -> Any:
        from seabox.images.registry.credentials import CredentialStore

        store = CredentialStore(self.settings.docker_config or None)
        return store.lookup

    # -- docker events --------------------------------------------------------------------------

    def emit(self, ns: str, kind: str, action: str, actor: str, attrs: dict[str, str]) -> None:
        t = time.time_ns()
        ev = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": dict(attrs)},
              "scope": "local", "time": t // 1_000_000_000, "timeNano": t, "namespace": ns}
        if kind == "container":
            ev.update({"status": action, "id": actor, "from": attrs.get("image", "")})
        with self._slock:
            self._history.append(ev)
            for q in self._subs:
                q.put(ev)

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        with self._slock:
            self._subs.append(q)
        return q

    def history(self, since: float) -> list[dict[str, Any]]:
        with self._slock:
            return [e for e in self._history if e["timeNano"] / 1e9 >= since]

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        with self._slock, contextlib.suppress(ValueError):
            self._subs.remove(q)

    def close(self) -> None:
        self.containers.close()
        with self._slock:
            for q in self._subs:
                q.put(None)
        with self._clock:
            self._closed_clients = True
            for c in self._clients.values():
                with contextlib.suppress(Exception):
                    c.close()
            self._clients.clear()
            for idle in self._idle.values():
                for c in idle:
                    with contextlib.suppress(Exception):
                        c.really_close()
            self._idle.clear()


def _empty() -> Any:
    from google.protobuf import empty_pb2

    return empty_pb2.Empty()


class Service:
    """The engine and its mux, as seaboxd starts and stops them."""

    def __init__(self, engine: Engine, mux: Any, internal: Path) -> None:
        self.engine = engine
        self.mux = mux
        self.internal = internal

    def close(self) -> None:
        self.mux.close()
        self.engine.close()
        with contextlib.suppress(FileNotFoundError):
            self.internal.unlink()


def serve(cfg: Any, deps: Any, tasks: Any, grpc_server: Any, address: Path | str) -> Service:
    """Bind gRPC on ``<state>/grpc.sock``, the mux on ``address``; recover containers.

    Called by seaboxd where it used to bind gRPC on the public socket (under its umask); the
    engine's recovery (restart policies) runs in the background once gRPC is serving.
    """
    from seabox.engine import http, mux, routes, settings

    internal = Path(cfg.state) / GRPC_SOCKET
    with contextlib.suppress(FileNotFoundError):
        internal.unlink()
    grpc_server.add_insecure_port(f"unix:{internal}")
    st = settings.load(cfg.root, cfg.state, str(internal), table=getattr(cfg, "engine", None))
    engine = Engine(st, deps, tasks)
    router = routes.build(engine)
    m = mux.Mux(address, internal, lambda conn: http.serve_connection(router, conn), use_splice=st.mux_splice)
    m.listen()
    m.start()

    def recover() -> None:
        deadline = time.monotonic() + 10  # grpc_server.start() follows this call
        while time.monotonic() < deadline:
            try:
                engine.client("default").version.Version(_empty())
                break
            except Exception:
                time.sleep(0.05)
        try:
            engine.containers.recover()
        except Exception:
            log.exception("engine recovery failed")

    threading.Thread(target=recover, name="engine-recover", daemon=True).start()
    return Service(engine, m, internal)
