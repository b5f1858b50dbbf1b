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
