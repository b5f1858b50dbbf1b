"""The self-join of a container's cgroups (no root): which processes join how, and the fallbacks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition
from seabox.linux.syscalls import RecordingSyscalls
from seabox.oci.runtime_spec import parse_spec
from seabox.runtime import init as init_mod
from seabox.runtime.cgroups import fake, open_manager
from seabox.runtime.create import joins_itself


def _spec(namespaces: list[str]):  # type: ignore[no-untyped-def]
    return parse_spec({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["true"], "cwd": "/"},
                       "linux": {"namespaces": [{"type": t} for t in namespaces]}})


def test_joins_itself_only_on_the_real_cgroupfs_without_a_user_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEABOX_RUNC_CGROUP_SELF_JOIN", raising=False)
    plain = _spec(["pid", "mount", "network"])
    assert joins_itself(plain, "/sys/fs/cgroup")
    assert not joins_itself(plain, "/tmp/fake-cgroup-tree")
    assert not joins_itself(_spec(["pid", "mount", "user"]), "/sys/fs/cgroup")
    monkeypatch.setenv("SEABOX_RUNC_CGROUP_SELF_JOIN", "0")
    assert not joins_itself(plain, "/sys/fs/cgroup")


@pytest.mark.parametrize("co_mount", [False, True])
def test_hybrid_plan_writes_each_v1_directory_once_and_clones_into_unified(tmp_path: Path, co_mount: bool) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "hybrid", co_mount_cpu=co_mount)
    m = open_manager("/sbt-x", "c1", root=str(root), proc_cgroup="/nonexistent")
    tasks, clone = m.join_plan()
    assert clone == str(root / "unified" / "sbt-x")
    assert all(t.endswith("/sbt-x/tasks") and "/unified/" not in t for t in tasks)
    reals = [os.path.realpath(os.path.dirname(os.path.dirname(t))) for t in tasks]
    assert len(reals) == len(set(reals))  # co-mounted cpu,cpuacct once
    assert len(tasks) == len({os.path.realpath(str(p)) for p in root.iterdir() if p.name != "unified"})


def test_v2_plan_is_the_clone_directory_only(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "v2")
    m = open_manager("/sbt-x", "c1", root=str(root), proc_cgroup="/nonexistent")
    assert m.join_plan() == ([], str(root / "sbt-x"))


def test_join_own_cgroups_writes_zero_and_opens_the_clone_directory(tmp_path: Path) -> None:
    files = [tmp_path / "a" / "tasks", tmp_path / "b" / "tasks"]
    for f in files:
        f.parent.mkdir()
        f.write_text("")
    clone = tmp_path / "unified"
    clone.mkdir()
    fd = init_mod.join_own_cgroups([str(f) for f in files], str(clone))
    try:
        assert [f.read_text() for f in files] == ["0", "0"]
        assert os.path.samestat(os.fstat(fd), os.stat(clone))
    finally:
        os.close(fd)
    assert init_mod.join_own_cgroups([], "") == -1


def test_join_own_cgroups_names_the_cgroup_it_cannot_join(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match=r"cannot join cgroup .*/missing"):
        init_mod.join_own_cgroups([str(tmp_path / "missing" / "tasks")], "")


class _NoClone3(RecordingSyscalls):
    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        self._rec("fork_into_cgroup", cgroup_fd)
        raise OSError(38, "clone3: Function not implemented")


def test_fork_init_falls_back_to_a_cgroup_procs_move_without_clone3(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = _NoClone3()
    monkeypatch.setattr(init_mod.os, "fork", lambda: 4711)
    assert init_mod.fork_init(sc, 9, "/sys/fs/cgroup/unified/sbt-x") == 4711
    assert sc.calls == [("fork_into_cgroup", 9), ("write_file", "/sys/fs/cgroup/unified/sbt-x/cgroup.procs", "0")]


def test_fork_init_clones_into_the_cgroup_and_reports_other_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = RecordingSyscalls()
    assert init_mod.fork_init(sc, 7, "/cg/x") == 4242
    assert sc.names() == ["fork_into_cgroup"]
    monkeypatch.setattr(init_mod.os, "fork", lambda: 99)
    assert init_mod.fork_init(RecordingSyscalls(), -1, "") == 99  # nothing to clone into: a plain fork

    class Busy(RecordingSyscalls):
        def fork_into_cgroup(self, cgroup_fd: int) -> int:
            raise OSError(16, "clone3: Device or resource busy")

    with pytest.raises(FailedPrecondition, match="cannot clone the init into cgroup /cg/x"):
        init_mod.fork_init(Busy(), 7, "/cg/x")

