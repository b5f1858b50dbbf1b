"""Health checks end to end: ``seabox run --health-*`` on seaboxd — starting, unhealthy after the
retries, healthy once the probe passes, the last probes in ``inspect``, the status in ``ps``,
``health_status`` events, and a probe that overruns its timeout.  seaboxd as in
``test_seabox_cli_seaboxd`` (its ``env`` fixture)."""

from __future__ import annotations

import json
import time

import pytest
from tests.e2e.test_seabox_cli_seaboxd import Env, env  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _health(e: Env, name: str) -> dict:
    return json.loads(e.seabox("inspect", "-f", "{{json .State.Health}}", name).stdout)


def _until(e: Env, name: str, status: str, within: float = 20) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        h = _health(e, name)
        if h and h.get("Status") == status:
            return h
        time.sleep(0.1)
    raise AssertionError(f"{name}: health never {status}: {_health(e, name)}")


def test_health_states_log_ps_and_events(env: Env) -> None:  # noqa: F811
    name = env.name("hc")
    since = str(int(time.time()) - 1)
    env.seabox("run", "-d", "--name", name, "--network", "none", "--health-cmd", "cat /tmp/ok",
               "--health-interval", "200ms", "--health-retries", "2", "--health-timeout", "5s",
               "busybox", "sh", "-c", "sleep 3; echo fine > /tmp/ok; sleep 300")
    try:
        assert _health(env, name)["Status"] in ("starting", "unhealthy")
        h = _until(env, name, "unhealthy")
        assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] != 0
        assert "No such file" in h["Log"][-1]["Output"]
        h = _until(env, name, "healthy")
        assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "fine\n"
        assert len(h["Log"]) <= 5
        status = env.seabox("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout.strip()
        assert status.startswith("Up ") and status.endswith("(healthy)"), status
        ev = env.seabox("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                        f"container={name}", "--format", "{{.Action}}").stdout.split("\n")
        assert "health_status: unhealthy" in ev and "health_status: healthy" in ev, ev
    finally:
        env.seabox("rm", "-f", name, check=False)


def test_health_probe_timeout(env: Env) -> None:  # noqa: F811
    name = env.name("hct")
    env.seabox("run", "-d", "--name", name, "--network", "none", "--health-cmd", "sleep 10",
               "--health-interval", "200ms", "--health-timeout", "300ms", "--health-retries", "1",
               "busybox", "sleep", "300")
    try:
        h = _until(env, name, "unhealthy")
        assert h["Log"][-1]["ExitCode"] == -1 and "exceeded timeout" in h["Log"][-1]["Output"]
        top = env.seabox("top", name).stdout
        assert "sleep 10" not in top  # the overrunning probe was killed
    finally:
        env.seabox("rm", "-f", name, check=False)
