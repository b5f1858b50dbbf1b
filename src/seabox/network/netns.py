"""Named network namespaces (``<netns_dir>/<name>``) made without the ``ip`` binary.

Design reason: CNI plugins and the runtime both need the namespace as a path that outlives any
process (a CRI pod's network exists before its first container; ``seabox run`` sets up the
network before the container starts).  As ``ip netns add`` does, a child task enters a new
network namespace and its ``ns/net`` file is bind-mounted onto an empty file; the mount keeps
the namespace alive.  The child is a short-lived *thread*: unshare(CLONE_NEWNET) changes only
the calling task, and a thread is safe in a multi-threaded daemon where fork() is not
(gRPC threads, locks held by other threads).  The thread also brings ``lo`` up, which runc does
only for namespaces it creates itself, not for one given by path.

Unlike ``ip netns``, the netns directory is not made a shared bind mount of itself: that would
leave a mount behind per directory, and containers need no propagation of these mounts (the
runtime's pivot_root drops its copies of the host's mounts, netns files included).

Removal is lazy-unmount (MNT_DETACH) plus unlink, and is idempotent.  The mount/unmount and
unshare calls go through ``seabox.linux.syscalls`` (the project's single libc layer).
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Callable
from typing import TypeVar

from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.linux import syscalls as sc
from seabox.network import netlink

T = TypeVar("T")

DEFAULT_NETNS_DIR = "/run/seabox/netns"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name in (".", ".."):
        raise InvalidArgument(f'netns "{name}": invalid name')


def path_of(name: str, netns_dir: str = DEFAULT_NETNS_DIR) -> str:
    _check_name(name)
    return os.path.join(netns_dir, name)


def _is_nsfs_mount(path: str) -> bool:
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path))
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def is_netns(path: str) -> bool:
    """True if ``path`` is a live network namespace file (a bind mount of one, or /proc/<pid>/ns/net)."""
    return _is_nsfs_mount(path)


def create(name: str, netns_dir: str = DEFAULT_NETNS_DIR, syscalls: sc.Syscalls | None = None,
           loopback_up: bool = True) -> str:
    """Create network namespace ``name``; return its path."""
    path = path_of(name, netns_dir)
    calls = syscalls or sc.LinuxSyscalls()
    os.makedirs(netns_dir, mode=0o755, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        raise AlreadyExists(f'netns "{name}": already exists ({path})')
    os.close(fd)
    failure: list[BaseException] = []

    def child() -> None:
        try:
            calls.unshare(sc.CLONE_NEWNET)
            calls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, sc.MS_BIND, None)
            if loopback_up:
                netlink.set_link_up("lo")
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=child, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if failure:
        _remove_path(path, calls)
        err = failure[0]
        if isinstance(err, OSError):
            raise OSError(err.errno, f'netns "{name}": {err.strerror or err}')
        raise err
    return path


def _remove_path(path: str, calls: sc.Syscalls) -> bool:
    existed = os.path.lexists(path)
    try:
        calls.umount2(path, sc.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return existed


def remove(name_or_path: str, netns_dir: str = DEFAULT_NETNS_DIR, syscalls: sc.Syscalls | None = None) -> bool:
    """Unmount and unlink a namespace by name or path; False if it was not there."""
    path = name_or_path if "/" in name_or_path else path_of(name_or_path, netns_dir)
    return _remove_path(path, syscalls or sc.LinuxSyscalls())


def exists(name: str, netns_dir: str = DEFAULT_NETNS_DIR) -> bool:
    return _is_nsfs_mount(path_of(name, netns_dir))


def list_names(netns_dir: str = DEFAULT_NETNS_DIR) -> list[str]:
    try:
        return sorted(n for n in os.listdir(netns_dir) if _is_nsfs_mount(os.path.join(netns_dir, n)))
    except FileNotFoundError:
        return []


def require(name: str, netns_dir: str = DEFAULT_NETNS_DIR) -> str:
    path = path_of(name, netns_dir)
    if not _is_nsfs_mount(path):
        raise NotFound(f'netns "{name}": not found')
    return path


def run_in(path: str, fn: Callable[[], T], name: str = "netns-call") -> T:
    """``fn()`` on a short-lived thread that has joined the network namespace at ``path``
    (setns changes only the calling thread, which then ends inside it: this process's own
    threads never leave the host's namespace); its result, or its exception raised here."""
    out: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.LinuxSyscalls().setns(fd, sc.CLONE_NEWNET)
            finally:
                os.close(fd)
            out.append(fn())
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]
