"""seabox-ctr against Debian's real containerd 1.6: the ctr walkthrough, with real ctr as the oracle.

containerd runs on its own temp root/state/socket (seabox.ctr.testing, CRI disabled), its
default runtime being runc.  seabox-ctr pulls the fixture busybox (plain HTTP, and from the
auth registry with --user), runs containers detached, with a TTY typed into through a pty,
execs, kills and deletes them; list outputs are compared byte for byte with what the real
ctr prints for the same objects, and the spec seabox-ctr generates with what ctr generates.
"""

from __future__ import annotations

import json
import os
import pty
import secrets
import select
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.ctr import testing

pytestmark = [pytest.mark.root, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
SEABOX_CTR = str(REPO / ".venv" / "bin" / "seabox-ctr")


@dataclass
class Env:
    address: str
    namespace: str
    fifo_dir: str
    tmp: Path
    log: object

    def base(self, prog: str) -> list[str]:
        return [prog, "--address", self.address, "--namespace", self.namespace]

    def sctr(self, *args: str, check: bool = True, timeout: float = 120, input_: str | None = None) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [*self.base(SEABOX_CTR), *args], capture_output=True, text=True, timeout=timeout,
            input=input_ if input_ is not None else "",
        )  # fmt: skip
        if check and res.returncode != 0:
            raise AssertionError(f"seabox-ctr {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}\n{self.log()}")  # type: ignore[operator]
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([*self.base("ctr"), *args], capture_output=True, text=True, timeout=120)
        if check and res.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")
        return res


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("sctr")
    ns = f"sbt-{secrets.token_hex(4)}"
    with testing.containerd(tmp / "ctrd", namespaces=(ns,)) as c:
        fifo = tmp / "fifo"
        fifo.mkdir()
        yield Env(c.address, ns, str(fifo), tmp, c.log)


def _pty_session(argv: list[str], script: list[tuple[bytes, float]], timeout: float = 30) -> tuple[bytes, int]:
    """Run ``argv`` on a new pty, type each input after waiting, return (output, exit code)."""
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
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"{argv} did not finish; output so far: {out[-500:]!r}")
    finally:
        os.close(fd)


def _wait_status(e: Env, cid: str, want: str, within: float = 15) -> str:
    deadline = time.monotonic() + within
    line = ""
    while time.monotonic() < deadline:
        lines = [ln for ln in e.sctr("task", "ls").stdout.splitlines() if ln.split()[:1] == [cid]]
        line = lines[0] if lines else ""
        if want in line:
            return line
        time.sleep(0.1)
    raise AssertionError(f"task {cid} never became {want}: {line!r}")


