"""seabox-shim under a test harness (no daemon): create/start with FIFOs, exit codes and
timestamps, tty through the pty, exec, kill, close-io, json-file logs with rotation,
pause/resume/update/stats/pids, and errors answered without crashing the shim."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.shim.testsupport import ShimHarness, pid_alive, read_to_eof, read_until, wait_for

pytestmark = pytest.mark.root

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@pytest.fixture
def h() -> Iterator[ShimHarness]:
    harness = ShimHarness()
    try:
        yield harness
    finally:
        harness.cleanup()


def test_create_start_stdout_stderr_exit_code(h: ShimHarness) -> None:
    client, cfg, info = h.spawn()
    out, err = h.fifo("out"), h.fifo("err")
    bundle = h.bundle(["sh", "-c", "echo hello from init; echo oops >&2; exit 3"])
    pid = client.create(str(bundle), stdout=out, stderr=err)
    st = client.state()
    assert (st.status, st.pid, st.bundle) == ("created", pid, str(bundle))
    fo, fe = os.open(out, os.O_RDONLY), os.open(err, os.O_RDONLY)
    try:
        assert client.start() == pid
        ex = client.wait()
        assert ex.exit_status == 3 and ex.pid == pid
        assert RFC3339NANO.match(ex.exited_at), ex.exited_at
        assert read_to_eof(fo) == b"hello from init\n"
        assert read_to_eof(fe) == b"oops\n"
    finally:
        os.close(fo)
        os.close(fe)
    st = client.state()
    assert (st.status, st.exit_status, st.exited_at) == ("stopped", 3, ex.exited_at)
    events, seq = client.events()
    topics = [e["event"] for e in events]
    assert topics == ["create", "start", "exit"]
    assert events[-1]["exit_status"] == 3 and events[-1]["seq"] == seq
    client.ack(seq)
    assert client.events()[0] == []
    deleted = client.delete()
    assert deleted.exit_status == 3
    assert not os.path.exists(os.path.join(cfg.runtime_root, cfg.id)), "runtime state left behind"
    client.shutdown()
    assert wait_for(lambda: not pid_alive(info.pid))
    assert not os.path.exists(cfg.state_dir)


def test_tty_echo_and_resize(h: ShimHarness) -> None:
    client, _, _ = h.spawn()
    stdin, stdout = h.fifo("in"), h.fifo("out")
    bundle = h.bundle(["sh"], process={"terminal": True})
    client.create(str(bundle), stdin=stdin, stdout=stdout, terminal=True)
    fo = os.open(stdout, os.O_RDONLY)
    fi = os.open(stdin, os.O_WRONLY)
    try:
        client.start()
        os.write(fi, b"tty -s && echo is-a-tty; echo sum-$((40+2))\n")
        seen = read_until(fo, b"sum-42\r\n")
        assert b"is-a-tty" in seen and b"sum-42\r\n" in seen, seen
        client.resize(width=101, height=33)
        os.write(fi, b"stty size\n")
        assert b"33 101" in read_until(fo, b"33 101"), "resize did not reach the pty"
        os.write(fi, b"exit 7\n")
        assert client.wait().exit_status == 7
    finally:
        os.close(fo)
        os.close(fi)


def test_exec_own_io_and_exit_code(h: ShimHarness) -> None:
    client, _, info = h.spawn()
    bundle = h.bundle(["sleep", "1000"])
    init_pid = client.create(str(bundle))
    client.start()
    out = h.fifo("exec-out")
    proc = {"args": ["sh", "-c", "echo in-exec $(hostname); exit 5"], "cwd": "/",
            "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}}
    client.exec("e1", proc, stdout=out)
    assert client.state("e1").status == "created"
    fo = os.open(out, os.O_RDONLY)
    try:
        pid = client.start("e1")
        assert pid != init_pid
        ex = client.wait("e1")
        assert (ex.exec_id, ex.exit_status, ex.pid) == ("e1", 5, pid)
        assert read_to_eof(fo) == b"in-exec seabox\n"
    finally:
        os.close(fo)
    assert client.state().status == "running"  # the init is unaffected
    with pytest.raises(AlreadyExists):
        client.exec("e1", proc)
    # a second, long-running exec shows up in pids with its exec id, and is killed on its own
    client.exec("e2", {**proc, "args": ["sleep", "1000"]})
    e2 = client.start("e2")
    pids = {p["pid"]: p["exec_id"] for p in client.pids()}
    assert pids.get(init_pid) == "" and pids.get(e2) == "e2", pids
    client.kill(signal.SIGKILL, exec_id="e2")
    assert client.wait("e2").exit_status == 137
    assert client.delete("e2").exit_status == 137
    with pytest.raises(NotFound):
        client.state("e2")
    # a tty exec
    tin, tout = h.fifo("t-in"), h.fifo("t-out")
    client.exec("t1", {**proc, "args": ["sh"], "terminal": True}, stdin=tin, stdout=tout, terminal=True)
    fo, fi = os.open(tout, os.O_RDONLY), None
    try:
        fi = os.open(tin, os.O_WRONLY)
        client.start("t1")
        os.write(fi, b"tty -s && echo exec-tty; exit 4\n")
        assert b"exec-tty" in read_until(fo, b"exec-tty")
        assert client.wait("t1").exit_status == 4
    finally:
        os.close(fo)
        if fi is not None:
            os.close(fi)
    # an exec whose binary is missing fails on start with a one-line error naming it; the shim lives on
    client.exec("bad", {**proc, "args": ["/no/such/binary"]})
    with pytest.raises(FailedPrecondition, match="/no/such/binary") as e:
        client.start("bad")
    assert "\n" not in str(e.value)
    assert (client.state("bad").status, client.state("bad").exit_status) == ("stopped", 255)
    client.delete("bad")
    assert shim_name(info.pid) == "seabox-shim"
    client.kill(signal.SIGKILL)
    assert client.wait().exit_status == 137


def shim_name(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_kill_close_io_and_errors(h: ShimHarness) -> None:
    client, _, info = h.spawn()
    stdin, stdout = h.fifo("in"), h.fifo("out")
    client.create(str(h.bundle(["sh", "-c", "cat; echo cat-done; exit 9"])), stdin=stdin, stdout=stdout)
    fo = os.open(stdout, os.O_RDONLY)
    fi = os.open(stdin, os.O_WRONLY)
    try:
        client.start()
        os.write(fi, b"line one\n")
        assert read_until(fo, b"line one\n").endswith(b"line one\n")
        os.write(fi, b"last line\n")
        client.close_io()  # what was written is forwarded, then the container's stdin closes
        assert client.wait().exit_status == 9
        assert read_to_eof(fo) == b"last line\ncat-done\n"
    finally:
        os.close(fo)
        os.close(fi)
    with pytest.raises(NotFound):
        client.kill(signal.SIGTERM)  # already stopped
    with pytest.raises(NotFound, match="nope"):
        client.state("nope")
    with pytest.raises(InvalidArgument):
        client.kill(999)
    with pytest.raises(AlreadyExists):
        client.create(str(h.bundle(["true"])))
    with pytest.raises(InvalidArgument):
        client.call("no_such_op")
    with pytest.raises(InvalidArgument):
        client.call("resize", exec_id=7)
    # raw garbage on the socket is answered, and the shim lives on
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.connect(info.address)
    s.sendall(b"not json\n[1,2]\n")
    replies = [json.loads(x) for x in s.makefile("rb").readline().splitlines()]
    s.close()
    assert replies and replies[0]["ok"] is False
    assert client.ping()["pid"] == info.pid

    # kill a running container
    client2, _, _ = h.spawn()
    client2.create(str(h.bundle(["sleep", "1000"])))
    client2.start()
    with pytest.raises(FailedPrecondition):
        client2.delete()  # running
    with pytest.raises(FailedPrecondition):
        client2.shutdown()  # refused while the container runs
    client2.kill(signal.SIGKILL)
    ex = client2.wait()
    assert ex.exit_status == 137
    client2.delete()
    client2.shutdown()


def test_json_file_log_rotation(h: ShimHarness) -> None:
    client, _, _ = h.spawn()
    log = h.tmp / "c.log"
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; echo to-stderr >&2; printf tail"
    client.create(str(h.bundle(["sh", "-c", script])),
                  log={"driver": "json-file", "path": str(log), "max_size": "4k", "max_file": 3})
    client.start()
    assert client.wait().exit_status == 0
    client.delete()  # closes the log
    files = [Path(f"{log}.2"), Path(f"{log}.1"), log]
    assert all(f.exists() for f in files)
    assert not Path(f"{log}.3").exists()
    entries = []
    for f in files:
        assert f.stat().st_size <= 4096
        for line in f.read_text().splitlines():
            doc = json.loads(line)
            assert set(doc) == {"log", "stream", "time"}
            assert RFC3339NANO.match(doc["time"])
            entries.append(doc)
    stdout = [e["log"] for e in entries if e["stream"] == "stdout"]
    assert stdout[-1] == "tail"  # the last partial line is written at EOF
    numbers = [int(x[5:-1]) for x in stdout[:-1]]
    assert numbers == list(range(numbers[0], 300)) and numbers[0] > 0  # contiguous tail, oldest rotated away
    assert [e["log"] for e in entries if e["stream"] == "stderr"] == ["to-stderr\n"]


def test_pause_resume_update_stats(h: ShimHarness) -> None:
    client, _, _ = h.spawn()
    client.create(str(h.bundle(["sleep", "1000"])))
    client.start()
    client.pause()
    assert client.state().status == "paused"
    with pytest.raises(FailedPrecondition):
        client.pause()
    client.resume()
    assert client.state().status == "running"
    client.update({"memory": {"limit": 64 * 1024 * 1024}})
    stats = client.stats()
    assert stats["memory"]["usage"]["limit"] == 64 * 1024 * 1024, stats.get("memory")
    assert stats["pids"]["current"] >= 1
    client.kill(signal.SIGKILL, all=True)
    assert client.wait().exit_status == 137


def test_oom_event_and_exit(h: ShimHarness) -> None:
    from seabox.testing.bundle import default_spec

    linux = default_spec(["true"])["linux"]
    linux["resources"]["memory"] = {"limit": 32 * 1024 * 1024}
    client, _, _ = h.spawn()
    client.create(str(h.bundle(["sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"], linux=linux)))
    client.start()
    assert client.wait().exit_status == 137

    def topics() -> list[str]:
        return [e["event"] for e in client.events()[0]]

    assert wait_for(lambda: "oom" in topics()), topics()
    assert topics().count("exit") == 1


def test_start_with_and_without_poststart_hook(h: ShimHarness) -> None:
    """``start`` runs in the shim itself unless the spec has poststart hooks; either way the init
    runs, and a poststart hook (run from the shim's child) sees the running container's state."""
    client, _, _ = h.spawn()
    out = h.fifo("plain")
    client.create(str(h.bundle(["sh", "-c", "echo plain; exit 4"])), stdout=out)
    fo = os.open(out, os.O_RDONLY)
    try:
        pid = client.start()
        assert client.wait().exit_status == 4
        assert read_to_eof(fo) == b"plain\n"
    finally:
        os.close(fo)
    assert client.state().pid == pid
    client.delete()

    client2, _, _ = h.spawn()
    mark = h.tmp / "poststart.json"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {mark}"], "env": ["PATH=/usr/bin:/bin"]}
    out2 = h.fifo("hooked")
    client2.create(str(h.bundle(["sh", "-c", "echo hooked; exit 5"], hooks={"poststart": [hook]})), stdout=out2)
    fo = os.open(out2, os.O_RDONLY)
    try:
        pid2 = client2.start()
        assert client2.wait().exit_status == 5
        assert read_to_eof(fo) == b"hooked\n"
    finally:
        os.close(fo)
    state = json.loads(mark.read_text())
    assert state["pid"] == pid2 and state["status"] == "running", state
    client2.delete()
