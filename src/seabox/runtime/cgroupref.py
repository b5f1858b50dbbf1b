"""Opening a container's cgroup manager (the cgroups package), shared by every verb.

Design reason: kill, delete and exec need the manager but not the rest of ``create``;
keeping this on its own keeps their imports small.  ``SEABOX_RUNC_NO_CGROUPS=1`` runs
without cgroups (containers stay in the caller's cgroup), e.g. for debugging.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def open_cgroup_manager(cgroups_path: str | None, container_id: str, cgroup_root: str = "/sys/fs/cgroup",
                        paths: dict[str, str] | None = None) -> Any:
    """CG's manager, or None when the cgroups package is not available."""
    if os.environ.get("SEABOX_RUNC_NO_CGROUPS") == "1":
        return None
    try:
        from seabox.runtime.cgroups import open_manager
    except ImportError:
        return None
    return open_manager(cgroups_path, container_id, root=cgroup_root, paths=paths or None)


_primed: list[float] = []  # when this process last primed (the CLI primes, then create() would again)


def prime_cgroup_migration(cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> None:
    """Start, in a background thread, a no-op move of this process into its own cgroup.

    Design reason: the first write to any cgroup.procs takes the kernel's threadgroup
    rwsem for writing, which first waits for an RCU grace period (6-15 ms here); writes
    made while the rwsem is still in that mode are fast.  ``seabox-runc create`` calls this
    before it imports the runtime (``create()`` too, for in-process callers), so the grace
    period passes while it works instead of when it moves the intermediate into the
    container's cgroups (which the init waits for).  Moving a process into the cgroup it is
    already in changes nothing; any error is ignored.
    """
    if os.environ.get("SEABOX_RUNC_NO_CGROUPS") == "1":
        return
    import time

    now = time.monotonic()
    if _primed and now - _primed[-1] < 1.0:
        return
    _primed[:] = [now]
    try:
        with open(proc_cgroup) as f:
            first = f.readline().rstrip("\n").split(":", 2)
    except OSError:
        return
    if len(first) != 3:
        return
    _hier, ctrls, path = first
    sub = ctrls.split(",")[0].removeprefix("name=") if ctrls else ""
    target = os.path.join(cgroup_root, sub, path.lstrip("/"), "cgroup.procs")
    import _thread  # built in: no import cost

    _thread.start_new_thread(_move_self, (target,))


def _move_self(target: str) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        pass
