"""Building the container's filesystem view inside its new mount namespace.

Design reason: this is the sequence the OCI spec describes and runc follows — set the root
propagation, bind the rootfs onto itself, mount each spec mount at a destination resolved
*inside* the rootfs, create the default devices and /dev symlinks, then switch root (pivot_root,
or MS_MOVE+chroot with --no-pivot) and finally apply the read-only root, readonlyPaths and
maskedPaths.  It only calls the kernel through a ``Syscalls`` object, so unit tests check the
exact mount sequence with ``RecordingSyscalls`` on a temp-dir rootfs.
"""

from __future__ import annotations

import os
import stat

from seabox.errdefs import InvalidArgument
from seabox.linux import syscalls as s
from seabox.linux.paths import secure_join
from seabox.linux.syscalls import Syscalls
from seabox.oci.runtime_spec import Device, Mount, Record, Spec

_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, s.MS_RDONLY), "rw": (True, s.MS_RDONLY),
    "suid": (True, s.MS_NOSUID), "nosuid": (False, s.MS_NOSUID), "dev": (True, s.MS_NODEV),
    "nodev": (False, s.MS_NODEV), "exec": (True, s.MS_NOEXEC), "noexec": (False, s.MS_NOEXEC),
    "sync": (False, s.MS_SYNCHRONOUS), "async": (True, s.MS_SYNCHRONOUS), "dirsync": (False, s.MS_DIRSYNC),
    "remount": (False, s.MS_REMOUNT), "mand": (False, s.MS_MANDLOCK), "nomand": (True, s.MS_MANDLOCK),
    "atime": (True, s.MS_NOATIME), "noatime": (False, s.MS_NOATIME), "diratime": (True, s.MS_NODIRATIME),
    "nodiratime": (False, s.MS_NODIRATIME), "bind": (False, s.MS_BIND), "rbind": (False, s.MS_BIND | s.MS_REC),
    "relatime": (False, s.MS_RELATIME), "norelatime": (True, s.MS_RELATIME),
    "strictatime": (False, s.MS_STRICTATIME), "nostrictatime": (True, s.MS_STRICTATIME),
    "nosymfollow": (False, s.MS_NOSYMFOLLOW), "lazytime": (False, s.MS_LAZYTIME),
    "nolazytime": (True, s.MS_LAZYTIME), "silent": (False, s.MS_SILENT), "loud": (True, s.MS_SILENT),
}
PROPAGATION = {
    "private": s.MS_PRIVATE, "rprivate": s.MS_PRIVATE | s.MS_REC, "shared": s.MS_SHARED,
    "rshared": s.MS_SHARED | s.MS_REC, "slave": s.MS_SLAVE, "rslave": s.MS_SLAVE | s.MS_REC,
    "unbindable": s.MS_UNBINDABLE, "runbindable": s.MS_UNBINDABLE | s.MS_REC,
}
_LOCKABLE = {1: s.MS_RDONLY, 2: s.MS_NOSUID, 4: s.MS_NODEV, 8: s.MS_NOEXEC, 1024: s.MS_NOATIME,
             2048: s.MS_NODIRATIME, 4096: s.MS_RELATIME}

DEFAULT_DEVICES = [
    Device("c", "/dev/null", 1, 3, 0o666),
    Device("c", "/dev/zero", 1, 5, 0o666),
    Device("c", "/dev/full", 1, 7, 0o666),
    Device("c", "/dev/tty", 5, 0, 0o666),
    Device("c", "/dev/random", 1, 8, 0o666),
    Device("c", "/dev/urandom", 1, 9, 0o666),
]
DEV_SYMLINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]


class MountOptions(Record):
    flags: int
    propagation: list[int]
    data: list[str]
    recursive_ro: bool

    def __init__(self, flags: int = 0, propagation: list[int] | None = None, data: list[str] | None = None, recursive_ro: bool = False) -> None:
        self.flags = flags
        self.propagation = list() if propagation is None else propagation
        self.data = list() if data is None else data
        self.recursive_ro = recursive_ro


    @property
    def data_str(self) -> str | None:
        return ",".join(self.data) or None


