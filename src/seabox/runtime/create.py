"""``create``: the runtime (parent) side of starting a container's init.

Design reason: the parent is the only process that stays in the runtime's namespaces for the
whole set-up, so it does what must be done from outside: it creates the cgroup directories,
gets the intermediate child into them before the child creates any namespace or process (the
child joins itself, see ``joins_itself``; with a user namespace the parent moves it), sets the
cgroup's limits while the child goes on, writes uid/gid maps for a new user namespace, runs
the prestart and createRuntime hooks, and records state.json and the pid file only after the
init reported ready — ``create`` never claims success for a container that failed half-way
(everything is undone).
"""

from __future__ import annotations

import os
import time

from seabox import jsonlite
from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, SeaboxError, subject
from seabox.linux import syscalls as s
from seabox.oci.runtime_spec import IDMapping, Record, Spec, load_spec
from seabox.runtime import state as st_mod
from seabox.runtime.cgroupref import (
    finish_priming,
    open_cgroup_manager,
    prime_cgroup_migration,
    priming_passed,
)
from seabox.runtime.init import InitConfig, prepare_seccomp, run_intermediate
from seabox.runtime.sync import Channel, ChannelClosed, channel_pair

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike
    from typing import Any

    StrPath = str | PathLike[str]


class CreateOptions(Record):
    bundle: str
    pid_file: str | None
    console_socket: str | None
    no_pivot: bool
    no_new_keyring: bool
    preserve_fds: int
    cgroup_root: str

    def __init__(self, bundle: str, pid_file: str | None = None, console_socket: str | None = None, no_pivot: bool = False, no_new_keyring: bool = False, preserve_fds: int = 0, cgroup_root: str = "/sys/fs/cgroup") -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.cgroup_root = cgroup_root


def now_rfc3339nano() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


# runc's allow-list appended to every container's device rules: mknod of anything, the
# default devices, ptys and tun.
ALLOWED_DEVICES: list[dict[str, Any]] = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]


def effective_resources(spec: Spec) -> dict[str, Any]:
    """linux.resources plus runc's default device allow-list and the linux.devices entries."""
    res = dict(spec.linux.resources)
    if "devices" in res or spec.linux.devices:
        rules = list(res.get("devices") or [])
        rules += ALLOWED_DEVICES
        for d in spec.linux.devices:
            rules.append({"allow": True, "type": d.type, "major": d.major, "minor": d.minor, "access": "rwm"})
        res["devices"] = rules
    return res


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                "kernel.shmmni", "kernel.shm_rmid_forced"}


def validate_sysctls(spec: Spec) -> None:
    """Only namespaced sysctls, in a namespace the container owns (otherwise it would change the host)."""
    new = {ns.type for ns in spec.linux.namespaces if not ns.path}
    for key in spec.linux.sysctl:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" in new:
                continue
            raise InvalidArgument(f"linux.sysctl.{key}: needs a new ipc namespace")
        if key.startswith("net."):
            if "network" in new:
                continue
            raise InvalidArgument(f"linux.sysctl.{key}: needs a new network namespace")
        if key in ("kernel.hostname", "kernel.domainname"):
            if "uts" in new:
                continue
            raise InvalidArgument(f"linux.sysctl.{key}: needs a new uts namespace")
        raise InvalidArgument(f"linux.sysctl.{key}: not in a separate kernel namespace (it would change the host)")


def write_id_map(path: str, maps: list[IDMapping]) -> None:
    data = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data.encode())
    except OSError as e:
        raise FailedPrecondition(f"linux.{'uid' if 'uid' in path else 'gid'}Mappings: writing {path}: {e.strerror}")
    finally:
        os.close(fd)


def write_pid_file(path: str, pid: int) -> None:
    p = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(p), f".{os.path.basename(p)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, p)


def host_root_ids(spec: Spec) -> tuple[int, int]:
    def find(maps: list[IDMapping]) -> int:
        for m in maps:
            if m.container_id <= 0 < m.container_id + m.size:
                return m.host_id - m.container_id
        return 0

    return find(spec.linux.uid_mappings), find(spec.linux.gid_mappings)


