"""``seabox stats`` without ``--no-stream`` keeps printing a fresh table every second until it is
interrupted, and exits 0 on SIGINT.  seaboxd as in ``test_seabox_cli_seaboxd`` (its ``env``
fixture: temp dirs, its own networks, everything removed at the end)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from tests.e2e.test_seabox_cli_seaboxd import Env, env  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_stats_streams_until_interrupted(env: Env) -> None:  # noqa: F811
    name = env.name("stats")
    env.seabox("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300")
    try:
        p = subprocess.Popen([sys.executable, "-m", "seabox.cli.seabox", "--address", str(env.d.address), "stats",
                              "--format", "{{.Name}} {{.PIDs}}", name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert len(lines) >= 2 and all(ln == f"{name} 1" for ln in lines), out  # one row per second
        assert "\x1b[2J" not in out  # not a terminal: tables one after another, no screen clearing
        once = env.seabox("stats", "--no-stream", "--format", "{{.Name}}", name).stdout
        assert once == f"{name}\n"
    finally:
        env.seabox("rm", "-f", name, check=False)
