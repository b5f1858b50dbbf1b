"""``update``: change a live container's resource limits.

The new values are written to the cgroup first and merged into the recorded config
only once the kernel has accepted them, so state.json never claims a limit the
container does not have.  ``resources`` is an OCI ``linux.resources`` object; only the
keys present change (runc's ``update -r file.json`` and flag forms both build one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seabox.errdefs import InvalidArgument, subject
from seabox.runtime import state as st_mod
from seabox.runtime.pause import manager_for


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``new`` into a copy of ``old`` (objects merge, everything else replaces)."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def update(
    state_root: Path, container_id: str, resources: dict[str, Any], *, cgroup_root: str = "/sys/fs/cgroup"
) -> None:
    if not isinstance(resources, dict):
        raise InvalidArgument(subject("container", container_id, "update resources must be a JSON object"))
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("update", container_id, st.status)
    old = ((st.config.get("linux") or {}).get("resources")) or {}
    merged = merge(old, resources)
    # Memory and swap must be written together (swap is memory+swap): give set() both.
    changes = dict(resources)
    if "memory" in resources:
        changes["memory"] = merge(
            {k: v for k, v in (old.get("memory") or {}).items() if k in ("limit", "swap")}, resources["memory"]
        )
    manager_for(st, cgroup_root=cgroup_root).set(changes)
    st.config.setdefault("linux", {})["resources"] = merged
    st_mod.save_state(state_root, st)
