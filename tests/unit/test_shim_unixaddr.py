"""seabox.shim.unixaddr: bind and connect AF_UNIX sockets whose paths exceed sun_path (107 bytes),
through the directory's fd, and hand another process a name it can connect to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.shim import unixaddr
from seabox.shim.unixaddr import DirHandle


@pytest.fixture
def deep() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="sbt-u"))
    d = top / "shims" / "a-very-long-namespace-name" / ("ab" * 32)
    d.mkdir(parents=True)
    try:
        yield d
    finally:
        import shutil

        shutil.rmtree(top, ignore_errors=True)


def test_plain_bind_fails_and_unixaddr_bind_connect_work(deep: Path) -> None:
    path = str(deep / "console-1.sock")
    assert len(path.encode()) > 107
    with socket.socket(socket.AF_UNIX) as s, pytest.raises(OSError):
        s.bind(path)
    srv = socket.socket(socket.AF_UNIX)
    try:
        unixaddr.bind(srv, path)
        srv.listen(1)
        assert os.path.exists(path)  # the node is at the real, long path
        with socket.socket(socket.AF_UNIX) as c:
            unixaddr.connect(c, path)
            conn, _ = srv.accept()
            c.sendall(b"x")
            assert conn.recv(1) == b"x"
            conn.close()
    finally:
        srv.close()


def test_short_path_is_used_as_is(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    h = DirHandle(path)
    assert h.fd == -1 and h.address() == path
    srv = socket.socket(socket.AF_UNIX)
    try:
        unixaddr.bind(srv, path)
        assert srv.getsockname() == path
    finally:
        srv.close()


def test_another_process_connects_through_the_dir_handle(deep: Path) -> None:
    path = str(deep / "console-2.sock")
    srv = socket.socket(socket.AF_UNIX)
    h = DirHandle(path)
    try:
        unixaddr.bind(srv, path)
        srv.listen(1)
        name = h.address()
        assert name.startswith(f"/proc/{os.getpid()}/fd/") and len(name.encode()) <= 107
        code = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'hi')"
        subprocess.run([sys.executable, "-c", code, name], check=True, timeout=30)
        conn, _ = srv.accept()
        assert conn.recv(2) == b"hi"
        conn.close()
    finally:
        h.close()
        srv.close()
    assert h.fd == -1


def test_connect_to_a_missing_long_path_fails_cleanly(deep: Path) -> None:
    with socket.socket(socket.AF_UNIX) as c, pytest.raises(FileNotFoundError):
        unixaddr.connect(c, str(deep / "nothing-here.sock"))
