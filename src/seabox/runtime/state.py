"""Container state on disk and the one lifecycle state machine.

Design reason: every verb (start, kill, delete, pause, exec, ...) must agree on what a
container's status is and which transitions are allowed, so both live here and nowhere else.
The status is never trusted from the file alone: like runc, it is derived from the live
system each time it is read (is the init process still the one we started? does the exec
FIFO still exist? is the cgroup frozen?).  ``state.json`` lives at ``<root>/<id>/state.json``;
the root is always a parameter (runc's ``--root``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound, subject

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"

_ID_RE = re.compile(r"^[\w+\-.]+$")

# The allowed transitions, all in one place.
_CAN = {
    "start": {CREATED},
    "kill": {CREATED, RUNNING, PAUSED},
    "delete": {CREATED, STOPPED},
    "force_delete": {CREATING, CREATED, RUNNING, PAUSED, STOPPED},
    "exec": {CREATED, RUNNING},
    "pause": {RUNNING, CREATED},
    "resume": {PAUSED},
    "update": {CREATED, RUNNING, PAUSED},
}


def can(action: str, status: str) -> bool:
    return status in _CAN[action]


def can_start(status: str) -> bool:
    return can("start", status)


def can_kill(status: str) -> bool:
    return can("kill", status)


def can_delete(status: str, force: bool = False) -> bool:
    return can("force_delete" if force else "delete", status)


def can_exec(status: str) -> bool:
    return can("exec", status)


def can_pause(status: str) -> bool:
    return can("pause", status)


def can_resume(status: str) -> bool:
    return can("resume", status)


def require(action: str, container_id: str, status: str) -> None:
    """Raise ``FailedPrecondition`` (runc's wording) unless ``action`` is allowed in ``status``."""
    if can(action, status):
        return
    if action == "start":
        msg = "cannot start a container that has stopped" if status == STOPPED else \
            f"cannot start an already {status} container" if status in (RUNNING, PAUSED) else \
            f"cannot start a container in the {status} state"
    elif action == "kill":
        msg = "container not running"
    elif action == "delete":
        msg = f"cannot delete container that is not stopped: {status}"
    elif action == "exec":
        msg = f"cannot exec in a {status} container"
    elif action == "resume":
        msg = "container not paused"
    else:
        msg = f"cannot {action} a {status} container"
    raise FailedPrecondition(subject("container", container_id, msg))


def validate_id(container_id: str) -> None:
    if not container_id or not _ID_RE.fullmatch(container_id) or container_id in (".", ".."):
        raise InvalidArgument(subject("container", container_id, "invalid container id format"))


@dataclass
class ContainerState:
    """What ``create`` recorded; ``status`` is refreshed from the live system by ``load_state``."""

    id: str
    pid: int
    status: str
    bundle: str
    rootfs: str
    created: str
    owner: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    cgroups_path: str | None = None
    init_start_time: int = 0
    namespace_paths: dict[str, str] = field(default_factory=dict)
    oci_version: str = "1.0.2"
    state_dir: str = ""

    def oci_state(self) -> dict[str, Any]:
        """runc's ``state`` JSON (also what hooks receive on stdin)."""
        return {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid if self.status not in (STOPPED,) else 0,
            "status": self.status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            **({"annotations": self.annotations} if self.annotations else {}),
        }

    def hook_state(self) -> dict[str, Any]:
        """The spec's state for hooks: ociVersion, id, status, pid, bundle, annotations."""
        return {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        }


def container_dir(state_root: Path, container_id: str) -> Path:
    return Path(state_root) / container_id


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, or None if the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def _frozen(cgroup_paths: dict[str, str]) -> bool:
    for key, path in cgroup_paths.items():
        try:
            if key == "freezer" or os.path.exists(os.path.join(path, "freezer.state")):
                with open(os.path.join(path, "freezer.state")) as f:
                    return f.read().strip() == "FROZEN"
        except OSError:
            pass
    for path in cgroup_paths.values():
        try:
            with open(os.path.join(path, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
        except OSError:
            pass
    return False


def live_status(st: ContainerState) -> str:
    """Derive the status from the system, as runc does."""
    if st.pid <= 0:
        return STOPPED
    start = process_start_time(st.pid)
    if start is None or (st.init_start_time and start != st.init_start_time):
        return STOPPED
    if os.path.exists(os.path.join(st.state_dir, EXEC_FIFO)):
        return CREATED
    if _frozen(st.cgroup_paths):
        return PAUSED
    return RUNNING


def save_state(state_root: Path, st: ContainerState) -> None:
    """Write ``state.json`` atomically (write a temp file, then rename)."""
    d = container_dir(state_root, st.id)
    d.mkdir(parents=True, exist_ok=True, mode=0o711)
    st.state_dir = str(d)
    tmp = d / f".{STATE_FILE}.tmp"
    data = asdict(st)
    tmp.write_text(json.dumps(data))
    os.replace(tmp, d / STATE_FILE)


def load_state(state_root: Path, container_id: str, refresh: bool = True) -> ContainerState:
    """Load ``<root>/<id>/state.json``; ``NotFound`` (``container "x" does not exist``) if absent."""
    validate_id(container_id)
    d = container_dir(state_root, container_id)
    try:
        data = json.loads((d / STATE_FILE).read_text())
    except FileNotFoundError:
        raise NotFound(f'container "{container_id}" does not exist')
    except (OSError, ValueError) as e:
        raise NotFound(subject("container", container_id, f"unreadable state: {e}"))
    known = set(ContainerState.__dataclass_fields__)
    st = ContainerState(**{k: v for k, v in data.items() if k in known})
    st.state_dir = str(d)
    if refresh:
        st.status = live_status(st)
    return st


def list_ids(state_root: Path) -> list[str]:
    root = Path(state_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / STATE_FILE).exists())
