"""Every libc call the runtime makes that Python's ``os`` does not offer, behind one interface.

Design reason: the container set-up logic (which mounts, in which order, with which flags;
which ids and capabilities) is the part worth testing, and it needs root and a kernel to run
for real.  Routing every kernel-changing call through a ``Syscalls`` object lets unit tests
pass a ``RecordingSyscalls`` that records the sequence instead of performing it, while the
real ``LinuxSyscalls`` is a thin layer over libc.  Only x86_64 and aarch64 syscall numbers are
known; other architectures fail with a clear error.

The layer uses ``_ctypes`` (the C part of ctypes) with the handful of C types it needs defined
here: the ``ctypes`` package's own import (``struct``, ``types``, the endian helpers and a few
hundred lines of Python) costs ~4 ms of every ``create``, which waits for all of it.
"""

from __future__ import annotations

import _ctypes
import os

from seabox.oci import Record  # the runtime's value-object base (no dataclasses on the hot path)

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# namespaces (clone flags)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# mount_setattr
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
AT_SYMLINK_NOFOLLOW = 0x100
MOUNT_ATTR_RDONLY = 0x1

TIOCSCTTY = 0x540E
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "setns": 308, "unshare": 272,
               "mount_setattr": 442, "close_range": 436, "keyctl": 250, "rt_sigaction": 13, "clone3": 435},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "setns": 268, "unshare": 97,
                "mount_setattr": 442, "close_range": 436, "keyctl": 219, "rt_sigaction": 134, "clone3": 435},
}


# The C types used below (ctypes' c_int, c_uint, c_long, c_ulong and c_char).
class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):
    _type_ = "I"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_char(_ctypes._SimpleCData):
    _type_ = "c"


# LP64 (x86_64 and aarch64, the only architectures with syscall numbers here)
c_uint32 = c_uint
c_uint64 = c_ulong
c_size_t = c_ulong
byref = _ctypes.byref
sizeof = _ctypes.sizeof
_USE_ERRNO = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO


class _IntFunc(_ctypes.CFuncPtr):
    """A libc function returning int; its errno is kept for ``_ctypes.get_errno``."""

    _flags_ = _USE_ERRNO
    _restype_ = c_int


class _LongFunc(_ctypes.CFuncPtr):
    """A libc function returning long (``syscall``)."""

    _flags_ = _USE_ERRNO
    _restype_ = c_long


class Libc:
    """The C library functions used here, from the libc the process has loaded (``dlopen(NULL)``)."""

    def __init__(self) -> None:
        self._handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)  # type: ignore[arg-type]  # NULL: the program
        lib: Any = self  # a CFuncPtr looks its symbol up in ``lib._handle``
        self.syscall = _LongFunc(("syscall", lib))
        for name in ("mount", "umount2", "sethostname", "setdomainname", "prctl", "signal", "setrlimit"):
            setattr(self, name, _IntFunc((name, lib)))


def string_buffer(size: int) -> Any:
    """A zeroed ``char[size]``."""
    return (c_char * size)()


class _CapHeader(_ctypes.Structure):
    _fields_ = [("version", c_uint32), ("pid", c_int)]


class _CapData(_ctypes.Structure):
    _fields_ = [("effective", c_uint32), ("permitted", c_uint32), ("inheritable", c_uint32)]


class _MountAttr(_ctypes.Structure):
    _fields_ = [("attr_set", c_uint64), ("attr_clr", c_uint64),
                ("propagation", c_uint64), ("userns_fd", c_uint64)]


