"""Opening a container's cgroup manager (the cgroups package), shared by every verb.

Design reason: kill, delete and exec need the manager but not the rest of ``create``;
keeping this on its own keeps their imports small.  ``SEABOX_RUNC_NO_CGROUPS=1`` runs
without cgroups (containers stay in the caller's cgroup), e.g. for debugging.
"""

from __future__ import annotations

import posix  # not os: ``create`` primes before anything else is imported (see prime_cgroup_migration)
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _no_cgroups() -> bool:
    """SEABOX_RUNC_NO_CGROUPS=1?  (os.environ once os is imported: callers may have changed it.)"""
    os_mod = sys.modules.get("os")
    if os_mod is not None:
        return bool(os_mod.environ.get("SEABOX_RUNC_NO_CGROUPS") == "1")
    return posix.environ.get(b"SEABOX_RUNC_NO_CGROUPS") == b"1"


def open_cgroup_manager(cgroups_path: str | None, container_id: str, cgroup_root: str = "/sys/fs/cgroup",
                        paths: dict[str, str] | None = None) -> Any:
    """CG's manager, or None when the cgroups package is not available."""
    if _no_cgroups():
        return None
    try:
        from seabox.runtime.cgroups import open_manager
    except ImportError:
        return None
    return open_manager(cgroups_path, container_id, root=cgroup_root, paths=paths or None)


_priming: list[float] = [0.0]  # until when (monotonic) the priming thread keeps writing; 0: stopped
_first_write: list[bool] = [True]  # the priming thread's first write (and its grace period) is over


def prime_cgroup_migration(cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup",
                           keep_warm: float = 2.0) -> None:
    """Start, in a background thread, no-op moves of this process into its own cgroup.

    Design reason: a write to any cgroup.procs takes the kernel's cgroup threadgroup rwsem
    for writing.  From its idle state that first waits for an RCU grace period (6-15 ms
    here) *while holding cgroup_mutex*, so a mkdir in cgroupfs waits too; the rwsem stays
    in its fast writer mode only until about one grace period after the last write ends.
    ``create()`` calls this when the parent must move the intermediate by pid (a user
    namespace; see ``seabox.runtime.create.joins_itself`` for the usual way, which needs no
    priming): the first write's grace period passes while the spec is read, and further
    writes every 2 ms keep the rwsem in the fast mode until ``finish_priming`` (after the
    intermediate has joined the container's cgroups; ``keep_warm`` seconds at most), so
    moving the intermediate never waits for a grace period.  Moving a process into the cgroup it is already in changes nothing; any
    error is ignored.
    """
    if _no_cgroups():
        return
    now = time.monotonic()
    if now < _priming[0]:
        return  # already priming
    try:
        with open(proc_cgroup) as f:
            first = f.readline().rstrip("\n").split(":", 2)
    except OSError:
        return
    if len(first) != 3:
        return
    _hier, ctrls, path = first
    sub = ctrls.split(",")[0].removeprefix("name=") if ctrls else ""
    target = cgroup_root.rstrip("/") + "/" + "/".join(p for p in (sub, path.strip("/"), "cgroup.procs") if p)
    import _thread  # built in: no import cost

    _priming[0] = now + keep_warm
    _first_write[0] = False
    # A new thread waits up to the switch interval (5 ms) for the GIL while this one runs
    # Python code: hand it over once (the thread releases ``started`` just before its first
    # write, which releases the GIL), and keep the interval short while it runs.
    started = _thread.allocate_lock()
    started.acquire()
    _priming.append(sys.getswitchinterval())
    sys.setswitchinterval(0.0005)
    try:
        _thread.start_new_thread(_keep_warm, (target, str(posix.getpid()).encode(), started))
    except RuntimeError:  # no thread: no priming
        _first_write[0] = True
        finish_priming()
        return
    started.acquire()


def priming_passed() -> bool:
    """True unless a priming write is still waiting for its grace period (cgroupfs mkdirs would
    wait for it too: cgroup_mutex is held)."""
    return _first_write[0]


def finish_priming() -> None:
    """Let the priming thread end (after its current write)."""
    _priming[0] = 0.0
    if len(_priming) > 1:
        sys.setswitchinterval(_priming.pop())


def _open(target: str) -> int:
    try:
        return posix.open(target, posix.O_WRONLY | posix.O_CLOEXEC)  # per write: forks would inherit it
    except OSError:
        return -1


def _keep_warm(target: str, pid: bytes, started: Any) -> None:
    try:
        fd = _open(target)
    finally:
        started.release()
    while True:
        if fd >= 0:
            try:
                posix.write(fd, pid)
            except OSError:
                pass
            finally:
                posix.close(fd)
        _first_write[0] = True
        if time.monotonic() >= _priming[0]:
            return
        time.sleep(0.002)
        fd = _open(target)
