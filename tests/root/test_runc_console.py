"""A TTY through --console-socket: the test is the receiver, types commands and reads the output."""

from __future__ import annotations

import os
import select
import socket
import time
from pathlib import Path

import pytest

from seabox.linux.console import recv_fd
from seabox.runtime.testsupport import Runc

pytestmark = pytest.mark.root


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def listen(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    return s


def test_tty_through_console_socket(runc: Runc, tmp_path: Path) -> None:
    sock_path = tmp_path / "console.sock"
    server = listen(sock_path)
    cid = runc.new_id()
    bundle = runc.bundle(["sh"], process={"terminal": True, "consoleSize": {"height": 40, "width": 100}})
    r = runc.create(bundle, cid, "--console-socket", str(sock_path))
    assert r.returncode == 0, r.stderr
    conn, _ = server.accept()
    _name, master = recv_fd(conn)
    conn.close()
    server.close()
    try:
        assert runc.cmd("start", cid).returncode == 0
        os.write(master, b"tty; stty size; echo marker-$((40+2))\n")
        out = read_until(master, b"marker-42")
        assert b"marker-42" in out
        assert b"/dev/pts/0" in out or b"/dev/console" in out
        assert b"40 100" in out
        os.write(master, b"exit 5\n")
        deadline = time.monotonic() + 10
        while runc.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
            read_until(master, b"\0", timeout=0.1)
        assert runc.state(cid)["status"] == "stopped"
    finally:
        os.close(master)


def test_exec_with_tty(runc: Runc, tmp_path: Path) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    sock_path = tmp_path / "exec.sock"
    server = listen(sock_path)
    import subprocess

    proc = subprocess.Popen([*runc.cmdline, "--root", str(runc.root), "exec", "-t", "--console-socket",
                             str(sock_path), cid, "sh", "-c", "test -t 0 && echo IS-A-TTY; exit 3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = server.accept()
    _name, master = recv_fd(conn)
    conn.close()
    server.close()
    try:
        out = read_until(master, b"IS-A-TTY")
        assert b"IS-A-TTY" in out
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_terminal_without_console_socket_is_refused(runc: Runc) -> None:
    r = runc.create(runc.bundle(["sh"], process={"terminal": True}), runc.new_id())
    assert r.returncode != 0
    assert "console socket" in r.stderr


def test_foreground_run_with_terminal_proxies_our_tty(runc: Runc) -> None:
    import pty

    bundle = runc.bundle(["sh"], process={"terminal": True})
    cid = runc.new_id()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(runc.cmdline[0], [*runc.cmdline, "--root", str(runc.root), "run", "--bundle", str(bundle), cid])
    try:
        assert b"# " in read_until(fd, b"# ")
        os.write(fd, b"tty; echo in-$((2+3))\r")
        out = read_until(fd, b"in-5")
        assert b"/dev/pts/0" in out and b"in-5" in out
        os.write(fd, b"exit 7\r")
        read_until(fd, b"\0", timeout=2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
