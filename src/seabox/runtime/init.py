"""The container side of ``create``: the intermediate child and the container init.

Design reason: runc's process model.  The runtime (parent) forks an *intermediate* child that
becomes non-dumpable, joins the container's v1 cgroups itself (``join_own_cgroups``), joins
namespaces given by path, unshares a new user namespace first (the parent then writes its
uid/gid maps and, in that case, moves it into the cgroups), unshares the remaining namespaces
and forks the *init* — into its cgroup2 directory (``fork_init``) — which is pid 1 of a new pid
namespace.  The intermediate
exits at once; because the parent is a child subreaper, the init is reparented to it (and, when
``create`` exits, to the caller's subreaper, e.g. a shim).  The init builds the rootfs, lets the
parent run the runtime-namespace hooks, switches root, applies the process settings, reports
ready, then blocks opening the exec FIFO until ``start`` and finally execs the user process.
"""

from __future__ import annotations

import errno
import os
import sys

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.linux import namespaces as nsmod
from seabox.linux import syscalls as s
from seabox.linux.paths import secure_join
from seabox.linux.syscalls import LinuxSyscalls, Syscalls
from seabox.oci.runtime_spec import Process, Record, Spec
from seabox.runtime import process as procmod
from seabox.runtime.rootfs import RootfsContext, finalize_rootfs, prepare_rootfs, switch_root
from seabox.runtime.sync import Channel

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any, NoReturn


class InitConfig(Record):
    container_id: str
    spec: Spec
    bundle: str
    rootfs: str
    fifo_fd: int
    no_pivot: bool
    preserve_fds: int
    console_fd: int
    new_keyring: bool
    seccomp: Any  # a compiled seabox.linux.seccomp.Filter, or None
    cgroup_tasks: list[str]  # v1 ``tasks`` files the intermediate writes "0" to (it joins itself)
    cgroup_clone: str  # cgroup2 directory the init is cloned into ("": the parent placed it)

    def __init__(self, container_id: str, spec: Spec, bundle: str, rootfs: str, fifo_fd: int, no_pivot: bool = False, preserve_fds: int = 0, console_fd: int = -1, new_keyring: bool = True, seccomp: Any = None, cgroup_tasks: list[str] | None = None, cgroup_clone: str = "") -> None:
        self.container_id = container_id
        self.spec = spec
        self.bundle = bundle
        self.rootfs = rootfs
        self.fifo_fd = fifo_fd
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.console_fd = console_fd
        self.new_keyring = new_keyring
        self.seccomp = seccomp
        self.cgroup_tasks = list() if cgroup_tasks is None else cgroup_tasks
        self.cgroup_clone = cgroup_clone


def _fail(chan: Channel, e: BaseException) -> NoReturn:
    msg = str(e) if str(e) else type(e).__name__
    if not isinstance(e, (OSError, InvalidArgument, FailedPrecondition)):
        msg = f"{type(e).__name__}: {msg}"
    if os.environ.get("SEABOX_RUNC_DEBUG"):
        try:  # after pivot_root/setns the host's stdlib may be out of reach
            import traceback

            msg += "\n" + traceback.format_exc()
        except ImportError:
            pass
    try:
        chan.send({"type": "error", "msg": msg})
    except OSError:
        pass
    os._exit(1)


SECCOMP_CACHE = "~seccomp"  # under the runtime's root; "~" is not allowed in container ids


def prepare_seccomp(seccomp: dict[str, Any] | None, state_root: str = "") -> Any:
    """Compile linux.seccomp in the runtime, before any fork: a bad profile fails ``create``
    with a one-line error, and the init only has to load the ready BPF program.  Compiled
    programs are cached under ``<state_root>/~seccomp`` (see ``seabox.linux.seccomp.prepare``)."""
    if not seccomp:
        return None
    try:
        from seabox.linux.seccomp import prepare
    except ImportError:
        raise FailedPrecondition("linux.seccomp: seccomp support (seabox.linux.seccomp) is not available")
    return prepare(seccomp, cache_dir=f"{state_root}/{SECCOMP_CACHE}" if state_root else None)


