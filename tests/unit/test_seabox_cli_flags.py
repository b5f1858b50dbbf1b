"""The `seabox` command line: docker's flag grammar, errors, settings precedence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seabox.cli import seabox as cli
from seabox.cli.seabox_commands import GROUPS, TOP
from seabox.cli.seabox_flags import UsageError, bind_args, parse


def _parse(cmd: str, argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    c = TOP[cmd]
    vals, pos, _ = parse(c.flags, argv, c.interspersed)
    return vals, bind_args(c, pos, "seabox")


def test_options_stop_at_the_image() -> None:
    vals, args = _parse("run", ["--rm", "-it", "busybox", "ls", "-l", "/", "--rm"])
    assert vals == {"rm": True, "interactive": True, "tty": True}
    assert args == {"image": "busybox", "command": ["ls", "-l", "/", "--rm"]}


def test_short_flags_values_and_bool_forms() -> None:
    vals, args = _parse("run", ["-dp8080:80", "-p", "9090:90", "-e=A=1", "--privileged=true", "--rm=false",
                                "--name=web", "-v", "/a:/b:ro", "img"])  # fmt: skip
    assert vals["detach"] is True and vals["publish"] == ["8080:80", "9090:90"]
    assert vals["env"] == ["A=1"] and vals["privileged"] is True and vals["rm"] is False
    assert vals["name"] == "web" and vals["volume"] == ["/a:/b:ro"] and args["image"] == "img"


def test_double_dash_and_interspersed_commands() -> None:
    vals, args = _parse("rm", ["web", "-f", "db"])
    assert vals == {"force": True} and args == {"containers": ["web", "db"]}
    _vals, args = _parse("run", ["--", "img", "-x"])
    assert args == {"image": "img", "command": ["-x"]}


def test_exec_stops_at_container() -> None:
    vals, args = _parse("exec", ["-it", "-u", "1000", "web", "sh", "-c", "id -u"])
    assert vals == {"interactive": True, "tty": True, "user": "1000"}
    assert args == {"container": "web", "command": ["sh", "-c", "id -u"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["-z", "img"], "unknown shorthand flag: 'z' in -z"),
        (["--name"], "flag needs an argument: --name"),
        (["-p"], "flag needs an argument: 'p' in -p"),
        (["--rm=maybe", "img"], 'invalid argument "maybe" for "--rm" flag'),
        (["--stop-timeout", "x", "img"], 'invalid argument "x" for "--stop-timeout" flag'),
    ],
)
def test_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        _parse("run", argv)
    assert e.value.message.startswith(message)


def test_argument_counts() -> None:
    with pytest.raises(UsageError, match='"seabox run" requires at least 1 argument'):
        _parse("run", [])
    with pytest.raises(UsageError, match='"seabox rename" requires exactly 2 arguments'):
        _parse("rename", ["a"])
    with pytest.raises(UsageError, match='"seabox ps" accepts no arguments'):
        _parse("ps", ["x"])


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "seabox.cli.seabox", *args], capture_output=True, text=True, env=e)


def test_unknown_flag_is_two_docker_lines_exit_125() -> None:
    r = _run("run", "--foo", "busybox")
    assert r.returncode == 125
    assert r.stderr == "unknown flag: --foo\nSee 'seabox run --help'.\n"
    r = _run("network", "ls", "--bar")
    assert r.stderr == "unknown flag: --bar\nSee 'seabox network ls --help'.\n"


def test_daemon_not_running_one_line(tmp_path: Path) -> None:
    r = _run("--address", f"unix://{tmp_path}/none.sock", "ps")
    assert r.returncode == 1
    assert r.stderr == (
        f"Cannot connect to seaboxd at unix://{tmp_path}/none.sock. Is seaboxd running? "
        "Start it with `seaboxd` or `systemctl start seaboxd`.\n"
    )
    r = _run("run", "busybox", SEABOX_ADDRESS=str(tmp_path / "x.sock"))
    assert r.returncode == 125 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_bad_run_values_are_one_line(tmp_path: Path) -> None:
    for flags in (["-p", "99999:80"], ["--memory", "lots"], ["--restart", "sometimes"], ["--add-host", "nocolon"]):
        r = _run("--address", str(tmp_path / "s.sock"), "run", *flags, "busybox")
        assert r.returncode == 125, (flags, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


def test_malformed_reference_is_refused_before_anything_else(tmp_path: Path) -> None:
    for cmd in (["pull", "::bad::"], ["push", "x:"]):
        r = _run("--address", f"unix://{tmp_path}/none.sock", *cmd)  # no daemon: the check comes first
        assert r.returncode == 1 and r.stdout == "", (cmd, r.stdout)
        assert r.stderr.startswith("Error: invalid reference format") and r.stderr.count("\n") == 1, r.stderr


def test_help_and_version() -> None:
    r = _run("run", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage:  seabox run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    assert "--publish" in r.stdout
    r = _run("--help")
    assert "Management Commands:" in r.stdout and "network" in r.stdout
    assert "\n  build       Build an image from a Dockerfile" in r.stdout  # dispatched to seabox-buildd
    r = _run("volume")
    assert r.returncode == 0 and "Manage volumes" in r.stdout
    assert _run("--version").stdout.startswith("seabox version ")
    r = _run("frobnicate")
    assert r.returncode == 125 and r.stderr.startswith('unknown command "frobnicate" for "seabox"')


def test_settings_precedence(tmp_path: Path) -> None:
    sysconf = tmp_path / "etc.toml"
    sysconf.write_text('address = "unix:///sys.sock"\nnamespace = "sysns"\ninsecure-registry = ["a:5000"]\n')
    (tmp_path / "xdg" / "seabox").mkdir(parents=True)
    (tmp_path / "xdg" / "seabox" / "seabox.toml").write_text('namespace = "userns"\n')
    env = {"SEABOX_SYSTEM_CONFIG": str(sysconf), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    s = cli.load_settings({}, env)
    assert s["address"] == "unix:///sys.sock" and s["namespace"] == "userns" and s["insecure_registry"] == ["a:5000"]
    s = cli.load_settings({}, {**env, "SEABOX_ADDRESS": "/env.sock"})
    assert s["address"] == "/env.sock"
    s = cli.load_settings({"address": "/flag.sock", "namespace": "flagns"}, {**env, "SEABOX_ADDRESS": "/env.sock"})
    assert s["address"] == "/flag.sock" and s["namespace"] == "flagns"
    (tmp_path / "xdg" / "seabox" / "seabox.toml").write_text('bogus = 1\n')
    with pytest.raises(UsageError, match='unknown key "bogus"'):
        cli.load_settings({}, env)


def test_global_flags_after_the_command() -> None:
    c = TOP["ps"]
    from seabox.cli.seabox_commands import GLOBAL_FLAGS

    vals, _pos, extra = parse(c.flags, ["-a", "--namespace", "k8s", "--address=/x.sock"], extra=GLOBAL_FLAGS)
    assert vals == {"all": True} and extra == {"namespace": "k8s", "address": "/x.sock"}


def test_every_command_names_an_existing_function() -> None:
    import importlib

    cmds = list(TOP.values()) + [c for _h, cs in GROUPS.values() for c in cs]
    for c in cmds:
        mod, _, fn = c.func.partition(":")
        assert callable(getattr(importlib.import_module(f"seabox.client.{mod}"), fn)), c.func


def test_cli_imports_no_grpc_or_protobuf() -> None:
    code = (
        "import sys; from seabox.cli import seabox; "
        "seabox.main(['--address', '/nonexistent.sock', 'ps']); "
        "bad = [m for m in sys.modules if m.startswith(('grpc', 'google.protobuf'))]; print(bad)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip().endswith("[]"), r.stdout + r.stderr
