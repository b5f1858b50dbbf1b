"""``pause`` and ``resume``: freeze and thaw every process of a container through its cgroup.

The freezer is the only correct way to stop a container as a whole (SIGSTOP can be
caught by nobody but is visible to the container's processes and races with forks).
The status is derived from the freezer by ``state.load_state``; the saved status is
updated too so that a reader that does not refresh sees the same thing.
"""

from __future__ import annotations

from pathlib import Path

from seabox.runtime import state as st_mod
from seabox.runtime.cgroups import Manager, open_manager


def manager_for(st: st_mod.ContainerState, *, cgroup_root: str = "/sys/fs/cgroup") -> Manager:
    """The cgroup manager of a created container (its recorded directories win)."""
    return open_manager(st.cgroups_path, st.id, root=cgroup_root, paths=st.cgroup_paths or None)


def pause(state_root: Path, container_id: str, *, cgroup_root: str = "/sys/fs/cgroup") -> None:
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("pause", container_id, st.status)
    manager_for(st, cgroup_root=cgroup_root).freeze()
    st.status = st_mod.PAUSED
    st_mod.save_state(state_root, st)


def resume(state_root: Path, container_id: str, *, cgroup_root: str = "/sys/fs/cgroup") -> None:
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("resume", container_id, st.status)
    manager_for(st, cgroup_root=cgroup_root).thaw()
    st.status = st_mod.live_status(st)
    st_mod.save_state(state_root, st)
