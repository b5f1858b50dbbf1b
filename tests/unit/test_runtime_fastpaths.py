"""The runtime's start-up shortcuts (no root): cgroup priming, delete's direct rmdirs, start's
blocking FIFO read, the signal reset list, and the cgroup layout's real paths."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from seabox.linux import syscalls as sc_mod
from seabox.runtime import cgroupref
from seabox.runtime import delete as delete_mod
from seabox.runtime import start as start_mod
from seabox.runtime import state as st_mod
from seabox.runtime.cgroups import fake
from seabox.runtime.cgroups.layout import detect


def _fake_self_cgroup(tmp_path: Path) -> tuple[str, Path]:
    proc = tmp_path / "self-cgroup"
    proc.write_text("9:name=systemd:/user.slice/me\n8:pids:/\n0::/\n")
    root = tmp_path / "cg"
    procs = root / "systemd" / "user.slice" / "me" / "cgroup.procs"
    procs.parent.mkdir(parents=True)
    procs.write_text("")
    return str(proc), procs


def test_priming_writes_own_pid_to_own_cgroup_until_finished(tmp_path: Path) -> None:
    proc, procs = _fake_self_cgroup(tmp_path)
    before = sys.getswitchinterval()
    cgroupref.prime_cgroup_migration(str(tmp_path / "cg"), proc_cgroup=proc)
    try:
        # the thread has opened the file before prime returns; its write follows at once
        deadline = time.monotonic() + 10
        while procs.read_text() != str(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert procs.read_text() == str(os.getpid())
        assert sys.getswitchinterval() < before
        # a second call while priming starts no second thread (nothing to observe but no error)
        cgroupref.prime_cgroup_migration(str(tmp_path / "cg"), proc_cgroup=proc)
    finally:
        cgroupref.finish_priming()
    assert sys.getswitchinterval() == before


def test_priming_off_without_cgroups(tmp_path: Path) -> None:
    proc, procs = _fake_self_cgroup(tmp_path)
    os.environ["SEABOX_RUNC_NO_CGROUPS"] = "1"
    try:
        cgroupref.prime_cgroup_migration(str(tmp_path / "cg"), proc_cgroup=proc)
        assert cgroupref.open_cgroup_manager("/x", "c1", str(tmp_path / "cg")) is None
    finally:
        del os.environ["SEABOX_RUNC_NO_CGROUPS"]
        cgroupref.finish_priming()
    assert procs.read_text() == ""


def _stopped_state(tmp_path: Path, cgroups_path: str | None, paths: dict[str, str]) -> st_mod.ContainerState:
    st = st_mod.ContainerState(id="c1", pid=0, status=st_mod.STOPPED, bundle="/b", rootfs="/b/rootfs",
                               created="now", cgroups_path=cgroups_path, cgroup_paths=paths)
    st_mod.save_state(tmp_path / "state", st)
    return st_mod.load_state(tmp_path / "state", "c1")


def test_delete_removes_empty_cgroups_and_their_empty_parents(tmp_path: Path) -> None:
    mounts = [tmp_path / "cg" / n for n in ("memory", "pids", "cpu,cpuacct")]
    paths = {}
    for m in mounts:
        (m / "kube" / "pod" / "c1").mkdir(parents=True)
        paths[m.name] = str(m / "kube" / "pod" / "c1")
    (mounts[0] / "kube" / "other").mkdir()  # a sibling keeps memory's /kube
    paths["cpuacct"] = paths["cpu,cpuacct"]  # a co-mounted controller: the same directory twice
    st = _stopped_state(tmp_path, "/kube/pod/c1", paths)
    delete_mod.delete(tmp_path / "state", "c1")
    for m in mounts:
        assert not (m / "kube" / "pod").exists()
        assert m.exists()
    assert (mounts[0] / "kube" / "other").is_dir()
    assert not (mounts[1] / "kube").exists()
    assert not os.path.exists(st.state_dir)


def test_delete_fast_path_declines_relative_paths_and_busy_dirs(tmp_path: Path) -> None:
    leaf = tmp_path / "cg" / "memory" / "c1"
    leaf.mkdir(parents=True)
    st = _stopped_state(tmp_path, "rel/c1", {"memory": str(leaf)})
    assert not delete_mod._remove_empty_cgroups(st)
    assert leaf.is_dir()
    (leaf / "cgroup.procs").write_text("")  # not empty: rmdir fails, the manager's way is next
    st = _stopped_state(tmp_path, "/c1", {"memory": str(leaf)})
    assert not delete_mod._remove_empty_cgroups(st)
    assert leaf.is_dir()


def test_start_reads_the_byte_then_eof_even_if_the_writer_opens_late(tmp_path: Path) -> None:
    fifo = str(tmp_path / "exec.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def writer() -> None:
        time.sleep(0.05)  # after the reader saw EOF with no writer yet
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, b"0")
        os.close(fd)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert start_mod._read_until_eof(rfd, os.getpid()) == b"0"
    finally:
        t.join()
        os.close(rfd)


def test_start_fails_when_the_init_is_gone(tmp_path: Path) -> None:
    fifo = str(tmp_path / "exec.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    try:
        try:
            start_mod._read_until_eof(rfd, pid)
        except Exception as e:
            assert "exited before start" in str(e)
        else:
            raise AssertionError("no error for a dead init")
    finally:
        os.close(rfd)


def test_signals_to_reset_come_from_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000180001000\nSigCgt:\t0000000000000002\n")
    # SigIgn bits 12, 31, 32: signals 13 (PIPE), 32 and 33 (glibc's); SigCgt bit 1: signal 2
    nums = sc_mod._non_default_signals(str(status))
    assert nums == (2, 13, 32, 33)
    assert len(sc_mod._non_default_signals(str(tmp_path / "missing"))) == 62


def test_detect_records_real_paths_of_co_mounted_hierarchies(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "v1", co_mount_cpu=True)
    layout = detect(str(root))
    for key in ("cpu", "cpuacct", "memory"):
        mount = layout.v1[key]
        assert layout.real[mount] == os.path.realpath(mount)
