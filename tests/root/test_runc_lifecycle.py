"""seabox-runc lifecycle on busybox bundles: run, create/start/state/kill/delete, exec, list, ps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import fd_at

pytestmark = pytest.mark.root


def wait_status(runc: Runc, cid: str, status: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = runc.state(cid)
        if st["status"] == status or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def test_run_true_and_false_exit_codes(runc: Runc) -> None:
    ok = runc.run(runc.bundle(["true"]))
    assert ok.returncode == 0, ok.stderr
    bad = runc.run(runc.bundle(["false"]))
    assert bad.returncode == 1
    code = runc.run(runc.bundle(["sh", "-c", "exit 42"]))
    assert code.returncode == 42
    # pid 1 of a pid namespace cannot SIGKILL itself; a container sharing our pid namespace can
    killed = runc.run(runc.bundle(["sh", "-c", "kill -9 $$"],
                                  linux={"namespaces": [{"type": "mount"}, {"type": "uts"}]}))
    assert killed.returncode == 137, killed.stderr
    assert runc.cmd("list", "--format", "json").stdout.strip() in ("[]", "null")


def test_run_output_and_missing_executable(runc: Runc) -> None:
    r = runc.run(runc.bundle(["echo", "hello from seabox"]))
    assert r.returncode == 0
    assert r.stdout == "hello from seabox\n"
    missing = runc.run(runc.bundle(["/no/such/binary"]))
    assert missing.returncode != 0
    assert "/no/such/binary" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_create_start_state_delete(runc: Runc, tmp_path: Path) -> None:
    bundle = runc.bundle(["sh", "-c", "read x < /dev/null; echo started; sleep 0.3"])
    cid = runc.new_id()
    pidfile = tmp_path / "pid"
    r = runc.create(bundle, cid, "--pid-file", str(pidfile))
    assert r.returncode == 0, r.stderr
    st = runc.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid
    assert st["pid"] == int(pidfile.read_text())
    assert st["bundle"] == str(bundle)
    assert st["ociVersion"].startswith("1.")
    assert st["created"].endswith("Z") and "T" in st["created"]
    assert runc.output(cid) == ""
    # a created container cannot be deleted while "running", and start is allowed exactly once
    started = runc.cmd("start", cid)
    assert started.returncode == 0, started.stderr
    assert runc.state(cid)["status"] in ("running", "stopped")
    again = runc.cmd("start", cid)
    assert again.returncode != 0
    assert wait_status(runc, cid, "stopped")["status"] == "stopped"
    assert runc.output(cid) == "started\n"
    d = runc.cmd("delete", cid)
    assert d.returncode == 0, d.stderr
    gone = runc.cmd("state", cid)
    assert gone.returncode != 0
    assert f'container "{cid}" does not exist' in gone.stderr


def test_delete_running_needs_force(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    assert runc.state(cid)["status"] == "running"
    refused = runc.cmd("delete", cid)
    assert refused.returncode != 0
    assert "running" in refused.stderr
    forced = runc.cmd("delete", "--force", cid)
    assert forced.returncode == 0, forced.stderr
    assert runc.cmd("state", cid).returncode != 0


def test_delete_created_container_kills_init(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["true"]), cid).returncode == 0
    pid = runc.state(cid)["pid"]
    assert runc.cmd("delete", cid).returncode == 0
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    if os.path.exists(f"/proc/{pid}"):
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("sig", ["KILL", "SIGTERM", "9", "15"])
def test_kill_by_name_and_number(runc: Runc, sig: str) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    k = runc.cmd("kill", cid, sig)
    assert k.returncode == 0, k.stderr
    # sleep as pid 1 ignores SIGTERM unless handled: SIGTERM stays running, KILL stops it
    if sig in ("KILL", "9"):
        assert wait_status(runc, cid, "stopped")["status"] == "stopped"
        again = runc.cmd("kill", cid, "KILL")
        assert again.returncode != 0
    else:
        time.sleep(0.1)
        assert runc.state(cid)["status"] == "running"
        assert runc.cmd("kill", "--all", cid, "KILL").returncode == 0
        assert wait_status(runc, cid, "stopped")["status"] == "stopped"


def test_kill_rejects_unknown_signal(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    r = runc.cmd("kill", cid, "SIGNOPE")
    assert r.returncode != 0
    assert "SIGNOPE" in r.stderr


def test_list_and_ps_json(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sh", "-c", "sleep 60 & sleep 60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    listing = json.loads(runc.cmd("list", "--format", "json").stdout)
    assert [c["id"] for c in listing] == [cid]
    assert listing[0]["status"] == "running"
    table = runc.cmd("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == cid
    assert runc.cmd("list", "-q").stdout == f"{cid}\n"
    deadline = time.monotonic() + 5
    pids: list[int] = []
    while time.monotonic() < deadline:
        pids = json.loads(runc.cmd("ps", "--format", "json", cid).stdout)
        if len(pids) >= 3:
            break
        time.sleep(0.02)
    assert runc.state(cid)["pid"] in pids
    assert len(pids) == 2  # sh execs its last command: sh(->sleep) and the background sleep


def test_exec_returns_exit_code_and_joins_namespaces(runc: Runc) -> None:
    cid = runc.new_id()
    bundle = runc.bundle(["sleep", "60"], hostname="sbt-exec-host")
    assert runc.create(bundle, cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    r = runc.cmd("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "65534:65534", cid,
                 "sh", "-c", "hostname; echo $FOO; pwd; id -u; exit 7")
    assert r.returncode == 7, r.stderr
    assert r.stdout.split() == ["sbt-exec-host", "bar", "/tmp", "65534"]
    ps = runc.cmd("exec", cid, "ps", "-o", "pid,comm")
    assert ps.returncode == 0
    assert any(line.split() == ["1", "sleep"] for line in ps.stdout.splitlines())
    sig = runc.cmd("exec", cid, "sh", "-c", "kill -TERM $$")
    assert sig.returncode == 128 + 15
    missing = runc.cmd("exec", cid, "nosuchcmd")
    assert missing.returncode != 0
    assert "nosuchcmd" in missing.stderr


def test_exec_process_json_and_detach(runc: Runc, tmp_path: Path) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    proc = {"args": ["sh", "-c", "echo $A > /tmp/marker; sleep 0.2"], "env": ["A=from-json"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}}
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    pidfile = tmp_path / "exec.pid"
    with open(os.devnull, "w") as devnull:
        import subprocess

        r = subprocess.run([*runc.cmdline, "--root", str(runc.root), "exec", "--process", str(pf), "--detach",
                            "--pid-file", str(pidfile), cid], stdout=devnull, stderr=subprocess.PIPE, text=True,
                           timeout=30)
    assert r.returncode == 0, r.stderr
    assert int(pidfile.read_text()) > 0
    deadline = time.monotonic() + 5
    out = ""
    while time.monotonic() < deadline:
        out = runc.cmd("exec", cid, "cat", "/tmp/marker").stdout
        if out:
            break
        time.sleep(0.05)
    assert out == "from-json\n"


def test_errors_are_one_line(runc: Runc, tmp_path: Path) -> None:
    r = runc.cmd("start", "sbt-nonexistent")
    assert r.returncode != 0
    assert 'container "sbt-nonexistent" does not exist' in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "badbundle"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                                                 "process": {"args": "sh"}}))
    r = runc.create(bad, runc.new_id())
    assert r.returncode != 0
    assert "process.args" in r.stderr
    assert "Traceback" not in r.stderr
    log = tmp_path / "log.json"
    r = runc.cmd("--log", str(log), "--log-format", "json", "delete", "sbt-nonexistent")
    assert r.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"] and entry["time"]


def test_spec_features_version(runc: Runc, tmp_path: Path) -> None:
    import subprocess

    r = subprocess.run([*runc.cmdline, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    again = subprocess.run([*runc.cmdline, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode != 0
    feats = json.loads(runc.cmd("features").stdout)
    assert "user" in feats["linux"]["namespaces"] and "poststop" in feats["hooks"]
    v = runc.cmd("--version")
    assert v.returncode == 0 and "version" in v.stdout
    sd = runc.cmd("--systemd-cgroup", "state", "x")
    assert sd.returncode != 0 and "systemd" in sd.stderr


def test_run_detach_and_force_delete_paused(runc: Runc, tmp_path: Path) -> None:
    import subprocess

    cid = runc.new_id()
    b = runc.bundle(["sleep", "60"])
    pidfile = tmp_path / "run.pid"
    with open(os.devnull, "w") as devnull:
        r = subprocess.run([*runc.cmdline, "--root", str(runc.root), "run", "--detach", "--pid-file", str(pidfile),
                            "--bundle", str(b), cid], stdin=subprocess.DEVNULL, stdout=devnull, stderr=devnull,
                           timeout=60)
    assert r.returncode == 0
    st = runc.state(cid)
    assert st["status"] == "running" and st["pid"] == int(pidfile.read_text())
    assert runc.cmd("pause", cid).returncode == 0
    assert runc.state(cid)["status"] == "paused"
    assert runc.cmd("delete", cid).returncode != 0
    d = runc.cmd("delete", "--force", cid)
    assert d.returncode == 0, d.stderr
    assert runc.cmd("state", cid).returncode != 0


def test_kill_all_without_pid_namespace_uses_the_cgroup(runc: Runc) -> None:
    cid = runc.new_id()
    b = runc.bundle(["sh", "-c", "sleep 60 & sleep 61 & wait"],
                    linux={"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]})
    assert runc.create(b, cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    deadline = time.monotonic() + 5
    pids: list[int] = []
    while time.monotonic() < deadline:
        pids = json.loads(runc.cmd("ps", "--format", "json", cid).stdout)
        if len(pids) == 3:
            break
        time.sleep(0.02)
    assert len(pids) == 3
    assert runc.cmd("kill", "--all", cid, "KILL").returncode == 0
    assert wait_status(runc, cid, "stopped")["status"] == "stopped"
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for p in pids:  # gone, or a zombie waiting for its reaper
        if os.path.exists(f"/proc/{p}"):
            with open(f"/proc/{p}/stat") as f:
                assert f.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_exec_preserve_fds_and_additional_gids(runc: Runc, tmp_path: Path) -> None:
    import subprocess

    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    data = tmp_path / "data"
    data.write_text("through fd 3\n")
    with fd_at(3, data):  # fd 3 is pytest's saved stdin: fd_at puts it back
        r = subprocess.run([*runc.cmdline, "--root", str(runc.root), "exec", "--preserve-fds", "1",
                            "--user", "1000:1000", "-g", "3000", cid, "sh", "-c", "cat <&3; id -G"],
                           capture_output=True, text=True, pass_fds=(3,), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "through fd 3"
    assert set(lines[1].split()) == {"1000", "3000"}
