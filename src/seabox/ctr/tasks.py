"""``ctr tasks``: ls / start / exec / kill / rm / ps / pause / resume / attach / metrics, and
the attach-and-wait loop ``run`` shares.

A foreground process is driven as ctr drives it: FIFOs opened, Create (or Exec), Wait
issued *before* Start (so a fast exit is never missed), Start, then the exit status, which
becomes the command's exit code.  With ``-t`` the local terminal goes raw and the pty
follows its size (ResizePty on start and on SIGWINCH); without, signals the client gets
are forwarded to the process (ctr's ForwardAllSignals).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from seabox import errdefs
from seabox.ctr.client import Client, CommandError, grpc_code
from seabox.ctr.stdio import FifoSet, IOOptions, RawTerminal, fifo_root, terminal_size
from seabox.ctr.tables import tabwrite

STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal"
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _pb() -> Any:
    from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2

    return tasks_pb2


def status_name(status: int) -> str:
    from seabox.api.gen.containerd.api.types.task import task_pb2

    try:
        return str(task_pb2.Status.Name(status))
    except ValueError:
        return "UNKNOWN"


def parse_signal(text: str) -> int:
    """``SIGKILL``, ``KILL``, ``kill`` or ``9``."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if n <= 0 or n > 64:
            raise CommandError(f"invalid signal {text!r}")
        return n
    name = t.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
    if sig is None:
        raise CommandError(f"unknown signal {text!r}")
    return int(sig)


# -- lookups -----------------------------------------------------------------------------------


def get_process(client: Client, container_id: str, exec_id: str = "") -> Any:
    pb = _pb()
    try:
        return client.tasks.Get(pb.GetRequest(container_id=container_id, exec_id=exec_id)).process
    except Exception as e:
        if grpc_code(e) == "NOT_FOUND":
            raise errdefs.NotFound(errdefs.subject("no running task found: task", container_id, "not found")) from None
        raise


# -- the foreground loop -----------------------------------------------------------------------


def _resize(client: Client, container_id: str, exec_id: str, fd: int) -> None:
    size = terminal_size(fd)
    if size is None:
        return
    pb = _pb()
    with contextlib.suppress(Exception):
        client.tasks.ResizePty(
            pb.ResizePtyRequest(container_id=container_id, exec_id=exec_id, width=size[0], height=size[1])
        )


def _close_stdin(client: Client, container_id: str, exec_id: str) -> Callable[[], None]:
    def close() -> None:
        pb = _pb()
        client.tasks.CloseIO(pb.CloseIORequest(container_id=container_id, exec_id=exec_id, stdin=True))

    return close


def run_foreground(
    client: Client,
    container_id: str,
    exec_id: str,
    io: IOOptions,
    create: Callable[[FifoSet | None], None],
    *,
    detach: bool = False,
    on_started: Callable[[int], None] | None = None,
) -> int:
    """Create (via ``create``), wait-before-start, start, relay IO; returns the exit status
    (0 right after starting when ``detach``)."""
    pb = _pb()
    fifos: FifoSet | None = None
    if not io.null_io and not detach:
        fifos = FifoSet(fifo_root(io.fifo_dir), exec_id or container_id, stdin=True, terminal=io.terminal)
    term_fd = io.stdin_fd if io.stdin_fd is not None and os.isatty(io.stdin_fd) else None
    with contextlib.ExitStack() as stack:
        if fifos is not None:
            stack.callback(fifos.close)
        if io.terminal and term_fd is not None and not detach:
            stack.enter_context(RawTerminal(term_fd))  # before the process starts: no cooked echo of its first output
        if fifos is not None:
            fifos.start(
                in_fd=io.stdin_fd,
                out_fd=io.stdout_fd,
                err_fd=io.stderr_fd,
                close_stdin=_close_stdin(client, container_id, exec_id),
            )
        create(fifos)
        waiter = None if detach else client.tasks.Wait.future(pb.WaitRequest(container_id=container_id, exec_id=exec_id))
        if not detach:
            for sig, old in _install_handlers(client, container_id, exec_id, io):
                stack.callback(signal.signal, sig, old)
        resp = client.tasks.Start(pb.StartRequest(container_id=container_id, exec_id=exec_id))
        if fifos is not None:
            fifos.started.set()
        if on_started is not None:
            on_started(int(resp.pid))
        if detach or waiter is None:
            return 0
        return _wait(client, container_id, exec_id, io, waiter, fifos)


