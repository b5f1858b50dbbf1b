"""secure_join: symlinks in a rootfs are resolved inside it, never on the host."""

from __future__ import annotations

import os
from pathlib import Path

from seabox.linux.paths import secure_join, within


def test_plain_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert secure_join(str(tmp_path), "/a/b/c") == f"{tmp_path}/a/b/c"
    assert secure_join(str(tmp_path), "a/./b//") == f"{tmp_path}/a/b"
    assert secure_join(str(tmp_path), "/") == str(tmp_path)


def test_dotdot_stops_at_root(tmp_path: Path) -> None:
    assert secure_join(str(tmp_path), "/../../etc/passwd") == f"{tmp_path}/etc/passwd"


def test_absolute_symlink_is_rooted(tmp_path: Path) -> None:
    os.symlink("/etc", tmp_path / "evil")
    assert secure_join(str(tmp_path), "/evil/passwd") == f"{tmp_path}/etc/passwd"


def test_relative_symlink_climbing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.symlink("../../../../..", tmp_path / "d" / "up")
    assert secure_join(str(tmp_path), "/d/up/tmp") == f"{tmp_path}/tmp"


def test_symlink_chain_and_loop(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "l1")
    os.symlink("/l1", tmp_path / "l2")
    assert secure_join(str(tmp_path), "/l2/x") == f"{tmp_path}/real/x"
    os.symlink("loop", tmp_path / "loop")
    import pytest

    from seabox.errdefs import InvalidArgument

    with pytest.raises(InvalidArgument, match="too many levels"):
        secure_join(str(tmp_path), "/loop/x")


def test_within(tmp_path: Path) -> None:
    assert within(str(tmp_path), f"{tmp_path}/a")
    assert within(str(tmp_path), str(tmp_path))
    assert not within(str(tmp_path), f"{tmp_path}x/a")
