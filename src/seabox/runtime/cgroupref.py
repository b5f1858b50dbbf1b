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


_priming: list[float] = [0.0]  # until when (monotonic) the priming thread keeps writing; 0: stopped


def prime_cgroup_migration(cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup",
                           keep_warm: float = 2.0) -> None:
    """Start, in a background thread, no-op moves of this process into its own cgroup.

    Design reason: a write to any cgroup.procs takes the kernel's cgroup threadgroup rwsem
    for writing.  From its idle state that first waits for an RCU grace period (6-15 ms
    here) *while holding cgroup_mutex*, so a mkdir in cgroupfs waits too; the rwsem stays
    in its fast writer mode only until about one grace period after the last write ends.
    ``seabox-runc create`` calls this before it imports the runtime (``create()`` too, for
    in-process callers): the first write's grace period passes while the runtime is
    imported and the spec is read, and further writes every 2 ms keep the rwsem in the
    fast mode until ``finish_priming`` (after the intermediate has joined the container's
    cgroups; ``keep_warm`` seconds at most), so moving the intermediate never waits for a
    grace period.  Moving a process into the cgroup it is already in changes nothing; any
    error is ignored.
    """
    if os.environ.get("SEABOX_RUNC_NO_CGROUPS") == "1":
        return
    import time

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
    target = os.path.join(cgroup_root, sub, path.lstrip("/"), "cgroup.procs")
    import _thread  # built in: no import cost

    _priming[0] = now + keep_warm
    _thread.start_new_thread(_keep_warm, (target, str(os.getpid()).encode()))


def finish_priming() -> None:
    """Let the priming thread end (after its current write)."""
    _priming[0] = 0.0


def _keep_warm(target: str, pid: bytes) -> None:
    import time

    while True:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)  # not kept open: forks would inherit it
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        except OSError:
            pass
        if time.monotonic() >= _priming[0]:
            return
        time.sleep(0.002)