def joins_itself(spec: Spec, cgroup_root: str) -> bool:
    """Whether the intermediate joins the container's cgroups itself (``seabox.runtime.init.
    join_own_cgroups``) instead of being moved by this process.

    Design reason: a move by pid takes the kernel's global threadgroup lock, whose first
    writer waits an RCU grace period (6-15 ms here) holding cgroup_mutex — on every
    ``create``'s critical path.  A thread moving itself to a v1 hierarchy skips that lock,
    and cloning the init into its cgroup2 directory needs no move at all.  Not with a user
    namespace (a process mapped to another uid may not write the host's cgroupfs), not on
    a test's fake tree, and not with ``SEABOX_RUNC_CGROUP_SELF_JOIN=0``.
    """
    if cgroup_root != "/sys/fs/cgroup" or os.environ.get("SEABOX_RUNC_CGROUP_SELF_JOIN") == "0":
        return False
    return not any(ns.type == "user" for ns in spec.linux.namespaces)


def _kill_wait(pid: int) -> None:
    try:
        os.kill(pid, 9)  # SIGKILL (the signal module costs an enum import)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


class Created(Record):
    state: st_mod.ContainerState
    warnings: list[str]

    def __init__(self, state: st_mod.ContainerState, warnings: list[str]) -> None:
        self.state = state
        self.warnings = warnings


