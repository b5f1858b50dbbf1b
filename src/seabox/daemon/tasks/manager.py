"""TaskManager: the per-namespace task table, one shim per task, events and recovery.

Design reason: the shim is the source of truth for a task (status, pids, exit statuses and
times); the manager only remembers which shim serves which ``(namespace, container)``, plus
what it must undo at delete time (the bundle and its rootfs mount).  Every read (Get, List)
asks the shim, so nothing here can go stale.  A task whose shim died is kept as a *tombstone*
(status stopped, exit 137) until it is deleted, as containerd reports such tasks.

Events: the manager publishes create/start/exec/pause/delete itself, after the shim call
succeeded (it knows the request's fields, e.g. rootfs and stdio); exits and OOMs come from
the shim's own event stream, read by one thread per shim and acknowledged once published, so
an exit that happened while the daemon was down is replayed after a restart.

Shims are started by the warm launcher (``seabox.shim.launcher.Launcher``): one fork of an
already-imported interpreter per task, no Python start-up.
"""

from __future__ import annotations

import builtins
import calendar
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seabox.daemon.tasks import bundle as bundles
from seabox.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SeaboxError,
    Unavailable,
    subject,
)
from seabox.metadata.store import MetadataStore
from seabox.shim.client import ShimClient, recover, shim_dir
from seabox.shim.server import ShimConfig
from seabox.snapshots.base import Snapshotter
from seabox.snapshots.mount import Mount

log = logging.getLogger("seabox.daemon.tasks")

CREATED, RUNNING, STOPPED, PAUSED = "created", "running", "stopped", "paused"
DEAD_SHIM_EXIT = 128 + 9


def parse_time(s: str) -> int:
    """RFC 3339 (nanosecond) UTC text, as the shim writes it, to ns since the epoch (0 if empty)."""
    if not s:
        return 0
    base, _, frac = s.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return secs * 1_000_000_000 + nanos


@dataclass
class Process:
    """One process of a task as the API reports it."""

    container_id: str
    exec_id: str
    pid: int
    status: str
    exit_status: int = 0
    exited_at: int = 0  # ns since the epoch, 0 while running
    terminal: bool = False
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class TaskEvent:
    """A containerd task event, before encoding: topic (``/tasks/exit``) and its fields."""

    namespace: str
    topic: str
    fields: dict


@dataclass
class Task:
    namespace: str
    id: str
    bundle: Path
    client: ShimClient | None
    pid: int = 0
    tombstone: Process | None = None  # the shim died: the task is reported stopped
    lock: threading.Lock = field(default_factory=threading.Lock)


Publish = Callable[[TaskEvent], None]


