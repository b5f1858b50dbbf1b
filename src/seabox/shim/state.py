"""What the shim knows about its container: processes, their exits, and the event log.

Design reason: this is the part a restarted daemon depends on (the status and exit code of a
task that ended while nobody was listening), so it is kept pure — no sockets, no fork — and
unit-tested with fakes; the server only feeds it reaped pids and requests.  Plain classes with
``__slots__`` instead of dataclasses keep the shim's import graph tiny (``dataclasses`` pulls
in ``inspect``) and its objects small.

Statuses follow containerd's task model: ``created`` (runtime create done, not started),
``running``, ``paused``, ``stopped`` (reaped; exit status and time recorded).  Exit status is
the process's code, or 128+signal for a process killed by a signal.
"""

from __future__ import annotations

import os
import time

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, subject

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

INIT = ""  # the exec id of the container's init process

MAX_EVENTS = 1000  # non-exit events kept for clients that reconnect


def rfc3339nano(ns: int | None = None) -> str:
    """UTC time as Go's time.RFC3339Nano prints it (trailing zeros of the fraction dropped)."""
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    f = f"{frac:09d}".rstrip("0")
    return f"{base}.{f}Z" if f else f"{base}Z"


def exit_status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return 255


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def valid_id(name: str) -> bool:
    """Ids end up in file names: no separators, no leading dot, at most 128 characters."""
    return 0 < len(name) <= 128 and not name.startswith(".") and all(c in _ID_CHARS for c in name)


