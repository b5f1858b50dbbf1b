"""Namespace kinds: the OCI name, the /proc/<pid>/ns file name and the clone flag.

Design reason: one table instead of three parallel ones scattered across create and exec; it
also fixes the join order (user first, as runc does: joining it grants the capabilities needed
to join the namespaces it owns; mount last, since it changes the root).
"""

from __future__ import annotations

import os

from seabox.linux import syscalls as s

# OCI type -> (/proc/<pid>/ns name, clone flag)
KINDS: dict[str, tuple[str, int]] = {
    "user": ("user", s.CLONE_NEWUSER),
    "ipc": ("ipc", s.CLONE_NEWIPC),
    "uts": ("uts", s.CLONE_NEWUTS),
    "network": ("net", s.CLONE_NEWNET),
    "pid": ("pid", s.CLONE_NEWPID),
    "cgroup": ("cgroup", s.CLONE_NEWCGROUP),
    "time": ("time", s.CLONE_NEWTIME),
    "mount": ("mnt", s.CLONE_NEWNS),
}
JOIN_ORDER = list(KINDS)


def flag(kind: str) -> int:
    return KINDS[kind][1]


def proc_name(kind: str) -> str:
    return KINDS[kind][0]


def ordered(kinds: list[str]) -> list[str]:
    return sorted(kinds, key=JOIN_ORDER.index)


def same_namespace(kind: str, pid: int, other: str = "self") -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/{proc_name(kind)}") == os.readlink(f"/proc/{other}/ns/{proc_name(kind)}")
    except OSError:
        return False
