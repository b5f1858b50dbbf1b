"""The shared default-spec pieces, and the three producers built on them.

seabox-ctr's (containerd's default), ``seabox-runc spec``'s (runc's) and the tests' bundle
spec each keep their own differences; these tests pin the key facts of each document
(values, and key order, since the JSON written must not change) rather than a frozen copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from seabox.ctr import spec as ctrspec
from seabox.oci import spec_defaults as d
from seabox.runtime import specgen
from seabox.testing import bundle

BASE_MOUNTS = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]
DEVPTS_OPTS = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
DENY_ALL = {"allow": False, "access": "rwm"}


def _containers(doc: Any) -> list[Any]:
    """Every list and dict inside ``doc`` (itself included)."""
    out: list[Any] = []
    stack = [doc]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            out.append(o)
            stack.extend(o.values())
        elif isinstance(o, list):
            out.append(o)
            stack.extend(o)
    return out


def assert_fresh(make: Any) -> None:
    """Two calls share no list or dict, and no list or dict appears twice inside one result."""
    a, b = make(), make()
    assert a == b
    ids_a = [id(o) for o in _containers(a)]
    assert len(ids_a) == len(set(ids_a)), "a list or dict is shared inside one document"
    assert not set(ids_a) & {id(o) for o in _containers(b)}, "two calls share a list or dict"


def by_dest(mounts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in mounts}


# -- the shared pieces -------------------------------------------------------------------------


def test_constants() -> None:
    assert d.OCI_VERSION == "1.0.2-dev"
    assert d.DEFAULT_PATH == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert d.TERM_ENV == "TERM=xterm"
    assert d.RUNC_CAPS == ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert len(d.CONTAINERD_CAPS) == 14 and len(set(d.CONTAINERD_CAPS)) == 14
    assert set(d.RUNC_CAPS) < set(d.CONTAINERD_CAPS)
    assert {"CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID", "CAP_SYS_CHROOT", "CAP_MKNOD"} <= set(d.CONTAINERD_CAPS)
    assert "CAP_SYS_ADMIN" not in d.CONTAINERD_CAPS
    assert d.CONTAINERD_CAP_SETS == ("bounding", "effective", "permitted")
    assert d.RUNC_CAP_SETS == ("bounding", "effective", "permitted", "ambient")
    assert len(d.MASKED_PATHS) == 10 and {"/proc/kcore", "/sys/firmware", "/proc/scsi"} <= set(d.MASKED_PATHS)
    assert d.READONLY_PATHS == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
    assert d.CONTAINERD_NAMESPACES == ("pid", "ipc", "uts", "mount", "network")
    assert d.RUNC_NAMESPACES == ("pid", "network", "ipc", "uts", "mount", "cgroup")
    assert d.RUNC_ROOTLESS_NAMESPACES == ("pid", "ipc", "uts", "mount", "cgroup", "user")
    for t in (d.CONTAINERD_CAPS, d.RUNC_CAPS, d.MASKED_PATHS, d.READONLY_PATHS, d.RUNC_NAMESPACES):
        assert isinstance(t, tuple)  # shared module state cannot be mutated by a caller


def test_small_pieces() -> None:
    caps = d.capabilities(d.RUNC_CAPS, d.RUNC_CAP_SETS)
    assert list(caps) == ["bounding", "effective", "permitted", "ambient"]
    assert all(v == list(d.RUNC_CAPS) for v in caps.values())
    assert len({id(v) for v in caps.values()}) == 4
    assert d.namespaces(["pid", "user"]) == [{"type": "pid"}, {"type": "user"}]
    assert d.rlimits() == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    rules = d.default_device_rules()
    assert all(r["allow"] and r["type"] == "c" and r["access"] == "rwm" for r in rules)
    assert [(r["major"], r.get("minor")) for r in rules] == [
        (1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None), (5, 2),
    ]  # fmt: skip
    assert "minor" not in rules[7]
    for make in (d.rlimits, d.default_device_rules, lambda: d.capabilities(d.CONTAINERD_CAPS, d.CONTAINERD_CAP_SETS)):
        assert_fresh(make)


def test_default_mounts_flags() -> None:
    plain = d.default_mounts(proc_options=False, cgroup=False, run=False)
    assert [m["destination"] for m in plain] == BASE_MOUNTS
    m = by_dest(plain)
    assert "options" not in m["/proc"]
    assert m["/dev/pts"]["options"] == DEVPTS_OPTS
    assert m["/dev"]["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]
    assert m["/dev/shm"]["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
    assert m["/sys"] == {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                         "options": ["nosuid", "noexec", "nodev", "ro"]}  # fmt: skip

    full = d.default_mounts(proc_options=True, cgroup=True, run=True)
    assert [m["destination"] for m in full] == [*BASE_MOUNTS, "/sys/fs/cgroup", "/run"]
    m = by_dest(full)
    assert m["/proc"]["options"] == ["nosuid", "noexec", "nodev"]
    assert m["/sys/fs/cgroup"]["options"] == ["nosuid", "noexec", "nodev", "relatime", "ro"]
    assert m["/run"]["type"] == "tmpfs" and m["/run"]["options"] == m["/dev"]["options"]

    bound = by_dest(d.default_mounts(proc_options=False, cgroup=False, run=False, sys_bind=True))
    assert bound["/sys"] == {"destination": "/sys", "type": "none", "source": "/sys",
                             "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}  # fmt: skip
    assert_fresh(lambda: d.default_mounts(proc_options=True, cgroup=True, run=True))


def test_default_spec_optional_keys_and_order() -> None:
    def make(**kw: Any) -> dict[str, Any]:
        return d.default_spec(
            caps=d.RUNC_CAPS, cap_sets=d.CONTAINERD_CAP_SETS, namespace_types=("pid",),
            mounts=d.default_mounts(proc_options=False, cgroup=False, run=False), **kw,
        )  # fmt: skip

    bare = make()
    assert list(bare) == ["ociVersion", "process", "root", "mounts", "linux"]
    assert list(bare["process"]) == ["user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges"]
    assert bare["root"] == {"path": "rootfs"}
    assert list(bare["linux"]) == ["resources", "namespaces", "maskedPaths", "readonlyPaths"]
    assert bare["linux"]["resources"] == {"devices": [DENY_ALL]}
    assert bare["process"]["env"] == [d.DEFAULT_PATH] and bare["process"]["args"] == []
    assert bare["process"]["noNewPrivileges"] is True and bare["process"]["user"] == {"uid": 0, "gid": 0}

    full = make(terminal=False, root_readonly=False, hostname="h", cgroups_path="/a/b", oci_version="1.0.2",
                devices=[{"allow": True, "access": "r"}], args=["x"], env=["A=1"])  # fmt: skip
    assert list(full) == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
    assert list(full["process"]) == ["terminal", "user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges"]
    assert full["process"]["terminal"] is False
    assert full["root"] == {"path": "rootfs", "readonly": False}
    assert list(full["linux"])[:2] == ["resources", "cgroupsPath"]
    assert full["linux"]["resources"]["devices"] == [DENY_ALL, {"allow": True, "access": "r"}]
    assert full["ociVersion"] == "1.0.2" and full["process"]["args"] == ["x"] and full["process"]["env"] == ["A=1"]
    assert_fresh(make)


# -- the three producers -----------------------------------------------------------------------


def test_ctr_default_spec() -> None:
    s = ctrspec.default_spec("default", "c1")
    assert list(s) == ["ociVersion", "process", "root", "mounts", "linux"]
    assert s["ociVersion"] == "1.0.2-dev" and s["root"] == {"path": "rootfs"}
    p = s["process"]
    assert "terminal" not in p and p["args"] == [] and p["env"] == [d.DEFAULT_PATH]
    assert p["capabilities"] == {k: list(d.CONTAINERD_CAPS) for k in ("bounding", "effective", "permitted")}
    assert p["rlimits"] == d.rlimits()
    assert [m["destination"] for m in s["mounts"]] == [*BASE_MOUNTS, "/run"]
    assert by_dest(s["mounts"])["/proc"]["options"] == ["nosuid", "noexec", "nodev"]
    linux = s["linux"]
    assert list(linux) == ["resources", "cgroupsPath", "namespaces", "maskedPaths", "readonlyPaths"]
    assert linux["cgroupsPath"] == "/default/c1"
    assert linux["resources"] == {"devices": [DENY_ALL, *d.default_device_rules()]}
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "network"]
    assert linux["maskedPaths"] == list(d.MASKED_PATHS) and linux["readonlyPaths"] == list(d.READONLY_PATHS)
    # the module's names are unchanged (lists, as before)
    assert list(d.CONTAINERD_CAPS) == ctrspec.DEFAULT_CAPS and d.OCI_VERSION == ctrspec.SPEC_VERSION
    assert list(d.MASKED_PATHS) == ctrspec.MASKED_PATHS and list(d.READONLY_PATHS) == ctrspec.READONLY_PATHS
    assert ctrspec.default_mounts() == s["mounts"]
    assert_fresh(lambda: ctrspec.default_spec("ns", "id"))
    assert_fresh(ctrspec.default_mounts)


def test_runc_spec() -> None:
    s = specgen.default_spec()
    assert list(s) == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
    assert s["ociVersion"] == "1.0.2-dev" and s["hostname"] == "runc"
    assert s["root"] == {"path": "rootfs", "readonly": True}
    p = s["process"]
    assert list(p) == ["terminal", "user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges"]
    assert p["terminal"] is True
    assert p["args"] == ["sh"] and p["env"] == [d.DEFAULT_PATH, "TERM=xterm"]
    assert p["capabilities"] == {k: list(d.RUNC_CAPS) for k in ("bounding", "effective", "permitted", "ambient")}
    assert [m["destination"] for m in s["mounts"]] == [*BASE_MOUNTS, "/sys/fs/cgroup"]
    assert "options" not in s["mounts"][0]
    linux = s["linux"]
    assert list(linux) == ["resources", "namespaces", "maskedPaths", "readonlyPaths"]
    assert linux["resources"] == {"devices": [DENY_ALL]}
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert list(d.RUNC_CAPS) == specgen.DEFAULT_CAPS and list(d.MASKED_PATHS) == specgen.MASKED
    assert_fresh(specgen.default_spec)


def test_runc_spec_rootless() -> None:
    s = specgen.default_spec(rootless=True)
    linux = s["linux"]
    assert list(linux) == ["resources", "namespaces", "maskedPaths", "readonlyPaths", "uidMappings", "gidMappings"]
    assert linux["resources"] == {}
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "cgroup", "user"]
    assert linux["uidMappings"] == linux["gidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert [m["destination"] for m in s["mounts"]] == BASE_MOUNTS
    assert s["mounts"][-1]["type"] == "none" and "rbind" in s["mounts"][-1]["options"]
    assert s["process"]["terminal"] is True and s["hostname"] == "runc"
    assert_fresh(lambda: specgen.default_spec(True))


def test_bundle_spec(tmp_path: Path) -> None:
    args = ["/bin/true", "x"]
    s = bundle.default_spec(args)
    assert list(s) == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
    assert s["ociVersion"] == "1.0.2" and s["hostname"] == "seabox"
    assert s["root"] == {"path": "rootfs", "readonly": False}
    p = s["process"]
    assert list(p) == ["terminal", "user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges"]
    assert p["terminal"] is False
    assert p["args"] == args and p["args"] is not args
    assert p["env"] == [d.DEFAULT_PATH, "TERM=xterm"]
    assert p["capabilities"] == {k: list(d.RUNC_CAPS) for k in ("bounding", "effective", "permitted", "ambient")}
    assert [m["destination"] for m in s["mounts"]] == [*BASE_MOUNTS, "/sys/fs/cgroup"]
    assert "options" not in s["mounts"][0]
    linux = s["linux"]
    assert list(linux) == ["resources", "namespaces", "maskedPaths", "readonlyPaths"]
    assert linux["resources"] == {"devices": [DENY_ALL]}
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]  # no cgroup
    assert bundle.DEFAULT_CAPABILITIES == d.RUNC_CAPS and bundle.MASKED_PATHS == d.MASKED_PATHS
    assert_fresh(lambda: bundle.default_spec(["sh"]))

    # make_bundle writes exactly default_spec plus the overrides
    (tmp_path / "rootfs").mkdir()
    bundle.make_bundle(tmp_path, ["sh"], hostname="h", process={"terminal": True})
    written = (tmp_path / "config.json").read_text()
    want = bundle.default_spec(["sh"])
    want["hostname"] = "h"
    want["process"]["terminal"] = True
    assert written == json.dumps(want, indent=2) + "\n"


def test_imports_stay_lean() -> None:
    """The shared module pulls in nothing but itself (runc's and ctr's hot paths import it)."""
    code = (
        "import sys; import seabox.oci; before = set(sys.modules)\n"
        "import seabox.oci.spec_defaults\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(out.split()) <= {"seabox.oci.spec_defaults", "__future__"}
