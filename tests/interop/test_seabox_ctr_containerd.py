"""seabox-ctr against Debian's real containerd 1.6: the ctr walkthrough, with real ctr as the oracle.

containerd runs on its own temp root/state/socket (seabox.ctr.testing, CRI disabled), its
default runtime being runc.  seabox-ctr pulls the fixture busybox (plain HTTP, and from the
auth registry with --user), runs containers detached, with a TTY typed into through a pty,
execs, kills and deletes them; list outputs are compared byte for byte with what the real
ctr prints for the same objects, and the spec seabox-ctr generates with what ctr generates.
"""

from __future__ import annotations

import json
import secrets
import subprocess
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


def test_walkthrough(env: Env, fixtures_info: dict) -> None:
    auth = fixtures_info["registries"]["auth"]
    run = testing.CtrRunner(SEABOX_CTR, env.address, env.namespace, env.fifo_dir, env.log)  # type: ignore[arg-type]
    oracle = testing.CtrRunner("ctr", env.address, env.namespace)
    testing.walkthrough(
        run,
        fixtures_info["images"]["busybox"]["ref"],
        fixtures_info["images"]["auth-busybox"]["ref"],
        f"{auth['username']}:{auth['password']}",
        oracle=oracle,
    )


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
    assert e.sctr("snapshots", "usage").stdout == e.ctr("snapshots", "usage").stdout
    top = e.ctr("snapshots", "ls").stdout.splitlines()[1].split()[0]
    assert e.sctr("snapshots", "info", top).stdout == e.ctr("snapshots", "info", top).stdout
    assert e.sctr("leases", "ls").stdout == e.ctr("leases", "ls").stdout
    e.sctr("images", "tag", img, f"{img}-tagged")
    assert f"{img}-tagged" in e.ctr("images", "ls", "-q").stdout.split()
    e.sctr("images", "rm", f"{img}-tagged")
    digest = fixtures_info["images"]["busybox"]["digest"]
    blob = subprocess.run([*e.base(SEABOX_CTR), "content", "get", digest], capture_output=True, check=True).stdout
    assert blob == subprocess.run([*e.base("ctr"), "content", "get", digest], capture_output=True, check=True).stdout
    lease = e.sctr("leases", "create", "--id", "sbt-lease").stdout.strip()
    assert lease == "sbt-lease" and "sbt-lease" in e.ctr("leases", "ls", "-q").stdout
    e.sctr("leases", "rm", "sbt-lease")


def test_export_import_push_mount_events(env: Env, fixtures_info: dict) -> None:
    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    e.sctr("images", "pull", "--plain-http", img)
    # export with seabox-ctr, import with the real ctr (and back)
    tar = e.tmp / "bb.tar"
    e.sctr("images", "export", str(tar), img)
    e.ctr("images", "rm", img)
    e.ctr("images", "import", str(tar))
    assert img in e.sctr("images", "ls", "-q").stdout.split()
    e.sctr("images", "rm", img)
    e.sctr("images", "import", str(tar))
    assert img in e.ctr("images", "ls", "-q").stdout.split()
    # push a tag to the open registry; the registry serves the same manifest digest
    repo = f"{fixtures_info['registries']['open']['host']}/sbt-{secrets.token_hex(4)}/busybox:pushed"
    e.sctr("images", "tag", img, repo)
    e.sctr("images", "push", "--plain-http", repo)
    e.ctr("images", "rm", repo)
    e.ctr("images", "pull", "--plain-http", repo)
    listed = {ln.split()[0]: ln.split()[2] for ln in e.ctr("images", "ls").stdout.splitlines()[1:]}
    assert listed[repo] == listed[img]
    # mount the image's rootfs read-only, then unmount and drop the view
    target = e.tmp / "mnt"
    target.mkdir()
    e.sctr("images", "mount", img, str(target))
    try:
        assert (target / "bin" / "busybox").exists()
    finally:
        e.sctr("images", "unmount", "--rm", str(target))
    assert not (target / "bin").exists()
    # events: a subscriber sees a run's lifecycle
    proc = subprocess.Popen([*[SEABOX_CTR, "--address", e.address, "--namespace", e.namespace], "events"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        import time

        time.sleep(1.0)
        e.sctr("run", "--rm", "--fifo-dir", e.fifo_dir, img, "sbt-ev", "true")
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    topics = [ln.split()[5] for ln in out.splitlines() if len(ln.split()) > 5]
    for t in ("/containers/create", "/tasks/start", "/tasks/exit", "/tasks/delete", "/containers/delete"):
        assert t in topics, out


def test_signals_forwarded_and_tty_resized(env: Env, fixtures_info: dict) -> None:
    import fcntl
    import os
    import pty
    import signal
    import struct
    import termios
    import time

    e = env
    img = fixtures_info["images"]["busybox"]["ref"]
    e.sctr("images", "pull", "--plain-http", img)
    # without -t, a signal to seabox-ctr reaches the container's process
    cid = f"sbt-{secrets.token_hex(3)}"
    script = "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.1; done"
    proc = subprocess.Popen([SEABOX_CTR, "--address", e.address, "--namespace", e.namespace, "run", "--rm",
                             "--fifo-dir", e.fifo_dir, img, cid, "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 42
        assert proc.stdout.read() == "got-term\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # with -t, the container's pty takes the local size at start and follows SIGWINCH
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    p = subprocess.Popen([SEABOX_CTR, "--address", e.address, "--namespace", e.namespace, "run", "--rm", "-t",
                          "--fifo-dir", e.fifo_dir, img, f"sbt-{secrets.token_hex(3)}", "sh"],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))  # fmt: skip  # the pty is its terminal
    os.close(slave)
    out = b""

    def read_until(marker: bytes, within: float = 15) -> None:
        nonlocal out
        deadline = time.monotonic() + within
        while marker not in out and time.monotonic() < deadline:
            import select

            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                with __import__("contextlib").suppress(OSError):
                    out += os.read(master, 4096)
        assert marker in out, out

    try:
        read_until(b"# ")
        os.write(master, b"echo size-$(stty size | tr ' ' x)\r")
        read_until(b"size-33x111")
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 122, 0, 0))  # the kernel sends SIGWINCH
        time.sleep(1.5)
        os.write(master, b"echo size-$(stty size | tr ' ' x)\r")
        read_until(b"size-44x122")
        os.write(master, b"exit 4\r")
        assert p.wait(timeout=20) == 4
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
