"""``spec`` and ``features``: the default config.json and the runtime's feature document.

Design reason: both are static documents shaped like runc's, generated here so the CLI only
writes them out; the default spec is the same conservative one runc writes (a few
capabilities, no new privileges, read-only root, masked /proc paths).
"""

from __future__ import annotations

from seabox.linux.capabilities import NAMES

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_spec(rootless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
    if rootless:
        spec["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup", "user")]
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        spec["linux"]["resources"] = {}
        spec["mounts"] = [m for m in spec["mounts"] if m["type"] not in ("sysfs", "cgroup")] + [
            {"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec",
                                                                                  "nodev", "ro"]}]
    return spec


def features() -> dict[str, Any]:
    from seabox.runtime.rootfs import _FLAGS, PROPAGATION

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted([*_FLAGS, *PROPAGATION, "rro"]),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": list(NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.seabox.runc.version": "0.1.0"},
    }
