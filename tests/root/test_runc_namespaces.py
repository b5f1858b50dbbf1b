"""Namespaces under seabox-runc: joining another container's namespaces by path, user namespaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc, open_path_for_others
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root


def linux_with(namespaces: list[dict], **extra: object) -> dict:
    linux = default_spec(["true"])["linux"]
    linux["namespaces"] = namespaces
    linux.update(extra)
    return linux


def test_join_network_and_pid_namespace_by_path(runc: Runc) -> None:
    sandbox = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), sandbox).returncode == 0
    assert runc.cmd("start", sandbox).returncode == 0
    spid = runc.state(sandbox)["pid"]
    net = os.readlink(f"/proc/{spid}/ns/net")
    namespaces = [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
                  {"type": "network", "path": f"/proc/{spid}/ns/net"},
                  {"type": "pid", "path": f"/proc/{spid}/ns/pid"}]
    b = runc.bundle(["sh", "-c", "readlink /proc/self/ns/net; ps -o pid,comm"], linux=linux_with(namespaces))
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == net
    assert net != os.readlink("/proc/self/ns/net")
    assert any(line.split() == ["1", "sleep"] for line in lines[1:])


def test_bad_namespace_path_is_reported(runc: Runc) -> None:
    namespaces = [{"type": "mount"}, {"type": "network", "path": "/proc/999999999/ns/net"}]
    r = runc.run(runc.bundle(["true"], linux=linux_with(namespaces)))
    assert r.returncode != 0
    assert "network" in r.stderr and "/proc/999999999/ns/net" in r.stderr


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, gid)
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def test_user_namespace_with_mappings(runc: Runc, tmp_path: Path) -> None:
    base = 200000
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user", "cgroup")]
    linux = linux_with(namespaces, uidMappings=[{"containerID": 0, "hostID": base, "size": 65536}],
                       gidMappings=[{"containerID": 0, "hostID": base, "size": 65536}])
    linux.pop("resources", None)
    b = runc.bundle(["sh", "-c", "id -u; id -g; cat /proc/self/uid_map; touch /tmp/owned; echo done"],
                    linux=linux)
    chown_tree(b / "rootfs", base, base)
    open_path_for_others(b)
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(base), "65536"]
    assert lines[-1] == "done"
    st = (b / "rootfs" / "tmp" / "owned").stat()
    assert (st.st_uid, st.st_gid) == (base, base)


def test_user_namespace_exec(runc: Runc) -> None:
    base = 300000
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")]
    linux = linux_with(namespaces, uidMappings=[{"containerID": 0, "hostID": base, "size": 65536}],
                       gidMappings=[{"containerID": 0, "hostID": base, "size": 65536}])
    linux.pop("resources", None)
    b = runc.bundle(["sleep", "60"], linux=linux)
    chown_tree(b / "rootfs", base, base)
    open_path_for_others(b)
    cid = runc.new_id()
    r = runc.create(b, cid)
    assert r.returncode == 0, r.stderr
    assert runc.cmd("start", cid).returncode == 0
    e = runc.cmd("exec", cid, "sh", "-c", "id -u; touch /tmp/from-exec")
    assert e.returncode == 0, e.stderr
    assert e.stdout.split() == ["0"]
    assert (b / "rootfs" / "tmp" / "from-exec").stat().st_uid == base


def test_time_namespace_offsets(runc: Runc) -> None:
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network", "time")]
    linux = linux_with(namespaces, timeOffsets={"boottime": {"secs": 864000, "nanosecs": 0}})
    r = runc.run(runc.bundle(["cat", "/proc/uptime"], linux=linux))
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split()[0]) > 864000
    host = float(Path("/proc/uptime").read_text().split()[0])
    assert host < 864000 or float(r.stdout.split()[0]) > host + 800000
