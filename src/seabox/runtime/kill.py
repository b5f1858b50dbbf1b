"""``kill``: send a signal to a container's init, or with ``all`` to every process in it.

Design reason: signal names and numbers are parsed here (runc accepts ``KILL``, ``SIGKILL``
and ``9``); "all processes" means the cgroup's members when a cgroup manager is available,
otherwise the processes sharing the init's pid namespace (never a guess that could reach
host processes).
"""

from __future__ import annotations

import os

from seabox.errdefs import InvalidArgument, NotFound, SeaboxError, subject
from seabox.runtime import state as st_mod

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]


SIGKILL = 9  # the signal module (and enum with it) is only imported to parse names


def parse_signal(value: str) -> int:
    import signal

    v = value.strip().upper()
    if v.isdigit():
        n = int(v)
        if 0 < n < 65:
            return n
        raise InvalidArgument(f"invalid signal {value!r}")
    if not v.startswith("SIG"):
        v = "SIG" + v
    if v.startswith("SIGRTMIN+") or v.startswith("SIGRTMAX-"):
        base = signal.SIGRTMIN if v.startswith("SIGRTMIN") else signal.SIGRTMAX
        off = v[9:]
        if off.isdigit():
            return int(base) + int(off) if v[8] == "+" else int(base) - int(off)
    try:
        return int(signal.Signals[v])
    except KeyError:
        raise InvalidArgument(f"unknown signal {value!r}")


def _pidns_members(init_pid: int) -> list[int]:
    try:
        ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return []
    if ns == os.readlink("/proc/self/ns/pid"):
        return [init_pid]
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns:
                    out.append(int(name))
            except OSError:
                pass
    return out


def container_pids(st: st_mod.ContainerState) -> list[int]:
    from seabox.runtime.cgroupref import open_cgroup_manager

    if st.cgroup_paths:
        try:
            mgr = open_cgroup_manager(st.cgroups_path, st.id, paths=st.cgroup_paths)
            if mgr is not None:
                return list(mgr.pids())
        except (OSError, SeaboxError):
            pass
    return _pidns_members(st.pid)


def kill(state_root: StrPath, container_id: str, sig: int, all_processes: bool = False) -> None:
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("kill", container_id, st.status)
    targets = container_pids(st) if all_processes else [st.pid]
    if not targets:
        targets = [st.pid]
    for pid in targets:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            if pid == st.pid and not all_processes:
                raise NotFound(subject("container", container_id, "container not running"))
    if all_processes and st.status == st_mod.PAUSED and sig == SIGKILL:
        try:
            from seabox.runtime.cgroupref import open_cgroup_manager

            mgr = open_cgroup_manager(st.cgroups_path, st.id, paths=st.cgroup_paths)
            if mgr is not None:
                mgr.thaw()
        except (OSError, SeaboxError):
            pass
