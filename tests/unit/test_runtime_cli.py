"""seabox-runc's command line without root: parsing, one-line errors, signals, spec/features."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from seabox.cli import runc as cli
from seabox.errdefs import InvalidArgument
from seabox.runtime.kill import parse_signal


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seabox.cli.runc", *args], capture_output=True, text=True)


@pytest.mark.parametrize(("text", "num"), [("KILL", 9), ("SIGKILL", 9), ("9", 9), ("term", 15), ("SIGUSR1", 10),
                                           ("RTMIN+1", int(signal.SIGRTMIN) + 1)])
def test_parse_signal(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("bad", ["NOPE", "0", "99", ""])
def test_parse_signal_rejects(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(bad)


def test_missing_container_is_one_line(tmp_path: Path) -> None:
    for verb in (["state", "x1"], ["start", "x1"], ["kill", "x1", "KILL"], ["delete", "x1"], ["ps", "x1"]):
        r = run("--root", str(tmp_path), *verb)
        assert r.returncode == 1, verb
        assert r.stderr.strip() == 'seabox-runc: container "x1" does not exist'


def test_bad_flags_and_ids(tmp_path: Path) -> None:
    r = run("--root", str(tmp_path), "create", "--bogus", "x")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    r = run("--root", str(tmp_path), "state", "../etc")
    assert r.returncode != 0 and "invalid container id" in r.stderr
    r = run("--root", str(tmp_path), "--systemd-cgroup", "list")
    assert r.returncode != 0 and "systemd" in r.stderr


def test_list_empty_root(tmp_path: Path) -> None:
    r = run("--root", str(tmp_path / "none"), "list", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = run("--root", str(tmp_path / "none"), "list")
    assert r.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


def test_spec_and_features(tmp_path: Path) -> None:
    r = run("spec", "--bundle", str(tmp_path))
    assert r.returncode == 0
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["process"]["noNewPrivileges"] is True
    r = run("spec", "--bundle", str(tmp_path))
    assert r.returncode != 0 and "exists" in r.stderr
    f = json.loads(run("features").stdout)
    assert f["linux"]["cgroup"] == {"v1": True, "v2": True, "systemd": False, "systemdUser": False}
    assert "rro" in f["mountOptions"]


def test_json_log(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    r = run("--root", str(tmp_path), "--log", str(log), "--log-format", "json", "kill", "nope")
    assert r.returncode == 1
    entry = json.loads(log.read_text())
    assert entry["level"] == "error" and entry["msg"] == 'container "nope" does not exist'


def test_update_flags_build_resources() -> None:
    a = cli.parse_args(["update", "--memory", "64m", "--cpu-shares", "512", "--pids-limit", "20",
                                  "--cpuset-cpus", "0", "x"])
    assert cli._update_resources(a) == {"memory": {"limit": 64 << 20}, "cpu": {"shares": 512, "cpus": "0"},
                                        "pids": {"limit": 20}}


def test_go_style_flags() -> None:
    a = cli.parse_args(["-root", "/r", "--log=/l", "create", "-bundle=/b", "--pid-file", "/p", "-preserve-fds", "2",
                        "cid"])
    assert (a.root, a.log, a.cmd, a.bundle, a.pid_file, a.preserve_fds, a.id) == ("/r", "/l", "create", "/b", "/p",
                                                                                 2, "cid")
    e = cli.parse_args(["exec", "-e", "A=1", "--env", "B=2", "-t", "cid", "sh", "-c", "echo -n x"])
    assert (e.env, e.tty, e.id, e.args) == (["A=1", "B=2"], True, "cid", ["sh", "-c", "echo -n x"])
    k = cli.parse_args(["kill", "--all", "cid", "9"])
    assert (k.all, k.id, k.signal) == (True, "cid", "9")
    assert cli.parse_args(["kill", "cid"]).signal == "SIGTERM"
    with pytest.raises(InvalidArgument, match="not defined"):
        cli.parse_args(["delete", "--bogus", "cid"])
    with pytest.raises(InvalidArgument, match="id required"):
        cli.parse_args(["start"])
    with pytest.raises(InvalidArgument, match="unknown command"):
        cli.parse_args(["frobnicate"])


def test_help() -> None:
    r = run("--help")
    assert r.returncode == 0 and "usage:" in r.stdout


def test_force_delete_of_missing_container_succeeds(tmp_path: Path) -> None:
    assert run("--root", str(tmp_path), "delete", "--force", "gone").returncode == 0
    (tmp_path / "half").mkdir()  # an aborted create: directory without state.json
    assert run("--root", str(tmp_path), "delete", "half").returncode == 1
    assert not (tmp_path / "half").exists()
