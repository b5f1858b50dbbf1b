"""``seabox build <git URL>`` and ``seabox build <http URL>``: the context fetched from a git
daemon and from an HTTP server, both started here on 127.0.0.1, built by a buildd on temp dirs."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.buildd.testing import RunningBuildd, temp_buildd

pytestmark = [pytest.mark.e2e, pytest.mark.root]

BASE = "FROM 127.0.0.1:5000/library/busybox:latest\n"


@pytest.fixture(scope="module")
def bd() -> Iterator[RunningBuildd]:
    with temp_buildd("sbt-bdu-") as d:
        yield d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    port = _free_port()
    p = subprocess.Popen(["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={base}",
                          "--listen=127.0.0.1", f"--port={port}", str(base)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        p.terminate()
        p.wait(10)


def _build(bd: RunningBuildd, context: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address, "--progress",
                           "plain", "-o", f"type=local,dest={out}", *args, context],
                          capture_output=True, text=True, timeout=600)


def test_git_context_with_tag_and_subdir(bd: RunningBuildd, tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    work = repos / "app.git"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "Dockerfile").write_text(BASE + "COPY which /which\n")
    (work / "sub" / "which").write_text("tagged v1\n")

    def git(*a: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=work, check=True,
                       capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "v1")
    git("tag", "v1")
    (work / "sub" / "which").write_text("main\n")
    git("commit", "-q", "-am", "later")
    with git_daemon(repos) as base:
        p = _build(bd, f"{base}/app.git#v1:sub", tmp_path / "out1")
        assert p.returncode == 0, p.stderr
        assert (tmp_path / "out1" / "which").read_text() == "tagged v1\n"
        p = _build(bd, f"{base}/app.git#main:sub", tmp_path / "out2")
        assert p.returncode == 0, p.stderr
        assert (tmp_path / "out2" / "which").read_text() == "main\n"
        p = _build(bd, f"{base}/missing.git", tmp_path / "out3")
        assert p.returncode != 0 and "git fetch" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_http_tarball_and_dockerfile_contexts(bd: RunningBuildd, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("Dockerfile", (BASE + "COPY data.txt /data.txt\n").encode()), ("data.txt", b"from tar\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    (www / "ctx.tar.gz").write_bytes(buf.getvalue())
    (www / "Dockerfile").write_text(BASE + "RUN echo built-from-url > /url\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        p = _build(bd, f"{url}/ctx.tar.gz", tmp_path / "o1")
        assert p.returncode == 0, p.stderr
        assert (tmp_path / "o1" / "data.txt").read_text() == "from tar\n"
        p = _build(bd, f"{url}/Dockerfile", tmp_path / "o2")
        assert p.returncode == 0, p.stderr
        assert (tmp_path / "o2" / "url").read_text() == "built-from-url\n"
    finally:
        srv.shutdown()
        srv.server_close()
