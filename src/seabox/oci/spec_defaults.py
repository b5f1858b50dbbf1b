"""The default OCI runtime spec's pieces: runc's and containerd's default values, in one place.

Design reason: three producers write a default config.json: seabox-ctr and the daemon
(containerd's ``oci.populateDefaultUnixSpec``, :mod:`seabox.ctr.spec`), ``seabox-runc spec``
(runc's ``specconv.Example``, :mod:`seabox.runtime.specgen`) and the tests' bundles
(:mod:`seabox.testing.bundle`).  They share most values (the /proc, /dev, devpts, shm, mqueue
and sysfs mounts, the masked and read-only paths, RLIMIT_NOFILE, PATH) and differ in a few
(containerd grants 14 capabilities, runc 3 plus the ambient set; containerd mounts /run and
gives /proc mount options, runc mounts /sys/fs/cgroup; the namespace lists).  The values live
here once; each difference is a named constant or an explicit parameter, so a producer says
which flavour it wants and none of them changes by accident when another one does.

Every function returns fresh lists and dicts (callers mutate the documents they get); the
constants are tuples.  Imported on latency-sensitive paths (``seabox-runc spec``, ``seabox-ctr
run``), so it imports nothing at run time: no typing, dataclasses, json or copy.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TERM_ENV = "TERM=xterm"

# containerd's defaultUnixCaps (oci/spec.go)
CONTAINERD_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)  # fmt: skip
CONTAINERD_CAP_SETS: tuple[str, ...] = ("bounding", "effective", "permitted")

# runc spec's (specconv.Example)
RUNC_CAPS: tuple[str, ...] = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
RUNC_CAP_SETS: tuple[str, ...] = ("bounding", "effective", "permitted", "ambient")

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
)  # fmt: skip
READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

CONTAINERD_NAMESPACES: tuple[str, ...] = ("pid", "ipc", "uts", "mount", "network")
RUNC_NAMESPACES: tuple[str, ...] = ("pid", "network", "ipc", "uts", "mount", "cgroup")
RUNC_ROOTLESS_NAMESPACES: tuple[str, ...] = ("pid", "ipc", "uts", "mount", "cgroup", "user")

_TMPFS_DEV = ("nosuid", "strictatime", "mode=755", "size=65536k")
_NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")


def capabilities(caps: Sequence[str], sets: Sequence[str]) -> dict[str, list[str]]:
    """``process.capabilities``: each of ``sets`` gets its own copy of ``caps``."""
    return {k: list(caps) for k in sets}


def namespaces(types: Sequence[str]) -> list[dict[str, Any]]:
    """``linux.namespaces`` entries (no paths: new namespaces) of the given types, in order."""
    return [{"type": t} for t in types]


def rlimits() -> list[dict[str, Any]]:
    """Both runc's and containerd's: RLIMIT_NOFILE 1024/1024."""
    return [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]


def default_mounts(
    *, proc_options: bool, cgroup: bool, run: bool, sys_bind: bool = False
) -> list[dict[str, Any]]:
    """The default mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, then the optional ones.

    ``proc_options``: /proc gets nosuid,noexec,nodev (containerd) rather than no ``options`` key (runc).
    ``cgroup``: a read-only /sys/fs/cgroup after /sys (runc).  ``run``: a /run tmpfs last (containerd).
    ``sys_bind``: /sys is a read-only rbind of the host's instead of a sysfs (runc's rootless spec:
    without a network namespace of its own, a user namespace may not mount sysfs).
    """
    proc: dict[str, Any] = {"destination": "/proc", "type": "proc", "source": "proc"}
    if proc_options:
        proc["options"] = list(_NOSUID_NOEXEC_NODEV)
    mounts: list[dict[str, Any]] = [
        proc,
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": list(_TMPFS_DEV)},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": list(_NOSUID_NOEXEC_NODEV)},
    ]  # fmt: skip
    if sys_bind:
        mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", *_NOSUID_NOEXEC_NODEV, "ro"]})  # fmt: skip
    else:
        mounts.append({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                       "options": [*_NOSUID_NOEXEC_NODEV, "ro"]})  # fmt: skip
    if cgroup:
        mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": [*_NOSUID_NOEXEC_NODEV, "relatime", "ro"]})  # fmt: skip
    if run:
        mounts.append(
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": list(_TMPFS_DEV)}
        )
    return mounts


def default_device_rules() -> list[dict[str, Any]]:
    """The device cgroup allow-list containerd's containers get (WithDefaultUnixDevices): null,
    random, full, tty, zero, urandom, console, every pts, ptmx."""
    rules: list[dict[str, Any]] = []
    for major, minor in ((1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None), (5, 2)):
        r: dict[str, Any] = {"allow": True, "type": "c", "major": major}
        if minor is not None:
            r["minor"] = minor
        r["access"] = "rwm"
        rules.append(r)
    return rules


def default_spec(
    *,
    caps: Sequence[str],
    cap_sets: Sequence[str],
    namespace_types: Sequence[str],
    mounts: list[dict[str, Any]],
    args: Sequence[str] = (),
    env: Sequence[str] = (DEFAULT_PATH,),
    terminal: bool | None = None,
    root_readonly: bool | None = None,
    hostname: str | None = None,
    devices: Sequence[dict[str, Any]] = (),
    cgroups_path: str | None = None,
    oci_version: str = OCI_VERSION,
) -> dict[str, Any]:
    """A whole default spec (a fresh dict): uid/gid 0, cwd /, no new privileges, rootfs ``rootfs``,
    RLIMIT_NOFILE, the masked and read-only paths, devices denied but for ``devices``.

    The values the producers disagree on have no default (``caps``, ``cap_sets``,
    ``namespace_types``, ``mounts``: pass a fresh :func:`default_mounts`, it is used as given);
    ``terminal``, ``root_readonly``, ``hostname`` and ``cgroups_path`` are left out when None.
    """
    process: dict[str, Any] = {}
    if terminal is not None:
        process["terminal"] = terminal
    process.update(
        user={"uid": 0, "gid": 0},
        args=list(args),
        env=list(env),
        cwd="/",
        capabilities=capabilities(caps, cap_sets),
        rlimits=rlimits(),
        noNewPrivileges=True,
    )
    root: dict[str, Any] = {"path": "rootfs"}
    if root_readonly is not None:
        root["readonly"] = root_readonly
    spec: dict[str, Any] = {"ociVersion": oci_version, "process": process, "root": root}
    if hostname is not None:
        spec["hostname"] = hostname
    spec["mounts"] = mounts
    linux: dict[str, Any] = {"resources": {"devices": [{"allow": False, "access": "rwm"}, *devices]}}
    if cgroups_path is not None:
        linux["cgroupsPath"] = cgroups_path
    linux["namespaces"] = namespaces(namespace_types)
    linux["maskedPaths"] = list(MASKED_PATHS)
    linux["readonlyPaths"] = list(READONLY_PATHS)
    spec["linux"] = linux
    return spec
