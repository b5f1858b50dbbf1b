"""The client seaboxd uses to talk to a shim, and the helpers to find shims after a restart.

Design reason: the daemon must not care whether a shim was started a second ago or survived
a daemon crash, so ``ShimClient(address)`` is all it needs — it connects lazily, reconnects
after a broken connection, and turns error replies back into the ``seabox.errdefs`` errors the
shim raised (a dead shim is ``Unavailable``).  Calls share one connection under a lock (the
daemon is multi-threaded); ``wait`` and ``subscribe`` block, so each uses its own connection.

After a restart the daemon calls ``recover(state_dir)`` (or ``discover(state_dir)`` — every shim wrote ``shim.json``,
``shim.pid`` and ``shim.sock`` under ``<state>/<namespace>/<id>/`` — and, for a shim found
dead (pid gone or socket refusing), ``cleanup_dead`` deletes the container through its runtime
(``delete --force``) and removes the shim's state, returning the exit to report (137)).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from seabox.errdefs import FailedPrecondition, NotFound, Unavailable, subject
from seabox.shim import protocol, unixaddr
from seabox.shim.server import INFO_NAME, PID_NAME, SOCKET_NAME, process_start_time
from seabox.shim.state import rfc3339nano


def shim_dir(state_dir: str, namespace: str, container_id: str) -> str:
    """The shim's own directory: ``<state>/<namespace>/<id>``."""
    return os.path.join(state_dir, namespace, container_id)


@dataclass
class ProcessState:
    id: str
    exec_id: str
    pid: int
    status: str  # created, running, paused, stopped
    exit_status: int
    exited_at: str
    terminal: bool = False
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    bundle: str = ""

    @classmethod
    def from_reply(cls, r: dict) -> ProcessState:
        return cls(id=r.get("id", ""), exec_id=r.get("exec_id", ""), pid=int(r.get("pid", 0)),
                   status=r.get("status", ""), exit_status=int(r.get("exit_status", 0)),
                   exited_at=r.get("exited_at", ""), terminal=bool(r.get("terminal")), stdin=r.get("stdin", ""),
                   stdout=r.get("stdout", ""), stderr=r.get("stderr", ""), bundle=r.get("bundle", ""))


@dataclass
class ExitStatus:
    id: str
    exec_id: str
    pid: int
    exit_status: int
    exited_at: str

    @classmethod
    def from_reply(cls, r: dict) -> ExitStatus:
        return cls(id=r.get("id", ""), exec_id=r.get("exec_id", ""), pid=int(r.get("pid", 0)),
                   exit_status=int(r.get("exit_status", 0)), exited_at=r.get("exited_at", ""))


@dataclass
class ShimRecord:
    """A shim found under the state dir."""

    namespace: str
    id: str
    address: str
    pid: int
    alive: bool
    state_dir: str
    bundle: str = ""
    runtime_binary: str = ""
    runtime_root: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class _Conn:
    def __init__(self, address: str, timeout: float | None) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            unixaddr.connect(self.sock, address)
        except OSError as e:
            self.sock.close()
            raise Unavailable(subject("shim", address, f"cannot connect: {e.strerror or e}"))
        self.buf = protocol.LineBuffer()
        self.lines: list[bytes] = []
        self.next_id = 0

    def send(self, msg: dict) -> None:
        try:
            self.sock.sendall(protocol.encode(msg))
        except OSError as e:
            raise Unavailable(subject("shim", self.address, f"connection lost: {e.strerror or e}"))

    def recv(self) -> dict:
        while not self.lines:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise Unavailable(subject("shim", self.address, "timed out waiting for a reply"))
            except OSError as e:
                raise Unavailable(subject("shim", self.address, f"connection lost: {e.strerror or e}"))
            if not data:
                raise Unavailable(subject("shim", self.address, "connection closed by the shim"))
            self.lines.extend(self.buf.feed(data))
        return protocol.decode(self.lines.pop(0))

    def call(self, op: str, args: dict) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "op": op, **args})
        while True:
            msg = self.recv()
            if msg.get("id") == rid:
                return protocol.raise_for(msg)

    def close(self) -> None:
        self.sock.close()


