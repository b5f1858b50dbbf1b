"""Which cgroup hierarchies a host has, and where a container's cgroup lives in each.

Detection only looks at the directory tree under ``root`` (default ``/sys/fs/cgroup``)
and never at /proc/self/mountinfo, so unit tests can point it at a temp dir that
imitates cgroupfs:

* ``root/cgroup.controllers`` exists → pure cgroup v2 (unified) host;
* otherwise every sub-directory holding ``cgroup.procs`` is a hierarchy: one whose
  own ``cgroup.controllers`` exists is the v2 unified mount of a hybrid host, the
  others are v1 hierarchies named after their controllers (``cpu,cpuacct`` holds two;
  an unknown name such as ``systemd`` is the named hierarchy ``name=systemd``).

cgroupsPath is resolved as runc's cgroupfs driver does: an absolute path is taken
from each hierarchy's root; a relative one is taken from the cgroup the *calling*
process is in (read from ``/proc/self/cgroup``, a parameter here), with v2's trailing
``/init`` leaf dropped.  No cgroupsPath means ``/seabox/<container id>``: absolute so
that a container's cgroup does not depend on where the runtime was started from, and
under one prefix so that an operator can find seabox's containers.  runc's systemd
form ``slice:prefix:name`` is refused: seabox has no systemd cgroup driver.
"""

from __future__ import annotations

import os

from seabox.errdefs import InvalidArgument, Unavailable, subject

V1_CONTROLLERS = frozenset(
    {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "net_cls",
        "net_prio",
        "perf_event",
        "rdma",
        "misc",
    }
)

DEFAULT_PREFIX = "/seabox"



class Layout:
    """The hierarchies found under one cgroup root (a plain class: no @dataclass import cost)."""

    __slots__ = ("mode", "real", "root", "unified", "v1")

    def __init__(self, mode: str, root: str, v1: dict[str, str] | None = None, unified: str | None = None,
                 real: dict[str, str] | None = None) -> None:
        self.mode = mode  # "v1", "v2" or "hybrid"
        self.root = root
        self.v1 = v1 or {}  # subsystem ("memory", "name=systemd") → mount dir
        self.unified = unified  # the cgroup2 mount dir, if any
        self.real = real or {}  # mount dir → its real path, as detect found it (co-mounts share one)


def detect(root: str) -> Layout:
    """Read the hierarchies under ``root``; Unavailable when there are none."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return Layout(mode="v2", root=root, unified=root)
    v1: dict[str, str] = {}
    real: dict[str, str] = {}
    unified: str | None = None
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise Unavailable(subject("cgroup root", root, f"cannot be read: {e.strerror}"))
    root_real = os.path.realpath(root)
    for entry in entries:
        path = os.path.join(root, entry.name)
        if not entry.is_dir() or not os.path.exists(os.path.join(path, "cgroup.procs")):
            continue
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            unified = unified or path
            continue
        # A co-mounted hierarchy appears as "cpu,cpuacct" plus symlinks "cpu" and "cpuacct".
        # (The real path from the directory entry: a realpath per entry costs an lstat per
        # component, and every command that opens a manager runs this.)
        if not entry.is_symlink():
            real[path] = os.path.join(root_real, entry.name)
        else:
            target = os.readlink(path)
            real[path] = os.path.join(root_real, target) if "/" not in target else os.path.realpath(path)
        for sub in os.path.basename(real[path]).split(","):
            key = sub if sub in V1_CONTROLLERS else (sub if sub.startswith("name=") else f"name={sub}")
            v1.setdefault(key, path)
    if not v1 and unified is None:
        raise Unavailable(subject("cgroup root", root, "holds no cgroup hierarchy"))
    mode = "hybrid" if v1 and unified else ("v1" if v1 else "v2")
    return Layout(mode=mode, root=root, v1=v1, unified=unified, real=real)


def clean_cgroups_path(cgroups_path: str | None, container_id: str) -> str:
    """Normalise cgroupsPath: absolute stays absolute, relative stays relative, no ``..`` escape."""
    if cgroups_path is None or cgroups_path == "":
        return f"{DEFAULT_PREFIX}/{container_id}"
    if cgroups_path.count(":") == 2 and "/" not in cgroups_path:  # runc's systemd "slice:prefix:name"
        raise InvalidArgument(
            subject(
                "cgroupsPath",
                cgroups_path,
                "systemd cgroup driver not supported (use a cgroupfs path such as /mygroup/<id>)",
            )
        )
    if cgroups_path.startswith("/"):
        cleaned = os.path.normpath(cgroups_path)
        if cleaned.startswith("//"):
            cleaned = "/" + cleaned.lstrip("/")
    else:
        cleaned = os.path.normpath("/" + cgroups_path).lstrip("/")
    if cleaned in ("/", "", "."):
        raise InvalidArgument(subject("cgroupsPath", cgroups_path, "names the root cgroup"))
    return cleaned


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """Parse /proc/<pid>/cgroup: subsystem (or "unified") → path of the caller's cgroup."""
    out: dict[str, str] = {}
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, ctrls, path = parts
        if hier == "0" and ctrls == "":
            out["unified"] = path
            continue
        for c in ctrls.split(","):
            if c:
                out[c] = path
    return out


def inner_path(cleaned: str, own: str | None, *, v2: bool = False) -> str:
    """The cgroup's path inside one hierarchy (always absolute, from the hierarchy root)."""
    if cleaned.startswith("/"):
        return cleaned
    base = own or "/"
    if v2 and base.endswith("/init"):
        base = os.path.dirname(base)
    return os.path.normpath(os.path.join(base, cleaned))


def join(mount: str, inner: str) -> str:
    return os.path.join(mount, inner.lstrip("/"))
