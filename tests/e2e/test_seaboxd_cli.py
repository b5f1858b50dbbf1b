"""The seaboxd command: help, config printing, bad input, socket lifecycle, restarts.

These start the real daemon process (seabox.daemon.testing) in temp dirs; they need no
root, and every daemon is stopped in teardown.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2

from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2_grpc as ingrpc
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2 as npb
from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as ngrpc
from seabox.daemon import config
from seabox.daemon.testing import seaboxd

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seabox.cli.seaboxd", *args], capture_output=True, text=True,
                          timeout=60)


def test_help() -> None:
    p = run("--help")
    assert p.returncode == 0
    for flag in ("--config", "--root", "--state", "--address", "--log-level"):
        assert flag in p.stdout


def test_config_default_is_complete_and_commented() -> None:
    p = run("config", "default")
    assert p.returncode == 0
    got = config.parse(p.stdout)
    # the printed values are the defaults: the daemon's own fields, and the [engine] and
    # [plugins.cri] tables give the same settings as no table at all
    assert dataclasses.replace(got, engine={}, plugins={}) == config.Config()
    assert set(got.engine) == {"hosts_dir", "docker_config", "init_path", "network"}
    assert set(got.plugins) == {"cri"}
    assert p.stdout.count("#") > 10
    for key in ("root", "state", "address", "level", "max_workers"):
        assert f"\n{key} = " in p.stdout or f"{key} = " in p.stdout


def test_config_dump_applies_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('root = "/srv/seabox"\n[log]\nlevel = "debug"\n')
    p = run("--config", str(cfg), "--state", "/tmp/st", "config", "dump")
    assert p.returncode == 0, p.stderr
    got = config.parse(p.stdout)
    assert (got.root, got.state, got.log.level) == ("/srv/seabox", "/tmp/st", "debug")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("root = [", "config"),
        ('nonsense = "x"', 'unknown key "nonsense"'),
        ("[grpc]\nmax_workers = \"many\"", "grpc.max_workers"),
        ('[log]\nlevel = "loud"', "log level"),
        ('[engine]\nhost_dir = "/x"', 'unknown key "host_dir"'),
        ('[engine.network]\nsubnet = "10.9.0.0/24"', 'unknown network setting "subnet"'),
        ('[plugins.cri]\nsandbox_imag = "x"', 'plugins.cri.sandbox_imag'),
        ('[plugins.crii]\nenabled = true', 'unknown plugin "plugins.crii"'),
    ],
)
def test_bad_config_is_one_line_error(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    p = run("--config", str(cfg), "--root", str(tmp_path / "r"), "--address", str(tmp_path / "s.sock"))
    assert p.returncode != 0
    assert needle in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    p = run("--config", str(tmp_path / "absent.toml"), "config", "dump")
    assert p.returncode != 0 and "absent.toml" in p.stderr and "Traceback" not in p.stderr


def test_serves_with_mode_0660_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    with seaboxd(tmp_path / "d") as d:
        assert d.address.stat().st_mode & 0o777 == 0o660
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(30) == 0
    assert not d.address.exists()
    log = d.log_text()
    assert "level=info msg=serving" in log and "msg=stopped" in log and "Traceback" not in log


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    with seaboxd(tmp_path / "d") as d:
        d.proc.send_signal(signal.SIGINT)
        assert d.proc.wait(30) == 0
    assert not d.address.exists()


def test_refuses_a_live_socket_and_replaces_a_stale_one(tmp_path: Path) -> None:
    with seaboxd(tmp_path / "d") as d:
        p = run("--root", str(tmp_path / "r2"), "--state", str(tmp_path / "s2"), "--address", str(d.address),
                "--config", "/dev/null")
        assert p.returncode != 0 and "another daemon is serving" in p.stderr
        assert d.address.exists()  # the loser did not remove the winner's socket
    stale = tmp_path / "e" / "seaboxd.sock"
    stale.parent.mkdir()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # a socket file nobody listens on, as a crashed daemon leaves
    with seaboxd(tmp_path / "e") as d2:
        assert d2.proc.poll() is None


def test_state_survives_restart(tmp_path: Path) -> None:
    with seaboxd(tmp_path / "d") as d:
        ch = grpc.insecure_channel(f"unix:{d.address}")
        ngrpc.NamespacesStub(ch).Create(npb.CreateNamespaceRequest(namespace=npb.Namespace(name="kept",
                                                                                           labels={"a": "b"})))
        uuid = ingrpc.IntrospectionStub(ch).Server(empty_pb2.Empty()).uuid
        ch.close()
    with seaboxd(tmp_path / "d") as d:
        ch = grpc.insecure_channel(f"unix:{d.address}")
        got = ngrpc.NamespacesStub(ch).Get(npb.GetNamespaceRequest(name="kept")).namespace
        assert dict(got.labels) == {"a": "b"}
        assert ingrpc.IntrospectionStub(ch).Server(empty_pb2.Empty()).uuid == uuid
        ch.close()


def test_json_logs(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[log]\nformat = "json"\nlevel = "debug"\n')
    with seaboxd(tmp_path / "d") as d:
        pass
    plain = d.log_text()
    assert "msg=serving" in plain
    workdir = tmp_path / "j"
    workdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "seabox.cli.seaboxd", "--config", str(cfg), "--root", str(workdir / "r"),
         "--state", str(workdir / "s"), "--address", str(workdir / "s.sock")],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        # every line is one JSON object; the daemon announces "serving" once it listens
        while True:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            assert line, "seaboxd exited before serving"
            record = json.loads(line)
            if record["msg"] == "serving":
                break
        assert record["level"] == "info" and record["address"].endswith("s.sock")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert not (workdir / "s.sock").exists()
