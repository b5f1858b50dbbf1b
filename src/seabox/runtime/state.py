"""Container state on disk and the one lifecycle state machine.

Design reason: every verb (start, kill, delete, pause, exec, ...) must agree on what a
container's status is and which transitions are allowed, so both live here and nowhere else.
The status is never trusted from the file alone: like runc, it is derived from the live
system each time it is read (is the init process still the one we started? does the exec
FIFO still exist? is the cgroup frozen?).  ``state.json`` lives at ``<root>/<id>/state.json``;
the root is always a parameter (runc's ``--root``).

This module and ``start`` use ``posix`` (the C module behind ``os``) rather than ``os``:
``start`` and ``state`` need nothing else from it, and importing ``os`` costs ~2 ms of each
such command.
"""

from __future__ import annotations

import posix

from seabox import jsonlite as json
from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound, subject
from seabox.oci import Record

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike
    from typing import Any

    StrPath = str | PathLike[str]

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"

_ID_EXTRA = set("_+-.")

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
    ok = all((c.isalnum() and c.isascii()) or c in _ID_EXTRA for c in container_id)
    if not container_id or not ok or container_id in (".", ".."):
        raise InvalidArgument(subject("container", container_id, "invalid container id format"))


class ContainerState(Record):
    """What ``create`` recorded; ``status`` is refreshed from the live system by ``load_state``."""

    id: str
    pid: int
    status: str
    bundle: str
    rootfs: str
    created: str
    owner: str
    annotations: dict[str, str]
    config: dict[str, Any]
    cgroup_paths: dict[str, str]
    cgroups_path: str | None
    init_start_time: int
    namespace_paths: dict[str, str]
    oci_version: str
    state_dir: str

    def __init__(self, id: str, pid: int, status: str, bundle: str, rootfs: str, created: str, owner: str = "", annotations: dict[str, str] | None = None, config: dict[str, Any] | None = None, cgroup_paths: dict[str, str] | None = None, cgroups_path: str | None = None, init_start_time: int = 0, namespace_paths: dict[str, str] | None = None, oci_version: str = "1.0.2", state_dir: str = "") -> None:
        self.id = id
        self.pid = pid
        self.status = status
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.annotations = dict() if annotations is None else annotations
        self.config = dict() if config is None else config
        self.cgroup_paths = dict() if cgroup_paths is None else cgroup_paths
        self.cgroups_path = cgroups_path
        self.init_start_time = init_start_time
        self.namespace_paths = dict() if namespace_paths is None else namespace_paths
        self.oci_version = oci_version
        self.state_dir = state_dir


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


def container_dir(state_root: StrPath, container_id: str) -> str:
    root = posix.fspath(state_root)  # os.path.join(root, id): ids never hold "/" (validate_id)
    return root + container_id if not root or root.endswith("/") else root + "/" + container_id


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


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
            if key == "freezer" or _exists(path + "/freezer.state"):
                with open(path + "/freezer.state") as f:
                    return f.read().strip() == "FROZEN"
        except OSError:
            pass
    for path in cgroup_paths.values():
        try:
            with open(path + "/cgroup.freeze") as f:
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
    if _exists(st.state_dir + "/" + EXEC_FIFO):
        return CREATED
    if _frozen(st.cgroup_paths):
        return PAUSED
    return RUNNING


def save_state(state_root: StrPath, st: ContainerState) -> None:
    """Write ``state.json`` atomically (write a temp file, then rename)."""
    d = container_dir(state_root, st.id)
    import os

    os.makedirs(d, mode=0o711, exist_ok=True)
    st.state_dir = d
    tmp = os.path.join(d, f".{STATE_FILE}.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(dict(vars(st))))
    os.replace(tmp, os.path.join(d, STATE_FILE))


def load_state(state_root: StrPath, container_id: str, refresh: bool = True) -> ContainerState:
    """Load ``<root>/<id>/state.json``; ``NotFound`` (``container "x" does not exist``) if absent."""
    validate_id(container_id)
    d = container_dir(state_root, container_id)
    try:
        with open(d + "/" + STATE_FILE) as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise NotFound(f'container "{container_id}" does not exist')
    except (OSError, ValueError) as e:
        raise NotFound(subject("container", container_id, f"unreadable state: {e}"))
    known = set(ContainerState.__annotations__)
    st = ContainerState(**{k: v for k, v in data.items() if k in known})
    st.state_dir = d
    if refresh:
        st.status = live_status(st)
    return st


def list_ids(state_root: StrPath) -> list[str]:
    root = posix.fspath(state_root)
    try:
        names = posix.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if _exists(container_dir(root, n) + "/" + STATE_FILE))
