"""Every console script answers --help and turns a wrong flag into one line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = ["seabox", "seaboxd", "shim", "runc", "ctr", "buildd", "buildctl"]


@pytest.mark.parametrize("mod", MODULES)
def test_help(mod: str) -> None:
    res = subprocess.run([sys.executable, "-m", f"seabox.cli.{mod}", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "usage" in (res.stdout + res.stderr).lower()
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("mod", MODULES)
def test_unknown_flag_is_one_line(mod: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", f"seabox.cli.{mod}", "--no-such-flag-xyz"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    # the flag is named, or (argparse with a required sub-command) the missing command is
    assert "no-such-flag-xyz" in res.stderr or "required" in res.stderr
    # a short usage at most, then the one error line
    assert 1 <= len(res.stderr.strip().splitlines()) <= 5