class TaskManager:
    """Tasks of every namespace; thread-safe."""

    def __init__(self, state: Path, metadata: MetadataStore, snapshotters: dict[str, Snapshotter],
                 publish: Publish, *, launcher: object | None = None, runtime_binary: str = "") -> None:
        self.state = Path(state)
        self.shims = self.state / "shims"
        self.bundles = self.state / "bundles"
        self.runtime_root = str(self.state / "runtime")
        self.runtime_binary = runtime_binary
        self.metadata = metadata
        self.snapshotters = snapshotters
        self.publish = publish
        self._launcher = launcher
        self._launcher_lock = threading.Lock()
        self._lock = threading.Lock()
        self.tasks: dict[tuple[str, str], Task] = {}
        self._early: dict[tuple[str, str], tuple[threading.Thread, list]] = {}  # prepare_shim's spawns
        for d in (self.shims, self.bundles):
            d.mkdir(parents=True, exist_ok=True, mode=0o711)

    # -- shims ------------------------------------------------------------------------------------

    def launcher(self) -> object:
        with self._launcher_lock:
            if self._launcher is None:
                from seabox.shim.launcher import Launcher

                self._launcher = Launcher()
            return self._launcher

    def warm_up(self) -> None:
        """Start the launcher now (it imports the shim and runtime in the background)."""
        self.launcher()

    def close(self) -> None:
        """Stop the launcher; shims and their containers keep running."""
        with self._lock:
            early = list(self._early)
        for ns, cid in early:
            self.cancel_shim(ns, cid)
        with self._launcher_lock:
            if self._launcher is not None:
                self._launcher.close()  # type: ignore[attr-defined]
                self._launcher = None
        with self._lock:
            tasks = list(self.tasks.values())
        for t in tasks:
            if t.client is not None:
                t.client.close()

    def _spawn(self, ns: str, cid: str) -> ShimClient:
        early = self._take_early(ns, cid)
        if early is not None:
            return early
        cfg = ShimConfig(ns, cid, shim_dir(str(self.shims), ns, cid), runtime_binary=self.runtime_binary,
                         runtime_root=self.runtime_root)
        info = self.launcher().spawn(cfg)  # type: ignore[attr-defined]
        return ShimClient(info.address)

    def prepare_shim(self, ns: str, cid: str) -> None:
        """Start spawning the shim of ``cid``'s next task now, on a thread, so that it overlaps
        whatever the caller does before ``create`` (the engine builds the spec and the bundle
        meanwhile); ``create`` picks it up.  A caller that does not go on to ``create`` calls
        ``cancel_shim``."""
        key = (ns, cid)
        slot: list[ShimClient | BaseException] = []

        def run() -> None:
            try:
                cfg = ShimConfig(ns, cid, shim_dir(str(self.shims), ns, cid), runtime_binary=self.runtime_binary,
                                 runtime_root=self.runtime_root)
                slot.append(ShimClient(self.launcher().spawn(cfg).address))  # type: ignore[attr-defined]
            except BaseException as e:
                slot.append(e)

        th = threading.Thread(target=run, name=f"shim-spawn-{cid[:12]}", daemon=True)
        with self._lock:
            if key in self._early or key in self.tasks:
                return
            self._early[key] = (th, slot)
        th.start()

    def _take_early(self, ns: str, cid: str) -> ShimClient | None:
        with self._lock:
            early = self._early.pop((ns, cid), None)
        if early is None:
            return None
        th, slot = early
        th.join()
        got = slot[0] if slot else None
        return got if isinstance(got, ShimClient) else None  # a failed early spawn: spawn again, report that error

    def cancel_shim(self, ns: str, cid: str) -> None:
        """Stop a shim ``prepare_shim`` started that no task will use."""
        client = self._take_early(ns, cid)
        if client is not None:
            try:
                client.shutdown(now=True)
            except SeaboxError:
                pass

    def _watch(self, t: Task) -> None:
        """Read the shim's events (missed ones first), publish exits and OOMs, acknowledge them."""
        client = t.client
        assert client is not None

        def run() -> None:
            try:
                for ev in ShimClient(client.address, timeout=None).subscribe():
                    self._on_shim_event(t, ev)
                    try:
                        client.ack(int(ev["seq"]))
                    except SeaboxError:
                        return
            except SeaboxError:
                return
            except Exception:  # never let a watcher thread die loudly
                log.exception("shim watcher failed", extra={"fields": {"namespace": t.namespace, "id": t.id}})

        threading.Thread(target=run, name=f"shim-{t.namespace}/{t.id}", daemon=True).start()

    def _on_shim_event(self, t: Task, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "exit":
            exec_id = str(ev.get("exec_id") or "")
            self.publish(TaskEvent(t.namespace, "/tasks/exit", {
                "container_id": t.id, "id": exec_id or t.id, "pid": int(ev.get("pid") or 0),
                "exit_status": int(ev.get("exit_status") or 0), "exited_at": parse_time(str(ev.get("exited_at") or "")),
            }))
        elif kind == "oom":
            self.publish(TaskEvent(t.namespace, "/tasks/oom", {"container_id": t.id}))

    # -- lookups ----------------------------------------------------------------------------------

    def _get(self, ns: str, cid: str) -> Task:
        with self._lock:
            t = self.tasks.get((ns, cid))
        if t is None:
            raise NotFound(subject("task", cid, "not found"))
        return t

    def _client(self, t: Task) -> ShimClient:
        if t.client is None:
            raise FailedPrecondition(subject("task", t.id, "its shim died; the task is stopped"))
        return t.client

    def _process(self, t: Task, exec_id: str = "") -> Process:
        if t.tombstone is not None:
            if exec_id:
                raise NotFound(subject("process", exec_id, f"not found in task {t.id!r}"))
            return t.tombstone
        try:
            st = self._client(t).state(exec_id)
        except Unavailable:
            # the shim went away under us: report the task stopped (it is cleaned up on delete)
            return Process(t.id, exec_id, t.pid, STOPPED, DEAD_SHIM_EXIT, time.time_ns())
        return Process(t.id, exec_id, st.pid, st.status, st.exit_status, parse_time(st.exited_at), st.terminal,
                       st.stdin, st.stdout, st.stderr)

    # -- lifecycle --------------------------------------------------------------------------------

    def create(self, ns: str, cid: str, *, rootfs: Sequence[Mount] = (), stdin: str = "", stdout: str = "",
               stderr: str = "", terminal: bool = False, log: dict | None = None, spec: dict | None = None,
               volatile: bool = False) -> int:
        """Create the task of container ``cid``; returns the init's pid.

        ``rootfs``: mounts for ``<bundle>/rootfs`` (default: the container's snapshot mounts).
        ``log``: the shim's log for stdout/stderr instead of FIFOs (``ShimClient.create``'s
        ``log``, e.g. ``{"driver": "json-file", "path": ...}``).  ``spec``: an OCI spec to use
        instead of the container's stored one (in-process callers that already built it).
        ``volatile``: the container is deleted after this run (``--rm``), so its overlay skips
        the sync at unmount (``bundle.create``)."""
        c = self.metadata.containers.get(ns, cid)  # NotFound for an unknown container
        key = (ns, cid)
        t = Task(ns, cid, self.bundles / ns / cid, None)
        with self._lock:
            if key in self.tasks:
                raise AlreadyExists(subject("task", cid, "already exists"))
            self.tasks[key] = t  # reserved while it is being created
        try:
            with t.lock:
                self._create(t, c, rootfs, stdin, stdout, stderr, terminal, log, spec, volatile)
        except BaseException:
            with self._lock:
                self.tasks.pop(key, None)
            raise
        self.publish(TaskEvent(ns, "/tasks/create", {
            "container_id": cid, "bundle": str(t.bundle), "rootfs": list(rootfs),
            "io": {"stdin": stdin, "stdout": stdout, "stderr": stderr, "terminal": terminal}, "pid": t.pid,
        }))
        return t.pid

    def _create(self, t: Task, c: object, rootfs: Sequence[Mount], stdin: str, stdout: str, stderr: str,
                terminal: bool, log_config: dict | None = None, given: dict | None = None,
                volatile: bool = False) -> None:
        from seabox.metadata.containers import Container

        ts = time.monotonic()
        assert isinstance(c, Container)
        if given is not None:
            import json

            spec = bundles.parse_spec(t.id, json.dumps(given).encode())
        elif c.spec is None:
            raise InvalidArgument(subject("container", t.id, "has no spec"))
        else:
            spec = bundles.parse_spec(t.id, c.spec.value)
        mounts = list(rootfs)
        if not mounts and c.snapshot_key:
            sn = self.snapshotters.get(c.snapshotter or "overlayfs")
            if sn is None:
                raise InvalidArgument(subject("snapshotter", c.snapshotter, "not found"))
            mounts = sn.mounts(f"{t.namespace}/{c.snapshot_key}")
        t0 = time.monotonic()
        bundles.create(t.bundle, spec, mounts, volatile=volatile)
        client: ShimClient | None = None
        try:
            t1 = time.monotonic()
            client = self._spawn(t.namespace, t.id)
            t.client = client
            t2 = time.monotonic()
            t.pid = client.create(str(t.bundle), stdin=stdin, stdout=stdout, stderr=stderr, terminal=terminal,
                                  log=log_config)
            log.debug("task created", extra={"fields": {
                "namespace": t.namespace, "id": t.id, "spec_ms": round((t0 - ts) * 1000, 1),
                "bundle_ms": round((t1 - t0) * 1000, 1), "spawn_ms": round((t2 - t1) * 1000, 1),
                "create_ms": round((time.monotonic() - t2) * 1000, 1)}})
        except BaseException:
            if client is not None:
                try:
                    client.shutdown(now=True)
                except SeaboxError:
                    pass
            t.client = None
            bundles.remove(t.bundle)
            raise
        self._watch(t)

    def start(self, ns: str, cid: str, exec_id: str = "") -> int:
        t = self._get(ns, cid)
        pid = self._client(t).start(exec_id)
        if exec_id:
            self.publish(TaskEvent(ns, "/tasks/exec-started", {"container_id": cid, "exec_id": exec_id, "pid": pid}))
        else:
            self.publish(TaskEvent(ns, "/tasks/start", {"container_id": cid, "pid": pid}))
        return pid

    def delete(self, ns: str, cid: str) -> Process:
        t = self._get(ns, cid)
        with t.lock:
            if t.tombstone is not None:
                p = t.tombstone
            else:
                client = self._client(t)
                t0 = time.monotonic()
                try:
                    es = client.delete()
                    p = Process(cid, "", es.pid or t.pid, STOPPED, es.exit_status, parse_time(es.exited_at))
                except Unavailable:
                    from seabox.shim.client import cleanup_dead

                    try:
                        es = cleanup_dead(str(self.shims), ns, cid)
                    except (SeaboxError, OSError) as e:
                        log.warning("cleanup after a dead shim failed", extra={"fields": {"id": cid, "error": str(e)}})
                    p = Process(cid, "", t.pid, STOPPED, DEAD_SHIM_EXIT, time.time_ns())
                t1 = time.monotonic()
                try:
                    client.shutdown(now=True)
                except SeaboxError:
                    pass
                t2 = time.monotonic()
                bundles.remove(t.bundle)
                log.debug("task deleted", extra={"fields": {
                    "namespace": ns, "id": cid, "delete_ms": round((t1 - t0) * 1000, 1),
                    "shutdown_ms": round((t2 - t1) * 1000, 1), "bundle_ms": round((time.monotonic() - t2) * 1000, 1)}})
            if t.tombstone is not None:
                bundles.remove(t.bundle)  # normally gone at recovery already
            with self._lock:
                self.tasks.pop((ns, cid), None)
        self.publish(TaskEvent(ns, "/tasks/delete", {"container_id": cid, "id": cid, "pid": p.pid,
                                                     "exit_status": p.exit_status, "exited_at": p.exited_at}))
        return p

    def delete_process(self, ns: str, cid: str, exec_id: str) -> Process:
        if not exec_id:
            raise InvalidArgument(subject("task", cid, "delete process: an exec id is required"))
        t = self._get(ns, cid)
        es = self._client(t).delete(exec_id)
        p = Process(cid, exec_id, es.pid, STOPPED, es.exit_status, parse_time(es.exited_at))
        self.publish(TaskEvent(ns, "/tasks/delete", {"container_id": cid, "id": exec_id, "pid": p.pid,
                                                     "exit_status": p.exit_status, "exited_at": p.exited_at}))
        return p

    def get(self, ns: str, cid: str, exec_id: str = "") -> Process:
        return self._process(self._get(ns, cid), exec_id)

    def list(self, ns: str) -> list[Process]:
        with self._lock:
            tasks = [t for (n, _), t in sorted(self.tasks.items()) if n == ns and (t.client or t.tombstone)]
        out = []
        for t in tasks:
            try:
                out.append(self._process(t))
            except NotFound:  # deleted meanwhile
                continue
        return out

    def ids(self, ns: str) -> builtins.list[str]:
        with self._lock:
            return [cid for (n, cid) in sorted(self.tasks) if n == ns]

    def kill(self, ns: str, cid: str, signal: int, *, exec_id: str = "", all: bool = False) -> None:
        t = self._get(ns, cid)
        if not 0 < signal < 65:
            raise InvalidArgument(subject("task", cid, f"kill: invalid signal {signal}"))
        p = self._process(t, exec_id)
        if p.status == STOPPED and not (all and not exec_id and t.client is not None):
            what = subject("process", exec_id, "") if exec_id else subject("task", cid, "")
            raise FailedPrecondition(f"{what}process already finished")
        try:
            self._client(t).kill(signal, exec_id=exec_id, all=all)
        except NotFound as e:
            if "already finished" in str(e):
                raise FailedPrecondition(str(e).removesuffix(": not found"))
            raise

    def exec(self, ns: str, cid: str, exec_id: str, process: dict, *, stdin: str = "", stdout: str = "",
             stderr: str = "", terminal: bool = False) -> None:
        if not exec_id:
            raise InvalidArgument(subject("task", cid, "exec: an exec id is required"))
        t = self._get(ns, cid)
        self._client(t).exec(exec_id, process, stdin=stdin, stdout=stdout, stderr=stderr, terminal=terminal)
        self.publish(TaskEvent(ns, "/tasks/exec-added", {"container_id": cid, "exec_id": exec_id}))

    def resize(self, ns: str, cid: str, width: int, height: int, exec_id: str = "") -> None:
        self._client(self._get(ns, cid)).resize(width, height, exec_id)

    def close_io(self, ns: str, cid: str, exec_id: str = "") -> None:
        self._client(self._get(ns, cid)).close_io(exec_id)

    def pause(self, ns: str, cid: str) -> None:
        self._client(self._get(ns, cid)).pause()
        self.publish(TaskEvent(ns, "/tasks/paused", {"container_id": cid}))

    def resume(self, ns: str, cid: str) -> None:
        self._client(self._get(ns, cid)).resume()
        self.publish(TaskEvent(ns, "/tasks/resumed", {"container_id": cid}))

    def pids(self, ns: str, cid: str) -> builtins.list[dict]:
        return self._client(self._get(ns, cid)).pids()

    def update(self, ns: str, cid: str, resources: dict) -> None:
        self._client(self._get(ns, cid)).update(resources)

    def stats(self, ns: str, cid: str) -> dict:
        return self._client(self._get(ns, cid)).stats()

    def wait(self, ns: str, cid: str, exec_id: str = "", cancelled: Callable[[], bool] | None = None,
             poll: float = 2.0) -> Process:
        """Block until the process exits.  The shim answers when it reaps it; meanwhile, every
        ``poll`` seconds, a caller that went away (``cancelled()``) releases its thread."""
        t = self._get(ns, cid)
        if t.tombstone is not None:
            return self._process(t, exec_id)
        client = self._client(t)
        while True:
            try:
                es = client.wait(exec_id, timeout=poll if cancelled is not None else None)
                return Process(cid, exec_id, es.pid, STOPPED, es.exit_status, parse_time(es.exited_at))
            except Unavailable:
                if cancelled is not None and cancelled():
                    raise Unavailable(subject("task", cid, "wait cancelled by the client"))
                try:
                    client.ping()
                except Unavailable:
                    return self._process(t, exec_id)  # the shim died: reported stopped

    # -- recovery ---------------------------------------------------------------------------------

    def recover(self) -> None:
        """After a (re)start: reconnect to live shims, report tasks whose shim died as stopped,
        and remove bundles nobody serves."""
        found = recover(str(self.shims))
        for (ns, cid), client in found.live.items():
            t = Task(ns, cid, self.bundles / ns / cid, client)
            try:
                st = client.state()
            except NotFound:  # a shim that never created its task: nothing to keep
                try:
                    client.shutdown(now=True)
                except SeaboxError:
                    pass
                continue
            except SeaboxError as e:
                log.warning("shim not answering", extra={"fields": {"namespace": ns, "id": cid, "error": str(e)}})
                continue
            if st.bundle:
                t.bundle = Path(st.bundle)
            t.pid = st.pid
            with self._lock:
                self.tasks[(ns, cid)] = t
            self._watch(t)
        dead = {k: (es.exit_status, parse_time(es.exited_at)) for k, es in found.dead.items()}
        for k, msg in found.failed.items():
            log.warning("cleanup of a dead shim failed", extra={"fields": {"namespace": k[0], "id": k[1],
                                                                           "error": msg}})
            dead[k] = (DEAD_SHIM_EXIT, time.time_ns())
        for (ns, cid), (status, at) in dead.items():
            t = Task(ns, cid, self.bundles / ns / cid, None)
            t.tombstone = Process(cid, "", 0, STOPPED, status, at)
            try:
                bundles.remove(t.bundle)
            except OSError as e:
                log.warning("bundle cleanup failed", extra={"fields": {"id": cid, "error": str(e)}})
            with self._lock:
                self.tasks[(ns, cid)] = t
            self.publish(TaskEvent(ns, "/tasks/exit", {"container_id": cid, "id": cid, "pid": 0,
                                                       "exit_status": status, "exited_at": at}))
        self._remove_orphan_bundles()
        log.info("tasks recovered", extra={"fields": {"live": len(found.live), "dead": len(dead)}})

    def _remove_orphan_bundles(self) -> None:
        try:
            namespaces = os.listdir(self.bundles)
        except FileNotFoundError:
            return
        for ns in namespaces:
            for cid in os.listdir(self.bundles / ns):
                with self._lock:
                    known = (ns, cid) in self.tasks
                if not known:
                    try:
                        bundles.remove(self.bundles / ns / cid)
                    except OSError as e:
                        log.warning("orphan bundle cleanup failed", extra={"fields": {"id": cid, "error": str(e)}})
            try:
                os.rmdir(self.bundles / ns)
            except OSError:
                pass
