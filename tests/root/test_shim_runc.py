"""The shim drives real runc (runtime_binary=/usr/sbin/runc) with runc's command line: an
interop check that the shim is an ordinary OCI-runtime client."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from seabox.errdefs import FailedPrecondition
from seabox.shim.client import cleanup_dead
from seabox.shim.testsupport import ShimHarness, pid_alive, read_to_eof, read_until, wait_for

pytestmark = pytest.mark.root

RUNC = "/usr/sbin/runc"


@pytest.fixture
def h() -> Iterator[ShimHarness]:
    if not os.path.exists(RUNC):
        pytest.fail(f"{RUNC} is missing (apt-get install runc)")
    harness = ShimHarness()
    try:
        yield harness
    finally:
        harness.cleanup()


def test_runc_lifecycle_through_the_shim(h: ShimHarness) -> None:
    client, cfg, info = h.spawn(runtime_binary=RUNC)
    assert client.ping()["runtime"] == "runc"
    out = h.fifo("out")
    pid = client.create(str(h.bundle(["sh", "-c", "echo from-runc; exit 6"])), stdout=out)
    assert client.state().status == "created"
    fo = os.open(out, os.O_RDONLY)
    try:
        client.start()
        ex = client.wait()
        assert (ex.pid, ex.exit_status) == (pid, 6)
        assert read_to_eof(fo) == b"from-runc\n"
    finally:
        os.close(fo)
    assert client.delete().exit_status == 6
    assert not os.path.exists(os.path.join(cfg.runtime_root, cfg.id))
    client.shutdown()
    assert wait_for(lambda: not pid_alive(info.pid))


def test_runc_exec_kill_pause_and_tty(h: ShimHarness) -> None:
    client, _, _ = h.spawn(runtime_binary=RUNC)
    init = client.create(str(h.bundle(["sleep", "1000"])))
    client.start()
    out = h.fifo("exec-out")
    client.exec("e1", {"args": ["sh", "-c", "echo exec-runc; exit 5"], "cwd": "/", "env": ["PATH=/bin"],
                       "user": {"uid": 0, "gid": 0}}, stdout=out)
    fo = os.open(out, os.O_RDONLY)
    try:
        client.start("e1")
        assert client.wait("e1").exit_status == 5
        assert read_to_eof(fo) == b"exec-runc\n"
    finally:
        os.close(fo)
    assert init in [p["pid"] for p in client.pids()]
    client.pause()
    assert client.state().status == "paused"
    client.resume()
    client.update({"pids": {"limit": 123}})
    stats = client.stats()  # runc events --stats
    assert stats["pids"]["limit"] == 123 and stats["pids"]["current"] >= 1, stats.get("pids")
    tin, tout = h.fifo("t-in"), h.fifo("t-out")
    client.exec("t1", {"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
                       "terminal": True}, stdin=tin, stdout=tout, terminal=True)
    fo = os.open(tout, os.O_RDONLY)
    fi = os.open(tin, os.O_WRONLY)
    try:
        client.start("t1")
        os.write(fi, b"tty -s && echo runc-tty; exit 2\n")
        assert b"runc-tty" in read_until(fo, b"runc-tty")
        assert client.wait("t1").exit_status == 2
    finally:
        os.close(fo)
        os.close(fi)
    with pytest.raises(FailedPrecondition):
        client.exec("bad", {"args": ["/no/such/binary"], "cwd": "/", "env": ["PATH=/bin"],
                            "user": {"uid": 0, "gid": 0}})
        client.start("bad")
    assert client.state().status == "running"
    client.kill(signal.SIGKILL)
    assert client.wait().exit_status == 137
    client.delete()


def test_runc_dead_shim_cleanup(h: ShimHarness) -> None:
    client, cfg, info = h.spawn(runtime_binary=RUNC)
    init = client.create(str(h.bundle(["sleep", "1000"])))
    client.start()
    os.kill(info.pid, signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(info.pid))
    assert pid_alive(init)
    assert cleanup_dead(str(h.state), h.namespace, cfg.id).exit_status == 137
    assert wait_for(lambda: not pid_alive(init))
    assert not os.path.exists(os.path.join(cfg.runtime_root, cfg.id))
    assert not os.path.exists(cfg.state_dir)
