"""Commands whose issue has not landed answer --help and refuse to pretend."""

from __future__ import annotations

import subprocess
import sys

import pytest

# commands whose issue has not landed; remove a name here when its command becomes real
STUBS: list[str] = []


@pytest.mark.parametrize("mod", STUBS)
def test_stub_help_and_refusal(mod: str) -> None:
    help_ = subprocess.run([sys.executable, "-m", f"seabox.cli.{mod}", "--help"], capture_output=True, text=True)
    assert help_.returncode == 0
    assert "usage:" in help_.stdout
    run = subprocess.run([sys.executable, "-m", f"seabox.cli.{mod}", "run"], capture_output=True, text=True)
    assert run.returncode != 0
    assert "not implemented yet" in run.stderr
    assert "Traceback" not in run.stderr
