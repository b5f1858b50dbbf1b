"""cgroup managers on this host's real cgroups (hybrid v1/v2), each test under a unique sbt- name."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.runtime import events as events_mod
from seabox.runtime import state as st_mod
from seabox.runtime.cgroups import Manager, open_manager

pytestmark = pytest.mark.root


class Child:
    """A forked child that waits for "go" on a pipe, then runs ``body`` and exits with its result."""

    def __init__(self, body) -> None:  # type: ignore[no-untyped-def]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            code = 99
            try:
                os.read(r, 1)
                code = int(body())
            except BaseException:
                code = 98
            finally:
                os._exit(code)
        os.close(r)
        self.pid = pid
        self._w = w

    def go(self) -> None:
        os.write(self._w, b"g")
        os.close(self._w)

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return status

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.close(self._w)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


@pytest.fixture
def cg() -> Iterator[Manager]:
    name = f"sbt-{secrets.token_hex(4)}"
    m = open_manager(f"/{name}", name)
    try:
        m.create()
        yield m
    finally:
        for pid in m.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if m.state() == "frozen":
            m.thaw()
        m.destroy()
        assert not any(os.path.exists(p) for p in m.paths.values())


def test_hybrid_host_has_every_path(cg: Manager) -> None:
    for key in ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio", "name=systemd", "unified"):
        assert os.path.isdir(cg.paths[key]), key


def test_memory_limit_oom_kills(cg: Manager) -> None:
    cg.set({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    child = Child(lambda: len(b"x" * (256 << 20)) and 0)
    try:
        cg.apply(child.pid)
        child.go()
        status = child.wait()
    finally:
        child.kill()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert "oom_kill 1" in Path(cg.paths["memory"], "memory.oom_control").read_text()


def test_pids_limit_stops_a_fork_bomb(cg: Manager) -> None:
    cg.set({"pids": {"limit": 5}})

    def bomb() -> int:
        made, refused = [], 0
        for _ in range(30):
            try:
                pid = os.fork()
            except BlockingIOError:
                refused += 1
                continue
            if pid == 0:
                os._exit(0)
            made.append(pid)  # not reaped yet: every zombie still counts against pids.max
        for pid in made:
            os.waitpid(pid, 0)
        return len(made) * 2 + (1 if refused else 0)

    child = Child(bomb)
    try:
        cg.apply(child.pid)
        child.go()
        status = child.wait()
    finally:
        child.kill()
    assert os.WIFEXITED(status)
    code = os.WEXITSTATUS(status)
    assert code % 2 == 1, "no fork was refused"
    assert code // 2 == 4  # the limit of 5 counts the child itself


def test_freeze_and_thaw(cg: Manager) -> None:
    child = Child(lambda: 0)
    try:
        cg.apply(child.pid)
        assert cg.pids() == [child.pid]
        cg.freeze()
        assert cg.state() == "frozen"
        assert Path(cg.paths["freezer"], "freezer.state").read_text().strip() == "FROZEN"
        child.go()  # it cannot act on it while frozen
        time.sleep(0.2)
        assert os.waitpid(child.pid, os.WNOHANG) == (0, 0)
        cg.thaw()
        assert cg.state() == "thawed"
        assert os.WEXITSTATUS(child.wait()) == 0
    finally:
        child.kill()


def test_stats_shape(cg: Manager) -> None:
    cg.set({"memory": {"limit": 256 << 20}, "pids": {"limit": 50}})

    def work() -> int:
        data = b"y" * (16 << 20)
        sum(range(2_000_000))
        time.sleep(0.5)
        return len(data) and 0

    child = Child(work)
    try:
        cg.apply(child.pid)
        child.go()
        time.sleep(0.3)
        data = cg.stats()
    finally:
        child.kill()
    assert data["pids"] == {"current": 1, "limit": 50}
    assert data["memory"]["usage"]["limit"] == 256 << 20
    assert data["memory"]["usage"]["usage"] > 8 << 20
    assert data["cpu"]["usage"]["total"] > 0
    assert len(data["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert isinstance(data["blkio"]["ioServiceBytesRecursive"], list)


def test_cpuset_restricts_affinity(cg: Manager) -> None:
    cg.set({"cpu": {"cpus": "0", "mems": "0", "shares": 256, "quota": 20000, "period": 100000}})
    child = Child(lambda: 10 + len(os.sched_getaffinity(0)) * 10 + min(os.sched_getaffinity(0)))
    try:
        cg.apply(child.pid)
        child.go()
        status = child.wait()
    finally:
        child.kill()
    assert os.WEXITSTATUS(status) == 20  # one cpu, cpu 0
    assert Path(cg.paths["cpu"], "cpu.cfs_quota_us").read_text().strip() == "20000"


def test_device_allow_list(cg: Manager) -> None:
    cg.set(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            ]
        }
    )

    def probe() -> int:
        os.close(os.open("/dev/null", os.O_RDWR))
        try:
            os.close(os.open("/dev/zero", os.O_RDONLY))
        except PermissionError:
            return 7
        return 1

    child = Child(probe)
    try:
        cg.apply(child.pid)
        child.go()
        status = child.wait()
    finally:
        child.kill()
    assert os.WEXITSTATUS(status) == 7
    assert Path(cg.paths["devices"], "devices.list").read_text().split("\n")[0] == "c 1:3 rw"


def test_destroy_retries_while_processes_exit(cg: Manager) -> None:
    child = Child(lambda: 0)
    cg.apply(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.kill()
    cg.destroy()
    assert not any(os.path.exists(p) for p in cg.paths.values())


def test_nested_path_leaves_no_empty_parent() -> None:
    top = f"sbt-{secrets.token_hex(4)}"
    m = open_manager(f"/{top}/inner/leaf", "leaf")
    try:
        m.create()
        assert os.path.isdir(m.paths["memory"])
    finally:
        m.destroy()
    for key in ("memory", "unified", "name=systemd"):
        assert not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(m.paths[key]))), top))


def test_events_reports_oom(cg: Manager, tmp_path: Path) -> None:
    cg.set({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    child = Child(lambda: len(b"x" * (256 << 20)) and 0)
    try:
        cg.apply(child.pid)
        st = st_mod.ContainerState(
            id="sbt-ev", pid=child.pid, status=st_mod.RUNNING, bundle=str(tmp_path), rootfs="/",
            created="2026-01-01T00:00:00Z", cgroup_paths=cg.paths,
            init_start_time=st_mod.process_start_time(child.pid) or 0,
        )  # fmt: skip
        st_mod.save_state(tmp_path, st)
        it = events_mod.events(tmp_path, "sbt-ev", False, 30.0)
        first = next(it)
        assert first["type"] == "stats"
        threading.Timer(0.2, child.go).start()
        second = next(it)
        assert second == {"type": "oom", "id": "sbt-ev"}
        it.close()
    finally:
        child.kill()


def test_destroy_thaws_a_frozen_cgroup_whose_processes_were_killed(cg: Manager) -> None:
    child = Child(lambda: 0)
    try:
        cg.apply(child.pid)
        cg.freeze()
        os.kill(child.pid, signal.SIGKILL)  # pending until thawed
        time.sleep(0.1)
        assert os.waitpid(child.pid, os.WNOHANG) == (0, 0)
        reaper = threading.Thread(target=child.wait)
        reaper.start()
        cg.destroy()
        reaper.join(10)
        assert not reaper.is_alive()
        assert not any(os.path.exists(p) for p in cg.paths.values())
    finally:
        child.kill()