def test_walkthrough(env: Env, fixtures_info: dict) -> None:
    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    auth = fixtures_info["registries"]["auth"]
    auth_img = fixtures_info["images"]["auth-busybox"]["ref"]

    v = e.sctr("version").stdout
    assert "Client:" in v and "Server:" in v and "1.6" in v.split("Server:")[1]

    pulled = e.sctr("images", "pull", "--plain-http", img).stdout
    assert "unpacking linux/amd64" in pulled and "done" in pulled

    denied = e.sctr("images", "pull", "--plain-http", auth_img, check=False)
    assert denied.returncode != 0
    assert len(denied.stderr.strip().splitlines()) == 1 and "unauthorized" in denied.stderr.lower(), denied.stderr
    e.sctr("images", "pull", "--plain-http", "--user", f"{auth['username']}:{auth['password']}", auth_img)

    refs = e.sctr("images", "ls", "-q").stdout.split()
    assert img in refs and auth_img in refs
    assert e.sctr("images", "ls").stdout == e.ctr("images", "ls").stdout
    assert e.sctr("snapshots", "ls").stdout == e.ctr("snapshots", "ls").stdout

    e.sctr("run", "-d", img, "c1", "sleep", "1000")
    line = _wait_status(e, "c1", "RUNNING")
    pid = int(line.split()[1])
    assert pid > 0 and Path(f"/proc/{pid}").exists()

    out, code = _pty_session(
        [*e.base(SEABOX_CTR), "run", "--fifo-dir", e.fifo_dir, "-t", img, "c2", "/bin/sh"],
        [(b"echo marker-$((6*7)); tty\r", 1.5), (b"exit 3\r", 1.0)],
    )
    assert b"marker-42" in out and b"/dev/pts/" in out, out
    assert code == 3, out

    cls = e.sctr("c", "ls").stdout
    assert cls == e.ctr("c", "ls").stdout
    assert {ln.split()[0] for ln in cls.splitlines()[1:]} == {"c1", "c2"}
    tls = e.sctr("task", "ls").stdout
    assert tls == e.ctr("task", "ls").stdout
    assert tls.splitlines()[0].split() == ["TASK", "PID", "STATUS"]
    assert f"c1      {pid}    RUNNING" in tls or tls.splitlines()[1].split() == ["c1", str(pid), "RUNNING"]

    out, code = _pty_session(
        [*e.base(SEABOX_CTR), "task", "exec", "--fifo-dir", e.fifo_dir, "-t", "--exec-id", "sh", "c1", "/bin/sh"],
        [(b"tty; echo exec-$((2+3))\r", 1.5), (b"exit 5\r", 1.0)],
    )
    assert b"exec-5" in out and b"/dev/pts/" in out, out
    assert code == 5

    res = e.sctr("task", "exec", "--fifo-dir", e.fifo_dir, "--exec-id", "e2", "c1", "sh", "-c", "echo piped; exit 7",
                 check=False)  # fmt: skip
    assert (res.returncode, res.stdout) == (7, "piped\n"), res.stderr

    e.sctr("task", "kill", "--signal", "9", "c1")
    _wait_status(e, "c1", "STOPPED")
    e.sctr("containers", "delete", "c1")
    e.sctr("containers", "rm", "c2")
    assert e.sctr("c", "ls", "-q").stdout == ""
    assert e.ctr("snapshots", "ls").stdout.count("Active") == 0

    e.sctr("images", "rm", auth_img)
    assert auth_img not in e.sctr("images", "ls", "-q").stdout.split()


