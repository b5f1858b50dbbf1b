"""``spec`` and ``features``: the default config.json and the runtime's feature document.

Design reason: both are static documents shaped like runc's, generated here so the CLI only
writes them out; the default spec is the same conservative one runc writes (a few
capabilities, no new privileges, read-only root, masked /proc paths), built from the values
in :mod:`seabox.oci.spec_defaults`.
"""

from __future__ import annotations

from seabox.linux.capabilities import NAMES
from seabox.oci import spec_defaults

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CAPS = list(spec_defaults.RUNC_CAPS)
MASKED = list(spec_defaults.MASKED_PATHS)
READONLY = list(spec_defaults.READONLY_PATHS)


def default_spec(rootless: bool = False) -> dict[str, Any]:
    """runc's ``spec``: a terminal running ``sh``, read-only root, hostname ``runc``, a cgroup
    namespace and /sys/fs/cgroup mount.  ``rootless`` (``spec --rootless``): a user namespace
    (no network one) mapping root to 1000, the host's /sys bound instead of sysfs and cgroup,
    no device rules."""
    spec = spec_defaults.default_spec(
        caps=DEFAULT_CAPS,
        cap_sets=spec_defaults.RUNC_CAP_SETS,
        namespace_types=spec_defaults.RUNC_ROOTLESS_NAMESPACES if rootless else spec_defaults.RUNC_NAMESPACES,
        mounts=spec_defaults.default_mounts(
            proc_options=False, cgroup=not rootless, run=False, sys_bind=rootless
        ),
        args=["sh"],
        env=[spec_defaults.DEFAULT_PATH, spec_defaults.TERM_ENV],
        terminal=True,
        root_readonly=True,
        hostname="runc",
    )
    if rootless:
        linux = spec["linux"]
        linux["resources"] = {}
        linux["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
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
