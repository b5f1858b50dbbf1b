"""pause/resume/update/events over a saved state and a fake cgroupfs (no root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition
from seabox.runtime import events, pause, update
from seabox.runtime import state as st_mod
from seabox.runtime.cgroups import fake, open_manager


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    cg = tmp_path / "cg"
    fake.build(str(cg), "hybrid")
    m = open_manager("/sbt-verbs", "c1", root=str(cg))
    fake.populate(m.paths, "hybrid")
    state_root = tmp_path / "state"
    st = st_mod.ContainerState(
        id="c1",
        pid=os.getpid(),  # a live process: status derives as running
        status=st_mod.RUNNING,
        bundle=str(tmp_path),
        rootfs=str(tmp_path / "rootfs"),
        created="2026-01-01T00:00:00Z",
        config={"linux": {"resources": {"memory": {"limit": 1 << 30}, "pids": {"limit": 10}}}},
        cgroup_paths=m.paths,
        cgroups_path="/sbt-verbs",
    )
    st_mod.save_state(state_root, st)
    return state_root, str(cg), m.paths


def test_pause_resume(env: tuple[Path, str, dict[str, str]]) -> None:
    state_root, cg, paths = env
    pause.pause(state_root, "c1", cgroup_root=cg)
    assert Path(paths["freezer"], "freezer.state").read_text() == "FROZEN"
    assert st_mod.load_state(state_root, "c1").status == st_mod.PAUSED
    with pytest.raises(FailedPrecondition):
        pause.pause(state_root, "c1", cgroup_root=cg)
    pause.resume(state_root, "c1", cgroup_root=cg)
    assert st_mod.load_state(state_root, "c1").status == st_mod.RUNNING
    with pytest.raises(FailedPrecondition, match="not paused"):
        pause.resume(state_root, "c1", cgroup_root=cg)


def test_update_writes_and_records(env: tuple[Path, str, dict[str, str]]) -> None:
    state_root, cg, paths = env
    update.update(state_root, "c1", {"pids": {"limit": 99}, "cpu": {"shares": 256}}, cgroup_root=cg)
    assert Path(paths["pids"], "pids.max").read_text() == "99"
    assert Path(paths["cpu"], "cpu.shares").read_text() == "256"
    res = st_mod.load_state(state_root, "c1").config["linux"]["resources"]
    assert res == {"memory": {"limit": 1 << 30}, "pids": {"limit": 99}, "cpu": {"shares": 256}}


def test_update_memory_keeps_swap_consistent(env: tuple[Path, str, dict[str, str]]) -> None:
    state_root, cg, paths = env
    update.update(state_root, "c1", {"memory": {"limit": 1 << 29, "swap": 1 << 30}}, cgroup_root=cg)
    assert Path(paths["memory"], "memory.limit_in_bytes").read_text() == str(1 << 29)
    assert Path(paths["memory"], "memory.memsw.limit_in_bytes").read_text() == str(1 << 30)


def test_merge() -> None:
    assert update.merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [2]}) == {
        "a": {"b": 3, "c": 2},
        "d": [2],
    }


def test_events_stats_once(env: tuple[Path, str, dict[str, str]]) -> None:
    state_root, cg, _ = env
    out = list(events.events(state_root, "c1", True, 1.0, cgroup_root=cg))
    assert len(out) == 1
    assert out[0]["type"] == "stats" and out[0]["id"] == "c1"
    assert out[0]["data"]["pids"]["current"] == 1
    assert set(out[0]["data"]) >= {"cpu", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}
