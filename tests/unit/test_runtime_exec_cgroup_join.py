"""exec's self-join of the container's recorded cgroups (no root): when, and what it writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition
from seabox.oci.runtime_spec import parse_spec
from seabox.runtime.exec import cgroup_join_plan, self_joins_cgroups


def _spec(namespaces: list[str]):  # type: ignore[no-untyped-def]
    return parse_spec({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["true"], "cwd": "/"},
                       "linux": {"namespaces": [{"type": t} for t in namespaces]}})


HYBRID = {"memory": "/sys/fs/cgroup/memory/sbt-x", "name=systemd": "/sys/fs/cgroup/systemd/sbt-x",
          "unified": "/sys/fs/cgroup/unified/sbt-x"}


def test_self_join_only_on_the_real_cgroupfs_without_a_user_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEABOX_RUNC_CGROUP_SELF_JOIN", raising=False)
    plain = _spec(["pid", "mount", "network"])
    assert self_joins_cgroups(plain, HYBRID)
    assert self_joins_cgroups(plain, {"unified": "/sys/fs/cgroup/sbt-x"})  # pure cgroup2
    assert not self_joins_cgroups(plain, {})  # nothing recorded: nothing to join
    assert not self_joins_cgroups(plain, {"memory": "/tmp/fake/memory/sbt-x"})
    assert not self_joins_cgroups(plain, {**HYBRID, "pids": "/tmp/fake/pids/sbt-x"})  # every path must be real
    assert not self_joins_cgroups(plain, {"memory": "/sys/fs/cgroupx/memory/sbt-x"})
    assert not self_joins_cgroups(_spec(["pid", "mount", "user"]), HYBRID)
    monkeypatch.setenv("SEABOX_RUNC_CGROUP_SELF_JOIN", "0")
    assert not self_joins_cgroups(plain, HYBRID)


def test_plan_writes_each_real_v1_directory_once_and_clones_into_unified(tmp_path: Path) -> None:
    (tmp_path / "cpu,cpuacct" / "c").mkdir(parents=True)
    os.symlink("cpu,cpuacct", tmp_path / "cpu")
    os.symlink("cpu,cpuacct", tmp_path / "cpuacct")
    for name in ("memory", "systemd", "unified"):
        (tmp_path / name / "c").mkdir(parents=True)
    paths = {"cpu": f"{tmp_path}/cpu/c", "cpuacct": f"{tmp_path}/cpuacct/c", "memory": f"{tmp_path}/memory/c",
             "name=systemd": f"{tmp_path}/systemd/c", "unified": f"{tmp_path}/unified/c",
             "pids": f"{tmp_path}/pids/c"}  # gone: left out, as the move by pid skips it
    tasks, clone = cgroup_join_plan(paths)
    assert clone == f"{tmp_path}/unified/c"
    assert tasks == [f"{tmp_path}/cpu/c/tasks", f"{tmp_path}/memory/c/tasks", f"{tmp_path}/systemd/c/tasks"]


def test_plan_same_string_once_and_pure_v2(tmp_path: Path) -> None:
    (tmp_path / "cpu,cpuacct" / "c").mkdir(parents=True)
    d = f"{tmp_path}/cpu,cpuacct/c"
    assert cgroup_join_plan({"cpu": d, "cpuacct": d}) == ([d + "/tasks"], "")
    (tmp_path / "v2").mkdir()
    assert cgroup_join_plan({"unified": f"{tmp_path}/v2"}) == ([], f"{tmp_path}/v2")
    assert cgroup_join_plan({}) == ([], "")


def test_plan_reports_a_directory_it_cannot_look_at(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(FailedPrecondition, match=r"joining cgroup .*/file/c"):
        cgroup_join_plan({"memory": f"{tmp_path}/file/c"})  # ENOTDIR
