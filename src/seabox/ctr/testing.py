"""Test and benchmark helpers shipped with the library: seabox-ctr's oracle and its walkthrough.

Debian's containerd is the oracle for seabox-ctr: :func:`containerd` starts one on temp dirs
through ``seabox.testing.peers`` (the one place peers are started and cleaned up) and, on exit,
empties ``namespaces``, stops it, and removes what it and its shims left, including the
cgroups of those namespaces.  :func:`walkthrough` is the ctr session users follow, run with any
ctr-compatible CLI against any daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seabox.testing import peers
from seabox.testing.peers import Containerd

__all__ = ["Containerd", "CtrRunner", "containerd", "private_seaboxd", "pty_session", "wait_task_status",
           "walkthrough"]


def containerd(
    workdir: Path, namespaces: tuple[str, ...] = (), ready_within: float = 30.0
) -> contextlib.AbstractContextManager[Containerd]:
    """A containerd on ``workdir``; ``namespaces`` are emptied and their cgroups removed at the end."""
    return peers.containerd(workdir, namespaces=namespaces, start_timeout=ready_within)


@contextlib.contextmanager
def private_seaboxd() -> Iterator[tuple[Any, str, Path]]:
    """A seaboxd on a fresh temp dir and a namespace of its own: (daemon, namespace, work dir).

    At the end the daemon must still be running (a crash fails the test), and whatever the
    namespace left — shims, mounts, cgroups — is purged and reported as a failure."""
    import secrets
    import tempfile

    from seabox.daemon.tasks.testing import purge, remove_tree
    from seabox.daemon.testing import seaboxd

    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    ns = f"sbt-{secrets.token_hex(4)}"
    try:
        with seaboxd(work / "d") as d:
            yield d, ns, work
            assert d.proc.poll() is None, d.log_text()
    finally:
        problems = purge(work / "d" / "state", [ns])
        remove_tree(work)
        assert not problems, problems


# -- the ctr walkthrough, against any daemon ---------------------------------------------------


@dataclass
class CtrRunner:
    """Runs a ctr-compatible CLI (seabox-ctr or ctr) against one daemon and namespace."""

    prog: str
    address: str
    namespace: str
    fifo_dir: str = ""
    log: Callable[[], str] = lambda: ""

    def argv(self, *args: str) -> list[str]:
        return [self.prog, "--address", self.address, "--namespace", self.namespace, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120, input_: str = "") -> subprocess.CompletedProcess[str]:
        res = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, input=input_)
        if check and res.returncode != 0:
            raise AssertionError(
                f"{os.path.basename(self.prog)} {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}\n{self.log()}"
            )
        if "Traceback" in res.stderr:
            raise AssertionError(f"traceback from {' '.join(args)}:\n{res.stderr}")
        return res


def pty_session(argv: list[str], script: list[tuple[bytes, float]], timeout: float = 30) -> tuple[bytes, int]:
    """Run ``argv`` on a new pty; before each input wait (reading) for its delay; returns (output, exit code)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    out = b""

    def pump(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    b = os.read(fd, 4096)
                except OSError:
                    return
                if not b:
                    return
                out += b

    try:
        for data, wait in script:
            pump(wait)
            os.write(fd, data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pump(0.2)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pump(0.2)
                return out, os.waitstatus_to_exitcode(status)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError(f"{argv} did not finish; output so far: {out[-500:]!r}")
    finally:
        os.close(fd)


def wait_task_status(run: CtrRunner, cid: str, want: str, within: float = 15) -> str:
    """Poll ``task ls`` until ``cid``'s line shows ``want``; returns that line."""
    deadline = time.monotonic() + within
    line = ""
    while time.monotonic() < deadline:
        lines = [ln for ln in run("task", "ls").stdout.splitlines() if ln.split()[:1] == [cid]]
        line = lines[0] if lines else ""
        if want in line:
            return line
        time.sleep(0.1)
    raise AssertionError(f"task {cid} never became {want}: {line!r}")


def walkthrough(run: CtrRunner, image: str, auth_image: str, auth_user: str, oracle: CtrRunner | None = None) -> None:
    """The ctr walkthrough users follow (issue 5's acceptance list); ``oracle`` (real ctr on the
    same daemon) must print the same listings."""
    v = run("version").stdout
    assert "Client:" in v and "Server:" in v, v

    pulled = run("images", "pull", "--plain-http", image).stdout
    assert "unpacking linux/amd64" in pulled and "done" in pulled, pulled
    denied = run("images", "pull", "--plain-http", auth_image, check=False)
    assert denied.returncode != 0
    lines = denied.stderr.strip().splitlines()
    assert len(lines) == 1 and "unauthorized" in lines[0].lower(), denied.stderr
    run("images", "pull", "--plain-http", "--user", auth_user, auth_image)
    refs = run("images", "ls", "-q").stdout.split()
    assert image in refs and auth_image in refs, refs
    if oracle is not None:
        assert run("images", "ls").stdout == oracle("images", "ls").stdout
        assert run("snapshots", "ls").stdout == oracle("snapshots", "ls").stdout

    fifo = ["--fifo-dir", run.fifo_dir] if run.fifo_dir else []
    run("run", "-d", image, "c1", "sleep", "1000")
    line = wait_task_status(run, "c1", "RUNNING")
    pid = int(line.split()[1])
    assert pid > 0 and Path(f"/proc/{pid}").exists(), line

    out, code = pty_session(
        run.argv("run", *fifo, "-t", image, "c2", "/bin/sh"),
        [(b"echo marker-$((6*7)); tty\r", 1.5), (b"exit 3\r", 1.0)],
    )
    assert b"marker-42" in out and b"/dev/pts/" in out, out
    assert code == 3, out

    cls = run("c", "ls").stdout
    assert {ln.split()[0] for ln in cls.splitlines()[1:]} == {"c1", "c2"}, cls
    tls = run("task", "ls").stdout
    assert tls.splitlines()[0].split() == ["TASK", "PID", "STATUS"], tls
    assert [ln.split() for ln in tls.splitlines()[1:]] == [["c1", str(pid), "RUNNING"]], tls
    if oracle is not None:
        assert cls == oracle("c", "ls").stdout
        assert tls == oracle("task", "ls").stdout

    out, code = pty_session(
        run.argv("task", "exec", *fifo, "-t", "--exec-id", "sh", "c1", "/bin/sh"),
        [(b"tty; echo exec-$((2+3))\r", 1.5), (b"exit 5\r", 1.0)],
    )
    assert b"exec-5" in out and b"/dev/pts/" in out, out
    assert code == 5, out
    res = run("task", "exec", *fifo, "--exec-id", "e2", "c1", "sh", "-c", "echo piped; exit 7", check=False)
    assert (res.returncode, res.stdout) == (7, "piped\n"), res.stderr

    run("task", "kill", "--signal", "9", "c1")
    wait_task_status(run, "c1", "STOPPED")
    run("containers", "delete", "c1")
    run("containers", "rm", "c2")
    assert run("c", "ls", "-q").stdout == ""
    assert "Active" not in run("snapshots", "ls").stdout

    run("images", "rm", auth_image)
    assert auth_image not in run("images", "ls", "-q").stdout.split()

    # exit codes and stdio through run --rm
    for code in (0, 7):
        cid = f"sbt-{os.urandom(3).hex()}"
        res = run("run", "--rm", *fifo, image, cid, "sh", "-c", f"echo out-{code}; echo err-{code} >&2; exit {code}",
                  check=False)  # fmt: skip
        assert res.returncode == code, res.stderr
        assert (res.stdout, res.stderr) == (f"out-{code}\n", f"err-{code}\n")
        assert cid not in run("containers", "ls", "-q").stdout
    # stdin reaches the process, and its EOF ends it
    res = run("run", "--rm", *fifo, image, f"sbt-{os.urandom(3).hex()}", "tr", "a-z", "A-Z", input_="piped in\n")
    assert res.stdout == "PIPED IN\n", res
