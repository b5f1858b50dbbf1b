"""seabox-ctr's lean ``run`` path (seabox.ctr.leanrun, no protobuf) and the full path
(``SEABOX_CTR_TRANSPORT=grpcio`` forces it) leave the same container behind: same record,
labels, runtime, snapshot and OCI spec, for the same flags; and the same exit codes, output
and leftovers (none) with ``--rm``.  Against seaboxd on temp dirs.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.ctr import testing
from seabox.daemon.testing import RunningDaemon

pytestmark = [pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
SEABOX_CTR = str(REPO / ".venv" / "bin" / "seabox-ctr")


@pytest.fixture
def daemon() -> Iterator[tuple[RunningDaemon, str, Path]]:
    with testing.private_seaboxd() as d:
        yield d


def _run_imports(run: testing.CtrRunner, *args: str) -> str:
    """``run`` the command under ``python -X importtime``: the modules it loaded (stderr)."""
    py = str(REPO / ".venv" / "bin" / "python3")
    res = subprocess.run([py, "-IS", "-X", "importtime", *run.argv(*args)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stderr


def _info(run: testing.CtrRunner, cid: str) -> dict:
    info = json.loads(run("containers", "info", cid).stdout)
    for k in ("CreatedAt", "UpdatedAt"):
        info.pop(k)
    return info


def test_lean_and_full_paths_create_the_same_container(daemon: tuple[RunningDaemon, str, Path], fixtures_info: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    d, ns, work = daemon
    img = fixtures_info["images"]["busybox"]["ref"]
    monkeypatch.setenv("SEABOX_CTR_TRANSPORT", "h2")
    lean = testing.CtrRunner(SEABOX_CTR, str(d.address), ns, str(work), lambda: d.log_text()[-3000:])
    lean("images", "pull", "--plain-http", img)
    flag_sets = [
        [],
        ["--env", "A=1", "--cwd", "/tmp", "--user", "nobody", "--label", "k=v", "--annotation", "x=y",
         "--memory-limit", "67108864", "--cpus", "0.5", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--read-only"],
        ["--net-host", "--privileged", "--mount", "type=bind,src=/tmp,dst=/host,options=rbind:ro", "--cgroup", ""],
    ]  # fmt: skip
    for i, flags in enumerate(flag_sets):
        infos = []
        for transport in ("h2", "grpcio"):
            monkeypatch.setenv("SEABOX_CTR_TRANSPORT", transport)
            run = testing.CtrRunner(SEABOX_CTR, str(d.address), ns, str(work), lambda: d.log_text()[-3000:])
            cid = f"lean-{i}"
            loaded = _run_imports(run, "run", "-d", "--null-io", *flags, img, cid, "sleep", "60")
            assert ("google.protobuf" in loaded) == (transport == "grpcio"), transport  # the lean path was taken
            infos.append(_info(run, cid))
            run("tasks", "kill", "-s", "SIGKILL", cid)
            _wait_stopped(run, cid)
            run("tasks", "rm", cid, check=False)
            run("containers", "rm", cid)
        assert infos[0] == infos[1], flags
    monkeypatch.setenv("SEABOX_CTR_TRANSPORT", "h2")
    assert lean("leases", "ls", "-q").stdout == ""


def _wait_stopped(run: testing.CtrRunner, cid: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = run("tasks", "ls").stdout
        if not any(line.split()[:1] == [cid] and "RUNNING" in line for line in out.splitlines()):
            return
        time.sleep(0.1)
    raise AssertionError(f"task {cid} still running: {out}")


def test_run_rm_same_on_both_paths(daemon: tuple[RunningDaemon, str, Path], fixtures_info: dict,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    d, ns, work = daemon
    img = fixtures_info["images"]["busybox"]["ref"]
    results = []
    for transport in ("h2", "grpcio"):
        monkeypatch.setenv("SEABOX_CTR_TRANSPORT", transport)
        run = testing.CtrRunner(SEABOX_CTR, str(d.address), ns, str(work), lambda: d.log_text()[-3000:])
        if transport == "h2":
            run("images", "pull", "--plain-http", img)
        got: list[tuple[object, ...]] = []
        for args, stdin in ((["sh", "-c", "echo out; echo err >&2; exit 7"], ""), (["tr", "a-z", "A-Z"], "hello\n"),
                            (["id"], ""), (["/no/such/binary"], "")):  # fmt: skip
            res = run("run", "--rm", "--fifo-dir", str(work), img, f"rm-{transport}", *args, check=False, input_=stdin)
            got.append((res.returncode, res.stdout, res.stderr.replace(f"rm-{transport}", "ID")))
        got.append(tuple(run(*a).stdout for a in (["containers", "ls", "-q"], ["leases", "ls", "-q"], ["tasks", "ls", "-q"])))
        results.append(got)
    assert results[0] == results[1]
    assert results[0][0] == (7, "out\n", "err\n") and results[0][1][:2] == (0, "HELLO\n")
    assert results[0][-1] == ("", "", "")
