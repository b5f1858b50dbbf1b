"""A container's cgroups on cgroup v1, v2 or a hybrid of both (this project's CI hosts are hybrid).

``open_manager(cgroups_path, container_id)`` looks at the cgroup root, picks the
manager for what is mounted there and resolves the container's directory in every
hierarchy (see ``layout`` for the path rules).  Every manager has the same surface:

    create()  apply(pid)  join_plan()  set(resources)  freeze()  thaw()  state()  pids()  stats()
    destroy()  paths: dict[str, str]  (controller or "unified" → absolute directory)

``set`` takes the OCI ``linux.resources`` object as parsed JSON.  Managers hold no
state beyond the paths, so the ``create``, ``pause``, ``update``, ``events`` and
``delete`` commands (separate processes) each open their own.
"""

from __future__ import annotations

from seabox.runtime.cgroups.layout import clean_cgroups_path, detect

# typing (with re, enum, functools, collections) costs ~12 ms on every create and delete:
# the Protocol exists for mypy only; at run time ``Manager`` is a plain marker class.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Manager(Protocol):
        paths: dict[str, str]
        device_rules_enforced: bool

        def create(self) -> None: ...
        def apply(self, pid: int) -> None: ...
        def join_plan(self) -> tuple[list[str], str]: ...
        def set(self, resources: dict) -> None: ...
        def freeze(self) -> None: ...
        def thaw(self) -> None: ...
        def state(self) -> str: ...
        def pids(self) -> list[int]: ...
        def stats(self) -> dict: ...
        def destroy(self) -> None: ...
        def exists(self) -> bool: ...
        def use_paths(self, paths: dict[str, str]) -> None: ...

else:

    class Manager:
        """The manager surface (see the module docstring); V1Manager and V2Manager provide it."""


def open_manager(
    cgroups_path: str | None,
    container_id: str,
    *,
    root: str = "/sys/fs/cgroup",
    proc_cgroup: str = "/proc/self/cgroup",
    paths: dict[str, str] | None = None,
) -> Manager:
    """The cgroup manager for one container.

    ``proc_cgroup`` is where the caller's own cgroups are read from when cgroupsPath is
    relative (a parameter so tests can fake it).  ``paths``: the directories recorded
    at create time (state.json's cgroup_paths); later commands pass them so that a
    relative cgroupsPath still means the directories ``create`` used, whatever cgroup
    the later command runs in.
    """
    cleaned = clean_cgroups_path(cgroups_path, container_id)
    layout = detect(root)
    manager: Manager
    if layout.mode == "v2":
        from seabox.runtime.cgroups.v2 import V2Manager

        manager = V2Manager(layout, cleaned, container_id, proc_cgroup)
    else:
        from seabox.runtime.cgroups.v1 import V1Manager

        manager = V1Manager(layout, cleaned, container_id, proc_cgroup)
    if paths:
        manager.use_paths(paths)
    return manager


__all__ = ["Manager", "open_manager"]