def test_run_rm_exit_codes_and_io(env: Env, fixtures_info: dict) -> None:
    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    e.sctr("images", "pull", "--plain-http", img)
    for code in (0, 7):
        cid = f"sbt-{secrets.token_hex(3)}"
        res = e.sctr("run", "--rm", "--fifo-dir", e.fifo_dir, img, cid, "sh", "-c",
                     f"echo out-{code}; echo err-{code} >&2; exit {code}", check=False)  # fmt: skip
        assert res.returncode == code, res.stderr
        assert res.stdout == f"out-{code}\n"
        assert res.stderr == f"err-{code}\n"
        assert cid not in e.ctr("containers", "ls", "-q").stdout
        assert cid not in e.ctr("snapshots", "ls").stdout
    # stdin reaches the container and its EOF closes the container's stdin
    cid = f"sbt-{secrets.token_hex(3)}"
    res = e.sctr("run", "--rm", "--fifo-dir", e.fifo_dir, img, cid, "sh", "-c", "tr a-z A-Z", input_="hello stdin\n")
    assert res.stdout == "HELLO STDIN\n"
    # env, cwd, user and id as ctr sets them
    cid = f"sbt-{secrets.token_hex(3)}"
    res = e.sctr("run", "--rm", "--fifo-dir", e.fifo_dir, "--env", "FOO=bar", "--cwd", "/tmp", "--user", "65534:65534",
                 img, cid, "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"')  # fmt: skip
    assert res.stdout == "bar /tmp 65534:65534\n"


def test_spec_matches_ctr(env: Env, fixtures_info: dict) -> None:
    """The spec seabox-ctr generates equals the one ctr generates for the same flags."""
    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    e.sctr("images", "pull", "--plain-http", img)
    flag_sets = [[], ["--tty", "--env", "A=1", "--cwd", "/tmp"], ["--memory-limit", "67108864"], ["--net-host"], ["--read-only", "--allow-new-privs"],
                 ["--mount", "type=bind,src=/tmp,dst=/host,options=rbind:ro"], ["--privileged"]]  # fmt: skip
    for flags in flag_sets:
        ours, theirs = f"sbt-s{secrets.token_hex(3)}", f"sbt-s{secrets.token_hex(3)}"
        e.sctr("containers", "create", *flags, img, ours, "sleep", "1")
        e.ctr("containers", "create", *flags, img, theirs, "sleep", "1")
        try:
            a = json.loads(e.ctr("containers", "info", "--spec", ours).stdout)
            b = json.loads(e.ctr("containers", "info", "--spec", theirs).stdout)
            b["linux"]["cgroupsPath"] = b["linux"]["cgroupsPath"].replace(theirs, ours)
            if flags == ["--privileged"]:
                # ctr adds every host device for --privileged; seabox-ctr allows all devices instead
                b["linux"].pop("devices", None)
                a["linux"].pop("devices", None)
            assert a == b, f"flags {flags}"
            info = json.loads(e.sctr("containers", "info", ours).stdout)
            assert info["ID"] == ours and info["Image"] == img and info["SnapshotKey"] == ours
        finally:
            e.sctr("containers", "rm", ours, theirs, check=False)


def test_errors_are_one_line(env: Env, fixtures_info: dict) -> None:
    e = env
    for args, needle in [
        (["containers", "rm", "nope"], 'container "nope"'),
        (["task", "kill", "nope"], 'container "nope"'),
        (["containers", "info", "nope"], "not found"),
        (["run", "docker.io/library/never-pulled:latest", "x1"], "not found"),
        (["images", "pull", "--plain-http", "127.0.0.1:5000/library/nonexistent:latest"], "not found"),
    ]:
        res = e.sctr(*args, check=False)
        assert res.returncode == 1, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ctr: ") and needle in lines[0], (args, res.stderr)
    res = subprocess.run([SEABOX_CTR, "--address", str(e.tmp / "no.sock"), "c", "ls"], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"ctr: cannot connect to seaboxd at {e.tmp / 'no.sock'}: is it running? "
        "start it with `seaboxd` (or systemctl start seaboxd)"
    )


def test_listings_match_ctr(env: Env, fixtures_info: dict) -> None:
    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    e.sctr("images", "pull", "--plain-http", img)
    e.sctr("namespaces", "create", f"{e.namespace}-x", "a=b")
    try:
        assert e.sctr("namespaces", "ls").stdout == e.ctr("namespaces", "ls").stdout
        e.sctr("namespaces", "label", f"{e.namespace}-x", "c=d")
        assert "a=b,c=d" in e.ctr("namespaces", "ls").stdout
    finally:
        e.sctr("namespaces", "rm", f"{e.namespace}-x")
    assert e.sctr("plugins", "ls").stdout == e.ctr("plugins", "ls").stdout
    assert e.sctr("content", "ls", "-q").stdout == e.ctr("content", "ls", "-q").stdout
    assert e.sctr("snapshots", "tree").stdout == e.ctr("snapshots", "tree").stdout
    e.sctr("images", "tag", img, f"{img}-tagged")
    assert f"{img}-tagged" in e.ctr("images", "ls", "-q").stdout.split()
    e.sctr("images", "rm", f"{img}-tagged")
    digest = fixtures_info["images"]["busybox"]["digest"]
    blob = subprocess.run([*e.base(SEABOX_CTR), "content", "get", digest], capture_output=True, check=True).stdout
    assert blob == subprocess.run([*e.base("ctr"), "content", "get", digest], capture_output=True, check=True).stdout
    lease = e.sctr("leases", "create", "--id", "sbt-lease").stdout.strip()
    assert lease == "sbt-lease" and "sbt-lease" in e.ctr("leases", "ls", "-q").stdout
    e.sctr("leases", "rm", "sbt-lease")
