"""OCI hooks under seabox-runc: order, the state JSON on stdin, failures and timeouts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc

pytestmark = pytest.mark.root

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def hook(kind: str, log: str) -> dict:
    # each hook writes its kind, then the state it got on stdin, as one line
    script = f'printf "%s " {kind} >> {log}; cat >> {log}; echo >> {log}'
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/usr/bin:/bin"]}


def test_hooks_run_in_order_with_state(runc: Runc, tmp_path: Path) -> None:
    bundle = runc.bundle(["true"])
    host_log = bundle / "rootfs" / "tmp" / "hooks.log"
    hooks = {k: [hook(k, "/tmp/hooks.log" if k == "startContainer" else str(host_log))] for k in KINDS}
    bundle = runc.bundle(["true"], hooks=hooks, root={"path": str(bundle / "rootfs")})
    cid = runc.new_id()
    assert runc.create(bundle, cid).returncode == 0, runc.output(cid)
    pid = runc.state(cid)["pid"]
    assert runc.cmd("start", cid).returncode == 0
    deadline = time.monotonic() + 10
    while runc.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    d = runc.cmd("delete", cid)
    assert d.returncode == 0, d.stderr
    entries = [line.split(" ", 1) for line in host_log.read_text().splitlines() if line.strip()]
    assert [k for k, _ in entries] == KINDS
    states = {k: json.loads(v) for k, v in entries}
    for k, st in states.items():
        assert st["id"] == cid, k
        assert st["bundle"] == str(bundle), k
        assert st["ociVersion"].startswith("1."), k
    assert states["prestart"]["pid"] == pid
    assert states["createRuntime"]["pid"] == pid
    assert states["poststart"]["pid"] == pid
    assert states["startContainer"]["pid"] == 1  # seen from inside the container's pid namespace
    assert states["poststop"]["status"] == "stopped"


def test_failing_prestart_hook_fails_create_and_cleans_up(runc: Runc) -> None:
    bad = {"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}
    bundle = runc.bundle(["true"], hooks={"prestart": [bad]})
    cid = runc.new_id()
    r = runc.create(bundle, cid)
    assert r.returncode != 0
    assert "prestart" in r.stderr and "nope" in r.stderr
    assert runc.cmd("state", cid).returncode != 0
    assert not (runc.root / cid).exists()


def test_hook_timeout(runc: Runc) -> None:
    slow = {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
    bundle = runc.bundle(["true"], hooks={"createRuntime": [slow]})
    t0 = time.monotonic()
    r = runc.run(bundle)
    assert r.returncode != 0
    assert "timed out" in r.stderr
    assert time.monotonic() - t0 < 25


def test_failing_poststop_only_warns(runc: Runc) -> None:
    bad = {"path": "/bin/false", "args": ["false"]}
    r = runc.run(runc.bundle(["true"], hooks={"poststop": [bad]}))
    assert r.returncode == 0, r.stderr
    assert "poststop" in r.stderr
