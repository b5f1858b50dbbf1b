"""``delete``: remove a stopped (or, with force, any) container and run its poststop hooks.

Design reason: deleting is the only place resources are released — the init (and with it the
pid namespace and the mount namespace holding every container mount) is killed if still there,
the cgroup is removed once empty, the poststop hooks run, and the state directory goes last so
a failed delete can be retried.  The usual case — a stopped container whose cgroup directories
are empty — is a few rmdirs: they are done here with ``posix`` (no ``os``, no cgroups package:
~3 ms of every ``delete``), and anything else (a busy or frozen cgroup, a relative
cgroupsPath) goes through the cgroup manager.
"""

from __future__ import annotations

import posix
import time

from seabox.errdefs import SeaboxError
from seabox.runtime import state as st_mod

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]

SIGKILL = 9  # (the signal module costs an enum import)


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
        d = st_mod.container_dir(state_root, container_id)
        try:
            is_dir = (posix.stat(d).st_mode & 0o170000) == 0o040000
        except (OSError, ValueError):
            is_dir = False
        if is_dir:
            remove_tree(d)
        if force:
            return
        raise
    st_mod.require("force_delete" if force else "delete", container_id, st.status)
    if st.status != st_mod.STOPPED:
        from seabox.runtime.kill import container_pids

        pids = container_pids(st) if st.status != st_mod.CREATED or force else [st.pid]
        for pid in set(pids) | {st.pid}:
            try:
                posix.kill(pid, SIGKILL)
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
        for name in posix.listdir(d):
            try:
                posix.unlink(d + "/" + name)
            except IsADirectoryError:
                remove_tree(d + "/" + name)
        posix.rmdir(d)
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


def _remove_empty_cgroups(st: st_mod.ContainerState) -> bool:
    """rmdir each recorded cgroup directory and its empty parents; False if that was not enough.

    Only for an absolute cgroupsPath, which every recorded directory ends with: what precedes
    it is the hierarchy's mount, where pruning stops (as the managers' destroy does).
    """
    cg = st.cgroups_path or ""
    if not cg.startswith("/") or "//" in cg or "/." in cg or cg.endswith("/"):
        return False
    paths = list(st.cgroup_paths.values())
    if not all(p.endswith(cg) and len(p) > len(cg) for p in paths):
        return False
    for path in paths:
        try:
            posix.rmdir(path)
        except FileNotFoundError:
            continue  # gone, or a co-mounted controller's directory removed just before
        except OSError:
            return False
        mount = path[: -len(cg)]
        parent = path[: path.rindex("/")]
        while len(parent) > len(mount) and parent.startswith(mount + "/"):
            try:
                posix.rmdir(parent)
            except OSError:
                break
            parent = parent[: parent.rindex("/")]
    return True


def _destroy_cgroup(st: st_mod.ContainerState) -> None:
    if not st.cgroup_paths:
        return
    if st.status == st_mod.STOPPED and _remove_empty_cgroups(st):
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
                    posix.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
