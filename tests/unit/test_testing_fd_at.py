"""seabox.testing.bundle.fd_at: an fd at a fixed number for a block, and what was there put back.

The root runtime tests hand ``--preserve-fds`` an fd at 3, which under pytest is pytest's saved
stdin; closing it there made pytest fail at exit with "Bad file descriptor".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.testing.bundle import fd_at


def _files(tmp_path: Path) -> tuple[Path, Path]:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.write_bytes(b"T")
    ours.write_bytes(b"O")
    return theirs, ours


def test_what_was_at_the_fd_is_put_back(tmp_path: Path) -> None:
    theirs, ours = _files(tmp_path)
    held = os.open(theirs, os.O_RDONLY)  # someone else's fd (non-inheritable, as os.dup makes them)
    try:
        with fd_at(held, ours) as fd:
            assert fd == held
            assert os.pread(fd, 1, 0) == b"O"
            assert os.get_inheritable(fd)  # a child must get it
        assert os.pread(held, 1, 0) == b"T"
        assert not os.get_inheritable(held)
    finally:
        os.close(held)


def test_restored_even_when_the_block_fails(tmp_path: Path) -> None:
    theirs, ours = _files(tmp_path)
    held = os.open(theirs, os.O_RDONLY)
    try:
        with pytest.raises(RuntimeError), fd_at(held, ours):
            raise RuntimeError("boom")
        assert os.pread(held, 1, 0) == b"T"
    finally:
        os.close(held)


def test_a_free_fd_is_closed_again(tmp_path: Path) -> None:
    _theirs, ours = _files(tmp_path)
    free = os.open(ours, os.O_RDONLY)
    os.close(free)
    before = set(os.listdir("/proc/self/fd"))
    with fd_at(free, ours) as fd:
        assert os.pread(fd, 1, 0) == b"O"
    with pytest.raises(OSError):
        os.fstat(free)
    assert set(os.listdir("/proc/self/fd")) == before
