"""Linux capability names and the order in which a process's five capability sets are applied.

Design reason: the order matters and is easy to get wrong — the bounding set is dropped while
still privileged, KEEPCAPS preserves the permitted set across the switch to the container
user, then effective/permitted/inheritable are set in one capset, and ambient capabilities
are raised last (they must be in both permitted and inheritable).  Everything goes through a
``Syscalls`` object so the sequence is unit-tested with the recording fake.
"""

from __future__ import annotations

from seabox.errdefs import InvalidArgument
from seabox.linux import syscalls as sc_mod
from seabox.linux.syscalls import CapSets, Syscalls

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
NUMBERS = {n: i for i, n in enumerate(NAMES)}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def mask(names: list[str], field: str = "capabilities") -> int:
    """Bit mask for capability names (``CAP_`` prefix optional, any case)."""
    m = 0
    for n in names:
        key = n.upper()
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if key not in NUMBERS:
            raise InvalidArgument(f"{field}: unknown capability {n!r}")
        m |= 1 << NUMBERS[key]
    return m


def names_of(m: int) -> list[str]:
    return [n for i, n in enumerate(NAMES) if m >> i & 1]


def drop_bounding(sc: Syscalls, keep: int, top: int, present: int | None = None) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP).

    ``present``: the bounding set as already known (CapBnd); without it each capability is
    read with PR_CAPBSET_READ first.
    """
    for cap in range(top + 1):
        if keep >> cap & 1:
            continue
        held = present >> cap & 1 if present is not None else sc.prctl(sc_mod.PR_CAPBSET_READ, cap) == 1
        if held:
            sc.prctl(sc_mod.PR_CAPBSET_DROP, cap)


def apply_sets(sc: Syscalls, effective: int, permitted: int, inheritable: int, ambient: int) -> None:
    """Set E/P/I in one capset, then raise the ambient set.

    An ambient capability needs to be both permitted and inheritable; others are skipped
    (runc's default spec lists ambient capabilities without inheritable ones).
    """
    sc.capset(CapSets(effective=effective, permitted=permitted, inheritable=inheritable))
    sc.prctl(sc_mod.PR_CAP_AMBIENT, sc_mod.PR_CAP_AMBIENT_CLEAR_ALL)
    ambient &= permitted & inheritable
    for cap in range(64):
        if ambient >> cap & 1:
            sc.prctl(sc_mod.PR_CAP_AMBIENT, sc_mod.PR_CAP_AMBIENT_RAISE, cap)
