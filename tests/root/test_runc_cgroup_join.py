"""How the container's processes get into its cgroups: the intermediate joins the v1 hierarchies
itself and the init is cloned into the cgroup2 directory (see seabox.runtime.create.joins_itself),
or — with a user namespace, or SEABOX_RUNC_CGROUP_SELF_JOIN=0 — the parent moves them by pid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc, cgroup_lines
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _own_cgroups(pid: int) -> dict[str, str]:
    return cgroup_lines(Path(f"/proc/{pid}/cgroup").read_text())


@pytest.mark.parametrize("self_join", ["1", "0"])
def test_init_is_in_every_container_cgroup(runc: Runc, monkeypatch: pytest.MonkeyPatch, self_join: str) -> None:
    monkeypatch.setenv("SEABOX_RUNC_CGROUP_SELF_JOIN", self_join)
    cid = runc.new_id()
    linux = default_spec(LOOP)["linux"]
    linux["cgroupsPath"] = f"/{cid}"
    linux["resources"] = {"pids": {"limit": 50}}
    res = runc.create(runc.bundle(LOOP, linux=linux), cid)
    assert res.returncode == 0, res.stderr
    state = json.loads((runc.root / cid / "state.json").read_text())
    groups = _own_cgroups(state["pid"])
    assert groups, "no cgroup lines"
    for key, path in groups.items():
        assert path == f"/{cid}", (key, path)
    if "unified" in groups and Path("/sys/fs/cgroup/unified").is_dir():
        procs = Path(f"/sys/fs/cgroup/unified/{cid}/cgroup.procs").read_text().split()
        assert str(state["pid"]) in procs
    assert runc.cmd("start", cid).returncode == 0
    # the limit written by the parent applies to the self-joined process
    pids_dirs = [d for d in Path("/sys/fs/cgroup").glob(f"*/{cid}") if (d / "pids.max").exists()]
    assert pids_dirs and all((d / "pids.max").read_text().strip() == "50" for d in pids_dirs)
    assert runc.cmd("delete", "--force", cid).returncode == 0
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cid}"))


def test_new_cgroup_namespace_is_rooted_at_the_container_cgroups(runc: Runc) -> None:
    """With a new cgroup namespace the init (cloned into its cgroup2 directory) creates it:
    inside, every hierarchy's path is the namespace root."""
    cid = runc.new_id()
    args = ["cat", "/proc/self/cgroup"]
    linux = default_spec(args)["linux"]
    linux["cgroupsPath"] = f"/{cid}"
    linux["namespaces"] = [*linux["namespaces"], {"type": "cgroup"}]
    res = runc.run(runc.bundle(args, linux=linux), cid)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines
    assert all(line.rsplit(":", 1)[1] == "/" for line in lines), lines


def test_user_namespace_container_is_moved_by_the_parent(runc: Runc) -> None:
    """A process mapped to another uid may not write the host's cgroupfs: the parent moves it."""
    base = 210000
    cid = runc.new_id()
    linux = default_spec(LOOP)["linux"]
    linux["cgroupsPath"] = f"/{cid}"
    bundle = runc.userns_bundle(LOOP, linux, base)
    res = runc.create(bundle, cid)
    assert res.returncode == 0, res.stderr
    state = json.loads((runc.root / cid / "state.json").read_text())
    assert all(path == f"/{cid}" for path in _own_cgroups(state["pid"]).values())