class _CloneArgs(_ctypes.Structure):
    """struct clone_args up to ``cgroup`` (CLONE_ARGS_SIZE_VER2, 88 bytes)."""

    _fields_ = [(name, c_uint64) for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
                                              "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]


CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class CapSets(Record):
    """The three per-thread capability sets as 64-bit masks."""

    effective: int
    permitted: int
    inheritable: int

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable


class Syscalls:
    """The interface; ``LinuxSyscalls`` performs, ``RecordingSyscalls`` records."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        raise NotImplementedError

    def umount2(self, target: str, flags: int) -> None:
        raise NotImplementedError

    def pivot_root(self, new_root: str, put_old: str) -> None:
        raise NotImplementedError

    def chroot(self, path: str) -> None:
        raise NotImplementedError

    def chdir(self, path: str) -> None:
        raise NotImplementedError

    def fchdir(self, fd: int) -> None:
        raise NotImplementedError

    def unshare(self, flags: int) -> None:
        raise NotImplementedError

    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        """fork(2), with the child born in the cgroup2 directory ``cgroup_fd`` (clone3's
        CLONE_INTO_CGROUP): 0 in the child, its pid in the parent."""
        raise NotImplementedError

    def setns(self, fd: int, nstype: int) -> None:
        raise NotImplementedError

    def sethostname(self, name: str) -> None:
        raise NotImplementedError

    def setdomainname(self, name: str) -> None:
        raise NotImplementedError

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        raise NotImplementedError

    def capget(self) -> CapSets:
        raise NotImplementedError

    def capset(self, caps: CapSets) -> None:
        raise NotImplementedError

    def setgroups(self, gids: list[int]) -> None:
        raise NotImplementedError

    def setresgid(self, gid: int) -> None:
        raise NotImplementedError

    def setresuid(self, uid: int) -> None:
        raise NotImplementedError

    def mount_setattr_rdonly(self, path: str, recursive: bool) -> None:
        raise NotImplementedError

    def mknod(self, path: str, mode: int, device: int) -> None:
        raise NotImplementedError

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        raise NotImplementedError

    def umask(self, mask: int) -> None:
        raise NotImplementedError

    def write_file(self, path: str, data: str) -> None:
        raise NotImplementedError

    def join_session_keyring(self, name: str) -> int:
        """keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring; returns its serial."""
        raise NotImplementedError

    def default_signals(self, signums: tuple[int, ...] = ()) -> None:
        """Restore SIG_DFL for ``signums`` (default: every signal but SIGKILL and SIGSTOP that is
        ignored or caught, as /proc/self/status says; every one if it cannot be read).

        Ignored signals survive execve: Python ignores SIGPIPE and SIGXFSZ, and whoever started
        the runtime may have ignored others (even glibc's internal 32 and 33, which libc's
        sigaction() refuses to touch, hence the raw rt_sigaction).  Best effort: errors are skipped.
        """
        raise NotImplementedError


def _non_default_signals(status: str = "/proc/self/status") -> tuple[int, ...]:
    """Signals with a handler or ignored (SigCgt | SigIgn): only those need a reset."""
    mask = 0
    try:
        with open(status) as f:
            for line in f:
                if line.startswith(("SigIgn:", "SigCgt:")):
                    mask |= int(line.split()[1], 16)
    except (OSError, ValueError):
        mask = (1 << 64) - 1
    return tuple(n for n in range(1, 65) if n not in (9, 19) and mask >> (n - 1) & 1)


_LIBC: list[Libc] = []


def _libc() -> Libc:
    """One Libc per process (each function costs a dlsym)."""
    if not _LIBC:
        _LIBC.append(Libc())
    return _LIBC[0]


def _errno_error(name: str, detail: str = "") -> OSError:
    err = _ctypes.get_errno()
    msg = f"{name}{(' ' + detail) if detail else ''}: {os.strerror(err)}"
    return OSError(err, msg)


class LinuxSyscalls(Syscalls):
    """The real thing, through libc and raw syscall numbers."""

    def __init__(self) -> None:
        self._libc: Any = _libc()
        self._nr = _SYSCALLS.get(os.uname().machine, {})

    def _syscall(self, name: str, *args: Any) -> int:
        nr = self._nr.get(name)
        if nr is None:
            raise OSError(38, f"{name}: syscall number unknown on {os.uname().machine}")
        res = self._libc.syscall(c_long(nr), *args)
        if res < 0:
            raise _errno_error(name)
        return int(res)

    @staticmethod
    def _b(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        res = self._libc.mount(self._b(source), self._b(target), self._b(fstype), c_ulong(flags),
                               self._b(data))
        if res != 0:
            raise _errno_error("mount", f"{source or 'none'} on {target} ({fstype or ''}, flags {flags:#x})")

    def umount2(self, target: str, flags: int) -> None:
        if self._libc.umount2(self._b(target), c_int(flags)) != 0:
            raise _errno_error("umount2", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._syscall("pivot_root", self._b(new_root), self._b(put_old))

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def fchdir(self, fd: int) -> None:
        os.fchdir(fd)

    def unshare(self, flags: int) -> None:
        self._syscall("unshare", c_int(flags))

    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        # A raw clone3 skips CPython's fork hooks; callers use it only in a single-threaded
        # process (the intermediate), where those hooks have nothing to reset.
        args = _CloneArgs()
        args.exit_signal = _SIGCHLD
        args.flags = CLONE_INTO_CGROUP
        args.cgroup = cgroup_fd
        return self._syscall("clone3", byref(args), c_ulong(sizeof(args)))

    def setns(self, fd: int, nstype: int) -> None:
        self._syscall("setns", c_int(fd), c_int(nstype))

    def sethostname(self, name: str) -> None:
        b = name.encode()
        if self._libc.sethostname(b, c_size_t(len(b))) != 0:
            raise _errno_error("sethostname", name)

    def setdomainname(self, name: str) -> None:
        b = name.encode()
        if self._libc.setdomainname(b, c_size_t(len(b))) != 0:
            raise _errno_error("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        res = self._libc.prctl(c_int(option), c_ulong(arg2), c_ulong(arg3),
                               c_ulong(arg4), c_ulong(arg5))
        if res < 0:
            raise _errno_error("prctl", str(option))
        return int(res)

    def capget(self) -> CapSets:
        hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        self._syscall("capget", byref(hdr), data)
        return CapSets(
            effective=data[0].effective | (data[1].effective << 32),
            permitted=data[0].permitted | (data[1].permitted << 32),
            inheritable=data[0].inheritable | (data[1].inheritable << 32),
        )

    def capset(self, caps: CapSets) -> None:
        hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        m = 0xFFFFFFFF
        data[0].effective, data[1].effective = caps.effective & m, caps.effective >> 32
        data[0].permitted, data[1].permitted = caps.permitted & m, caps.permitted >> 32
        data[0].inheritable, data[1].inheritable = caps.inheritable & m, caps.inheritable >> 32
        self._syscall("capset", byref(hdr), data)

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setresgid(self, gid: int) -> None:
        os.setresgid(gid, gid, gid)

    def setresuid(self, uid: int) -> None:
        os.setresuid(uid, uid, uid)

    def mount_setattr_rdonly(self, path: str, recursive: bool) -> None:
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        flags = AT_SYMLINK_NOFOLLOW | (AT_RECURSIVE if recursive else 0)
        self._syscall("mount_setattr", c_int(AT_FDCWD), self._b(path), c_uint(flags),
                      byref(attr), c_size_t(sizeof(attr)))

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        m = (1 << 64) - 1  # -1 (RLIM_INFINITY) is all ones
        if self._libc.setrlimit(c_int(resource), (c_ulong * 2)(soft & m, hard & m)) != 0:
            raise _errno_error("setrlimit", str(resource))

    def umask(self, mask: int) -> None:
        os.umask(mask)

    def join_session_keyring(self, name: str) -> int:
        serial = self._syscall("keyctl", c_long(1), self._b(name))
        # possessor: all; user: view (runc's permissions for the container's keyring)
        self._syscall("keyctl", c_long(5), c_long(serial), c_ulong(0x3F010000))
        return serial

    def default_signals(self, signums: tuple[int, ...] = ()) -> None:
        nums = signums or _non_default_signals()
        nr = self._nr.get("rt_sigaction")
        act = string_buffer(32)  # handler SIG_DFL (0), no flags, no restorer, empty mask
        for n in nums:
            if nr is not None:
                self._libc.syscall(c_long(nr), c_long(n), act, None, c_ulong(8))
            else:
                self._libc.signal(c_int(n), None)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)


class RecordingSyscalls(Record, Syscalls):
    """Records each call as ``(name, args...)``; ``fail`` maps a call name to an errno to raise."""

    calls: list[tuple[Any, ...]]
    fail: dict[str, int]
    caps: CapSets

    def __init__(self, calls: list[tuple[Any, ...]] | None = None, fail: dict[str, int] | None = None, caps: CapSets | None = None) -> None:
        self.calls = list() if calls is None else calls
        self.fail = dict() if fail is None else fail
        self.caps = (lambda: CapSets((1 << 41) - 1, (1 << 41) - 1, 0))() if caps is None else caps


    def _rec(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise OSError(self.fail[name], f"{name}: {os.strerror(self.fail[name])}")

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        self._rec("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._rec("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._rec("pivot_root", new_root, put_old)

    def chroot(self, path: str) -> None:
        self._rec("chroot", path)

    def chdir(self, path: str) -> None:
        self._rec("chdir", path)

    def fchdir(self, fd: int) -> None:
        self._rec("fchdir", fd)

    def unshare(self, flags: int) -> None:
        self._rec("unshare", flags)

    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        self._rec("fork_into_cgroup", cgroup_fd)
        return 4242  # as the parent sees it

    def setns(self, fd: int, nstype: int) -> None:
        self._rec("setns", fd, nstype)

    def sethostname(self, name: str) -> None:
        self._rec("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._rec("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._rec("prctl", option, arg2, arg3, arg4, arg5)
        if option == PR_CAPBSET_READ:
            return 1
        return 0

    def capget(self) -> CapSets:
        self._rec("capget")
        return self.caps

    def capset(self, caps: CapSets) -> None:
        self._rec("capset", caps)
        self.caps = caps

    def setgroups(self, gids: list[int]) -> None:
        self._rec("setgroups", list(gids))

    def setresgid(self, gid: int) -> None:
        self._rec("setresgid", gid)

    def setresuid(self, uid: int) -> None:
        self._rec("setresuid", uid)

    def mount_setattr_rdonly(self, path: str, recursive: bool) -> None:
        self._rec("mount_setattr_rdonly", path, recursive)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._rec("mknod", path, mode, device)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._rec("setrlimit", resource, soft, hard)

    def umask(self, mask: int) -> None:
        self._rec("umask", mask)

    def write_file(self, path: str, data: str) -> None:
        self._rec("write_file", path, data)

    def default_signals(self, signums: tuple[int, ...] = ()) -> None:
        self._rec("default_signals", signums)

    def join_session_keyring(self, name: str) -> int:
        self._rec("join_session_keyring", name)
        return 1
