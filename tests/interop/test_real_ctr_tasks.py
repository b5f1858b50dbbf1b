"""Debian's real ``ctr`` (containerd 1.6) runs containers on seaboxd: the Tasks service is containerd's.

Each test runs its own seaboxd (temp root/state/socket under a short /tmp dir, so shim socket
paths stay under the unix limit) in its own namespace ``sbt-<random>``; teardown stops the
daemon and then purges every shim, bundle mount and cgroup it left (``seabox.daemon.tasks.testing``).
Interactive runs (``run -t``, ``task exec -t``) are driven through a pty, as a user would type.
"""

from __future__ import annotations

import os
import pty
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.daemon.tasks.testing import purge, remove_tree, shim_pids
from seabox.daemon.testing import RunningDaemon, seaboxd

pytestmark = [pytest.mark.interop, pytest.mark.root]

CTR = shutil.which("ctr")


@dataclass
class Env:
    d: RunningDaemon
    ns: str
    work: Path

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([CTR or "ctr", "--address", str(self.d.address), "-n", self.ns, *args],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({p.returncode}): {p.stderr}\n"
                                 f"daemon log:\n{self.d.log_text()[-3000:]}")
        return p

    def argv(self, *args: str) -> list[str]:
        return [CTR or "ctr", "--address", str(self.d.address), "-n", self.ns, *args]

    def tasks(self) -> dict[str, tuple[int, str]]:
        out = {}
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f:
                out[f[0]] = (int(f[1]), f[2])
        return out


def unique(prefix: str = "sbt") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def env() -> Iterator[Env]:
    if CTR is None:
        pytest.fail("ctr (Debian containerd) is not installed")
    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    ns = unique()
    try:
        with seaboxd(work / "d") as d:
            e = Env(d, ns, work)
            yield e
            if e.d is d:  # the restart test replaces (and stops) its daemon itself
                assert d.proc.poll() is None, d.log_text()
    finally:
        problems = purge(work / "d" / "state", [ns])
        remove_tree(work)
        assert not problems, problems


