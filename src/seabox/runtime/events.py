"""``events``: a container's resource statistics and OOM notifications, as runc prints them.

Each item is one JSON object of runc's shape: ``{"type": "stats", "id": ..., "data":
{...}}`` (see ``cgroups.stats``) or ``{"type": "oom", "id": ...}``.  With ``stats`` the
iterator yields one stats event and ends (``runc events --stats``); without, it yields a
stats event every ``interval`` seconds and an oom event whenever the kernel OOM-kills
inside the container, and ends when the container stops.

OOM detection: on cgroup v1 an eventfd is registered on ``memory.oom_control`` through
``cgroup.event_control`` (the kernel signals it on every OOM in the cgroup), so the
notification is immediate; on v2 the ``oom_kill`` counter of ``memory.events`` is
compared at least every half second.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

from seabox.errdefs import FailedPrecondition, InvalidArgument, SeaboxError, subject
from seabox.runtime import state as st_mod
from seabox.runtime.cgroups import Manager, fs
from seabox.runtime.pause import manager_for

_TICK = 0.5


def stats_event(container_id: str, manager: Manager) -> dict:
    return {"type": "stats", "id": container_id, "data": manager.stats()}


def _register_oom_eventfd(memory_dir: str) -> int | None:
    """An eventfd the kernel signals on OOM in this v1 memory cgroup, or None."""
    efd = -1
    ofd = -1
    try:
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        ofd = os.open(os.path.join(memory_dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        fs.write(memory_dir, "cgroup.event_control", f"{efd} {ofd}")
        return efd
    except (OSError, SeaboxError):
        if efd >= 0:
            os.close(efd)
        return None
    finally:
        if ofd >= 0:
            os.close(ofd)  # the kernel holds its own reference once registered


def events(
    state_root: Path,
    container_id: str,
    stats: bool,
    interval: float = 5.0,
    *,
    cgroup_root: str = "/sys/fs/cgroup",
) -> Iterator[dict]:
    st = st_mod.load_state(state_root, container_id)
    if st.status == st_mod.STOPPED:
        raise FailedPrecondition(subject("container", container_id, "container is stopped"))
    manager = manager_for(st, cgroup_root=cgroup_root)
    if stats:
        yield stats_event(container_id, manager)
        return
    if interval <= 0:
        raise InvalidArgument(subject("events interval", str(interval), "must be positive"))
    v1_memory = manager.paths.get("memory")
    efd = _register_oom_eventfd(v1_memory) if v1_memory else None
    v2_dir = manager.paths.get("unified") if not v1_memory else None
    last_ooms = fs.read_keyed(v2_dir, "memory.events").get("oom_kill", 0) if v2_dir else 0
    try:
        yield stats_event(container_id, manager)
        next_stats = time.monotonic() + interval
        while True:
            wait = max(0.0, min(_TICK, next_stats - time.monotonic()))
            if efd is not None:
                ready, _, _ = select.select([efd], [], [], wait)
                if ready:
                    os.read(efd, 8)
                    yield {"type": "oom", "id": container_id}
            else:
                time.sleep(wait)
            if v2_dir:
                ooms = fs.read_keyed(v2_dir, "memory.events").get("oom_kill", 0)
                if ooms > last_ooms:
                    last_ooms = ooms
                    yield {"type": "oom", "id": container_id}
            if st_mod.live_status(st) == st_mod.STOPPED:
                return
            if time.monotonic() >= next_stats:
                yield stats_event(container_id, manager)
                next_stats += interval
    finally:
        if efd is not None:
            os.close(efd)