def _install_handlers(client: Client, container_id: str, exec_id: str, io: IOOptions) -> list[tuple[int, Any]]:
    """Forward signals to the process (no TTY), or follow the terminal's size (TTY); returns
    what to restore.  Installed before Start, so a signal sent as soon as the process runs
    is never the client's death."""
    pb = _pb()
    restore: list[tuple[int, Any]] = []
    if threading.current_thread() is not threading.main_thread():
        return restore
    term_fd = io.stdin_fd if io.stdin_fd is not None and os.isatty(io.stdin_fd) else None
    if io.terminal:
        if term_fd is not None:
            restore.append((signal.SIGWINCH, signal.getsignal(signal.SIGWINCH)))
            signal.signal(signal.SIGWINCH, lambda s, f: _resize(client, container_id, exec_id, term_fd))
        return restore

    def forward(signum: int, frame: object) -> None:
        def send() -> None:
            with contextlib.suppress(Exception):
                client.tasks.Kill(pb.KillRequest(container_id=container_id, exec_id=exec_id, signal=signum))

        threading.Thread(target=send, daemon=True).start()

    for name in FORWARDED:
        sig = getattr(signal, name)
        restore.append((sig, signal.getsignal(sig)))
        signal.signal(sig, forward)
    return restore


def _wait(client: Client, container_id: str, exec_id: str, io: IOOptions, waiter: Any, fifos: FifoSet | None) -> int:
    term_fd = io.stdin_fd if io.stdin_fd is not None and os.isatty(io.stdin_fd) else None
    if io.terminal and term_fd is not None:
        _resize(client, container_id, exec_id, term_fd)
    while True:
        try:
            status = waiter.result(timeout=0.5)
            break
        except Exception as e:
            if type(e).__name__ in ("FutureTimeoutError", "TimeoutError"):
                continue
            raise
    if fifos is not None:
        fifos.wait()
    return int(status.exit_status)


# -- commands ----------------------------------------------------------------------------------


def ls(client: Client, out: TextIO, *, quiet: bool = False, filters: Sequence[str] = ()) -> int:
    pb = _pb()
    tasks = client.tasks.List(pb.ListTasksRequest(filter=",".join(filters))).tasks
    if quiet:
        for t in tasks:
            out.write(t.id + "\n")
        return 0
    lines = ["TASK\tPID\tSTATUS\t"]
    for t in tasks:
        lines.append(f"{t.id}\t{t.pid}\t{status_name(t.status)}")
    out.write(tabwrite(lines, minwidth=4, padding=4))
    return 0


def _rootfs(client: Client, container: Any) -> list[Any]:
    if not container.snapshot_key:
        return []
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

    req = spb.MountsRequest(snapshotter=container.snapshotter, key=container.snapshot_key)
    return list(client.snapshots.Mounts(req).mounts)


def _runtime_options(container: Any) -> Any:
    return container.runtime.options if container.runtime.HasField("options") else None