def pull(e: Env, ref: str, *extra: str) -> None:
    e.ctr("images", "pull", "--plain-http", *extra, ref)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class Pty:
    """A command on a pty: read until a marker shows up, type lines, collect the exit code."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     close_fds=True)
        os.close(slave)
        self.out = b""

    def expect(self, marker: bytes, within: float = 30.0) -> bytes:
        deadline = time.monotonic() + within
        while marker not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not seen; output so far: {self.out!r}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"{marker!r} not seen before exit; output: {self.out!r}")
                self.out += chunk
        return self.out

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self, within: float = 60.0) -> int:
        deadline = time.monotonic() + within
        while self.proc.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"did not exit; output: {self.out!r}")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_walkthrough_with_real_ctr(env: Env, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    auth = fixtures_info["registries"]["auth"]
    auth_img = fixtures_info["images"]["auth-busybox"]["ref"]
    pull(env, img)
    pull(env, auth_img, "--user", f"{auth['username']}:{auth['password']}")
    listed = env.ctr("images", "ls", "-q").stdout.split()
    assert img in listed and auth_img in listed

    env.ctr("run", "-d", img, "c1", "sleep", "1000")

    sh = Pty(env.argv("run", "-t", img, "c2", "/bin/sh"))
    try:
        sh.expect(b"#")
        sh.send("echo hi-$((1+1))\n")
        sh.expect(b"hi-2")
        sh.send("exit 3\n")
        assert sh.wait() == 3, sh.out
    finally:
        sh.close()

    ids = [line.split()[0] for line in env.ctr("c", "ls").stdout.splitlines()[1:]]
    assert "c1" in ids and "c2" in ids
    tasks = env.tasks()
    pid, status = tasks["c1"]
    assert status == "RUNNING" and pid > 0 and pid_alive(pid)
    assert "c2" not in tasks  # ctr run deletes its task once it has exited (the container stays)

    ex = Pty(env.argv("task", "exec", "-t", "--exec-id", "sh", "c1", "/bin/sh"))
    try:
        ex.expect(b"#")
        ex.send("echo exec-$((20+22)); exit 0\n")
        ex.expect(b"exec-42")
        assert ex.wait() == 0, ex.out
    finally:
        ex.close()

    env.ctr("task", "kill", "--signal", "9", "c1")
    deadline = time.monotonic() + 30
    while env.tasks()["c1"][1] != "STOPPED" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.tasks()["c1"][1] == "STOPPED"
    assert not pid_alive(pid)
    env.ctr("task", "rm", "c1")
    assert env.tasks() == {}
    env.ctr("containers", "delete", "c1")
    env.ctr("containers", "delete", "c2")
    assert env.ctr("c", "ls", "-q").stdout.split() == []
    env.ctr("images", "rm", img, auth_img)
    assert env.ctr("images", "ls", "-q").stdout.split() == []
    assert shim_pids(env.d.state) == []


def test_run_rm_propagates_the_exit_code(env: Env, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    pull(env, img)
    p = env.ctr("run", "--rm", img, "x", "sh", "-c", "echo out-$((3*3)); exit 7", check=False)
    assert p.returncode == 7, p.stderr
    assert "out-9" in p.stdout
    assert env.ctr("c", "ls", "-q").stdout.split() == []
    assert env.tasks() == {}
    assert shim_pids(env.d.state) == []


def test_exec_pause_resume_ps_metrics(env: Env, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    pull(env, img)
    env.ctr("run", "-d", img, "c1", "sleep", "1000")
    p = env.ctr("task", "exec", "--exec-id", "e1", "c1", "sh", "-c", "echo in-exec; exit 4", check=False)
    assert (p.returncode, p.stdout.strip()) == (4, "in-exec")
    pid = env.tasks()["c1"][0]
    assert str(pid) in env.ctr("task", "ps", "c1").stdout.split()
    env.ctr("task", "pause", "c1")
    assert env.tasks()["c1"][1] == "PAUSED"
    env.ctr("task", "resume", "c1")
    assert env.tasks()["c1"][1] == "RUNNING"
    assert "memory.usage_in_bytes" in env.ctr("task", "metrics", "c1").stdout
    env.ctr("task", "kill", "--signal", "9", "c1")
    p = env.ctr("task", "rm", "c1", check=False)
    deadline = time.monotonic() + 30
    while p.returncode != 0 and time.monotonic() < deadline:  # the kill is asynchronous
        time.sleep(0.1)
        p = env.ctr("task", "rm", "c1", check=False)
    assert p.returncode == 0, p.stderr
    again = env.ctr("task", "kill", "c1", check=False)
    assert again.returncode != 0 and "not found" in again.stderr


def test_sigkill_daemon_containers_survive_and_are_recovered(env: Env, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    pull(env, img)
    names = [f"r{i}" for i in range(5)]
    for n in names:
        env.ctr("run", "-d", img, n, "sleep", "1000")
    env.ctr("run", "-d", img, "late", "sh", "-c", "sleep 2; exit 5")
    before = env.tasks()
    assert all(before[n][1] == "RUNNING" for n in [*names, "late"])

    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    for n in names:
        assert pid_alive(before[n][0]), n
    deadline = time.monotonic() + 30
    while pid_alive(before["late"][0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(before["late"][0])

    with seaboxd(env.work / "d") as d2:
        env.d = d2
        after = env.tasks()
        for n in names:
            assert after[n] == (before[n][0], "RUNNING"), (n, after)
        assert after["late"][1] == "STOPPED"
        rm = env.ctr("task", "rm", "late")
        assert "exit code 5" in rm.stderr, rm.stderr  # ctr warns with the exit status Delete returned
        for n in names:
            env.ctr("task", "kill", "--signal", "9", n)
        for n in names:
            deadline = time.monotonic() + 30
            while env.tasks()[n][1] != "STOPPED" and time.monotonic() < deadline:
                time.sleep(0.1)
            env.ctr("task", "rm", n)
        assert env.tasks() == {}


def _shim_pid(e: Env, cid: str) -> int:
    from seabox.shim.client import discover

    found = [r.pid for r in discover(str(e.d.state / "shims")) if (r.namespace, r.id) == (e.ns, cid)]
    assert len(found) == 1, found
    return found[0]


def _mounted_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def test_a_task_whose_shim_died_is_stopped_and_cleaned_up(env: Env, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    pull(env, img)
    env.ctr("run", "-d", img, "live", "sleep", "1000")
    env.ctr("run", "-d", img, "down", "sleep", "1000")  # its shim dies while the daemon is down
    env.ctr("run", "-d", img, "up", "sleep", "1000")  # its shim dies while the daemon runs
    pids = {n: p for n, (p, _s) in env.tasks().items()}

    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    os.kill(_shim_pid(env, "down"), signal.SIGKILL)
    with seaboxd(env.work / "d") as d2:
        env.d = d2
        tasks = env.tasks()
        assert tasks["live"] == (pids["live"], "RUNNING")
        assert tasks["down"][1] == "STOPPED"
        assert not pid_alive(pids["down"])  # cleanup killed what the dead shim left (runtime delete --force)
        assert not (env.d.state / "bundles" / env.ns / "down").exists()
        rm = env.ctr("task", "rm", "down")
        assert "exit code 137" in rm.stderr, rm.stderr

        os.kill(_shim_pid(env, "up"), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while env.tasks()["up"][1] != "STOPPED" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env.tasks()["up"][1] == "STOPPED"
        env.ctr("task", "rm", "up")
        assert not pid_alive(pids["up"])
        assert not (env.d.state / "bundles" / env.ns / "up").exists()
        assert set(env.tasks()) == {"live"}
        assert len(_mounted_under(env.d.state / "bundles")) == 1  # only live's rootfs
