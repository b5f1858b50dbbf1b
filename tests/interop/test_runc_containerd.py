"""Debian's containerd (1.6) runs containers through seabox-runc (``ctr run --runc-binary``).

containerd runs on its own temp root/state/socket with the CRI plugin disabled
(``seabox.testing.peers``); the image is an OCI archive peers builds from the busybox rootfs of
``seabox.testing.bundle`` (no registry, no fixtures needed), imported with ``ctr images import``.  Covered: detached run,
exec, kill, delete, exit codes through ``ctr run --rm``, and a TTY driven through a
pty.  Teardown kills what is left, stops containerd and removes its mounts, cgroups,
shim sockets and temp dirs even when a test fails.

``SEABOX_INTEROP_RUNTIME=/usr/sbin/runc`` runs the same checks against runc (to tell
a test bug from a seabox bug).
"""

from __future__ import annotations

import contextlib
import os
import pty
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.testing import peers

pytestmark = [pytest.mark.root, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
RUNTIME = os.environ.get("SEABOX_INTEROP_RUNTIME", str(REPO / ".venv" / "bin" / "seabox-runc"))
IMAGE = "docker.io/library/sbt-busybox:latest"


@dataclass
class Peer:
    """The containerd peer and the seabox-runc arguments its ``ctr run`` takes."""

    c: peers.Containerd
    runc_root: Path

    @property
    def address(self) -> str:
        return self.c.address

    @property
    def namespace(self) -> str:
        return self.c.namespace

    def ctr(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.c.ctr(*args, timeout=timeout, check=check)

    def run_args(self) -> list[str]:
        return ["--runc-binary", RUNTIME, "--runc-root", str(self.runc_root)]


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    if not Path(RUNTIME).exists():
        pytest.fail(f"{RUNTIME} is missing: run scripts/setup.sh")
    tmp = tmp_path_factory.mktemp("ctrd")
    with peers.containerd(tmp / "c") as c:
        layout = peers.busybox_oci_layout(c.tmp / "layout", image_name=IMAGE)  # under the peer's dir: removed with it
        c.ctr("images", "import", str(peers.oci_archive(layout, c.tmp / "busybox-oci.tar")), timeout=120)
        yield Peer(c, c.tmp / "runc-root")


def _cid() -> str:
    return f"sbt-{secrets.token_hex(4)}"


# -- the tests ---------------------------------------------------------------------------------


def test_detached_exec_kill_delete(containerd: Peer) -> None:
    c = containerd
    cid = _cid()
    script = "trap 'exit 0' TERM; echo started > /tmp/up; while true; do sleep 0.1; done"
    c.ctr("run", "-d", *c.run_args(), IMAGE, cid, "sh", "-c", script)
    try:
        tasks = c.ctr("task", "ls").stdout
        assert cid in tasks and "RUNNING" in tasks.split(cid, 1)[1].splitlines()[0]
        deadline = time.monotonic() + 10
        out = ""
        while time.monotonic() < deadline:
            out = c.ctr("task", "exec", "--exec-id", "e1", cid, "cat", "/tmp/up", check=False).stdout
            if "started" in out:
                break
            time.sleep(0.2)
        assert out.strip() == "started"
        res = c.ctr("task", "exec", "--exec-id", "e2", cid, "sh", "-c", "hostname; id -u; exit 5", check=False)
        assert res.returncode == 5, res.stderr
        assert res.stdout.split()[1] == "0"
        c.ctr("task", "pause", cid)  # the shim calls `<runtime> pause`
        line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
        assert line and "PAUSED" in line[0], line
        c.ctr("task", "resume", cid)
        line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
        assert line and "RUNNING" in line[0], line
        c.ctr("task", "kill", cid)  # SIGTERM: the trap exits 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
            if not line or "STOPPED" in line[0]:
                break
            time.sleep(0.2)
        assert line and "STOPPED" in line[0], line
        c.ctr("task", "delete", cid)
        assert cid not in c.ctr("task", "ls").stdout
    finally:
        c.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        c.ctr("task", "delete", "-f", cid, check=False)
        c.ctr("containers", "delete", cid, check=False)
    assert not peers.cgroup_dirs(cid), "the container's cgroups were left behind"


def test_exit_codes(containerd: Peer) -> None:
    c = containerd
    for code in (0, 7):
        cid = _cid()
        res = c.ctr("run", "--rm", *c.run_args(), IMAGE, cid, "sh", "-c", f"echo out-{code}; exit {code}", check=False)
        assert res.returncode == code, res.stderr
        assert res.stdout.strip() == f"out-{code}"
        assert cid not in c.ctr("containers", "ls", "-q").stdout


def test_tty(containerd: Peer) -> None:
    c = containerd
    cid = _cid()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(
            "ctr",
            ["ctr", "--address", c.address, "--namespace", c.namespace, "run", "-t", "--rm", *c.run_args(), IMAGE, cid, "sh"],
        )
    out = b""
    try:
        os.write(fd, b"tty; echo calc-$((6*7)); exit 3\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
        c.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        c.ctr("task", "delete", "-f", cid, check=False)
        c.ctr("containers", "delete", cid, check=False)
    text = out.decode(errors="replace")
    assert "calc-42" in text, text
    assert "/dev/pts/0" in text, text  # the shell's stdin is the container's console
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, (status, text)


def test_containerd_default_seccomp_profile(containerd: Peer) -> None:
    """``ctr run --seccomp`` puts containerd's default profile (300+ syscalls, arg filters) in the spec."""
    c = containerd
    cid = _cid()
    script = "echo allowed; unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-blocked"
    res = c.ctr("run", "--rm", "--seccomp", *c.run_args(), IMAGE, cid, "sh", "-c", script, check=False)
    assert res.returncode == 0, res.stderr
    # the profile refuses unshare(CLONE_NEWUSER) to a container without CAP_SYS_ADMIN
    assert res.stdout.split() == ["allowed", "unshare-blocked"], res.stdout
    # ... which the kernel alone would allow: the same command without the profile
    res = c.ctr("run", "--rm", *c.run_args(), IMAGE, _cid(), "sh", "-c", script, check=False)
    assert res.stdout.split() == ["allowed", "unshare-allowed"], res.stdout