def parse_options(options: list[str]) -> MountOptions:
    out = MountOptions()
    for o in options:
        if o in _FLAGS:
            clear, bit = _FLAGS[o]
            out.flags = out.flags & ~bit if clear else out.flags | bit
        elif o in PROPAGATION:
            out.propagation.append(PROPAGATION[o])
        elif o == "rro":
            out.recursive_ro = True
        elif o in ("rrw", "rnosuid", "rnodev", "rnoexec", "tmpcopyup", "idmap", "ridmap"):
            continue
        else:
            out.data.append(o)
    return out


class RootfsContext(Record):
    """What rootfs set-up needs besides the spec: the bundle dir and namespace facts."""

    bundle: str
    rootfs: str
    userns: bool
    cgroupns: bool
    no_pivot: bool
    proc_self_cgroup: str
    mountinfo: str

    def __init__(self, bundle: str, rootfs: str, userns: bool = False, cgroupns: bool = False, no_pivot: bool = False, proc_self_cgroup: str = "/proc/self/cgroup", mountinfo: str = "/proc/self/mountinfo") -> None:
        self.bundle = bundle
        self.rootfs = rootfs
        self.userns = userns
        self.cgroupns = cgroupns
        self.no_pivot = no_pivot
        self.proc_self_cgroup = proc_self_cgroup
        self.mountinfo = mountinfo


def _remount(sc: Syscalls, dest: str, flags: int) -> None:
    try:
        sc.mount(None, dest, None, flags | s.MS_REMOUNT | s.MS_BIND, None)
    except PermissionError:
        # In a user namespace the flags the source mount has are locked: keep them.
        f = os.statvfs(dest).f_flag
        locked = 0
        for bit, ms in _LOCKABLE.items():
            if f & bit:
                locked |= ms
        sc.mount(None, dest, None, flags | locked | s.MS_REMOUNT | s.MS_BIND, None)


def _mkdir(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _touch(path: str) -> None:
    _mkdir(os.path.dirname(path))
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


def _source_path(ctx: RootfsContext, m: Mount) -> str:
    src = m.source
    if src and not src.startswith("/"):
        src = os.path.join(ctx.bundle, src)
    return src


# Files below /proc that may be mounted over (lxcfs-style); anything else below /proc could
# hide kernel interfaces such as /proc/self/attr (runc's checkProcMount).
PROC_MOUNT_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                      "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid"}


def check_proc_mount(rootfs: str, dest: str, m: Mount) -> None:
    proc = os.path.join(os.path.abspath(rootfs), "proc")
    if not (dest == proc or dest.startswith(proc + "/")):
        return
    if dest == proc and m.type == "proc":
        return
    inside = dest[len(os.path.abspath(rootfs)):]
    if inside in PROC_MOUNT_ALLOWED:
        return
    raise InvalidArgument(f"mount {m.destination!r}: mounting over {inside} is not allowed")


def mount_entry(sc: Syscalls, ctx: RootfsContext, m: Mount) -> None:
    """Mount one spec mount below ``ctx.rootfs``."""
    opts = parse_options(m.options)
    dest = secure_join(ctx.rootfs, m.destination)
    if dest == os.path.abspath(ctx.rootfs):
        raise InvalidArgument(f"mount {m.destination!r}: destination resolves to the container root")
    check_proc_mount(ctx.rootfs, dest, m)
    if opts.flags & s.MS_BIND or m.type == "bind":
        src = _source_path(ctx, m)
        try:
            st = os.stat(src)
        except OSError as e:
            raise InvalidArgument(f"mount {m.destination!r}: source {src!r}: {e.strerror}")
        if stat.S_ISDIR(st.st_mode):
            _mkdir(dest)
        else:
            _touch(dest)
        sc.mount(src, dest, "bind", s.MS_BIND | (opts.flags & s.MS_REC), None)
        extra = opts.flags & ~(s.MS_BIND | s.MS_REC | s.MS_REMOUNT)
        if extra:
            _remount(sc, dest, extra)
    elif m.type == "cgroup":
        _mount_cgroup(sc, ctx, dest, opts)
    else:
        _mkdir(dest)
        try:
            sc.mount(m.source or m.type, dest, m.type, opts.flags, opts.data_str)
        except PermissionError:
            if m.type != "sysfs":
                raise
            # sysfs cannot be mounted from a user namespace without its own netns: bind the host's.
            sc.mount("/sys", dest, "bind", s.MS_BIND | s.MS_REC, None)
            _remount(sc, dest, opts.flags | s.MS_RDONLY)
    if opts.recursive_ro:
        sc.mount_setattr_rdonly(dest, True)
    for p in opts.propagation:
        sc.mount(None, dest, None, p, None)


