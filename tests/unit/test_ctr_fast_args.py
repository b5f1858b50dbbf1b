"""seabox-ctr's argparse-free reading of ``run`` command lines gives exactly argparse's
namespace, and hands every line it is unsure of to argparse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seabox.cli import ctr as cli

FAST = [
    ["run", "img", "c1"],
    ["run", "--rm", "img", "c1", "id", "true"],
    ["-a", "/x.sock", "-n", "ns1", "run", "--rm", "--fifo-dir", "/f", "img:1", "c1", "true"],
    ["--address", "/x.sock", "--namespace=ns2", "--debug", "--timeout", "5s", "--connect-timeout=1s", "run", "i", "c"],
    ["run", "--rm", "-t", "--env", "A=1", "--env", "B=2", "--cwd", "/w", "--mount", "type=bind,src=/a,dst=/b,options=rbind:ro",
     "--net-host", "--memory-limit", "1024", "--cpus", "1.5", "--privileged", "--runtime", "io.seabox.v1",
     "--snapshotter", "native", "--label", "k=v", "img:1", "c1", "sh", "-c", "echo -n hi"],
    ["run", "-d", "--null-io", "--cni", "--read-only", "--allow-new-privs", "--rootfs", "--tty", "--detach", "i", "c"],
    ["run", "--config", "/c.json", "-c", "/d.json", "--env-file=/e", "--pid-file", "/p", "--user", "1:2", "--cgroup", "",
     "--platform", "linux/amd64", "--cpu-shares", "512", "--annotation", "a=b", "--cap-add", "NET_ADMIN",
     "--cap-drop", "CHOWN", "--label=x=y", "--memory-limit=7", "--cpus=2", "i", "c"],
    ["run", "img", "c1", "--rm", "-h", "--env", "X", "-la"],  # after the id, everything is the command
    ["run", "img", "c1", "sh", "-c", "--"[0:1]],
    ["run", "--cwd=", "--env=-x", "img", "c1"],
]  # fmt: skip

SLOW = [
    ["run"], ["run", "img"], ["run", "-h"], ["--help"], ["-v"], ["run", "--nul", "i", "c"], ["run", "-td", "i", "c"],
    ["run", "img", "--rm", "c1"], ["run", "--rm=1", "i", "c"], ["run", "--cwd", "-x", "i", "c"], ["run", "--cwd"],
    ["run", "--memory-limit", "lots", "i", "c"], ["run", "--cpus", "x", "i", "c"], ["run", "--address", "/a", "i", "c"],
    ["--rm", "run", "i", "c"], ["-a/x.sock", "run", "i", "c"], ["run", "--", "i", "c"], ["run", "i", "c", "--", "x"],
    ["x", "run", "i", "c"], ["run", "-t=1", "i", "c"], ["run", "--memory-limit", "-5", "i", "c"], ["run", "--bogus", "i", "c"],
]  # fmt: skip


def _argparse(argv: list[str]) -> dict[str, object]:
    return vars(cli.build_parser("run").parse_args(argv))


@pytest.mark.parametrize("argv", FAST, ids=[" ".join(a)[:60] for a in FAST])
def test_fast_equals_argparse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ({}, {"CONTAINERD_SNAPSHOTTER": "native", "CONTAINERD_ADDRESS": "/e.sock", "CONTAINERD_NAMESPACE": "e"}):
        for k in ("CONTAINERD_SNAPSHOTTER", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "SEABOX_ADDRESS"):
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        fast = cli.fast_run_args(argv)
        assert fast is not None, argv
        assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", SLOW, ids=[" ".join(a)[:60] for a in SLOW])
def test_unsure_lines_go_to_argparse(argv: list[str]) -> None:
    assert cli.fast_run_args(argv) is None


def test_errors_stay_argparses() -> None:
    for argv in (["run", "--nope", "i", "c"], ["run", "i"], ["run", "--memory-limit", "lots", "i", "c"]):
        res = subprocess.run([sys.executable, "-m", "seabox.cli.ctr", *argv], capture_output=True, text=True)
        assert res.returncode == 1 and res.stderr.startswith("ctr: ") and len(res.stderr.splitlines()) == 1, res.stderr
    res = subprocess.run([sys.executable, "-m", "seabox.cli.ctr", "run", "-h"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: ctr run" in res.stdout


def test_run_path_imports_neither_argparse_nor_protobuf(tmp_path: object) -> None:
    """What ``run`` loads before it reaches the daemon (here: none, so it fails to connect)."""
    code = ("import sys; from seabox.cli import ctr; rc = ctr.main(['-a', sys.argv[1], 'run', '--rm', 'img', 'c1', 'true']); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('argparse', 'google', 'dataclasses', 'grpc')))")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code, f"{tmp_path}/none.sock"], capture_output=True, text=True, check=True)
    assert res.stdout.split(" ", 1) == ["1", "[]\n"], res.stdout + res.stderr
    assert res.stderr.startswith("ctr: cannot connect to seaboxd at")