def join_namespaces(sc: Syscalls, paths: dict[str, str]) -> None:
    """setns into each namespace given by path, in the join order; all fds are opened first."""
    fds = []
    try:
        for kind in nsmod.ordered(list(paths)):
            try:
                fds.append((kind, os.open(paths[kind], os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as e:
                raise FailedPrecondition(f"linux.namespaces: {kind} {paths[kind]!r}: {e.strerror}")
        for kind, fd in fds:
            try:
                sc.setns(fd, nsmod.flag(kind))
            except OSError as e:
                raise FailedPrecondition(f"linux.namespaces: joining {kind} {paths[kind]!r}: {e.strerror}")
    finally:
        for _, fd in fds:
            os.close(fd)


def write_time_offsets(sc: Syscalls, offsets: dict[str, Any]) -> None:
    """linux.timeOffsets for a new time namespace: written before any process enters it."""
    lines = []
    for clock in ("monotonic", "boottime"):
        off = offsets.get(clock)
        if off:
            lines.append(f"{clock} {int(off.get('secs', 0))} {int(off.get('nanosecs', 0))}\n")
    for line in lines:
        try:
            sc.write_file("/proc/self/timens_offsets", line)
        except OSError as e:
            raise FailedPrecondition(f"linux.timeOffsets: {line.strip()}: {e.strerror}")


def join_own_cgroups(tasks: list[str], clone_dir: str) -> int:
    """The intermediate's half of joining the container's cgroups (see ``seabox.runtime.create``).

    Writing "0" to a v1 ``tasks`` file moves just the calling thread, and the kernel skips its
    global threadgroup lock for that (whose first writer waits for an RCU grace period, 6-15 ms
    here, holding cgroup_mutex); the intermediate is single-threaded, so that moves it whole.
    cgroup2 has no such write for a move between domains: the init is cloned into
    ``clone_dir`` instead (CLONE_INTO_CGROUP), whose directory fd this returns (-1: none).
    """
    for path in tasks:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as e:
            raise FailedPrecondition(f"cannot join cgroup {os.path.dirname(path)}: {e.strerror}")
    if not clone_dir:
        return -1
    try:
        return os.open(clone_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise FailedPrecondition(f"cannot join cgroup {clone_dir}: {e.strerror}")


def fork_init(sc: Syscalls, clone_fd: int, clone_dir: str) -> int:
    """fork the init, into ``clone_dir`` when given; a kernel (or a seccomp profile around us)
    without clone3 gets the classic move: the intermediate writes itself to cgroup.procs."""
    if clone_fd < 0:
        return os.fork()
    try:
        return sc.fork_into_cgroup(clone_fd)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EINVAL, errno.E2BIG, errno.ENOSYS):
            raise FailedPrecondition(f"cannot clone the init into cgroup {clone_dir}: {e.strerror}")
    try:
        sc.write_file(clone_dir + "/cgroup.procs", "0")
    except OSError as e:
        raise FailedPrecondition(f"cannot join cgroup {clone_dir}: {e.strerror}")
    return os.fork()


def run_intermediate(cfg: InitConfig, chan: Channel) -> NoReturn:
    try:
        sc = LinuxSyscalls()
        sc.prctl(s.PR_SET_DUMPABLE, 0)
        spec = cfg.spec
        # first: the paths are the host's, and a joined mount namespace would hide them
        clone_fd = join_own_cgroups(cfg.cgroup_tasks, cfg.cgroup_clone)
        join = {ns.type: ns.path for ns in spec.linux.namespaces if ns.path}
        new = [ns.type for ns in spec.linux.namespaces if not ns.path]
        join_namespaces(sc, join)
        if "user" in new:
            sc.unshare(s.CLONE_NEWUSER)
        chan.send({"type": "setup", "pid": os.getpid(), "userns": "user" in new})
        msg = chan.recv()
        if msg.get("type") != "go":
            os._exit(1)
        if "user" in new or "user" in join:
            sc.setresgid(0)
            sc.setresuid(0)
            try:
                sc.setgroups([])
            except PermissionError:
                pass  # a joined user namespace may deny setgroups; the process's groups are set later
        flags = 0
        for kind in new:
            if kind != "user":
                flags |= nsmod.flag(kind)
        # A new cgroup namespace is rooted where its creator is: with the init cloned into its
        # cgroup2 directory, the init creates it (it is in every container cgroup by then).
        late_cgroupns = clone_fd >= 0 and flags & s.CLONE_NEWCGROUP
        if late_cgroupns:
            flags &= ~s.CLONE_NEWCGROUP
        if flags:
            sc.unshare(flags)
        if "time" in new:
            write_time_offsets(sc, (spec.raw.get("linux") or {}).get("timeOffsets") or {})
        pid = fork_init(sc, clone_fd, cfg.cgroup_clone)
        if pid == 0:
            if clone_fd >= 0:
                os.close(clone_fd)
            if late_cgroupns:
                sc.unshare(s.CLONE_NEWCGROUP)
            run_init(cfg, chan)
        chan.send({"type": "pid", "pid": pid})
    except BaseException as e:
        _fail(chan, e)
    os._exit(0)


def setup_console(sc: Syscalls, proc: Process, console_fd: int, bind_console: bool) -> None:
    from seabox.linux import console

    master, slave_path = console.open_pty()
    if proc.console_size and proc.console_size.height and proc.console_size.width:
        console.set_winsize(master, proc.console_size.height, proc.console_size.width)
    if bind_console:
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        sc.mount(slave_path, "/dev/console", None, s.MS_BIND, None)
    slave = os.open(slave_path, os.O_RDWR | os.O_CLOEXEC)
    console.send_fd(console_fd, "/dev/ptmx", master)
    os.close(master)
    os.close(console_fd)
    console.make_controlling_terminal(slave)


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def apply_apparmor(sc: Syscalls, profile: str) -> None:
    """Ask AppArmor to switch to ``profile`` at the next execve (what runc does)."""
    for path in ("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"):
        try:
            sc.write_file(path, f"exec {profile}")
            return
        except FileNotFoundError:
            continue
        except OSError as e:
            raise FailedPrecondition(f"process.apparmorProfile {profile!r}: {e.strerror}")
    raise FailedPrecondition(f"process.apparmorProfile {profile!r}: no AppArmor exec attribute")


def apply_process(sc: Syscalls, proc: Process, *, seccomp: Any, keep: set[int],
                  preserve_fds: int, warnings: list[str]) -> tuple[str, dict[str, str]]:
    """rlimits, no_new_privs, early seccomp, fd closing, umask, user and capabilities, cwd, lookup."""
    procmod.set_oom_score_adj(sc, proc.oom_score_adj)
    procmod.set_rlimits(sc, proc.rlimits)
    if proc.apparmor_profile:
        if apparmor_enabled():
            apply_apparmor(sc, proc.apparmor_profile)
        else:
            warnings.append(f"process.apparmorProfile {proc.apparmor_profile!r} ignored: AppArmor is not enabled")
    if proc.selinux_label and not os.path.exists("/sys/fs/selinux/enforce"):
        warnings.append(f"process.selinuxLabel {proc.selinux_label!r} ignored: SELinux is not enabled")
    if proc.no_new_privileges:
        sc.prctl(s.PR_SET_NO_NEW_PRIVS, 1)
    elif seccomp is not None:
        seccomp.load()  # needs CAP_SYS_ADMIN without no_new_privs: before the capabilities go
    procmod.close_fds(keep, preserve_fds)
    sc.umask(proc.user.umask if proc.user.umask is not None else 0o022)
    procmod.setup_user_and_caps(sc, proc, warn=warnings)
    procmod.enter_cwd(sc, proc.cwd)
    env = procmod.build_env(proc)
    return procmod.lookup(proc.args[0], env), env


def _preimport(spec: Spec) -> None:
    """Import, while the host root is still visible, what is needed after the root switch."""
    # __import__, not importlib: importlib's own import costs ~1 ms in every init
    if spec.process is not None and spec.process.terminal:
        __import__("seabox.linux.console")
    if spec.hooks.get("startContainer"):
        __import__("subprocess")
        __import__("seabox.runtime.hooks")


def _create_cwd(cwd: str) -> None:
    """Create the working directory as root, before the root turns read-only and the user switches."""
    path = secure_join("/", cwd)
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as e:
            raise FailedPrecondition(f"process.cwd: {cwd!r}: {e.strerror}")


def run_init(cfg: InitConfig, chan: Channel) -> NoReturn:
    sc = LinuxSyscalls()
    spec = cfg.spec
    proc = spec.process
    assert proc is not None
    types = {ns.type: ns.path for ns in spec.linux.namespaces}
    warnings: list[str] = []
    hook_state: dict[str, Any] = {}
    try:
        if "mount" not in types or types["mount"]:
            raise InvalidArgument("linux.namespaces: a new mount namespace is required")
        ctx = RootfsContext(bundle=cfg.bundle, rootfs=cfg.rootfs, userns="user" in types,
                            cgroupns="cgroup" in types and not types["cgroup"], no_pivot=cfg.no_pivot)
        if cfg.new_keyring:
            # a session keyring of its own, so the container cannot see the caller's keys
            try:
                sc.join_session_keyring(f"_ses.{cfg.container_id}")
            except OSError as e:
                if e.errno != errno.ENOSYS:  # kernel without keyrings
                    raise FailedPrecondition(f"joining a new session keyring: {e.strerror}")
        prepare_rootfs(sc, ctx, spec)
        # before our first message, wait until the parent knows our pid (the intermediate's
        # "pid" message and ours share one pipe: without this, "hooks" or "ready" could
        # overtake it); the rootfs work above does not need to wait
        if chan.recv().get("type") != "init":
            os._exit(1)
        if any(spec.hooks.get(k) for k in ("prestart", "createRuntime", "createContainer", "startContainer")):
            chan.send({"type": "hooks"})
            msg = chan.recv()
            if msg.get("type") != "resume":
                os._exit(1)
            hook_state = msg.get("state", {})
            from seabox.runtime.hooks import run_hooks

            run_hooks("createContainer", spec.hooks, hook_state)
        _preimport(spec)
        switch_root(sc, ctx)
        _create_cwd(proc.cwd)
        if proc.terminal:
            setup_console(sc, proc, cfg.console_fd, bind_console=True)
        if spec.hostname:
            if "uts" not in types or types["uts"]:
                raise InvalidArgument("hostname: setting it needs a new uts namespace")
            sc.sethostname(spec.hostname)
        if spec.domainname:
            if "uts" not in types or types["uts"]:
                raise InvalidArgument("domainname: setting it needs a new uts namespace")
            sc.setdomainname(spec.domainname)
        for key, value in spec.linux.sysctl.items():
            try:
                sc.write_file("/proc/sys/" + key.replace(".", "/"), value)
            except OSError as e:
                raise FailedPrecondition(f"linux.sysctl.{key}: {e.strerror}")
        finalize_rootfs(sc, spec)
        exe, env = apply_process(sc, proc, seccomp=cfg.seccomp, keep={chan.rfd, chan.wfd, cfg.fifo_fd},
                                 preserve_fds=cfg.preserve_fds, warnings=warnings)
        chan.send({"type": "ready", "warnings": warnings})
        chan.close()
    except BaseException as e:
        _fail(chan, e)
    try:
        # Opening blocks until ``start`` opens the FIFO for reading.  The "0" is written only
        # after the startContainer hooks, and the fd stays open (close-on-exec) so that
        # ``start`` sees EOF exactly when execve has happened: poststart hooks then really
        # run after the user process started.
        fd = os.open(f"/proc/self/fd/{cfg.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.close(cfg.fifo_fd)
        if spec.hooks.get("startContainer"):
            from seabox.runtime.hooks import run_hooks

            st = dict(hook_state, status="created", pid=os.getpid())
            run_hooks("startContainer", spec.hooks, st)
        sc.default_signals()  # before seccomp: a strict profile may not allow rt_sigaction
        if proc.no_new_privileges and cfg.seccomp is not None:
            cfg.seccomp.load()  # as late as possible: only the allowed syscalls work after this
        os.write(fd, b"0")
        os.execve(exe, proc.args, env)
    except BaseException as e:
        try:
            sys.stderr.write(f"seabox-runc init: {e}\n")
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(127 if isinstance(e, OSError) else 1)
