"""The running daemon: open the stores, serve gRPC on a unix socket, stop cleanly.

Start-up is kept short: grpc is imported only here (the CLI's ``--help`` and ``config``
paths never load it), the generated modules load only for the services registered, and
the thread pool starts threads on demand. The socket is created under a tight umask, then
given mode 0660 and the configured owner; a stale socket left by a crashed daemon is
replaced, a live one is refused.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from types import FrameType

import seabox
from seabox.daemon.config import Config
from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.events.exchange import Exchange
from seabox.metadata.gc import Scheduler
from seabox.metadata.store import MetadataStore
from seabox.snapshots.base import Snapshotter

log = logging.getLogger("seabox.daemon")

SOCKET_MODE = 0o660


def source_revision() -> str:
    """The git commit seabox runs from, read from the checkout's .git without running git;
    empty when seabox is not run from a checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        git = parent / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref: "):
                    return head
                ref = head[5:]
                refpath = git / ref
                if refpath.exists():
                    return refpath.read_text().strip()
                packed = git / "packed-refs"
                if packed.exists():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0]
            except OSError:
                return ""
            return ""
    return ""


def _prepare_socket(path: Path) -> None:
    if len(str(path).encode()) > 107:
        raise InvalidArgument(f'address "{path}": unix socket path longer than 107 bytes')
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: nobody listens
        else:
            raise FailedPrecondition(f'address "{path}": another daemon is serving on it')
        finally:
            probe.close()


class Daemon:
    """seaboxd's pieces, started and stopped as one."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.address = Path(cfg.grpc.address)
        self.metadata: MetadataStore | None = None
        self.exchange: Exchange | None = None
        self.server: object | None = None
        self._pool: futures.ThreadPoolExecutor | None = None
        self.stuck = False  # some handler thread outlived stop()
        self.snapshotters: dict[str, Snapshotter] = {}
        self.gc: Scheduler | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        t0 = time.monotonic()
        import grpc

        from seabox.api.containerd import Deps, register
        from seabox.api.containerd import tasks as tasks_api
        from seabox.api.containerd.events import event_fields
        from seabox.content.store import ContentStore
        from seabox.engine import serve as serve_engine
        from seabox.snapshots.native import NativeSnapshotter
        from seabox.snapshots.overlay import OverlaySnapshotter

        Path(self.cfg.root).mkdir(parents=True, exist_ok=True, mode=0o711)
        Path(self.cfg.state).mkdir(parents=True, exist_ok=True, mode=0o711)
        self.metadata = MetadataStore(self.cfg.metadata_path)
        snap_root = Path(self.cfg.root) / "snapshots"
        self.snapshotters = {"overlayfs": OverlaySnapshotter(snap_root / "overlayfs"),
                             "native": NativeSnapshotter(snap_root / "native")}
        self.exchange = Exchange(event_fields)
        deps = Deps(
            metadata=self.metadata,
            exchange=self.exchange,
            version=seabox.__version__,
            revision=source_revision(),
            uuid=self.metadata.server_uuid(),
            content=ContentStore(Path(self.cfg.root) / "content"),
            snapshotters=self.snapshotters,
        )
        deps.gc = self.gc = Scheduler(self.metadata, deps.content, self.snapshotters)
        self.gc.start()
        g = self.cfg.grpc
        self._pool = futures.ThreadPoolExecutor(max_workers=g.max_workers, thread_name_prefix="grpc")
        server = grpc.server(
            self._pool,
            options=[
                ("grpc.max_receive_message_length", g.max_recv_message_size),
                ("grpc.max_send_message_length", g.max_send_message_size),
                ("grpc.so_reuseport", 0),
            ],
        )
        plugins = register(server, deps)
        tasks = tasks_api.add(server, deps, self.cfg.state)
        _prepare_socket(self.address)
        old = os.umask(0o177)
        try:
            self.engine = serve_engine(self.cfg, deps, tasks, server, self.address)  # gRPC inside, mux here
        finally:
            os.umask(old)
        from seabox.cri.server import serve as serve_cri

        self.cri = serve_cri(self.cfg, deps, tasks, server)  # CRI v1 ([plugins.cri] from SEABOX_CRI_CONFIG)
        os.chmod(self.address, SOCKET_MODE)
        if os.geteuid() == 0 and (g.uid, g.gid) != (os.getuid(), os.getgid()):
            os.chown(self.address, g.uid, g.gid)  # as another user the socket stays that user's
        server.start()
        self.server = server
        log.info(
            "serving",
            extra={"fields": {"address": str(self.address), "root": self.cfg.root, "state": self.cfg.state,
                              "plugins": len(plugins), "startup_ms": round((time.monotonic() - t0) * 1000, 1)}},
        )

    def stop(self, grace: float = 2.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("stopping")
        if getattr(self, "engine", None) is not None:
            self.engine.close()
        cri = getattr(self, "cri", None)
        if cri is not None:
            cri.close()
        if self.exchange is not None:
            self.exchange.close()  # ends Subscribe streams so their threads return
        if self.server is not None:
            self.server.stop(grace).wait(grace + 1)  # type: ignore[attr-defined]
        if self._pool is not None:
            # handlers still running after the grace period (a Wait on a task that never
            # exits, say) must not keep the daemon from stopping: give them a bounded time
            self._pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + grace + 2
            for t in list(getattr(self._pool, "_threads", ())):
                t.join(max(0.0, deadline - time.monotonic()))
            busy = [t.name for t in getattr(self._pool, "_threads", ()) if t.is_alive()]
            if busy:
                self.stuck = True
                log.warning("handlers still running at stop; exiting without them",
                            extra={"fields": {"threads": len(busy)}})
        if self.gc is not None:
            self.gc.stop()
        for sn in self.snapshotters.values():
            sn.close()
        if self.metadata is not None:
            self.metadata.close()
        if self.server is not None:  # only a socket we bound is ours to remove
            try:
                self.address.unlink()
            except FileNotFoundError:
                pass
        log.info("stopped")

    def wait(self) -> None:
        self._stopped.wait()


def run(cfg: Config) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status."""
    daemon = Daemon(cfg)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal received", extra={"fields": {"signal": signal.Signals(signum).name}})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # a thread that wants the GIL back after I/O waits up to the switch interval for a busy one
    # (5 ms by default) — per request, on every hop; a container's start being prepared on one
    # thread must not hold up the attach/wait requests answered on others
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        daemon.start()
        # a short poll, not one long wait: the kernel may deliver SIGTERM to any thread (gRPC's
        # C threads included), and Python runs the handler only when the main thread wakes
        while not stop.wait(0.25):
            pass
    finally:
        # stopping is bounded: if an orderly stop has not finished in STOP_DEADLINE seconds
        # (a handler or a close that blocks), exit anyway rather than hang a service manager
        watchdog = threading.Timer(STOP_DEADLINE, _exit_now, args=("stop took too long; exiting",))
        watchdog.daemon = True
        watchdog.start()
        daemon.stop()
    # the orderly part is done (metadata closed, socket removed); leftover non-daemon threads
    # (stuck handlers, blocked accepts) must not keep the process alive at interpreter exit
    _exit_now("")
    return 0


STOP_DEADLINE = 15.0
SWITCH_INTERVAL = 0.0005


def _exit_now(reason: str) -> None:
    if reason:
        log.warning(reason)
    logging.shutdown()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)
