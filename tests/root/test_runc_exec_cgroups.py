"""How ``seabox-runc exec`` gets its process into the container's cgroups: the intermediate joins
the v1 hierarchies itself and the process is cloned into the cgroup2 directory (see
seabox.runtime.exec.self_joins_cgroups), or — with a user namespace, or
SEABOX_RUNC_CGROUP_SELF_JOIN=0 — the parent moves the intermediate by pid."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc, cgroup_lines
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _running(runc: Runc, cid: str, linux: dict | None = None, bundle: Path | None = None) -> None:
    if bundle is None:
        linux = linux or default_spec(LOOP)["linux"]
        linux["cgroupsPath"] = f"/{cid}"
        bundle = runc.bundle(LOOP, linux=linux)
    res = runc.create(bundle, cid)
    assert res.returncode == 0, res.stderr
    r = runc.cmd("start", cid)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("self_join", ["1", "0"])
def test_exec_process_is_in_every_container_cgroup(runc: Runc, monkeypatch: pytest.MonkeyPatch,
                                                   self_join: str) -> None:
    cid = runc.new_id()
    _running(runc, cid)
    monkeypatch.setenv("SEABOX_RUNC_CGROUP_SELF_JOIN", self_join)
    r = runc.cmd("exec", cid, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    groups = cgroup_lines(r.stdout)
    assert groups and "unified" in groups
    assert len(groups) == len(cgroup_lines(Path("/proc/self/cgroup").read_text()))  # every hierarchy
    for key, path in groups.items():
        assert path == f"/{cid}", (key, path)
    assert runc.cmd("delete", "--force", cid).returncode == 0
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cid}"))


def test_detached_exec_is_in_the_unified_cgroup(runc: Runc, tmp_path: Path) -> None:
    cid = runc.new_id()
    _running(runc, cid)
    pidfile = tmp_path / "exec.pid"
    err = tmp_path / "exec.err"
    with open(os.devnull, "r+") as devnull, open(err, "w") as e:  # no pipe: the sleep would hold it open
        r = subprocess.run([*runc.cmdline, "--root", str(runc.root), "exec", "-d", "--pid-file", str(pidfile),
                            cid, "sleep", "30"], stdin=devnull, stdout=devnull, stderr=e, timeout=30)
    assert r.returncode == 0, err.read_text()
    pid = int(pidfile.read_text())
    state = json.loads((runc.root / cid / "state.json").read_text())
    unified = state["cgroup_paths"]["unified"]
    assert unified.endswith(f"/{cid}")
    assert str(pid) in Path(unified, "cgroup.procs").read_text().split()
    groups = cgroup_lines(Path(f"/proc/{pid}/cgroup").read_text())
    assert all(path == f"/{cid}" for path in groups.values()), groups
    assert runc.cmd("delete", "--force", cid).returncode == 0
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cid}"))


def test_exec_joins_the_cgroup_namespace(runc: Runc) -> None:
    """Joined after the process is cloned into its cgroup2 directory: paths read from the namespace root."""
    cid = runc.new_id()
    linux = default_spec(LOOP)["linux"]
    linux["namespaces"] = [*linux["namespaces"], {"type": "cgroup"}]
    _running(runc, cid, linux)
    r = runc.cmd("exec", cid, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    groups = cgroup_lines(r.stdout)
    assert groups and all(path == "/" for path in groups.values()), groups


def test_user_namespace_exec_is_moved_by_the_parent(runc: Runc) -> None:
    """A process mapped to another uid may not write the host's cgroupfs: the parent moves it."""
    base = 210000
    cid = runc.new_id()
    linux = default_spec(LOOP)["linux"]
    linux["cgroupsPath"] = f"/{cid}"
    bundle = runc.userns_bundle(LOOP, linux, base)
    _running(runc, cid, bundle=bundle)
    r = runc.cmd("exec", cid, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    groups = cgroup_lines(r.stdout)
    assert groups and all(path == f"/{cid}" for path in groups.values()), groups