class ShimClient:
    """Talks to one shim over its control socket (see ``seabox.shim.protocol``)."""

    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self._conn: _Conn | None = None
        self._lock = threading.Lock()

    def call(self, op: str, **args: Any) -> dict:
        with self._lock:
            if self._conn is None:
                self._conn = _Conn(self.address, self.timeout)
            try:
                return self._conn.call(op, args)
            except Unavailable:
                self._conn.close()
                self._conn = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ShimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the task API ----------------------------------------------------------------------------

    def ping(self) -> dict:
        return self.call("ping")

    def create(self, bundle: str, *, stdin: str = "", stdout: str = "", stderr: str = "", terminal: bool = False,
               log: dict | None = None) -> int:
        """Create the container (runtime create); returns the init's pid.  ``log``:
        ``{"driver": "json-file", "path": ..., "max_size": "10m", "max_file": 3}`` or ``{"driver": "file", ...}``."""
        r = self.call("create", bundle=bundle, stdin=stdin, stdout=stdout, stderr=stderr, terminal=terminal,
                      log=log or None)
        return int(r["pid"])

    def start(self, exec_id: str = "") -> int:
        return int(self.call("start", exec_id=exec_id)["pid"])

    def exec(self, exec_id: str, process: dict, *, stdin: str = "", stdout: str = "", stderr: str = "",
             terminal: bool = False, log: dict | None = None) -> None:
        """Register an exec process (OCI ``process`` object); ``start(exec_id)`` runs it."""
        self.call("exec", exec_id=exec_id, process=process, stdin=stdin, stdout=stdout, stderr=stderr,
                  terminal=terminal, log=log or None)

    def state(self, exec_id: str = "") -> ProcessState:
        return ProcessState.from_reply(self.call("state", exec_id=exec_id))

    def processes(self) -> list[ProcessState]:
        return [ProcessState.from_reply(p) for p in self.call("list")["processes"]]

    def kill(self, signal: int = 15, exec_id: str = "", all: bool = False) -> None:
        self.call("kill", signal=int(signal), exec_id=exec_id, all=all)

    def resize(self, width: int, height: int, exec_id: str = "") -> None:
        self.call("resize", exec_id=exec_id, width=width, height=height)

    def close_io(self, exec_id: str = "") -> None:
        self.call("close_io", exec_id=exec_id)

    def pids(self) -> list[dict]:
        return list(self.call("pids")["pids"])

    def pause(self) -> None:
        self.call("pause")

    def resume(self) -> None:
        self.call("resume")

    def update(self, resources: dict) -> None:
        self.call("update", resources=resources)

    def stats(self) -> dict:
        return dict(self.call("stats")["stats"])

    def delete(self, exec_id: str = "", force: bool = False) -> ExitStatus:
        return ExitStatus.from_reply(self.call("delete", exec_id=exec_id, force=force))

    def shutdown(self, now: bool = False) -> None:
        try:
            self.call("shutdown", now=now)
        finally:
            self.close()

    def wait(self, exec_id: str = "", timeout: float | None = None) -> ExitStatus:
        """Block until the process exits (own connection); ``Unavailable`` on timeout."""
        conn = _Conn(self.address, timeout)
        try:
            return ExitStatus.from_reply(conn.call("wait", {"exec_id": exec_id}))
        finally:
            conn.close()

    def events(self, since: int | None = None) -> tuple[list[dict], int]:
        """Events not yet acknowledged (or after ``since``), and the latest sequence number."""
        r = self.call("events", **({"since": since} if since is not None else {}))
        return list(r["events"]), int(r["seq"])

    def ack(self, seq: int) -> None:
        self.call("ack", seq=seq)

    def subscribe(self, since: int | None = None, timeout: float | None = None) -> Iterator[dict]:
        """Yield events as the shim pushes them (missed ones first); ends when the shim goes away."""
        conn = _Conn(self.address, timeout)
        try:
            conn.call("subscribe", {"since": since} if since is not None else {})
            while True:
                try:
                    msg = conn.recv()
                except Unavailable:
                    return
                if "event" in msg:
                    yield msg
        finally:
            conn.close()


# -- recovery -----------------------------------------------------------------------------------


def _read_info(d: str) -> dict:
    try:
        with open(os.path.join(d, INFO_NAME)) as f:
            info = json.load(f)
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict):
        info = {}
    if "pid" not in info:
        try:
            with open(os.path.join(d, PID_NAME)) as f:
                info["pid"] = int(f.read().strip())
        except (OSError, ValueError):
            info["pid"] = 0
    return info


