"""The `seabox` CLI end to end against a real seaboxd (its Docker Engine API endpoint).

One private seaboxd per module (own root/state/socket, own CNI conf dir, bridge names
``sbt-<hex>``, admin chain and subnet; a docker.io mirror ``hosts.toml`` pointing at the
fixture registry).  The walkthrough users follow, with `seabox` in place of nerdctl: pull with
progress, images, run --rm, run -d -p with a page fetched from 127.0.0.1, logs/exec/cp/inspect,
the Jenkins-style command with the single-file `seabox ps` inside it, a user network reached by
name, volumes.  Teardown removes every container and network through the CLI, then purges shims,
networks, bridges, iptables chains and mounts.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.daemon.testing import RunningDaemon
from seabox.engine.testing import PrivateEngine, private_engine
from seabox.network import subnets

pytestmark = [pytest.mark.e2e, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
CNI_BIN = "/usr/lib/cni"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Env:
    d: RunningDaemon
    work: Path
    tag: str

    def name(self, what: str) -> str:
        return f"{self.tag}-{what}"

    def seabox(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "--address", str(self.d.address), *args],
                           capture_output=True, text=True, timeout=timeout, input=input)  # fmt: skip
        if check and r.returncode != 0:
            raise AssertionError(f"seabox {' '.join(args)}: {r.returncode} {r.stderr}\n{self.d.log_text()[-2000:]}")
        assert "Traceback" not in r.stderr, r.stderr
        return r


@pytest.fixture(scope="module")
def env(fixtures_info: dict) -> Iterator[Env]:
    made: list[Env] = []

    def remove_all(p: PrivateEngine) -> None:
        e = made[0]
        ids = e.seabox("ps", "-aq", "--no-trunc", check=False).stdout.split()
        if ids:
            e.seabox("rm", "-f", "-v", *ids, check=False)
        for n in e.seabox("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
            if n.startswith(p.tag):
                e.seabox("network", "rm", n, check=False)

    start = ipaddress.IPv4Network(f"10.{200 + secrets.randbelow(40)}.{secrets.randbelow(200)}.0/24")
    subnet = str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))
    state = Path(f"/tmp/sbt{secrets.token_hex(3)}")  # shim socket paths must stay short
    with private_engine(fixtures_info["registries"]["open"]["host"], state, subnet, CNI_BIN,
                        before_stop=remove_all) as p:
        e = Env(p.d, p.work, p.tag)
        made.append(e)
        yield e


def test_pull_progress_and_images(env: Env) -> None:
    r = env.seabox("pull", "busybox")
    lines = r.stdout.splitlines()
    assert lines[0] == "Using default tag: latest" and lines[-1] == "docker.io/library/busybox:latest"
    assert any(x.startswith("Digest: sha256:") for x in lines) and any(x.startswith("Status: ") for x in lines)
    table = env.seabox("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert table[1].split()[:2] == ["busybox", "latest"]
    assert env.seabox("pull", "-q", "busybox:latest").stdout == "docker.io/library/busybox:latest\n"


def test_run_rm_echo_args_and_exit_code(env: Env) -> None:
    env.seabox("pull", "-q", "busybox")
    assert env.seabox("run", "--rm", "--network", "none", "busybox", "echo", "hi").stdout == "hi\n"
    assert "/bin/sh -> " in env.seabox("run", "--rm", "--network", "none", "busybox", "ls", "-l", "/bin/sh").stdout
    r = env.seabox("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo o; echo e >&2; exit 7", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (7, "o\n", "e\n")
    r = env.seabox("run", "--rm", "-i", "--network", "none", "busybox", "cat", input="through stdin\n")
    assert r.stdout == "through stdin\n"
    assert env.seabox("ps", "-aq").stdout == ""


def test_detached_lifecycle_logs_exec_cp_inspect(env: Env, tmp_path: Path) -> None:
    name = env.name("life")
    cid = env.seabox("run", "-d", "--name", name, "--network", "none", "-l", "app=x", "busybox", "sh", "-c",
                     "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()  # fmt: skip
    try:
        assert len(cid) == 64
        deadline = time.monotonic() + 20
        while "started" not in env.seabox("logs", name).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert env.seabox("exec", name, "sh", "-c", "echo $0 inside", "x").stdout == "x inside\n"
        assert env.seabox("exec", name, "sh", "-c", "exit 4", check=False).returncode == 4
        pid = int(env.seabox("inspect", "-f", "{{.State.Pid}}", name).stdout)
        assert Path(f"/proc/{pid}").exists()
        assert env.seabox("ps", "--format", "{{.Names}} {{.Label \"app\"}}").stdout == f"{name} x\n"
        (tmp_path / "in.txt").write_text("copied in\n")
        env.seabox("cp", str(tmp_path / "in.txt"), f"{name}:/tmp/")
        assert env.seabox("exec", name, "cat", "/tmp/in.txt").stdout == "copied in\n"
        env.seabox("cp", f"{name}:/tmp/in.txt", str(tmp_path / "out.txt"))
        assert (tmp_path / "out.txt").read_text() == "copied in\n"
        assert env.seabox("stop", name).stdout == f"{name}\n"
        assert env.seabox("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", name).stdout == "false 0\n"
    finally:
        env.seabox("rm", "-f", name, check=False)


def test_published_port_page_then_gone_after_rm(env: Env) -> None:
    port = _free_port()
    name = env.name("web")
    env.seabox("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
               "mkdir -p /www && echo sbt-page > /www/index.html && exec httpd -f -p 80 -h /www")  # fmt: skip
    try:
        assert env.seabox("port", name).stdout == f"80/tcp -> 127.0.0.1:{port}\n"
        body = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"sbt-page\n"
        assert f"127.0.0.1:{port}->80/tcp" in env.seabox("ps", "--format", "{{.Ports}}").stdout
    finally:
        env.seabox("rm", "-f", name)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()


def test_user_network_reach_by_name(env: Env) -> None:
    net, srv = env.name("net"), env.name("srv")
    env.seabox("network", "create", net)
    try:
        assert net in env.seabox("network", "ls", "--format", "{{.Name}}").stdout.split()
        env.seabox("run", "-d", "--name", srv, "--network", net, "busybox", "sleep", "600")
        r = env.seabox("run", "--rm", "--network", net, "busybox", "ping", "-c", "1", "-W", "5", srv, check=False)
        assert r.returncode == 0 and "1 packets received" in r.stdout, r.stdout + r.stderr
    finally:
        env.seabox("rm", "-f", srv, check=False)
        env.seabox("network", "rm", net)


def test_jenkins_command_and_single_file_ps_inside(env: Env) -> None:
    binary = REPO / "dist" / "seabox"
    if not binary.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "build-single-file.sh")], check=True, capture_output=True, timeout=900)
    port1, port2 = _free_port(), _free_port()
    name, vol = env.name("jenkins"), env.name("jhome")
    env.seabox(
        "run", "-d", "--name", name, "--hostname", "jenkins.example.test", "--restart=always",
        "-p", f"127.0.0.1:{port1}:8080", "-p", f"127.0.0.1:{port2}:50000", "-u", "root", "--privileged=true",
        "-e", "TZ=Asia/Shanghai", "-v", "/etc/localtime:/etc/localtime:ro", "-v", f"{vol}:/var/jenkins_home",
        "-v", f"{binary}:/usr/local/bin/seabox", "-v", f"{env.d.address}:/run/seabox/seaboxd.sock",
        "--tmpfs", "/tmp:exec", "--add-host", "gitlab.example.test:10.0.0.110", "--add-host", "harbor.example.test:10.0.0.185",
        "busybox", "sleep", "600",
    )  # fmt: skip
    try:
        assert env.seabox("exec", name, "hostname").stdout == "jenkins.example.test\n"
        assert "TZ=Asia/Shanghai" in env.seabox("exec", name, "env").stdout
        hosts = env.seabox("exec", name, "cat", "/etc/hosts").stdout
        assert "10.0.0.110" in hosts and "harbor.example.test" in hosts
        assert env.seabox("exec", name, "sh", "-c", "echo x > /etc/localtime", check=False).returncode != 0
        env.seabox("exec", name, "sh", "-c", "echo kept > /var/jenkins_home/f")
        assert env.seabox("volume", "inspect", "-f", "{{.Name}}", vol).stdout == f"{vol}\n"
        caps = env.seabox("exec", name, "grep", "CapEff", "/proc/1/status").stdout.split()[1]
        assert int(caps, 16) & (1 << 21)
        r = env.seabox("exec", name, "seabox", "ps", "--format", "{{.Names}} {{.Status}}", check=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{name} Up"), r.stdout
    finally:
        env.seabox("rm", "-f", name)
        env.seabox("volume", "rm", vol)
    assert vol not in env.seabox("volume", "ls", "-q").stdout.split()


def test_errors_one_line(env: Env) -> None:
    name = env.name("dup")
    env.seabox("create", "--name", name, "--network", "none", "busybox", "true")
    try:
        r = env.seabox("create", "--name", name, "--network", "none", "busybox", "true", check=False)
        assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    finally:
        env.seabox("rm", name)
    r = env.seabox("run", "--rm", "--network", "none", f"{env.tag}/absent:1", "true", check=False)
    assert r.returncode == 125
    assert r.stderr.splitlines()[0] == f"Unable to find image '{env.tag}/absent:1' locally"
    last = r.stderr.splitlines()[-1]  # after any progress lines: one error line
    assert last.startswith("seabox: Error") and "pull access denied" in last, r.stderr


def test_login_pull_with_stored_credentials_logout(env: Env, fixtures_info: dict, tmp_path: Path) -> None:
    """login checks the registry and writes docker's config.json; pull sends X-Registry-Auth from it."""
    reg = fixtures_info["registries"]["auth"]
    ref = fixtures_info["images"]["auth-busybox"]["ref"]
    cfg = tmp_path / "docker-config"
    base = ["--config", str(cfg), "--insecure-registry", reg["host"]]
    r = env.seabox(*base, "login", reg["host"], "-u", reg["username"], "--password-stdin", input="wrong\n", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and not (cfg / "config.json").exists(), r.stderr
    r = env.seabox(*base, "login", reg["host"], "-u", reg["username"], "--password-stdin", input=reg["password"] + "\n")
    assert r.stdout == "Login Succeeded\n"
    auths = json.loads((cfg / "config.json").read_text())["auths"]
    assert reg["host"] in auths
    r = env.seabox(*base, "pull", "-q", ref)
    assert r.stdout.strip() == ref
    assert env.seabox("image", "inspect", "-f", "{{.Id}}", ref).stdout.startswith("sha256:")
    env.seabox("rmi", ref)
    assert env.seabox(*base, "logout", reg["host"]).stdout == f"Removing login credentials for {reg['host']}\n"
    r = env.seabox(*base, "pull", "-q", ref, check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr


def test_port_already_in_use_is_one_line(env: Env) -> None:
    port = _free_port()
    a, b = env.name("pa"), env.name("pb")
    env.seabox("run", "-d", "--name", a, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "600")
    try:
        r = env.seabox("run", "-d", "--name", b, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "600", check=False)
        assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
        assert "already" in r.stderr or "in use" in r.stderr, r.stderr
    finally:
        env.seabox("rm", "-f", a, b, check=False)
