"""scripts/demo-stop.sh (``make demo-stop``) on temp paths, with fake daemons and a fake seabox CLI.

The fakes are small programs called ``seaboxd``, ``seabox-buildd`` and ``seabox``: the daemons
note the signals they get, the CLI logs its arguments and answers ``info`` while the fake
seaboxd is up.  The default network is a real conflist written by the network library into a
temp conf dir (its bridge does not exist; iptables is switched off), so the script's network
step runs the real removal code without touching the host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.network.manager import Networks, Settings

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "demo-stop.sh"
MARK = "# written by seabox's `make demo`: this machine has no internet, the local registry mirrors docker.io\n"

FAKE_DAEMON = f"""#!{sys.executable}
import os, signal, sys, time
name, d = os.path.basename(sys.argv[0]), os.environ["FAKE_DIR"]
def term(*_):
    with open(os.path.join(d, "events"), "a") as f:
        f.write(name + " TERM\\n")
    os.unlink(os.path.join(d, name + ".up"))
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("FAKE_STUBBORN") else term)
open(os.path.join(d, name + ".up"), "w").close()
while True:
    time.sleep(1)
"""

FAKE_CLI = """#!/bin/bash
echo "$*" >> "$FAKE_DIR/seabox.log"
if [[ $1 == info ]]; then [[ -e $FAKE_DIR/seaboxd.up || -e $FAKE_DIR/other-seaboxd ]]; exit; fi
exit 0
"""


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.fake = tmp / "fake"
        self.state = tmp / "demo-state"
        self.hosts = tmp / "certs.d" / "docker.io" / "hosts.toml"
        self.settings = Settings(conf_dir=str(tmp / "net.d"), state_dir=str(tmp / "netstate"),
                                 route_table=str(tmp / "route"), default_bridge="sbtnobridge0", iptables="")  # fmt: skip
        self.procs: list[subprocess.Popen[bytes]] = []
        for d in (self.bin, self.fake, self.state):
            d.mkdir()
        (tmp / "route").write_text("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n")
        for name, text in (("seaboxd", FAKE_DAEMON), ("seabox-buildd", FAKE_DAEMON), ("seabox", FAKE_CLI)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.env = {**os.environ, "FAKE_DIR": str(self.fake), "SEABOX_DEMO_BIN": str(self.bin),
                    "SEABOX_DEMO_STATE": str(self.state), "SEABOX_DEMO_HOSTS_TOML": str(self.hosts),
                    "SEABOX_DEMO_CNI_CONF_DIR": self.settings.conf_dir,
                    "SEABOX_DEMO_NETWORK_STATE": self.settings.state_dir, "SEABOX_DEMO_IPTABLES": "",
                    "SEABOX_DEMO_SYSFS_NET": str(tmp / "sysnet"),
                    "SEABOX_DEMO_STOP_TIMEOUT": "1"}  # fmt: skip

    def start(self, argv: list[str], pidfile: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env={**self.env, **env}, start_new_session=True)
        self.procs.append(proc)
        (self.state / pidfile).write_text(f"{proc.pid}\n")
        return proc

    def start_daemon(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        proc = self.start([str(self.bin / name)], f"{name}.pid", **env)
        deadline = time.monotonic() + 10
        while not (self.fake / f"{name}.up").exists():
            assert proc.poll() is None and time.monotonic() < deadline, f"fake {name} did not start"
            time.sleep(0.02)
        return proc

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPT)], env=self.env, capture_output=True, text=True, timeout=60)

    def read(self, name: str) -> str:
        p = self.fake / name
        return p.read_text() if p.exists() else ""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    try:
        yield e
    finally:
        for proc in e.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None


def test_stops_what_the_demo_started_and_removes_what_it_created(env: Env) -> None:
    seaboxd = env.start_daemon("seaboxd")
    buildd = env.start_daemon("seabox-buildd")
    (env.state / "pulled-nginx").touch()
    env.hosts.parent.mkdir(parents=True)
    env.hosts.write_text(MARK + 'server = "https://registry-1.docker.io"\n')
    net = Networks(env.settings).ensure_default()
    assert Path(net.path).exists() and net.default

    res = env.run()

    assert res.returncode == 0, res.stdout + res.stderr
    assert seaboxd.wait(5) == 0 and buildd.wait(5) == 0  # both exited through their SIGTERM handler
    assert env.read("events").splitlines() == ["seabox-buildd TERM", "seaboxd TERM"]  # buildd first
    cli = env.read("seabox.log").splitlines()
    for call in ("rm -f demo-web", "rmi 127.0.0.1:5001/app/nginx:1.26", "rmi nginx:1.26", "logout 127.0.0.1:5001"):
        assert call in cli, cli
    assert cli.index("rm -f demo-web") < cli.index("rmi nginx:1.26")
    assert not Path(net.path).exists()
    assert Networks(env.settings).list() == []
    assert not env.hosts.exists() and not env.hosts.parent.exists()
    assert not env.state.exists(), list(env.state.iterdir())
    assert "network bridge: removed (bridge sbtnobridge0" in res.stdout, res.stdout


def test_leaves_alone_what_the_demo_did_not_make(env: Env) -> None:
    stranger = env.start(["sleep", "60"], "seaboxd.pid")  # a pid file that now names another program
    (env.fake / "other-seaboxd").touch()  # a seaboxd the demo did not start answers
    env.hosts.parent.mkdir(parents=True)
    env.hosts.write_text('# my own mirror\nserver = "https://registry-1.docker.io"\n')
    net = Networks(env.settings).ensure_default()

    res = env.run()

    assert res.returncode == 0, res.stdout + res.stderr
    assert _alive(stranger)
    assert "rmi nginx:1.26" not in env.read("seabox.log").splitlines()  # the demo did not pull it
    assert Path(net.path).exists()
    assert env.hosts.read_text().startswith("# my own mirror")
    assert "seabox-buildd: not started by the demo" in res.stdout
    assert "left in place" in res.stdout


def test_a_daemon_that_ignores_sigterm_is_killed(env: Env) -> None:
    seaboxd = env.start_daemon("seaboxd", FAKE_STUBBORN="1")

    res = env.run()

    assert res.returncode == 0, res.stdout + res.stderr
    assert seaboxd.wait(5) == -signal.SIGKILL
    assert "sending SIGKILL" in res.stdout
    assert not (env.state / "seaboxd.pid").exists()


def test_a_bridge_with_interfaces_on_it_is_left(env: Env) -> None:
    """Another seaboxd (a test's, with its own state dir) may have containers on the same bridge."""
    net = Networks(env.settings).ensure_default()
    (env.tmp / "sysnet" / net.bridge / "brif" / "veth1234").mkdir(parents=True)

    res = env.run()

    assert res.returncode == 0, res.stdout + res.stderr
    assert Path(net.path).exists()
    assert f"bridge {net.bridge} still has veth1234 attached" in res.stdout, res.stdout