def start(client: Client, container_id: str, io: IOOptions, *, detach: bool = False, pid_file: str = "",
          after_exit: Callable[[], None] | None = None, container: Any = None,
          rootfs: list[Any] | None = None, after_create: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Create the container's task and start it; unless ``detach``, relay IO, wait, delete the task.
    ``after_create(pid)`` runs between the task's creation and its start (``run --cni``)."""
    from seabox.ctr import containers

    pb = _pb()
    c = container if container is not None else containers.get(client, container_id)
    spec = json.loads(c.spec.value) if c.spec.value else {}
    terminal = bool((spec.get("process") or {}).get("terminal"))
    io.terminal = terminal
    if rootfs is None:
        rootfs = _rootfs(client, c)

    def create(f: FifoSet | None) -> None:
        req = pb.CreateTaskRequest(
            container_id=container_id,
            rootfs=rootfs,
            stdin=f.stdin if f else "",
            stdout=f.stdout if f else "",
            stderr=f.stderr if f else "",
            terminal=terminal,
        )
        resp = client.tasks.Create(req)
        if after_create is not None:
            after_create(int(resp.pid))

    def started(pid: int) -> None:
        if pid_file:
            with open(pid_file, "w") as fh:
                fh.write(str(pid))

    code = run_foreground(client, container_id, "", io, create, detach=detach, on_started=started)
    if detach:
        return 0
    with contextlib.suppress(Exception):
        client.tasks.Delete(pb.DeleteTaskRequest(container_id=container_id))
    if after_exit is not None:
        after_exit()
    return code


def exec_(client: Client, container_id: str, args: Sequence[str], io: IOOptions, *, exec_id: str, detach: bool = False,
          cwd: str = "", user: str = "") -> int:  # fmt: skip
    if not exec_id:
        raise CommandError("exec-id must be provided")
    if not args:
        raise CommandError("command must be provided")
    from google.protobuf import any_pb2

    from seabox.ctr import containers
    from seabox.ctr import spec as specs

    pb = _pb()
    c = containers.get(client, container_id)
    spec = json.loads(c.spec.value) if c.spec.value else {}
    passwd = group = None
    if user and not user.replace(":", "").isdigit():
        passwd, group = containers.read_user_files(client, c)
    proc = specs.exec_process(spec, args, tty=io.terminal, cwd=cwd, user=user, passwd=passwd, group=group)
    pany = any_pb2.Any(type_url=specs.PROCESS_TYPE_URL, value=json.dumps(proc).encode())

    def create(f: FifoSet | None) -> None:
        req = pb.ExecProcessRequest(
            container_id=container_id, exec_id=exec_id, terminal=io.terminal, spec=pany,
            stdin=f.stdin if f else "", stdout=f.stdout if f else "", stderr=f.stderr if f else "",
        )  # fmt: skip
        client.tasks.Exec(req)

    code = run_foreground(client, container_id, exec_id, io, create, detach=detach)
    if not detach:
        with contextlib.suppress(Exception):
            client.tasks.DeleteProcess(pb.DeleteProcessRequest(container_id=container_id, exec_id=exec_id))
    return code


def kill(client: Client, container_id: str, *, sig: str = "", exec_id: str = "", all_: bool = False) -> int:
    from seabox.ctr import containers

    if not container_id:
        raise CommandError("container id must be provided")
    if all_ and exec_id:
        raise CommandError("specify an exec-id or all; not both")
    if sig:
        signum = parse_signal(sig)
    else:
        c = containers.get(client, container_id)
        signum = parse_signal(c.labels.get(STOP_SIGNAL_LABEL, "SIGTERM"))
    pb = _pb()
    client.tasks.Kill(pb.KillRequest(container_id=container_id, exec_id=exec_id, signal=signum, all=all_))
    return 0


def remove(client: Client, ids: Sequence[str], out: TextIO, err: TextIO, *, force: bool = False, exec_id: str = "") -> int:
    from seabox.ctr.client import describe

    pb = _pb()
    failed = False
    for cid in ids:
        try:
            if exec_id:
                client.tasks.DeleteProcess(pb.DeleteProcessRequest(container_id=cid, exec_id=exec_id))
                continue
            p = get_process(client, cid)
            if status_name(p.status) not in ("STOPPED", "CREATED", "UNKNOWN"):
                if not force:
                    raise CommandError(f"task must be stopped before deletion: {status_name(p.status).lower()}: failed precondition")
                waiter = client.tasks.Wait.future(pb.WaitRequest(container_id=cid))
                client.tasks.Kill(pb.KillRequest(container_id=cid, signal=int(signal.SIGKILL), all=True))
                with contextlib.suppress(Exception):
                    waiter.result(timeout=10)
            r = client.tasks.Delete(pb.DeleteTaskRequest(container_id=cid))
            if r.exit_status:
                err.write(f"WARN[0000] task {cid} exit with non-zero exit code {r.exit_status}\n")
        except Exception as e:
            msg = describe(e, client.address)
            if msg is None:
                raise
            err.write(f"ctr: {msg}\n")
            failed = True
    return 1 if failed else 0


def ps(client: Client, container_id: str, out: TextIO) -> int:
    if not container_id:
        raise CommandError("container id must be provided")
    pb = _pb()
    procs = client.tasks.ListPids(pb.ListPidsRequest(container_id=container_id)).processes
    lines = ["PID\tINFO"]
    for p in procs:
        info = "-"
        if p.HasField("info") and p.info.value:
            info = p.info.value.decode(errors="replace")
        lines.append(f"{p.pid}\t{info}")
    out.write(tabwrite(lines, minwidth=1, padding=4))
    return 0


def pause(client: Client, container_id: str) -> int:
    client.tasks.Pause(_pb().PauseTaskRequest(container_id=container_id))
    return 0


def resume(client: Client, container_id: str) -> int:
    client.tasks.Resume(_pb().ResumeTaskRequest(container_id=container_id))
    return 0


def attach(client: Client, container_id: str, io: IOOptions) -> int:
    """Attach to the FIFOs of a running task (those its creator left) and wait for its exit."""
    pb = _pb()
    p = get_process(client, container_id)
    if not p.stdout:
        raise errdefs.FailedPrecondition(errdefs.subject("task", container_id, "was started without attachable IO"))
    waiter = client.tasks.Wait.future(pb.WaitRequest(container_id=container_id))
    threads = []

    def pump_out(path: str, fd: int) -> None:
        with contextlib.suppress(OSError):
            src = os.open(path, os.O_RDONLY)
            try:
                while b := os.read(src, 65536):
                    os.write(fd, b)
            finally:
                os.close(src)

    for path, fd in ((p.stdout, io.stdout_fd), (p.stderr, io.stderr_fd)):
        if path and os.path.exists(path):
            t = threading.Thread(target=pump_out, args=(path, fd), daemon=True)
            t.start()
            threads.append(t)
    if p.stdin and os.path.exists(p.stdin) and io.stdin_fd is not None:
        stdin_fd = os.open(p.stdin, os.O_RDWR)

        def pump_in() -> None:
            with contextlib.suppress(OSError):
                while b := os.read(io.stdin_fd or 0, 32768):
                    os.write(stdin_fd, b)

        threading.Thread(target=pump_in, daemon=True).start()
    io.terminal = bool(p.terminal)
    with contextlib.ExitStack() as stack:
        if io.terminal and io.stdin_fd is not None and os.isatty(io.stdin_fd):
            stack.enter_context(RawTerminal(io.stdin_fd))
        for sig, old in _install_handlers(client, container_id, "", io):
            stack.callback(signal.signal, sig, old)
        return _wait(client, container_id, "", io, waiter, None)


def metrics(client: Client, container_id: str, out: TextIO, *, fmt: str = "table") -> int:
    from google.protobuf import json_format

    pb = _pb()
    resp = client.tasks.Metrics(pb.MetricsRequest(filters=[f"id=={container_id}"]))
    if not resp.metrics:
        raise errdefs.NotFound(errdefs.subject("metrics for task", container_id, "not found"))
    m = resp.metrics[0]
    data = _decode_metrics(m.data)
    if fmt == "json":
        out.write(json_format.MessageToJson(data, indent=2) + "\n" if data is not None else "{}\n")
        return 0
    if fmt != "table":
        raise CommandError(f'unknown format "{fmt}"')
    from seabox.ctr.events import go_time

    stamp = go_time(m.timestamp.seconds, m.timestamp.nanos)
    out.write(tabwrite(["ID\tTIMESTAMP\t", f"{m.id}\t{stamp}\t"], minwidth=1, padding=4))
    out.write("\n")
    lines = ["METRIC\tVALUE\t"]
    if data is not None and type(data).__module__.endswith("v2.stats.metrics_pb2"):
        lines += [
            f"pids.current\t{data.pids.current}\t", f"pids.limit\t{data.pids.limit}\t",
            f"cpu.usage_usec\t{data.cpu.usage_usec}\t", f"cpu.user_usec\t{data.cpu.user_usec}\t",
            f"cpu.system_usec\t{data.cpu.system_usec}\t", f"cpu.nr_periods\t{data.cpu.nr_periods}\t",
            f"cpu.nr_throttled\t{data.cpu.nr_throttled}\t", f"cpu.throttled_usec\t{data.cpu.throttled_usec}\t",
            f"memory.usage\t{data.memory.usage}\t", f"memory.usage_limit\t{data.memory.usage_limit}\t",
            f"memory.swap_usage\t{data.memory.swap_usage}\t", f"memory.swap_limit\t{data.memory.swap_limit}\t",
        ]  # fmt: skip
    elif data is not None:
        lines += [
            f"memory.usage_in_bytes\t{data.memory.usage.usage}\t", f"memory.limit_in_bytes\t{data.memory.usage.limit}\t",
            f"memory.stat.cache\t{data.memory.total_cache}\t", f"cpuacct.usage\t{data.cpu.usage.total}\t",
            f"cpuacct.usage_percpu\t[{' '.join(map(str, data.cpu.usage.per_cpu))}]\t", f"pids.current\t{data.pids.current}\t",
            f"pids.limit\t{data.pids.limit}\t",
        ]  # fmt: skip
    out.write(tabwrite(lines, minwidth=1, padding=4))
    return 0


def _decode_metrics(a: Any) -> Any:
    url = a.type_url
    if url.endswith("io.containerd.cgroups.v2.Metrics"):
        from seabox.api.gen.cgroups.v2.stats import metrics_pb2 as v2

        m: Any = v2.Metrics()
    elif url.endswith("io.containerd.cgroups.v1.Metrics"):
        from seabox.api.gen.cgroups.stats.v1 import metrics_pb2 as v1

        m = v1.Metrics()
    else:
        return None
    m.ParseFromString(a.value)
    return m
