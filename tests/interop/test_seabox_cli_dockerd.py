"""The `seabox` CLI against Debian's real dockerd: Docker's Engine API is the contract.

A private dockerd (``seabox.testing.peers.dockerd``: temp data/exec root and socket, its own containerd, no bridge,
no iptables, a unique cgroup parent) gets the busybox fixture through ``docker load`` of a
docker-archive made by skopeo from the fixture OCI layout.  Every container runs with
``--network none``.  The docker CLI is the oracle where both can answer the same question.
Teardown removes containers, images, volumes and networks, stops dockerd, kills what is left
of its containerd and shims, unmounts and removes the temp dirs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.testing import peers

pytestmark = [pytest.mark.root, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "busybox:latest"
LOOP = ["sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done"]


@dataclass
class Dockerd:
    """A private dockerd (``seabox.testing.peers.dockerd``) and the two CLIs pointed at it."""

    peer: peers.Dockerd

    @property
    def host(self) -> str:
        return self.peer.host

    @property
    def sock(self) -> Path:
        return self.peer.sock

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.peer.docker(*args, check=check, timeout=timeout)

    def seabox(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "--address", self.host, *args],
                           capture_output=True, text=True, timeout=timeout, input=input)  # fmt: skip
        if check and r.returncode != 0:
            raise AssertionError(f"seabox {' '.join(args)}: {r.returncode} {r.stderr}")
        assert "Traceback" not in r.stderr, r.stderr
        return r


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, fixtures_info: dict) -> Iterator[Dockerd]:
    tmp = tmp_path_factory.mktemp("sbcli")
    with peers.dockerd(tmp / "d") as p:
        d = Dockerd(p)
        try:
            archive = tmp / "busybox.tar"
            layout = fixtures_info["layouts"]["busybox"]
            tag = fixtures_info["images"]["busybox"]["layout_tag"]
            subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", f"docker-archive:{archive}:{IMAGE}"],
                           check=True, capture_output=True, timeout=120)  # fmt: skip
            d.docker("load", "-i", str(archive))
            yield d
        finally:  # containers go with the daemon (peers); what the tests made besides them goes first
            ids = d.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                d.docker("rm", "-f", "-v", *ids, check=False, timeout=60)
            d.docker("volume", "prune", "-f", check=False)
            d.docker("network", "prune", "-f", check=False)


def _name() -> str:
    return f"sbt-{secrets.token_hex(4)}"


def test_run_rm_echo_and_exit_code(dockerd: Dockerd) -> None:
    r = dockerd.seabox("run", "--rm", "--network", "none", IMAGE, "echo", "hi")
    assert r.stdout == "hi\n"
    r = dockerd.seabox("run", "--rm", "--network", "none", IMAGE, "ls", "-l", "/bin/sh")  # -l goes to ls
    assert "/bin/sh -> " in r.stdout
    r = dockerd.seabox("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert dockerd.docker("ps", "-aq").stdout == ""  # --rm removed it


def test_run_stdin_and_env(dockerd: Dockerd, tmp_path: Path) -> None:
    envf = tmp_path / "env"
    envf.write_text("# c\nFROM_FILE=yes\n")
    r = dockerd.seabox("run", "--rm", "-i", "--network", "none", "-e", "A=1", "--env-file", str(envf), "-w", "/etc",
                       "-u", "1000:1000", IMAGE, "sh", "-c", "cat; echo $A $FROM_FILE; pwd; id -u", input="piped\n")  # fmt: skip
    assert r.stdout == "piped\n1 yes\n/etc\n1000\n"


def test_detached_logs_exec_stop_rm(dockerd: Dockerd) -> None:
    name = _name()
    cid = dockerd.seabox("run", "-d", "--name", name, "--network", "none", "-l", "app=web", "--memory", "64m", IMAGE, *LOOP).stdout.strip()
    try:
        assert len(cid) == 64
        deadline = time.monotonic() + 30
        while "started" not in dockerd.seabox("logs", name).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert dockerd.seabox("logs", "--tail", "1", "-t", name).stdout.split(" ", 1)[1] == "started\n"
        assert dockerd.seabox("exec", name, "echo", "inside").stdout == "inside\n"
        assert dockerd.seabox("exec", name, "sh", "-c", "exit 4", check=False).returncode == 4
        assert dockerd.seabox("exec", "-u", "1000", "-w", "/tmp", "-e", "X=y", name, "sh", "-c", "id -u; pwd; echo $X").stdout == "1000\n/tmp\ny\n"
        insp = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert insp["HostConfig"]["Memory"] == 64 << 20 and insp["Config"]["Labels"] == {"app": "web"}
        pid = dockerd.seabox("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        assert pid == dockerd.docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip() and int(pid) > 0
        fmt = "{{.ID}} {{.Names}} {{.Image}} {{.State}}"
        assert dockerd.seabox("ps", "--format", fmt).stdout == dockerd.docker("ps", "--format", fmt).stdout
        assert dockerd.seabox("ps", "-q").stdout == dockerd.docker("ps", "-q").stdout
        table = dockerd.seabox("ps", "--format", "table {{.Names}}\t{{.Label \"app\"}}").stdout.splitlines()
        assert table[0].split() == ["NAMES", "LABEL"] and table[1].split() == [name, "web"]
        js = json.loads(dockerd.seabox("ps", "--format", "json").stdout)
        assert js["Names"] == name and js["State"] == "running" and js["ID"] == cid[:12]
        # the loop's `sleep` child comes and goes between iterations: ask until it is seen
        deadline = time.monotonic() + 10
        top = dockerd.seabox("top", name).stdout
        while "sleep" not in top and time.monotonic() < deadline:
            time.sleep(0.2)
            top = dockerd.seabox("top", name).stdout
        assert "PID" in top.splitlines()[0] and "sleep" in top
        assert dockerd.seabox("stop", "-t", "10", name).stdout == f"{name}\n"
        insp = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert insp["State"]["Running"] is False and insp["State"]["ExitCode"] == 0
        assert dockerd.seabox("wait", name).stdout == "0\n"
        assert name in dockerd.seabox("ps", "-a").stdout and name not in dockerd.seabox("ps").stdout
    finally:
        assert dockerd.seabox("rm", "-f", name).stdout == f"{name}\n"
    assert dockerd.docker("ps", "-aq").stdout == ""


def test_pause_rename_kill_restart(dockerd: Dockerd) -> None:
    name, new = _name(), _name()
    dockerd.seabox("run", "-d", "--name", name, "--network", "none", IMAGE, *LOOP)
    try:
        dockerd.seabox("pause", name)
        assert dockerd.docker("inspect", "-f", "{{.State.Paused}}", name).stdout == "true\n"
        dockerd.seabox("unpause", name)
        dockerd.seabox("rename", name, new)
        assert dockerd.docker("inspect", "-f", "{{.Name}}", new).stdout == f"/{new}\n"
        dockerd.seabox("restart", "-t", "5", new)
        assert dockerd.docker("inspect", "-f", "{{.State.Running}}", new).stdout == "true\n"
        dockerd.seabox("kill", "-s", "KILL", new)
        assert dockerd.seabox("wait", new).stdout == "137\n"
    finally:
        dockerd.seabox("rm", "-f", name, new, check=False)


def test_cp_both_ways(dockerd: Dockerd, tmp_path: Path) -> None:
    name = _name()
    dockerd.seabox("run", "-d", "--name", name, "--network", "none", IMAGE, *LOOP)
    try:
        (tmp_path / "f.txt").write_text("hello\n")
        (tmp_path / "dir" / "sub").mkdir(parents=True)
        (tmp_path / "dir" / "sub" / "x").write_text("x\n")
        dockerd.seabox("cp", str(tmp_path / "f.txt"), f"{name}:/tmp/")
        dockerd.seabox("cp", str(tmp_path / "f.txt"), f"{name}:/tmp/renamed.txt")
        dockerd.seabox("cp", str(tmp_path / "dir"), f"{name}:/tmp/dir")
        out = dockerd.docker("exec", name, "sh", "-c", "cat /tmp/f.txt /tmp/renamed.txt /tmp/dir/sub/x").stdout
        assert out == "hello\nhello\nx\n"
        back = tmp_path / "back"
        back.mkdir()
        dockerd.seabox("cp", f"{name}:/tmp/renamed.txt", str(back))
        dockerd.seabox("cp", f"{name}:/tmp/dir", str(back / "dircopy"))
        dockerd.seabox("cp", f"{name}:/etc/hostname", str(back / "hn"))
        assert (back / "renamed.txt").read_text() == "hello\n"
        assert (back / "dircopy" / "sub" / "x").read_text() == "x\n"
        assert (back / "hn").read_text().strip() == dockerd.docker("inspect", "-f", "{{.Config.Hostname}}", name).stdout.strip()
        r = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "--address", dockerd.host, "cp", f"{name}:/etc/hostname", "-"],
                           capture_output=True)  # fmt: skip
        with tarfile.open(fileobj=__import__("io").BytesIO(r.stdout)) as tar:
            assert tar.getnames() == ["hostname"]
        r = dockerd.seabox("cp", f"{name}:/nonexistent", str(back), check=False)
        assert r.returncode == 1 and r.stderr.count("\n") == 1
    finally:
        dockerd.seabox("rm", "-f", name)


def test_images_tag_rmi_save_load(dockerd: Dockerd, tmp_path: Path) -> None:
    tag = f"sbt/bb:{secrets.token_hex(3)}"
    dockerd.seabox("tag", IMAGE, tag)
    ids = dockerd.seabox("images", "-q").stdout
    assert ids == dockerd.docker("images", "-q").stdout.splitlines()[0] + "\n"
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}}"
    assert sorted(dockerd.seabox("images", "--format", fmt).stdout.splitlines()) == sorted(dockerd.docker("images", "--format", fmt).stdout.splitlines())
    table = dockerd.seabox("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == tag.split(":") for line in table)
    out = tmp_path / "saved.tar"
    dockerd.seabox("save", "-o", str(out), tag)
    with tarfile.open(out) as tar:
        assert "manifest.json" in tar.getnames()
    assert dockerd.seabox("rmi", tag).stdout == f"Untagged: {tag}\n"
    assert dockerd.seabox("load", "-i", str(out)).stdout == f"Loaded image: {tag}\n"
    assert dockerd.seabox("image", "inspect", "-f", "{{.Id}}", tag).stdout == dockerd.docker("image", "inspect", "-f", "{{.Id}}", IMAGE).stdout
    hist = dockerd.seabox("history", tag).stdout.splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"]
    dockerd.seabox("image", "rm", tag)
    r = dockerd.seabox("rmi", tag, check=False)
    assert r.returncode == 1 and r.stderr.startswith("Error response from daemon: No such image")


def test_volumes_and_networks(dockerd: Dockerd) -> None:
    vol, net = _name(), _name()
    assert dockerd.seabox("volume", "create", "--label", "a=b", vol).stdout == f"{vol}\n"
    try:
        ls = dockerd.seabox("volume", "ls").stdout.splitlines()
        assert ls[0].split() == ["DRIVER", "VOLUME", "NAME"] and ["local", vol] in [x.split() for x in ls]
        assert dockerd.seabox("volume", "inspect", "-f", "{{.Name}} {{.Labels.a}}", vol).stdout == f"{vol} b\n"
        r = dockerd.seabox("run", "--rm", "--network", "none", "-v", f"{vol}:/data", IMAGE, "sh", "-c", "echo kept > /data/f")
        r = dockerd.seabox("run", "--rm", "--network", "none", "--mount", f"type=volume,src={vol},dst=/d,readonly", IMAGE, "cat", "/d/f")
        assert r.stdout == "kept\n"
    finally:
        assert dockerd.seabox("volume", "rm", vol).stdout == f"{vol}\n"
    assert vol not in dockerd.docker("volume", "ls", "-q").stdout
    ls = dockerd.seabox("network", "ls").stdout.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert {x.split()[1] for x in ls[1:]} == set(dockerd.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
    # dockerd runs with --bridge=none, but a user bridge network is still created and inspected
    nid = dockerd.seabox("network", "create", "--subnet", "10.251.7.0/24", "--gateway", "10.251.7.1", "--label", "x=1", net).stdout.strip()
    try:
        cfg = json.loads(dockerd.seabox("network", "inspect", "-f", "{{json .IPAM.Config}}", net).stdout)
        assert cfg == [{"Subnet": "10.251.7.0/24", "Gateway": "10.251.7.1"}]
        assert dockerd.docker("network", "inspect", "-f", "{{.Id}}", net).stdout.strip() == nid
    finally:
        assert dockerd.seabox("network", "rm", net).stdout == f"{net}\n"


def test_errors_are_one_line(dockerd: Dockerd) -> None:
    name = _name()
    dockerd.seabox("create", "--name", name, "--network", "none", IMAGE, "true")
    try:
        r = dockerd.seabox("create", "--name", name, "--network", "none", IMAGE, "true", check=False)
        assert r.returncode == 125 and r.stderr.count("\n") == 1 and "is already in use" in r.stderr
    finally:
        dockerd.seabox("rm", name)
    r = dockerd.seabox("run", "--rm", "--pull", "never", "--network", "none", "sbt/absent:1", "true", check=False)
    assert r.returncode == 125 and r.stderr.count("\n") == 1 and "No such image" in r.stderr
    r = dockerd.seabox("stop", "sbt-no-such", check=False)
    assert r.returncode == 1 and r.stderr == "Error response from daemon: No such container: sbt-no-such\n"


def _single_file() -> Path:
    binary = REPO / "dist" / "seabox"
    if not binary.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "build-single-file.sh")], check=True, capture_output=True, timeout=900)
    return binary


def test_single_file_binary_in_a_busybox_container_lists_host_containers(dockerd: Dockerd) -> None:
    binary = _single_file()
    name = _name()
    dockerd.seabox("run", "-d", "--name", name, "--network", "none", IMAGE, *LOOP)
    try:
        # busybox has no libc and no Python: the staticx-wrapped binary brings everything it needs
        r = dockerd.seabox("run", "--rm", "--network", "none", "--tmpfs", "/tmp:exec", "-v", f"{binary}:/usr/local/bin/seabox:ro",
                           "-v", f"{dockerd.sock}:/run/seabox/seaboxd.sock", IMAGE, "/usr/local/bin/seabox", "ps",
                           "--format", "{{.Names}}", check=False)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert name in r.stdout.split()
        r = dockerd.seabox("run", "--rm", "--network", "none", "--tmpfs", "/tmp:exec", "-v", f"{binary}:/seabox:ro", IMAGE,
                           "/seabox", "ps", check=False)  # fmt: skip
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr == ("Cannot connect to seaboxd at unix:///run/seabox/seaboxd.sock. Is seaboxd running? "
                            "Start it with `seaboxd` or `systemctl start seaboxd`.\n")  # fmt: skip
    finally:
        dockerd.seabox("rm", "-f", name)
