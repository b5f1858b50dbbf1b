"""``exec``: run another process inside a created or running container.

Design reason: same shape as ``create`` but joining instead of creating.  The runtime forks an
intermediate that turns non-dumpable *before* entering anything (so a container process can
never open the runtime's /proc/<pid>/exe — the CVE-2019-5736 class), gets into the
container's cgroups, joins every namespace of the init by /proc/<pid>/ns (user first), and
forks the process that ends up inside the pid namespace.  That process applies the same
process settings as the init (fd closing, user, capabilities, cwd, seccomp) and execs; the
parent learns of success from the close-on-exec channel closing, and, unless detached, waits
for the process and returns its exit code (128+signal for a signal).

The cgroups are joined as ``create`` joins them (see ``seabox.runtime.create.joins_itself``
for why): the intermediate writes "0" to each v1 ``tasks`` file itself, before it enters any
namespace, and the process is cloned into the cgroup2 directory (it then joins the cgroup and
mount namespaces itself).  With a user namespace, a fake cgroup tree or
SEABOX_RUNC_CGROUP_SELF_JOIN=0 the parent moves the intermediate by pid instead.
"""

from __future__ import annotations

import os
import signal

from seabox.errdefs import FailedPrecondition, SeaboxError, subject
from seabox.linux import namespaces as nsmod
from seabox.linux import syscalls as s
from seabox.linux.syscalls import LinuxSyscalls
from seabox.oci.runtime_spec import Process, Record, parse_spec
from seabox.runtime import state as st_mod
from seabox.runtime.create import joins_itself, write_pid_file
from seabox.runtime.init import (
    _fail,
    apply_process,
    fork_init,
    join_namespaces,
    join_own_cgroups,
    prepare_seccomp,
    setup_console,
)
from seabox.runtime.sync import Channel, ChannelClosed, channel_pair

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike
    from typing import Any, NoReturn

    from seabox.oci.runtime_spec import Spec

    StrPath = str | PathLike[str]

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH, signal.SIGCONT)


class ExecOptions(Record):
    detach: bool
    pid_file: str | None
    console_socket: str | None
    preserve_fds: int

    def __init__(self, detach: bool = False, pid_file: str | None = None, console_socket: str | None = None, preserve_fds: int = 0) -> None:
        self.detach = detach
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255


def self_joins_cgroups(spec: Spec, paths: dict[str, str]) -> bool:
    """Whether the exec intermediate joins the container's recorded cgroups itself: ``create``'s
    conditions (``joins_itself``), with "the real cgroupfs" read off the recorded directories."""
    if not paths or not all(p.startswith("/sys/fs/cgroup/") for p in paths.values()):
        return False
    return joins_itself(spec, "/sys/fs/cgroup")


def cgroup_join_plan(paths: dict[str, str]) -> tuple[list[str], str]:
    """The recorded cgroup directories as ``join_own_cgroups`` takes them: the v1 ``tasks``
    files, each real directory once (co-mounted controllers share one, maybe under several
    names), and the cgroup2 ("unified") directory to clone into ("": none).  A directory that
    no longer exists is left out, as the move by pid does."""
    tasks, clone = [], ""
    seen: set[tuple[int, int]] = set()
    for key, path in paths.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise FailedPrecondition(f"joining cgroup {path}: {e.strerror}")
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        if key == "unified":
            clone = path
        else:
            tasks.append(path + "/tasks")
    return tasks, clone


# Joined by the exec'd process itself when it is cloned into its cgroup2 directory: the mount
# namespace would hide the host path fork_init's fallback writes (cgroup.procs, without clone3),
# and a joined cgroup namespace could hide the intermediate's own cgroup from clone3 (nsdelegate).
_LATE_NAMESPACES = ("cgroup", "mount")


def _exec_child(proc: Process, ns_paths: dict[str, str], seccomp: Any, opts: ExecOptions,
                console_fd: int, chan: Channel, plan: tuple[list[str], str] | None) -> NoReturn:
    try:
        sc = LinuxSyscalls()
        sc.prctl(s.PR_SET_DUMPABLE, 0)
        clone_fd, clone_dir = -1, ""
        if plan is None:  # the parent moves us by pid
            chan.send({"type": "setup", "pid": os.getpid()})
            if chan.recv().get("type") != "go":
                os._exit(1)
        else:  # first: the paths are the host's, and a joined mount namespace would hide them
            clone_dir = plan[1]
            clone_fd = join_own_cgroups(plan[0], clone_dir)
        late = {k: ns_paths[k] for k in _LATE_NAMESPACES if k in ns_paths} if clone_fd >= 0 else {}
        join_namespaces(sc, {k: p for k, p in ns_paths.items() if k not in late})
        pid = fork_init(sc, clone_fd, clone_dir)  # single-threaded here: clone3 is safe
        if pid == 0:
            try:
                if clone_fd >= 0:
                    os.close(clone_fd)
                join_namespaces(sc, late)
                os.chdir("/")
                warnings: list[str] = []
                if proc.terminal:
                    setup_console(sc, proc, console_fd, bind_console=False)
                exe, env = apply_process(sc, proc, seccomp=seccomp, keep={chan.rfd, chan.wfd},
                                         preserve_fds=opts.preserve_fds, warnings=warnings)
                sc.default_signals()  # before seccomp: a strict profile may not allow rt_sigaction
                if proc.no_new_privileges and seccomp is not None:
                    seccomp.load()
                chan.send({"type": "ready", "warnings": warnings})
                os.execve(exe, proc.args, env)
            except BaseException as e:
                _fail(chan, e)
        chan.send({"type": "pid", "pid": pid})
    except BaseException as e:
        _fail(chan, e)
    os._exit(0)