class Proc:
    """One process of the task: the init (exec id "") or an exec."""

    __slots__ = (
        "exec_id",
        "exit_status",
        "exited_at",
        "io",
        "pid",
        "spec",
        "status",
        "stderr",
        "stdin",
        "stdout",
        "terminal",
    )

    def __init__(self, exec_id: str, *, terminal: bool = False, stdin: str = "", stdout: str = "",
                 stderr: str = "", spec: dict | None = None) -> None:
        self.exec_id = exec_id
        self.pid = 0
        self.status = CREATED
        self.exit_status = 0
        self.exited_at = ""
        self.terminal = terminal
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.spec = spec
        self.io: object = None  # the server's stdio relay for this process

    def view(self, task_id: str) -> dict:
        return {"id": task_id, "exec_id": self.exec_id, "pid": self.pid, "status": self.status,
                "exit_status": self.exit_status, "exited_at": self.exited_at, "terminal": self.terminal,
                "stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr}


class EventLog:
    """Numbered events, kept until a client acknowledges them.

    Exit events are never dropped before they are acknowledged (a restarted daemon must learn
    of every exit); other events are capped at ``MAX_EVENTS``.
    """

    __slots__ = ("acked", "events", "seq")

    def __init__(self) -> None:
        self.seq = 0
        self.acked = 0
        self.events: list[dict] = []

    def append(self, topic: str, **fields: object) -> dict:
        self.seq += 1
        ev = {"event": topic, "seq": self.seq, "timestamp": rfc3339nano(), **fields}
        self.events.append(ev)
        if len(self.events) > MAX_EVENTS:
            for i, old in enumerate(self.events):
                if old["event"] != "exit":
                    del self.events[i]
                    break
        return ev

    def since(self, seq: int | None = None) -> list[dict]:
        after = self.acked if seq is None else seq
        return [e for e in self.events if e["seq"] > after]

    def ack(self, seq: int) -> None:
        if seq > self.acked:
            self.acked = min(seq, self.seq)
            self.events = [e for e in self.events if e["seq"] > self.acked]


class Task:
    """The container (``procs[""]``) and its exec processes."""

    __slots__ = ("bundle", "deleted", "events", "id", "namespace", "procs")

    def __init__(self, task_id: str, namespace: str = "default") -> None:
        self.id = task_id
        self.namespace = namespace
        self.bundle = ""
        self.procs: dict[str, Proc] = {}
        self.events = EventLog()
        self.deleted = False

    # -- lookups -------------------------------------------------------------------------------

    def get(self, exec_id: str = INIT) -> Proc:
        p = self.procs.get(exec_id)
        if p is None:
            if exec_id == INIT:
                raise NotFound(subject("container", self.id, "not created"))
            raise NotFound(subject("exec", exec_id, f"not found in container {self.id!r}"))
        return p

    def init(self) -> Proc:
        return self.get(INIT)

    def by_pid(self, pid: int) -> Proc | None:
        for p in self.procs.values():
            if p.pid == pid and p.status != STOPPED:
                return p
        return None

    def live(self) -> bool:
        """True while the init exists and has not stopped."""
        p = self.procs.get(INIT)
        return p is not None and p.status != STOPPED

    # -- transitions -----------------------------------------------------------------------------

    def add_init(self, bundle: str, **io: object) -> Proc:
        if INIT in self.procs or self.deleted:
            raise AlreadyExists(subject("container", self.id, "already created in this shim"))
        if not bundle:
            raise InvalidArgument(subject("container", self.id, "create: bundle is required"))
        self.bundle = bundle
        p = Proc(INIT, **io)  # type: ignore[arg-type]
        self.procs[INIT] = p
        return p

    def created(self, proc: Proc, pid: int) -> None:
        proc.pid = pid
        proc.status = CREATED
        if proc.exec_id == INIT:
            self.events.append("create", id=self.id, pid=pid, bundle=self.bundle)
        else:
            self.events.append("exec_added", id=self.id, exec_id=proc.exec_id)

    def add_exec(self, exec_id: str, spec: dict, **io: object) -> Proc:
        if not exec_id or exec_id == INIT:
            raise InvalidArgument(subject("container", self.id, "exec: an exec id is required"))
        if not valid_id(exec_id):
            raise InvalidArgument(subject("exec", exec_id, "invalid exec id (letters, digits, _ . + - only)"))
        if exec_id in self.procs:
            raise AlreadyExists(subject("exec", exec_id, f"already exists in container {self.id!r}"))
        init = self.init()
        if init.status not in (CREATED, RUNNING):
            raise FailedPrecondition(subject("container", self.id, f"cannot exec in a {init.status} container"))
        if not isinstance(spec, dict) or not spec.get("args"):
            raise InvalidArgument(subject("exec", exec_id, "process spec with args is required"))
        p = Proc(exec_id, spec=spec, **io)  # type: ignore[arg-type]
        self.procs[exec_id] = p
        return p

    def check_start(self, exec_id: str) -> Proc:
        p = self.get(exec_id)
        if exec_id == INIT:
            if p.status != CREATED:
                raise FailedPrecondition(subject("container", self.id, f"cannot start a {p.status} container"))
        else:
            if p.status != CREATED or p.pid:
                raise FailedPrecondition(subject("exec", exec_id, f"cannot start a {p.status} process"))
            if self.init().status not in (RUNNING, CREATED):
                raise FailedPrecondition(subject("container", self.id, "is not running"))
        return p

    def started(self, proc: Proc, pid: int) -> None:
        proc.pid = pid
        if proc.status == CREATED:
            proc.status = RUNNING
        if proc.exec_id == INIT:
            self.events.append("start", id=self.id, pid=pid)
        else:
            self.events.append("exec_started", id=self.id, exec_id=proc.exec_id, pid=pid)

    def check_kill(self, exec_id: str) -> Proc:
        p = self.get(exec_id)
        if p.status == STOPPED:
            what = "container" if exec_id == INIT else "exec"
            name = self.id if exec_id == INIT else exec_id
            raise NotFound(subject(what, name, "process already finished"))
        if exec_id != INIT and not p.pid:
            raise FailedPrecondition(subject("exec", exec_id, "not started"))
        return p

    def set_paused(self, paused: bool) -> None:
        p = self.init()
        if paused:
            if p.status not in (RUNNING, CREATED):
                raise FailedPrecondition(subject("container", self.id, f"cannot pause a {p.status} container"))
            p.status = PAUSED
            self.events.append("paused", id=self.id)
        else:
            if p.status != PAUSED:
                raise FailedPrecondition(subject("container", self.id, "container not paused"))
            p.status = RUNNING
            self.events.append("resumed", id=self.id)

    def exited(self, pid: int, wait_status: int, now_ns: int | None = None) -> Proc | None:
        """Record the reaped ``pid``; return its process (None if the pid is not one of ours)."""
        p = self.by_pid(pid)
        if p is None:
            return None
        p.status = STOPPED
        p.exit_status = exit_status(wait_status)
        p.exited_at = rfc3339nano(now_ns)
        return p

    def publish_exit(self, p: Proc) -> dict:
        return self.events.append("exit", id=self.id, exec_id=p.exec_id, pid=p.pid, exit_status=p.exit_status,
                                  exited_at=p.exited_at)

    def check_delete(self, exec_id: str) -> Proc:
        p = self.get(exec_id)
        if p.status not in (STOPPED, CREATED) and exec_id != INIT:
            raise FailedPrecondition(subject("exec", exec_id, f"cannot delete a {p.status} process"))
        return p

    def removed(self, exec_id: str) -> Proc:
        p = self.procs.pop(exec_id)
        if exec_id == INIT:
            self.deleted = True
            self.events.append("delete", id=self.id, pid=p.pid, exit_status=p.exit_status, exited_at=p.exited_at)
        return p
