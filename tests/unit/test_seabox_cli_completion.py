"""`seabox completion bash|zsh|fish` produces scripts that the shells accept."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def _script(shell: str) -> str:
    r = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "completion", shell], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_bash_completion_loads_and_completes(tmp_path: pytest.TempPathFactory) -> None:
    script = _script("bash")
    prog = (
        "source /dev/stdin; complete -p seabox; "
        "COMP_WORDS=(seabox netw); COMP_CWORD=1; _seabox; echo \"${COMPREPLY[@]}\"; "
        "COMP_WORDS=(seabox network c); COMP_CWORD=2; _seabox; echo \"${COMPREPLY[@]}\"; "
        "COMP_WORDS=(seabox run --pri); COMP_CWORD=2; _seabox; echo \"${COMPREPLY[@]}\""
    )
    r = subprocess.run(["bash", "-c", prog], input=script, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "complete -F _seabox seabox"
    assert lines[1] == "network" and lines[2] == "create" and lines[3] == "--privileged"


def test_fish_and_zsh_scripts() -> None:
    fish = _script("fish")
    assert "complete -c seabox -n __fish_use_subcommand -a run" in fish
    zsh = _script("zsh")
    assert zsh.startswith("#compdef seabox") and "complete -F _seabox seabox" in zsh
    if shutil.which("bash"):
        r = subprocess.run(["bash", "-n"], input=zsh.split("\n", 3)[3], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_unknown_shell() -> None:
    r = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "completion", "tcsh"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == 'Error: unsupported shell "tcsh": use bash, zsh or fish\n'