def _join_cgroups(paths: dict[str, str], pid: int) -> None:
    """The fallback: move the intermediate by pid (the kernel's slow, globally locked path)."""
    seen = set()
    for path in paths.values():
        if path in seen:
            continue
        seen.add(path)
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except FileNotFoundError:
            continue
        except OSError as e:
            raise FailedPrecondition(f"joining cgroup {path}: {e.strerror}")


def exec_process(state_root: StrPath, container_id: str, proc: Process, opts: ExecOptions,
                 started: Callable[[int], object] | None = None) -> int:
    """Run ``proc`` in the container; returns its exit code (0 when detached)."""
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("exec", container_id, st.status)
    spec = parse_spec(st.config)
    if proc.terminal and not opts.console_socket:
        raise FailedPrecondition("cannot allocate tty if runc will detach without setting console socket")
    if opts.console_socket and not proc.terminal:
        raise FailedPrecondition("cannot use console socket if runc will not detach or allocate tty")
    ns_paths = {}
    for ns in spec.linux.namespaces:
        if not nsmod.same_namespace(ns.type, st.pid):
            ns_paths[ns.type] = f"/proc/{st.pid}/ns/{nsmod.proc_name(ns.type)}"
    console_fd = -1
    if opts.console_socket:
        from seabox.linux.console import connect_console_socket

        console_fd = connect_console_socket(opts.console_socket)
    for fd in range(3, 3 + opts.preserve_fds):
        os.set_inheritable(fd, True)
    seccomp = prepare_seccomp(spec.linux.seccomp, os.fspath(state_root))
    plan = cgroup_join_plan(st.cgroup_paths) if self_joins_cgroups(spec, st.cgroup_paths) else None
    LinuxSyscalls().prctl(s.PR_SET_CHILD_SUBREAPER, 1)
    parent, child = channel_pair()
    cpid = os.fork()
    if cpid == 0:
        parent.close()
        _exec_child(proc, ns_paths, seccomp, opts, console_fd, child, plan)
    child.close()
    if console_fd >= 0:
        os.close(console_fd)
    pid = 0
    try:
        while True:
            try:
                msg = parent.recv()
            except ChannelClosed:
                if pid:
                    break  # exec succeeded: the close-on-exec channel closed
                raise FailedPrecondition(subject("container", container_id, "exec process exited unexpectedly"))
            kind = msg.get("type")
            if kind == "setup":
                _join_cgroups(st.cgroup_paths, int(msg["pid"]))
                parent.send({"type": "go"})
            elif kind == "pid":
                pid = int(msg["pid"])
                os.waitpid(cpid, 0)
                cpid = 0
            elif kind == "error":
                raise FailedPrecondition(str(msg.get("msg", "exec failed")))
    except BaseException:
        for p in (cpid, pid):
            if p:
                try:
                    os.kill(p, signal.SIGKILL)
                    os.waitpid(p, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        raise
    finally:
        parent.close()
    if opts.pid_file:
        write_pid_file(opts.pid_file, pid)
    if started is not None:
        started(pid)
    if opts.detach:
        return 0
    return wait_forwarding(pid)


def wait_forwarding(pid: int) -> int:
    """Wait for ``pid`` (our child), forwarding the usual signals to it."""

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return exit_code(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255


def process_from_args(base: Process | None, args: list[str], *, cwd: str | None, env: list[str], user: str | None,
                      caps: list[str], no_new_privs: bool, terminal: bool) -> Process:
    """runc's exec flags applied over the container's own process settings."""
    import copy

    from seabox.errdefs import InvalidArgument
    from seabox.oci.runtime_spec import Capabilities, User

    if not args:
        raise InvalidArgument("exec: no command given (arguments or --process are required)")
    p = copy.deepcopy(base) if base is not None else Process(args=list(args))
    p.args = list(args)
    p.terminal = terminal
    if cwd:
        p.cwd = cwd
    merged = {e.split("=", 1)[0]: e for e in p.env}
    for e in env:
        merged[e.split("=", 1)[0]] = e
    p.env = list(merged.values())
    if user:
        uid_s, _, gid_s = user.partition(":")
        try:
            p.user = User(uid=int(uid_s), gid=int(gid_s) if gid_s else 0, umask=p.user.umask)
        except ValueError:
            raise InvalidArgument(f"--user {user!r}: must be uid[:gid] (numeric)")
    if caps:
        c = p.capabilities or Capabilities()
        for k in ("bounding", "effective", "permitted", "ambient"):
            cur = getattr(c, k)
            for cap in caps:
                if cap not in cur:
                    cur.append(cap)
        p.capabilities = c
    if no_new_privs:
        p.no_new_privileges = True
    return p


__all__ = ["ExecOptions", "SeaboxError", "cgroup_join_plan", "exec_process", "exit_code", "process_from_args",
           "self_joins_cgroups", "wait_forwarding"]