def shim_alive(info: dict, address: str) -> bool:
    pid = int(info.get("pid") or 0)
    if pid <= 0:
        return False
    start = process_start_time(pid)
    if not start or (info.get("start_time") and int(info["start_time"]) != start):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        unixaddr.connect(s, address)
        return True
    except OSError:
        return False
    finally:
        s.close()


def discover(state_dir: str, include_dead: bool = False) -> list[ShimRecord]:
    """The shims under ``<state_dir>/<namespace>/<id>/``; only live ones unless ``include_dead``."""
    out: list[ShimRecord] = []
    try:
        namespaces = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return out
    for ns in namespaces:
        nsdir = os.path.join(state_dir, ns)
        if not os.path.isdir(nsdir):
            continue
        for cid in sorted(os.listdir(nsdir)):
            d = os.path.join(nsdir, cid)
            if not (os.path.exists(os.path.join(d, INFO_NAME)) or os.path.exists(os.path.join(d, PID_NAME))):
                continue
            info = _read_info(d)
            address = os.path.join(d, SOCKET_NAME)
            alive = shim_alive(info, address)
            if alive or include_dead:
                out.append(ShimRecord(namespace=ns, id=cid, address=address, pid=int(info.get("pid") or 0),
                                      alive=alive, state_dir=d, bundle=str(info.get("bundle") or ""),
                                      runtime_binary=str(info.get("runtime_binary") or ""),
                                      runtime_root=str(info.get("runtime_root") or ""), info=info))
    return out


def cleanup_dead(state_dir: str, namespace: str, container_id: str, timeout: float = 30.0) -> ExitStatus:
    """A shim died: delete its container with the runtime (``delete --force``: kills what is left,
    removes the cgroup) and remove the shim's state.  Returns the exit to report (128+SIGKILL)."""
    d = shim_dir(state_dir, namespace, container_id)
    if not os.path.isdir(d):
        raise NotFound(subject("shim", f"{namespace}/{container_id}", "no state to clean up"))
    info = _read_info(d)
    if shim_alive(info, os.path.join(d, SOCKET_NAME)):
        raise FailedPrecondition(subject("shim", f"{namespace}/{container_id}", "is alive; shut it down instead"))
    pid = int(info.get("pid") or 0)
    if pid and process_start_time(pid) and int(info.get("start_time") or 0) == process_start_time(pid):
        try:  # alive but not answering: it cannot be trusted with the container any more
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    binary = str(info.get("runtime_binary") or "")
    root = str(info.get("runtime_root") or "")
    if binary:
        argv = [binary, "--root", root or "/run/runc", "delete", "--force", container_id]
    else:
        from seabox.shim.runtime import DEFAULT_ROOT

        argv = [sys.executable, "-m", "seabox.cli.runc", "--root", root or DEFAULT_ROOT, "delete", "--force",
                container_id]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if res.returncode != 0 and "not exist" not in res.stderr and "does not exist" not in res.stderr:
        raise FailedPrecondition(subject("container", container_id,
                                         f"delete --force after its shim died: {res.stderr.strip()[-300:]}"))
    shutil.rmtree(d, ignore_errors=True)
    return ExitStatus(id=container_id, exec_id="", pid=0, exit_status=128 + 9, exited_at=rfc3339nano())


@dataclass
class Recovered:
    """What a restarted daemon finds: a client per live shim, and the exits of tasks whose shim died
    (their containers deleted and state removed by ``cleanup_dead``)."""

    live: dict[tuple[str, str], ShimClient] = field(default_factory=dict)
    dead: dict[tuple[str, str], ExitStatus] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # cleanup errors, one line each


def recover(state_dir: str) -> Recovered:
    """Reconnect to every shim under ``state_dir``; clean up after the dead ones."""
    out = Recovered()
    for rec in discover(state_dir, include_dead=True):
        key = (rec.namespace, rec.id)
        if rec.alive:
            out.live[key] = ShimClient(rec.address)
            continue
        try:
            out.dead[key] = cleanup_dead(state_dir, rec.namespace, rec.id)
        except (FailedPrecondition, NotFound, OSError, subprocess.SubprocessError) as e:
            out.failed[key] = str(e).splitlines()[0] if str(e) else type(e).__name__
    return out


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_start_time(pid):
            return True
        time.sleep(0.01)
    return False
