"""The shim's server loop with a fake runtime (no root): requests, stdio relays, reaping,
waits answered on exit, events, protocol errors, shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.shim.client import ShimClient, discover
from seabox.shim.server import Shim, ShimConfig
from seabox.shim.testsupport import read_to_eof, wait_for


class FakeRuntime:
    """Runs ``sh <bundle>/run.sh`` as the 'container'; start releases it through a pipe."""

    name = "fake"

    def __init__(self) -> None:
        self.gate = -1
        self.init = 0

    def _fork(self, argv: list[str], stdio: tuple[int, int, int] | None, gate: int = -1) -> int:
        pid = os.fork()
        if pid == 0:
            try:
                if stdio is not None:
                    fds = [os.dup(fd) for fd in stdio]
                    for i, fd in enumerate(fds):
                        os.dup2(fd, i)
                if gate >= 0:
                    os.read(gate, 1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.execv("/bin/sh", argv)
            finally:
                os._exit(127)
        return pid

    def call(self, op: str, args: dict, stdio: tuple[int, int, int] | None = None) -> dict:
        if op == "create":
            if not os.path.exists(os.path.join(args["bundle"], "run.sh")):
                raise FailedPrecondition(f'container "{args["id"]}": no run.sh in bundle')
            r, w = os.pipe()
            self.init = self._fork(["sh", os.path.join(args["bundle"], "run.sh")], stdio, gate=r)
            os.close(r)
            self.gate = w
            return {"pid": self.init}
        if op == "start":
            os.write(self.gate, b"x")
            os.close(self.gate)
            return {}
        if op == "exec":
            return {"pid": self._fork(["sh", "-c", " ".join(args["process"]["args"])], stdio)}
        if op == "kill":
            os.kill(self.init, int(args["signal"]))
            return {}
        if op in ("delete", "pause", "resume", "update"):
            return {}
        if op == "pids":
            return {"pids": [self.init]}
        raise AssertionError(op)

    def state_file(self, cid: str) -> str:
        return "/nonexistent"


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[tuple[ShimClient, ShimConfig, int]]:
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="sbt-u"))  # unix socket paths are limited to 107 bytes
    cfg = ShimConfig("ns", "c1", str(short / "ns" / "c1"))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            s = Shim(cfg)
            s.runtime = FakeRuntime()  # type: ignore[assignment]
            s.listen()
            os.write(w, b"ok\n")
            s.serve()
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    assert os.read(r, 10) == b"ok\n"
    os.close(r)
    client = ShimClient(cfg.address, timeout=20)
    try:
        yield client, cfg, pid
    finally:
        client.close()
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # the test already shut it down and reaped it
        import shutil

        shutil.rmtree(short, ignore_errors=True)


def _bundle(tmp_path: Path, script: str) -> str:
    b = tmp_path / f"b{time.monotonic_ns()}"
    b.mkdir()
    (b / "run.sh").write_text(script)
    return str(b)


def test_create_start_wait_with_fifos_and_json_log(shim: tuple, tmp_path: Path) -> None:
    client, cfg, _ = shim
    out, err = str(tmp_path / "out"), str(tmp_path / "err")
    os.mkfifo(out)
    os.mkfifo(err)
    log = tmp_path / "c.log"
    pid = client.create(_bundle(tmp_path, "echo out; echo err >&2; exit 4"), stdout=out, stderr=err,
                        log={"driver": "json-file", "path": str(log)})
    assert client.state().status == "created"
    fo, fe = os.open(out, os.O_RDONLY), os.open(err, os.O_RDONLY)
    try:
        waiter = ShimClient(cfg.address)
        client.start()
        ex = waiter.wait()
        assert (ex.pid, ex.exit_status) == (pid, 4)
        assert read_to_eof(fo) == b"out\n" and read_to_eof(fe) == b"err\n"
    finally:
        os.close(fo)
        os.close(fe)
    assert wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2)
    streams = sorted((json.loads(x)["stream"], json.loads(x)["log"]) for x in log.read_text().splitlines())
    assert streams == [("stderr", "err\n"), ("stdout", "out\n")]
    events, _ = client.events()
    assert [e["event"] for e in events] == ["create", "start", "exit"]


def test_exec_kill_and_errors(shim: tuple, tmp_path: Path) -> None:
    client, _cfg, _ = shim
    with pytest.raises(NotFound, match='container "c1"'):
        client.state()
    with pytest.raises(InvalidArgument):
        client.create("")
    with pytest.raises(FailedPrecondition, match=r"run\.sh"):
        client.create(str(tmp_path))  # the runtime's error comes back, and the shim lives on
    client.create(_bundle(tmp_path, "exec sleep 1000"))
    client.start()
    with pytest.raises(AlreadyExists):
        client.create(_bundle(tmp_path, "true"))
    out = str(tmp_path / "eout")
    os.mkfifo(out)
    client.exec("e1", {"args": ["echo", "hi;", "exit", "6"]}, stdout=out)
    fo = os.open(out, os.O_RDONLY)
    try:
        client.start("e1")
        assert client.wait("e1").exit_status == 6
        assert read_to_eof(fo) == b"hi\n"
    finally:
        os.close(fo)
    sub = client.subscribe(since=0, timeout=20)
    seen = [next(sub)["event"] for _ in range(4)]
    assert seen == ["create", "start", "exec_added", "exec_started"]
    client.kill(signal.SIGTERM)
    rest = [next(sub) for _ in range(2)]
    sub.close()
    assert [e["event"] for e in rest] == ["exit", "exit"]
    assert rest[-1]["exec_id"] == "" and rest[-1]["exit_status"] == 128 + signal.SIGTERM
    with pytest.raises(NotFound):
        client.kill(signal.SIGTERM)
    with pytest.raises(FailedPrecondition):
        client.resize(80, 24)


def test_protocol_errors_never_crash_and_shutdown_cleans_up(shim: tuple) -> None:
    client, cfg, pid = shim
    s = socket.socket(socket.AF_UNIX)
    s.connect(cfg.address)
    f = s.makefile("rb")
    s.sendall(b'{"id": 1, "op": 5}\nnot-json\n{"id": 2, "op": "kill", "signal": "TERM"}\n{"id": 3}\n')
    replies = [json.loads(f.readline()) for _ in range(4)]
    assert [r["ok"] for r in replies] == [False] * 4
    assert [r["error"] for r in replies] == ["InvalidArgument"] * 4
    s.sendall(b"x" * (1 << 20) + b"y")  # an endless line: refused, connection dropped
    assert json.loads(f.readline())["ok"] is False
    assert f.readline() == b""
    s.close()
    assert client.ping()["id"] == "c1"
    assert [r.id for r in discover(os.path.dirname(os.path.dirname(cfg.state_dir)))] == ["c1"]
    client.shutdown()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not os.path.exists(cfg.state_dir)


def test_discover_tells_dead_shims_from_live_ones(tmp_path: Path) -> None:
    d = tmp_path / "ns" / "gone"
    d.mkdir(parents=True)
    (d / "shim.json").write_text(json.dumps({"pid": 2**22 + 1, "start_time": 5, "bundle": "/b",
                                             "runtime_binary": "/usr/sbin/runc", "runtime_root": "/r"}))
    (tmp_path / "ns" / "not-a-shim").mkdir()
    assert discover(str(tmp_path)) == []
    [rec] = discover(str(tmp_path), include_dead=True)
    assert (rec.namespace, rec.id, rec.alive, rec.bundle, rec.runtime_binary) == ("ns", "gone", False, "/b",
                                                                                 "/usr/sbin/runc")
    assert rec.address == str(d / "shim.sock")
    assert discover(str(tmp_path / "missing")) == []
