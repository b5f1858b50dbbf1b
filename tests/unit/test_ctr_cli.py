"""seabox-ctr's command line: ctr's flags parsed into the library's options, errors as one line.

The library functions are replaced by recorders, so these tests need no daemon and no grpc.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from seabox.cli import ctr as cli
from seabox.ctr import client as C


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    got: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str) -> Any:
        def fn(*a: Any, **kw: Any) -> int:
            got.append((name, a, kw))
            return 0

        return fn

    import seabox.ctr.containers as containers
    import seabox.ctr.images as images
    import seabox.ctr.run as run
    import seabox.ctr.tasks as tasks

    monkeypatch.setattr(run, "run", recorder("run"))
    monkeypatch.setattr(images, "pull", recorder("pull"))
    monkeypatch.setattr(images, "ls", recorder("images.ls"))
    monkeypatch.setattr(tasks, "kill", recorder("kill"))
    monkeypatch.setattr(tasks, "exec_", recorder("exec"))
    monkeypatch.setattr(tasks, "ls", recorder("tasks.ls"))
    monkeypatch.setattr(containers, "remove", recorder("containers.rm"))
    return got


def test_run_flags(calls: list) -> None:
    rc = cli.main(["-a", "/x.sock", "-n", "ns1", "run", "--rm", "-t", "--env", "A=1", "--env", "B=2", "--cwd", "/w",
                   "--mount", "type=bind,src=/a,dst=/b,options=rbind:ro", "--net-host", "--memory-limit", "1024",
                   "--cpus", "1.5", "--privileged", "--runtime", "io.seabox.v1", "--snapshotter", "native",
                   "--label", "k=v", "img:1", "c1", "sh", "-c", "echo -n hi"])  # fmt: skip
    assert rc == 0
    (name, (client, opts), _), = calls
    assert name == "run" and client.address == "/x.sock" and client.namespace == "ns1"
    assert opts.rm and not opts.detach
    c = opts.create
    assert (c.image, c.id, c.runtime, c.snapshotter, c.labels) == ("img:1", "c1", "io.seabox.v1", "native", {"k": "v"})
    s = c.spec
    assert s.args == ["sh", "-c", "echo -n hi"] and s.env == ["A=1", "B=2"] and s.cwd == "/w" and s.tty
    assert s.mounts[0].destination == "/b" and s.mounts[0].options == ("rbind", "ro")
    assert s.net_host and s.privileged and s.memory_limit == 1024 and s.cpus == 1.5


def test_pull_flags(calls: list) -> None:
    assert cli.main(["images", "pull", "--plain-http", "--user", "admin:pw", "--platform", "linux/arm64",
                     "--hosts-dir", "/h", "r:1"]) == 0  # fmt: skip
    (name, (_, opts, _out), _), = calls
    assert name == "pull"
    assert (opts.ref, opts.user, opts.plain_http, opts.platform, opts.hosts_dir) == ("r:1", "admin:pw", True, "linux/arm64", "/h")
    assert not opts.all_platforms


def test_aliases_and_task_flags(calls: list) -> None:
    assert cli.main(["i", "ls", "-q"]) == 0
    assert cli.main(["t", "kill", "-s", "9", "--all", "c1"]) == 0
    assert cli.main(["task", "exec", "-t", "--exec-id", "sh", "c1", "/bin/sh", "-l"]) == 0
    assert cli.main(["c", "delete", "a", "b"]) == 0
    assert [c[0] for c in calls] == ["images.ls", "kill", "exec", "containers.rm"]
    assert calls[0][2]["quiet"] is True
    assert calls[1][2] == {"sig": "9", "exec_id": "", "all_": True}
    _, (_, cid, args, io), kw = calls[2]
    assert (cid, args, io.terminal, kw["exec_id"]) == ("c1", ["/bin/sh", "-l"], True, "sh")
    assert calls[3][1][1] == ["a", "b"]


def test_defaults_from_environment(calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINERD_ADDRESS", "/env.sock")
    monkeypatch.setenv("CONTAINERD_NAMESPACE", "envns")
    assert cli.main(["t", "ls"]) == 0
    client = calls[0][1][0]
    assert (client.address, client.namespace) == ("/env.sock", "envns")
    monkeypatch.delenv("CONTAINERD_ADDRESS")
    monkeypatch.setenv("SEABOX_ADDRESS", "/sb.sock")
    assert C.default_address() == "/sb.sock"
    monkeypatch.delenv("SEABOX_ADDRESS")
    assert C.default_address() == "/run/seabox/seaboxd.sock"


def test_command_of_skips_global_flags() -> None:
    assert cli.command_of(["-a", "/s", "--namespace", "x", "--debug", "t", "ls"]) == "t"
    assert cli.command_of(["--timeout", "5s", "run", "img"]) == "run"
    assert cli.command_of(["--help"]) is None
    assert cli.command_of([]) is None


def test_detach_and_rm_conflict(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["-a", str(tmp_path / "none.sock"), "run", "-d", "--rm", "img", "c1"])
    assert rc == 1
    assert capsys.readouterr().err == "ctr: flags --detach and --rm cannot be specified together\n"


def test_no_daemon_is_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sock = tmp_path / "none.sock"
    assert cli.main(["-a", str(sock), "c", "ls"]) == 1
    err = capsys.readouterr().err
    assert err == (f"ctr: cannot connect to seaboxd at {sock}: is it running? start it with `seaboxd` "
                   "(or systemctl start seaboxd)\n")  # fmt: skip


def test_bad_flags_are_one_line() -> None:
    for argv in (["--timeout", "xyz", "c", "ls"], ["t", "kill"], ["run", "--memory-limit", "lots", "img", "c"]):
        res = subprocess.run([sys.executable, "-m", "seabox.cli.ctr", *argv], capture_output=True, text=True)
        assert res.returncode == 1, argv
        assert res.stderr.startswith("ctr: ") and len(res.stderr.splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr


def test_help_does_not_import_grpc() -> None:
    code = "import sys; from seabox.cli import ctr; ctr.build_parser(); print('grpc' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


class _FakeRpcError(Exception):
    def __init__(self, code: str, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> Any:
        import grpc

        return getattr(grpc.StatusCode, self._code)

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "details", "msg"),
    [
        ("NOT_FOUND", 'container "c1" in namespace "default": not found', 'container "c1" in namespace "default": not found'),
        ("NOT_FOUND", 'container "c1"', 'container "c1": not found'),
        ("ALREADY_EXISTS", 'container "c1": already exists', 'container "c1": already exists'),
        ("FAILED_PRECONDITION", "namespace is required", "namespace is required: failed precondition"),
        ("UNIMPLEMENTED", "unknown service x", "unknown service x: not implemented"),
        ("DEADLINE_EXCEEDED", "Deadline Exceeded", "context deadline exceeded"),
        ("INTERNAL", "boom", "boom"),
    ],
)
def test_status_mapping(code: str, details: str, msg: str) -> None:
    import grpc

    class Err(_FakeRpcError, grpc.RpcError):
        pass

    assert C.describe(Err(code, details), "/s") == msg


def test_unavailable_is_the_connect_hint() -> None:
    import grpc

    class Err(_FakeRpcError, grpc.RpcError):
        pass

    msg = C.describe(Err("UNAVAILABLE", "failed to connect to all addresses"), "/run/x.sock")
    assert msg is not None and msg.startswith("cannot connect to seaboxd at /run/x.sock: is it running?")


def test_unknown_exceptions_are_not_described() -> None:
    assert C.describe(ZeroDivisionError("x")) is None
    assert C.describe(C.CommandError("bad")) == "bad"
