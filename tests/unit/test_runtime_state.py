"""The lifecycle state machine and state.json on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound
from seabox.runtime import state as st


def test_transitions_table() -> None:
    assert st.can_start(st.CREATED)
    for s in (st.CREATING, st.RUNNING, st.PAUSED, st.STOPPED):
        assert not st.can_start(s)
    assert st.can_kill(st.RUNNING) and st.can_kill(st.CREATED) and st.can_kill(st.PAUSED)
    assert not st.can_kill(st.STOPPED)
    assert st.can_delete(st.STOPPED) and st.can_delete(st.CREATED)
    assert not st.can_delete(st.RUNNING) and not st.can_delete(st.PAUSED)
    assert st.can_delete(st.RUNNING, force=True) and st.can_delete(st.PAUSED, force=True)
    assert st.can_exec(st.RUNNING) and not st.can_exec(st.STOPPED)
    assert st.can_pause(st.RUNNING) and st.can_resume(st.PAUSED) and not st.can_resume(st.RUNNING)


def test_require_uses_runc_wording() -> None:
    with pytest.raises(FailedPrecondition, match="cannot start a container that has stopped"):
        st.require("start", "web", st.STOPPED)
    with pytest.raises(FailedPrecondition, match='container "web": container not running'):
        st.require("kill", "web", st.STOPPED)
    with pytest.raises(FailedPrecondition, match="not stopped: running"):
        st.require("delete", "web", st.RUNNING)
    st.require("start", "web", st.CREATED)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x y", "a\n"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        st.validate_id(bad)


def make(tmp_path: Path, pid: int, start: int = 0) -> st.ContainerState:
    s = st.ContainerState(id="c1", pid=pid, status=st.CREATED, bundle="/b", rootfs="/b/rootfs",
                          created="2026-01-01T00:00:00.000000000Z", annotations={"a": "b"},
                          config={"ociVersion": "1.0.2"}, init_start_time=start)
    st.save_state(tmp_path, s)
    return s


def test_save_load_and_live_status(tmp_path: Path) -> None:
    me = os.getpid()
    make(tmp_path, me, st.process_start_time(me) or 0)
    (tmp_path / "c1" / st.EXEC_FIFO).touch()
    loaded = st.load_state(tmp_path, "c1")
    assert loaded.status == st.CREATED
    assert loaded.annotations == {"a": "b"}
    (tmp_path / "c1" / st.EXEC_FIFO).unlink()
    assert st.load_state(tmp_path, "c1").status == st.RUNNING
    oci = st.load_state(tmp_path, "c1").oci_state()
    assert list(oci)[:8] == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    assert st.list_ids(tmp_path) == ["c1"]


def test_reused_pid_or_dead_process_is_stopped(tmp_path: Path) -> None:
    me = os.getpid()
    make(tmp_path, me, (st.process_start_time(me) or 0) + 1)  # same pid, different start time
    assert st.load_state(tmp_path, "c1").status == st.STOPPED
    make(tmp_path, 0)
    s = st.load_state(tmp_path, "c1")
    assert s.status == st.STOPPED and s.oci_state()["pid"] == 0


def test_frozen_cgroup_is_paused(tmp_path: Path) -> None:
    me = os.getpid()
    s = make(tmp_path, me)
    freezer = tmp_path / "freezer"
    freezer.mkdir()
    (freezer / "freezer.state").write_text("FROZEN\n")
    s.cgroup_paths = {"freezer": str(freezer)}
    st.save_state(tmp_path, s)
    assert st.load_state(tmp_path, "c1").status == st.PAUSED


def test_missing_container(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match='container "nope" does not exist'):
        st.load_state(tmp_path, "nope")
