"""The ctr walkthrough with seabox-ctr against seaboxd (issue 5's acceptance list).

seaboxd runs on temp dirs (seabox.daemon.testing) in a short /tmp work dir; the walkthrough
(seabox.ctr.testing.walkthrough) pulls the fixture busybox plain-HTTP and from the auth
registry with --user, runs detached and TTY containers (typed into through a pty), execs,
kills and deletes, and checks run --rm exit codes; Debian's real ctr, talking to the same
daemon, must print the same listings.  Teardown purges shims, mounts and cgroups.
"""

from __future__ import annotations

import shutil
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


def test_walkthrough_on_seaboxd(daemon: tuple[RunningDaemon, str, Path], fixtures_info: dict) -> None:
    d, ns, work = daemon
    fifo = work / "fifo"
    fifo.mkdir()
    run = testing.CtrRunner(SEABOX_CTR, str(d.address), ns, str(fifo), lambda: d.log_text()[-3000:])
    oracle = testing.CtrRunner(shutil.which("ctr") or "ctr", str(d.address), ns)
    auth = fixtures_info["registries"]["auth"]
    testing.walkthrough(
        run,
        fixtures_info["images"]["busybox"]["ref"],
        fixtures_info["images"]["auth-busybox"]["ref"],
        f"{auth['username']}:{auth['password']}",
        oracle=oracle,
    )


def test_errors_on_seaboxd(daemon: tuple[RunningDaemon, str, Path], fixtures_info: dict) -> None:
    d, ns, work = daemon
    run = testing.CtrRunner(SEABOX_CTR, str(d.address), ns)
    for args, needle in [
        (["containers", "rm", "nope"], "nope"),
        (["task", "kill", "nope"], "nope"),
        (["run", "docker.io/library/never-pulled:latest", "x1"], "not found"),
        (["task", "exec", "--exec-id", "e", "nope", "true"], "nope"),
    ]:
        res = run(*args, check=False)
        assert res.returncode == 1, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ctr: ") and needle in lines[0], (args, res.stderr)
    # a duplicate id, and a kill of a stopped task
    img = fixtures_info["images"]["busybox"]["ref"]
    run("images", "pull", "--plain-http", img)
    run("run", "--rm", "--fifo-dir", str(work), img, "once", "true")
    run("containers", "create", img, "dup", "true")
    res = run("containers", "create", img, "dup", "true", check=False)
    assert res.returncode == 1 and "already exists" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    run("containers", "rm", "dup")
