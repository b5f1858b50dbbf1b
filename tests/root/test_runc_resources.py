"""Resources and seccomp through seabox-runc end to end (cgroups and seccomp libraries wired in)."""

from __future__ import annotations

import json
import time

import pytest

from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root


def linux_with(**extra: object) -> dict:
    linux = default_spec(["true"])["linux"]
    linux.update(extra)
    return linux


def test_memory_limit_kills_allocator(runc: Runc) -> None:
    res = {"memory": {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024},
           "devices": [{"allow": False, "access": "rwm"}]}
    # the shell builds a ~100 MiB string in memory
    b = runc.bundle(["sh", "-c", "x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo survived ${#x}"],
                    linux=linux_with(resources=res))
    r = runc.run(b, timeout=120)
    assert "survived" not in r.stdout
    assert r.returncode != 0


def test_pids_limit_stops_fork_bomb(runc: Runc) -> None:
    script = "\n".join(["sleep 5 &"] * 30) + "\necho forked 30\n"
    limited = runc.run(runc.bundle(["sh", "-c", script], linux=linux_with(resources={"pids": {"limit": 10}})))
    assert "forked" not in limited.stdout
    assert "fork" in limited.stderr  # busybox: "can't fork"
    free = runc.run(runc.bundle(["sh", "-c", script], linux=linux_with(resources={"pids": {"limit": 100}})))
    assert "forked 30" in free.stdout


def test_seccomp_rule_returns_errno(runc: Runc) -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    b = runc.bundle(["sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?"], linux=linux_with(seccomp=seccomp))
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert "rc=1" in r.stdout
    assert "Operation not permitted" in r.stdout


def test_pause_resume_update_events(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    p = runc.cmd("pause", cid)
    assert p.returncode == 0, p.stderr
    assert runc.state(cid)["status"] == "paused"
    assert runc.cmd("resume", cid).returncode == 0
    assert runc.state(cid)["status"] == "running"
    u = runc.cmd("update", "--pids-limit", "50", cid)
    assert u.returncode == 0, u.stderr
    u = runc.cmd("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 64 * 1024 * 1024}}))
    assert u.returncode == 0, u.stderr
    import subprocess

    proc = subprocess.Popen([*runc.cmdline, "--root", str(runc.root), "events", "--stats", cid],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    ev = json.loads(line)
    assert ev["type"] == "stats" and ev["id"] == cid
    deadline = time.monotonic() + 5
    while runc.state(cid)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)


def test_bad_seccomp_profile_fails_create_with_one_line(runc: Runc) -> None:
    seccomp = {"defaultAction": "SCMP_ACT_BOGUS", "syscalls": []}
    r = runc.create(runc.bundle(["true"], linux=linux_with(seccomp=seccomp)), runc.new_id())
    assert r.returncode != 0
    assert "seccomp" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_seccomp_applies_to_exec_and_with_no_new_privs(runc: Runc) -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    cid = runc.new_id()
    b = runc.bundle(["sleep", "60"], linux=linux_with(seccomp=seccomp), process={"noNewPrivileges": True})
    assert runc.create(b, cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    r = runc.cmd("exec", cid, "mkdir", "/tmp/x")
    assert r.returncode != 0
    assert "Permission denied" in r.stderr
