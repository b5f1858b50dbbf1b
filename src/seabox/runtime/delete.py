"""``delete``: remove a stopped (or, with force, any) container and run its poststop hooks.

Design reason: deleting is the only place resources are released — the init (and with it the
pid namespace and the mount namespace holding every container mount) is killed if still there,
the cgroup is removed once empty, the poststop hooks run, and the state directory goes last so
a failed delete can be retried.
"""

from __future__ import annotations

import os
import time

from seabox.errdefs import SeaboxError
from seabox.runtime import state as st_mod
from seabox.runtime.kill import SIGKILL, container_pids

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]


def wait_gone(pid: int, start_time: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = st_mod.process_start_time(pid)
        if t is None or (start_time and t != start_time):
            return True
        time.sleep(0.002)
    return False


def delete(state_root: StrPath, container_id: str, force: bool = False) -> None:
    try:
        st = st_mod.load_state(state_root, container_id)
    except SeaboxError:
        # like runc: a directory without state.json (an aborted create) is removed; with
        # --force a missing container is not an error
        if os.path.isdir(st_mod.container_dir(state_root, container_id)):
            remove_tree(st_mod.container_dir(state_root, container_id))
        if force:
            return
        raise
    st_mod.require("force_delete" if force else "delete", container_id, st.status)
    if st.status != st_mod.STOPPED:
        pids = container_pids(st) if st.status != st_mod.CREATED or force else [st.pid]
        for pid in set(pids) | {st.pid}:
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        if st.status == st_mod.PAUSED:
            _thaw(st)
        wait_gone(st.pid, st.init_start_time)
    _destroy_cgroup(st)
    if (st.config.get("hooks") or {}).get("poststop"):
        from seabox.oci.runtime_spec import parse_spec
        from seabox.runtime.hooks import run_hooks

        st.status = st_mod.STOPPED
        run_hooks("poststop", parse_spec(st.config).hooks, st.hook_state())
    remove_tree(st.state_dir)


def remove_tree(d: str) -> None:
    """The state directory holds only files (state.json, exec.fifo): no shutil needed."""
    try:
        for name in os.listdir(d):
            try:
                os.unlink(os.path.join(d, name))
            except IsADirectoryError:
                remove_tree(os.path.join(d, name))
        os.rmdir(d)
    except FileNotFoundError:
        pass


def _thaw(st: st_mod.ContainerState) -> None:
    from seabox.runtime.cgroupref import open_cgroup_manager

    try:
        mgr = open_cgroup_manager(st.cgroups_path, st.id, paths=st.cgroup_paths)
        if mgr is not None:
            mgr.thaw()
    except (OSError, SeaboxError):
        pass


def _destroy_cgroup(st: st_mod.ContainerState) -> None:
    if not st.cgroup_paths:
        return
    from seabox.runtime.cgroupref import open_cgroup_manager

    mgr = open_cgroup_manager(st.cgroups_path, st.id, paths=st.cgroup_paths)
    if mgr is None:
        return
    deadline = time.monotonic() + 5
    while True:
        try:
            mgr.destroy()
            return
        except (OSError, SeaboxError):
            if time.monotonic() > deadline:
                raise
            for pid in mgr.pids():
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
