"""The client side of containerd's cio model (FIFOs), and reading files from snapshot mounts."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from seabox.ctr import stdio
from seabox.ctr.containers import read_files_from_mounts


def test_fifo_round_trip(tmp_path: Path) -> None:
    """A fake shim: reads our stdin FIFO, writes stdout/stderr; CloseIO comes after our end closed."""
    f = stdio.FifoSet(tmp_path, "c1", stdin=True, terminal=False)
    assert Path(f.stdin).name == "c1-stdin" and f.stderr.endswith("c1-stderr")
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    closed: list[bool] = []

    def close_stdin() -> None:
        closed.append(f._stdin_fd == -1)

    f.start(in_fd=in_r, out_fd=out_w, err_fd=err_w, close_stdin=close_stdin)
    got: list[bytes] = []
    opened = threading.Event()

    def shim() -> None:
        sin = os.open(f.stdin, os.O_RDONLY)
        opened.set()  # a real shim has its ends open once Create returned
        sout = os.open(f.stdout, os.O_WRONLY)
        serr = os.open(f.stderr, os.O_WRONLY)
        data = b""
        while b := os.read(sin, 100):
            data += b
        got.append(data)
        os.write(sout, data.upper())
        os.write(serr, b"e")
        for fd in (sin, sout, serr):
            os.close(fd)

    t = threading.Thread(target=shim, daemon=True)
    t.start()
    os.write(in_w, b"hello")
    os.close(in_w)
    assert opened.wait(30)
    f.started.set()  # what run_foreground does after Start
    t.join(30)
    for th in f._threads:
        th.join(30)
    f.wait(30)
    f.close()
    assert got == [b"hello"] and closed == [True]
    os.close(out_w)
    os.close(err_w)
    assert os.read(out_r, 100) == b"HELLO" and os.read(err_r, 100) == b"e"
    assert not os.path.exists(f.dir)


def test_close_releases_threads_that_never_saw_a_writer(tmp_path: Path) -> None:
    f = stdio.FifoSet(tmp_path, "c2", stdin=False, terminal=True)
    assert f.stdin == "" and f.stderr == ""
    r, w = os.pipe()
    f.start(in_fd=None, out_fd=w, err_fd=w)
    f.close()  # the task was never created: the stdout thread must not hang
    assert all(not t.is_alive() for t in f._out_threads)
    os.close(r)
    os.close(w)


def _overlay(upper: Path, *lowers: Path) -> SimpleNamespace:
    return SimpleNamespace(type="overlay", source="overlay",
                           options=[f"workdir={upper}/../work", f"upperdir={upper}", f"lowerdir={':'.join(map(str, lowers))}"])  # fmt: skip


def test_read_files_from_overlay_layers(tmp_path: Path) -> None:
    up, l1, l2 = (tmp_path / n for n in ("up", "l1", "l2"))
    for d in (up, l1, l2):
        (d / "etc").mkdir(parents=True)
    (l2 / "etc" / "passwd").write_text("old")
    (l1 / "etc" / "passwd").write_text("new")
    (l2 / "etc" / "group").write_text("g")
    got = read_files_from_mounts([_overlay(up, l1, l2)], ["/etc/passwd", "/etc/group", "/etc/none"])
    assert got == ["new", "g", None]
    bind = SimpleNamespace(type="bind", source=str(l2), options=["rbind", "ro"])
    assert read_files_from_mounts([bind], ["/etc/passwd"]) == ["old"]
    assert read_files_from_mounts([SimpleNamespace(type="zfs", source="x", options=[])], ["/etc/passwd"]) is None


@pytest.mark.root
def test_overlay_whiteout_hides_the_file(tmp_path: Path) -> None:
    up, l1 = tmp_path / "up", tmp_path / "l1"
    (up / "etc").mkdir(parents=True)
    (l1 / "etc").mkdir(parents=True)
    (l1 / "etc" / "passwd").write_text("x")
    os.mknod(up / "etc" / "passwd", 0o600 | 0o020000, 0)  # char device 0/0
    assert read_files_from_mounts([_overlay(up, l1)], ["/etc/passwd"]) == [None]
