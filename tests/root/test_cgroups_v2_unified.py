"""The cgroup v2 manager on a real cgroup2 mount: this hybrid host's unified hierarchy.

Only core cgroup2 features work there (no controller is enabled in it: enabling one in
the root's subtree_control would change the host, so the manager is told to enable
none): create, join, freeze/thaw through cgroup.freeze, the eBPF device filter, cpu.stat
based stats, destroy.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.runtime.cgroups import Manager, open_manager, v2

pytestmark = pytest.mark.root

UNIFIED = "/sys/fs/cgroup/unified"


@pytest.fixture
def m(monkeypatch: pytest.MonkeyPatch) -> Iterator[Manager]:
    if not os.path.exists(os.path.join(UNIFIED, "cgroup.controllers")):
        pytest.fail(f"{UNIFIED} is not a cgroup2 mount")
    monkeypatch.setattr(v2, "CONTROLLERS", ())  # leave the host root's subtree_control alone
    name = f"sbt-{secrets.token_hex(4)}"
    mgr = open_manager(f"/{name}/ctr", name, root=UNIFIED)
    assert isinstance(mgr, v2.V2Manager)
    try:
        mgr.create()
        yield mgr
    finally:
        for pid in mgr.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        mgr.destroy()
        assert not os.path.exists(os.path.join(UNIFIED, name))


def _child() -> int:
    pid = os.fork()
    if pid == 0:
        while True:
            time.sleep(0.01)
    return pid


def test_join_freeze_thaw(m: Manager) -> None:
    pid = _child()
    try:
        m.apply(pid)
        assert m.pids() == [pid]
        assert f"0::/{Path(m.paths['unified']).relative_to(UNIFIED)}" in Path(f"/proc/{pid}/cgroup").read_text()
        m.freeze()
        assert m.state() == "frozen"
        assert "frozen 1" in Path(m.paths["unified"], "cgroup.events").read_text()
        m.thaw()
        assert m.state() == "thawed"
        assert "frozen 0" in Path(m.paths["unified"], "cgroup.events").read_text()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_destroy_of_frozen_killed_cgroup(m: Manager) -> None:
    pid = _child()
    m.apply(pid)
    m.freeze()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # a frozen task still dies of SIGKILL on cgroup v2
    m.destroy()
    assert not m.exists()


def test_device_rules_through_set(m: Manager) -> None:
    m.set({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3}]})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        ok = []
        for dev in ("/dev/null", "/dev/zero"):
            try:
                os.close(os.open(dev, os.O_RDONLY))
                ok.append(1)
            except PermissionError:
                ok.append(0)
        os._exit(10 * ok[0] + ok[1])
    os.close(r)
    m.apply(pid)
    os.write(w, b"g")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 10


def test_stats_from_cpu_stat(m: Manager) -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)  # joined first, then work
        sum(range(3_000_000))
        os._exit(0)
    os.close(r)
    m.apply(pid)
    os.write(w, b"g")
    os.close(w)
    os.waitpid(pid, 0)
    data = m.stats()
    assert set(data) >= {"cpu", "memory", "pids", "blkio"}
    assert data["cpu"]["usage"]["total"] > 0  # the child's cpu time stays charged to the cgroup
