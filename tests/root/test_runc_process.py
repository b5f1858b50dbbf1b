"""Process settings from config.json, seen from inside busybox containers run by seabox-runc."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import fd_at

pytestmark = pytest.mark.root

ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID", "CAP_SETGID",
            "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]


def caps(names: list[str]) -> dict:
    return {k: list(names) for k in ("bounding", "effective", "permitted")}


def test_hostname_domainname_env_cwd(runc: Runc) -> None:
    b = runc.bundle(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname; echo $GREETING; pwd; echo $HOME"],
                    hostname="sbt-host", domainname="sbt.example",
                    process={"env": ["PATH=/bin", "GREETING=hi there"], "cwd": "/var/tmp"})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["sbt-host", "sbt.example", "hi there", "/var/tmp", "/root"]


def test_user_groups_umask(runc: Runc) -> None:
    b = runc.bundle(["sh", "-c", "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f"],
                    process={"user": {"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 0o077}})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    uid, gid, groups, umask, mode = r.stdout.split("\n")[:5]
    assert (uid, gid) == ("1000", "1001")
    assert set(groups.split()) == {"1001", "2000", "2001"}
    assert umask == "0077"
    assert mode == "600"


def test_rlimits(runc: Runc) -> None:
    b = runc.bundle(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"],
                    process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                         {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["123", "456", "0"]


def test_rlimit_above_hard_limit_names_the_setting(runc: Runc) -> None:
    hard = int(Path("/proc/sys/fs/nr_open").read_text()) + 1
    b = runc.bundle(["true"], process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]})
    r = runc.run(b)
    assert r.returncode != 0
    assert "RLIMIT_NOFILE" in r.stderr
    assert "Traceback" not in r.stderr


def test_negative_oom_score_adj_names_the_setting(runc: Runc) -> None:
    ok = runc.run(runc.bundle(["cat", "/proc/self/oom_score_adj"], process={"oomScoreAdj": 500}))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "500"
    r = runc.run(runc.bundle(["true"], process={"oomScoreAdj": -500}))
    if r.returncode == 0:
        pytest.fail("negative oomScoreAdj unexpectedly accepted: this host has CAP_SYS_RESOURCE")
    assert "oomScoreAdj" in r.stderr


def test_dropped_capability_makes_the_operation_fail(runc: Runc) -> None:
    with_chown = runc.run(runc.bundle(["chown", "1234:1234", "/tmp"], process={"capabilities": caps(ALL_CAPS)}))
    assert with_chown.returncode == 0, with_chown.stderr
    without = [c for c in ALL_CAPS if c != "CAP_CHOWN"]
    no_chown = runc.run(runc.bundle(["chown", "1234:1234", "/tmp"], process={"capabilities": caps(without)}))
    assert no_chown.returncode != 0
    assert "Operation not permitted" in no_chown.stderr
    status = runc.run(runc.bundle(["grep", "^Cap", "/proc/self/status"], process={"capabilities": caps(without)}))
    lines = dict(line.split(":\t") for line in status.stdout.splitlines())
    eff = int(lines["CapEff"], 16)
    assert not eff & (1 << 0)  # CAP_CHOWN
    assert eff & (1 << 13)  # CAP_NET_RAW
    assert int(lines["CapBnd"], 16) == eff


def test_no_new_privileges(runc: Runc) -> None:
    r = runc.run(runc.bundle(["grep", "NoNewPrivs", "/proc/self/status"], process={"noNewPrivileges": True}))
    assert r.stdout.split() == ["NoNewPrivs:", "1"]
    r = runc.run(runc.bundle(["grep", "NoNewPrivs", "/proc/self/status"], process={"noNewPrivileges": False}))
    assert r.stdout.split() == ["NoNewPrivs:", "0"]


def test_only_stdio_fds_inside(runc: Runc, tmp_path: Path) -> None:
    leak = os.open(str(tmp_path), os.O_RDONLY)  # an fd the runtime inherits and must not pass on
    try:
        r = runc.run(runc.bundle(["ls", "/proc/self/fd"]))
    finally:
        os.close(leak)
    assert r.returncode == 0, r.stderr
    # ls itself holds one directory fd (3) while listing
    assert r.stdout.split() == ["0", "1", "2", "3"]


def test_preserve_fds(runc: Runc, tmp_path: Path) -> None:
    import subprocess

    data = tmp_path / "data"
    data.write_text("preserved\n")
    b = runc.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd"])
    with fd_at(3, data):  # fd 3 is pytest's saved stdin: fd_at puts it back
        r = subprocess.run([*runc.cmdline, "--root", str(runc.root), "run", "--preserve-fds", "1", "--bundle", str(b),
                            runc.new_id()], capture_output=True, text=True, pass_fds=(3,), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "preserved"
    assert lines[1:] == ["0", "1", "2", "3", "4"]  # 3 preserved, 4 is ls's own


def test_container_cannot_open_runtime_exe(runc: Runc) -> None:
    """CVE-2019-5736 class: the runtime process inside the container (the created init) is non-dumpable."""
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    # pid 1 is still the runtime (blocked on the exec FIFO); a root process in the container tries its exe
    r = runc.cmd("exec", cid, "sh", "-c",
                 "cat /proc/1/cmdline >/dev/null; echo x 2>/dev/null >> /proc/1/exe && echo WROTE; "
                 "readlink /proc/1/exe || echo DENIED")
    assert "WROTE" not in r.stdout
    assert "DENIED" in r.stdout


def test_exec_user_caps_and_no_new_privs(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    r = runc.cmd("exec", "--user", "1000:1000", "--no-new-privs", cid, "sh", "-c",
                 "id -u; grep NoNewPrivs /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "NoNewPrivs:", "1"]
    r = runc.cmd("exec", "--cap", "CAP_CHOWN", cid, "chown", "5:5", "/tmp")
    assert r.returncode == 0, r.stderr
    r = runc.cmd("exec", cid, "chown", "6:6", "/tmp")
    assert r.returncode != 0  # the bundle's default capabilities lack CAP_CHOWN


def test_pid1_and_stopped_status(runc: Runc) -> None:
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sh", "-c", "echo $$"]), cid).returncode == 0
    assert runc.cmd("start", cid).returncode == 0
    deadline = time.monotonic() + 10
    while runc.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runc.state(cid)["status"] == "stopped"
    assert runc.output(cid) == "1\n"


@pytest.mark.parametrize("cwd", ["/proc/self/fd/3", "/proc/self/fd/4", "/proc/1/cwd/.."])
def test_cwd_through_leaked_fd_cannot_reach_host(runc: Runc, tmp_path: Path, cwd: str) -> None:
    """CVE-2024-21626 class: inherited fds are closed before the cwd is entered."""
    host_dir = os.open("/sys/fs/cgroup", os.O_RDONLY)  # a host directory fd the runtime inherits
    try:
        r = runc.run(runc.bundle(["sh", "-c", "pwd; ls .. | head -3; ls /sys/fs/cgroup/memory/cgroup.procs"],
                                 process={"cwd": cwd}))
    finally:
        os.close(host_dir)
    # either refused with an error naming the setting, or the cwd is inside the container
    if r.returncode != 0:
        assert "process.cwd" in r.stderr or "cwd" in r.stderr
    else:
        assert r.stdout.splitlines()[0].startswith("/")
        assert "(unreachable)" not in r.stdout


def test_apparmor_label_ignored_with_warning_when_host_has_none(runc: Runc) -> None:
    if Path("/sys/module/apparmor/parameters/enabled").exists():
        pytest.fail("this host has AppArmor: the ignore-with-warning path cannot be checked here")
    r = runc.run(runc.bundle(["true"], process={"apparmorProfile": "docker-default", "selinuxLabel": "x:y:z:s0"}))
    assert r.returncode == 0, r.stderr
    assert "apparmorProfile" in r.stderr and "ignored" in r.stderr
    assert "selinuxLabel" in r.stderr


def test_no_signal_is_ignored_in_the_container(runc: Runc) -> None:
    """Python ignores SIGPIPE and SIGXFSZ; the container process must not inherit that."""
    r = runc.run(runc.bundle(["grep", "SigIgn", "/proc/self/status"]))
    assert r.stdout.split() == ["SigIgn:", "0000000000000000"]
    cid = runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), cid).returncode == 0
    e = runc.cmd("exec", cid, "grep", "SigIgn", "/proc/self/status")
    assert e.stdout.split() == ["SigIgn:", "0000000000000000"]
    pipe = runc.run(runc.bundle(["sh", "-c", "yes | head -n 1"]))
    assert pipe.stdout == "y\n" and pipe.returncode == 0


def test_new_session_keyring_unless_no_new_keyring(runc: Runc) -> None:
    with_ring, without = runc.new_id(), runc.new_id()
    assert runc.create(runc.bundle(["sleep", "60"]), with_ring).returncode == 0
    assert runc.create(runc.bundle(["sleep", "60"]), without, "--no-new-keyring").returncode == 0
    keys = Path("/proc/keys").read_text()
    assert f"_ses.{with_ring}" in keys
    assert f"_ses.{without}" not in keys


def test_missing_cwd_is_created_for_an_unprivileged_user(runc: Runc) -> None:
    b = runc.bundle(["pwd"], process={"cwd": "/srv/app/work", "user": {"uid": 1000, "gid": 1000}},
                    root={"path": "rootfs", "readonly": True})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "/srv/app/work\n"