def create(state_root: StrPath, container_id: str, opts: CreateOptions) -> Created:
    """Create the container and leave its init blocked on the exec FIFO."""
    st_mod.validate_id(container_id)
    bundle = os.path.abspath(opts.bundle)
    spec = load_spec(bundle, loads=jsonlite.loads)
    if spec.process is None:
        raise InvalidArgument("config.json: process: is required")
    self_join = joins_itself(spec, opts.cgroup_root)
    if opts.cgroup_root == "/sys/fs/cgroup" and not self_join:  # the real cgroupfs only, never a fake tree
        prime_cgroup_migration(opts.cgroup_root)
    rootfs = spec.root.path if spec.root.path.startswith("/") else os.path.join(bundle, spec.root.path)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"config.json: root.path: {rootfs}: not a directory")
    if spec.process.terminal and not opts.console_socket:
        raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
    if opts.console_socket and not spec.process.terminal:
        raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
    if spec.linux.namespace("mount") is None:
        raise InvalidArgument("linux.namespaces: a new mount namespace is required")
    validate_sysctls(spec)

    root = os.fspath(state_root)
    os.makedirs(root, mode=0o700, exist_ok=True)
    cdir = st_mod.container_dir(root, container_id)
    try:
        os.mkdir(cdir, 0o711)
    except FileExistsError:
        raise AlreadyExists(subject("container", container_id, "container with id exists"))

    manager = None
    children: list[int] = []
    init_pid = 0
    parent: Channel | None = None
    console_fd = -1
    fifo_fd = -1
    try:
        fifo = os.path.join(cdir, st_mod.EXEC_FIFO)
        old = os.umask(0)
        try:
            os.mkfifo(fifo, 0o622)
        finally:
            os.umask(old)
        ruid, rgid = host_root_ids(spec)
        if ruid or rgid:
            os.chown(fifo, ruid, rgid)
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        if opts.console_socket:
            from seabox.linux.console import connect_console_socket

            try:
                console_fd = connect_console_socket(opts.console_socket)
            except OSError as e:
                raise InvalidArgument(f"console socket {opts.console_socket}: {e.strerror}")
        manager = open_cgroup_manager(spec.linux.cgroups_path, container_id, opts.cgroup_root)
        self_join = self_join and manager is not None
        # The cgroup directories: now if no priming write is waiting for its grace period,
        # else once the intermediate is forked (the mkdirs wait for it; a forked parent pays
        # copy-on-write).  The intermediate joins by itself (self_join) or the parent moves it.
        mkdir_first = manager is not None and (self_join or priming_passed())
        if mkdir_first:
            manager.create()
        tasks, clone = manager.join_plan() if self_join else ([], "")
        cfg = InitConfig(container_id=container_id, spec=spec, bundle=bundle, rootfs=rootfs, fifo_fd=fifo_fd,
                         no_pivot=opts.no_pivot, preserve_fds=opts.preserve_fds, console_fd=console_fd,
                         new_keyring=not opts.no_new_keyring, seccomp=prepare_seccomp(spec.linux.seccomp, root),
                         cgroup_tasks=tasks, cgroup_clone=clone)
        s.LinuxSyscalls().prctl(s.PR_SET_CHILD_SUBREAPER, 1)
        parent, child = channel_pair()
        for fd in range(3, 3 + opts.preserve_fds):
            try:
                os.set_inheritable(fd, True)
            except OSError:
                raise InvalidArgument(f"--preserve-fds={opts.preserve_fds}: fd {fd} is not open")
        pid = os.fork()
        if pid == 0:
            parent.close()
            run_intermediate(cfg, child)
        children.append(pid)
        child.close()
        if manager is not None and not mkdir_first:
            manager.create()
        os.close(fifo_fd)
        fifo_fd = -1
        if console_fd >= 0:
            os.close(console_fd)
            console_fd = -1

        st = st_mod.ContainerState(
            id=container_id, pid=0, status=st_mod.CREATING, bundle=bundle, rootfs=rootfs,
            created=now_rfc3339nano(), owner="", annotations=spec.annotations, config=spec.raw,
            cgroups_path=spec.linux.cgroups_path, oci_version=spec.oci_version, state_dir=cdir,
        )
        warnings: list[str] = []
        while True:
            try:
                msg = parent.recv()
            except ChannelClosed:
                raise FailedPrecondition(subject("container", container_id, "container init exited unexpectedly"))
            kind = msg.get("type")
            if kind == "setup":
                cpid = int(msg["pid"])
                if manager is not None and not self_join:
                    manager.apply(cpid)
                    finish_priming()
                if msg.get("userns"):
                    write_id_map(f"/proc/{cpid}/uid_map", spec.linux.uid_mappings)
                    write_id_map(f"/proc/{cpid}/gid_map", spec.linux.gid_mappings)
                parent.send({"type": "go"})
                # The limits while the intermediate and the init set up (runc, too, sets them
                # only once the init has its mounts): before hooks run or the init is ready.
                res = effective_resources(spec) if manager is not None else None
                if res:
                    manager.set(res)
            elif kind == "pid":
                init_pid = int(msg["pid"])
                st.pid = init_pid
                parent.send({"type": "init"})  # first: the init need not wait for the intermediate's exit
                for c in children:
                    try:
                        os.waitpid(c, 0)
                    except ChildProcessError:
                        pass
                children = [init_pid]
            elif kind == "hooks":
                from seabox.runtime.hooks import run_hooks

                hs = st.hook_state()
                run_hooks("prestart", spec.hooks, hs)
                run_hooks("createRuntime", spec.hooks, hs)
                parent.send({"type": "resume", "state": hs})
            elif kind == "ready":
                warnings = list(msg.get("warnings", []))
                break
            elif kind == "error":
                raise FailedPrecondition(str(msg.get("msg", "container init failed")))
        st.status = st_mod.CREATED
        st.init_start_time = st_mod.process_start_time(init_pid) or 0
        if manager is not None:
            st.cgroup_paths = dict(manager.paths)
        st.namespace_paths = {ns.type: ns.path or f"/proc/{init_pid}/ns/{ns.type}" for ns in spec.linux.namespaces}
        st_mod.save_state(root, st)
        if opts.pid_file:
            write_pid_file(opts.pid_file, init_pid)
        return Created(st, warnings)
    except BaseException as e:
        for c in children:
            _kill_wait(c)
        if init_pid and init_pid not in children:
            _kill_wait(init_pid)
        if manager is not None:
            try:
                _wait_cgroup_empty(manager)
                manager.destroy()
            except (OSError, SeaboxError):
                pass
        _remove_dir(cdir)
        if isinstance(e, (SeaboxError, KeyboardInterrupt)):
            raise
        if isinstance(e, OSError):
            raise FailedPrecondition(subject("container", container_id, str(e)))
        raise
    finally:
        finish_priming()
        if parent is not None:
            parent.close()
        for fd in (fifo_fd, console_fd):
            if fd >= 0:
                os.close(fd)


def _wait_cgroup_empty(manager: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not manager.pids():
                return
        except (OSError, SeaboxError):
            return
        time.sleep(0.005)


def _remove_dir(d: str) -> None:
    try:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    except FileNotFoundError:
        pass