def _cgroup_mounts(ctx: RootfsContext) -> list[tuple[str, str, str]]:
    """Host cgroup mounts (mountpoint, fstype, super options) directly below /sys/fs/cgroup or at it."""
    out: list[tuple[str, str, str]] = []
    try:
        with open(ctx.mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        rf = right.split()
        if len(rf) < 3 or rf[0] not in ("cgroup", "cgroup2"):
            continue
        mp = fields[4].encode().decode("unicode_escape")
        if mp == "/sys/fs/cgroup" or os.path.dirname(mp) == "/sys/fs/cgroup":
            out.append((mp, rf[0], rf[2]))
    return out


def _own_cgroups(ctx: RootfsContext) -> dict[str, str]:
    out = {}
    try:
        with open(ctx.proc_self_cgroup) as f:
            for line in f:
                _, ctrl, path = line.rstrip("\n").split(":", 2)
                out[ctrl] = path
    except OSError:
        pass
    return out


def _mount_cgroup(sc: Syscalls, ctx: RootfsContext, dest: str, opts: MountOptions) -> None:
    mounts = _cgroup_mounts(ctx)
    own = _own_cgroups(ctx)
    flags = opts.flags | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC
    _mkdir(dest)
    if len(mounts) == 1 and mounts[0][1] == "cgroup2" and mounts[0][0] == "/sys/fs/cgroup":
        if ctx.cgroupns:
            sc.mount("cgroup", dest, "cgroup2", flags, None)
        else:
            sc.mount("/sys/fs/cgroup" + own.get("", "/"), dest, "bind", s.MS_BIND | s.MS_REC, None)
            _remount(sc, dest, flags)
        return
    sc.mount("tmpfs", dest, "tmpfs", (flags & ~s.MS_RDONLY), "mode=755")
    for mp, fstype, superopts in mounts:
        if mp == "/sys/fs/cgroup":
            continue
        name = os.path.basename(mp)
        sub = os.path.join(dest, name)
        _mkdir(sub)
        ctrls = [o for o in superopts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
        if ctx.cgroupns:
            if fstype == "cgroup2":
                sc.mount("cgroup", sub, "cgroup2", flags, None)
            else:
                sc.mount("cgroup", sub, "cgroup", flags, ",".join(ctrls))
        else:
            key = "" if fstype == "cgroup2" else ",".join(c for c in ctrls if c != "xattr")
            path = own.get(key, "/")
            sc.mount(mp + path, sub, "bind", s.MS_BIND | s.MS_REC, None)
            _remount(sc, sub, flags)
    try:
        for entry in os.listdir("/sys/fs/cgroup"):
            host = os.path.join("/sys/fs/cgroup", entry)
            if os.path.islink(host) and not os.path.lexists(os.path.join(dest, entry)):
                os.symlink(os.readlink(host), os.path.join(dest, entry))
    except OSError:
        pass
    if opts.flags & s.MS_RDONLY:
        sc.mount(None, dest, None, flags | s.MS_REMOUNT | s.MS_RDONLY, None)


def needs_dev_setup(spec: Spec) -> bool:
    """runc creates devices unless /dev itself is bind-mounted from the host."""
    for m in spec.mounts:
        if m.destination.rstrip("/") == "/dev" and ("bind" in m.options or "rbind" in m.options
                                                    or m.type == "bind"):
            return False
    return True


def create_device(sc: Syscalls, ctx: RootfsContext, dev: Device) -> None:
    path = secure_join(ctx.rootfs, dev.path)
    _mkdir(os.path.dirname(path))
    if ctx.userns:
        # mknod is not allowed in a user namespace: bind the host's node instead.
        _touch(path)
        sc.mount(dev.path, path, "bind", s.MS_BIND, None)
        return
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    mode = dev.file_mode if dev.file_mode is not None else 0o666
    sc.mknod(path, kind | (mode & 0o7777), os.makedev(dev.major, dev.minor))
    if dev.uid is not None or dev.gid is not None:
        os.chown(path, dev.uid if dev.uid is not None else 0, dev.gid if dev.gid is not None else 0)


def setup_dev(sc: Syscalls, ctx: RootfsContext, spec: Spec) -> None:
    """Default devices, linux.devices, the fd symlinks and /dev/ptmx -> pts/ptmx."""
    listed = {d.path for d in spec.linux.devices}
    old = os.umask(0)
    try:
        for dev in [d for d in DEFAULT_DEVICES if d.path not in listed] + spec.linux.devices:
            create_device(sc, ctx, dev)
    finally:
        os.umask(old)
    for target, link in DEV_SYMLINKS + ([("/proc/kcore", "/dev/core")] if os.path.exists("/proc/kcore") else []):
        path = secure_join(ctx.rootfs, link)
        if not os.path.lexists(path):
            _mkdir(os.path.dirname(path))
            os.symlink(target, path)
    ptmx = secure_join(ctx.rootfs, "/dev/ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    _mkdir(os.path.dirname(ptmx))
    os.symlink("pts/ptmx", ptmx)


def _parent_mountpoint(path: str, mountinfo: str) -> str:
    best = "/"
    try:
        with open(mountinfo) as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                    best = mp
    except OSError:
        pass
    return best


def prepare_rootfs(sc: Syscalls, ctx: RootfsContext, spec: Spec) -> None:
    """Everything before the root switch: propagation, rootfs bind, mounts, devices."""
    prop = PROPAGATION.get(spec.linux.rootfs_propagation, s.MS_SLAVE | s.MS_REC)
    sc.mount(None, "/", None, prop, None)
    if prop & s.MS_SHARED:
        # pivot_root refuses a shared parent mount; make the rootfs's parent private.
        parent = _parent_mountpoint(os.path.dirname(os.path.abspath(ctx.rootfs)), ctx.mountinfo)
        sc.mount(None, parent, None, s.MS_PRIVATE, None)
    sc.mount(ctx.rootfs, ctx.rootfs, "bind", s.MS_BIND | s.MS_REC, None)
    for m in spec.mounts:
        mount_entry(sc, ctx, m)
    if needs_dev_setup(spec):
        setup_dev(sc, ctx, spec)


def switch_root(sc: Syscalls, ctx: RootfsContext) -> None:
    """pivot_root(".", ".") as runc does it, or MS_MOVE + chroot with --no-pivot."""
    if ctx.no_pivot:
        sc.chdir(ctx.rootfs)
        sc.mount(ctx.rootfs, "/", None, s.MS_MOVE, None)
        sc.chroot(".")
        sc.chdir("/")
        return
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(ctx.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.fchdir(new)
        sc.pivot_root(".", ".")
        sc.fchdir(old)
        sc.mount(None, ".", None, s.MS_SLAVE | s.MS_REC, None)
        sc.umount2(".", s.MNT_DETACH)
        sc.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def readonly_path(sc: Syscalls, path: str) -> None:
    if not os.path.lexists(path):
        return
    sc.mount(path, path, None, s.MS_BIND | s.MS_REC, None)
    _remount(sc, path, s.MS_RDONLY | s.MS_REC)


def mask_path(sc: Syscalls, path: str) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        sc.mount("tmpfs", path, "tmpfs", s.MS_RDONLY, None)
    else:
        sc.mount("/dev/null", path, None, s.MS_BIND, None)


def finalize_rootfs(sc: Syscalls, spec: Spec, root: str = "/") -> None:
    """After the root switch: read-only root, then readonlyPaths, then maskedPaths."""
    if spec.root.readonly:
        _remount(sc, root, s.MS_RDONLY)
    for p in spec.linux.readonly_paths:
        readonly_path(sc, secure_join(root, p))
    for p in spec.linux.masked_paths:
        mask_path(sc, secure_join(root, p))
