"""The buildd HTTP API and client over a real unix socket, with a fake engine (no root, no mounts)."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from seabox.build.dockerfile import parse
from seabox.buildd import progress
from seabox.buildd.client import BuildFailed, BuildRequest, Client, NotRunning, parse_output
from seabox.buildd.rwlock import RWLock
from seabox.buildd.server import BuildServer
from seabox.buildd.units import parse_size


class FakeEngine:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.builds = RWLock()
        self.pruned: list[int] = []
        self.seen: list[Any] = []

    def du(self) -> list[dict[str, Any]]:
        return [{"id": "sha256:k", "size": 123, "description": "[s 2/2] RUN x", "last_used": 0}]

    def prune(self, keep: int) -> dict[str, int]:
        self.pruned.append(keep)
        return {"removed": 1, "freed": 123, "remaining": 0}

    def build(self, opts: Any, emit: Any, cancel: Any = None) -> Any:
        self.seen.append(opts)
        parse(opts.dockerfile, filename=opts.dockerfile_name)  # the real parser's errors
        emit({"type": "step", "id": 1, "name": "[stage-0 2/2] RUN x", "status": "done", "cached": True})
        raise RuntimeError("fake engine stops here")


@pytest.fixture
def server(tmp_path):
    eng = FakeEngine(tmp_path)
    srv = BuildServer(f"unix://{tmp_path}/b.sock", eng, str(tmp_path / "none.sock"))  # type: ignore[arg-type]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv, eng, f"unix://{tmp_path}/b.sock"
    finally:
        srv.shutdown()
        srv.server_close()


def test_du_and_prune(server):
    _, eng, addr = server
    c = Client(addr)
    assert c.ping()
    assert c.du()[0]["size"] == 123
    assert c.prune(parse_size("1.5MB"))["removed"] == 1
    assert eng.pruned == [1572864]


def test_dockerfile_error_is_the_parsers_one_liner(server, tmp_path):
    _, _, addr = server
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nFROMM x\n")
    with pytest.raises(BuildFailed, match=r"^Dockerfile:2: unknown instruction: FROMM"):
        Client(addr).build(BuildRequest(str(ctx)), lambda ev: None)


def test_context_tar_honours_dockerignore(server, tmp_path):
    _, eng, addr = server
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (ctx / "keep.txt").write_text("k")
    (ctx / "drop.log").write_text("d")
    (ctx / "sub" / "x.log").write_text("d")
    (ctx / ".dockerignore").write_text("**/*.log\n")
    _, body = Client(addr)._encode(BuildRequest(str(ctx), send_context=True, build_args={"A": "1"}))
    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
        names = tf.getnames()
    assert "keep.txt" in names and "Dockerfile" in names
    assert "drop.log" not in names and "sub/x.log" not in names
    events: list[dict[str, Any]] = []
    with pytest.raises(BuildFailed, match="fake engine stops here"):
        Client(addr).build(BuildRequest(str(ctx), send_context=True, build_args={"A": "1"}), events.append)
    assert events[-1]["name"] == "[stage-0 2/2] RUN x"
    assert eng.seen[-1].build_args == {"A": "1"}


def test_not_running(tmp_path):
    with pytest.raises(NotRunning, match=r"seabox-buildd is not running at unix://.*start it with `seabox-buildd`"):
        Client(f"unix://{tmp_path}/nobody.sock").build(BuildRequest(str(tmp_path)), lambda ev: None)


def test_parse_output_and_sizes():
    assert parse_output("type=oci,dest=x.tar") == {"type": "oci", "dest": "x.tar"}
    assert parse_output("out") == {"type": "local", "dest": "out"}
    with pytest.raises(Exception, match="not one of"):
        parse_output("type=nope")
    assert parse_size("512MB") == 512 << 20
    assert parse_size("0") == 0
    with pytest.raises(ValueError):
        parse_size("lots")


def test_plain_progress_lines():
    out = io.StringIO()
    p = progress.PlainProgress(out)
    p({"type": "step", "id": 3, "name": "[stage-1 2/4] RUN make", "status": "start", "started": 1.0})
    p({"type": "log", "id": 3, "line": "compiling"})
    p({"type": "step", "id": 3, "name": "[stage-1 2/4] RUN make", "status": "done", "started": 1.0, "completed": 1.4})
    p({"type": "step", "id": 4, "name": "[stage-1 3/4] COPY a b", "status": "done", "cached": True})
    text = out.getvalue()
    assert "#3 [stage-1 2/4] RUN make\n" in text
    assert "compiling" in text
    assert "#3 DONE 0.4s" in text
    assert "#4 [stage-1 3/4] COPY a b\n#4 CACHED" in text


def test_tty_progress_redraws_in_place():
    out = io.StringIO()
    p = progress.TtyProgress(out)
    p({"type": "step", "id": 1, "name": "[s 2/3] RUN make", "status": "start", "started": 1.0})
    p({"type": "log", "id": 1, "line": "cc -o app"})
    p({"type": "step", "id": 1, "name": "[s 2/3] RUN make", "status": "done", "started": 1.0, "completed": 2.5})
    p({"type": "step", "id": 2, "name": "[s 3/3] COPY a b", "status": "done", "cached": True})
    p.close()
    text = out.getvalue()
    assert "\x1b[" in text and "F" in text  # cursor moved up to redraw
    last = text.split("[+] Building")[-1]
    assert "=> [s 2/3] RUN make  1.5s" in last
    assert "=> CACHED [s 3/3] COPY a b" in last
