"""Debian's dockerd (20.10) runs containers with seabox-runc registered as an extra runtime.

dockerd (``seabox.testing.peers``) gets its own temp --data-root/--exec-root/socket/pidfile,
its own managed containerd (under the exec root), a unique --cgroup-parent, and no host
networking (--bridge=none, --iptables=false, --ip-forward=false, --ip-masq=false); containers
run with --network none.  The image is a docker-archive made with skopeo from the busybox OCI
layout peers builds.  Teardown (peers) removes containers, stops dockerd and its containerd,
unmounts whatever is left under the temp dirs and removes them.

``SEABOX_INTEROP_RUNTIME=/usr/sbin/runc`` runs the same checks against runc.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.testing import peers

pytestmark = [pytest.mark.root, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
RUNTIME = os.environ.get("SEABOX_INTEROP_RUNTIME", str(REPO / ".venv" / "bin" / "seabox-runc"))
IMAGE = "sbt-busybox:latest"


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peers.Dockerd]:
    if not Path(RUNTIME).exists():
        pytest.fail(f"{RUNTIME} is missing: run scripts/setup.sh")
    tmp = tmp_path_factory.mktemp("dockerd")
    with peers.dockerd(tmp / "d", runtimes={"seabox": RUNTIME}) as d:
        layout = peers.busybox_oci_layout(d.tmp / "layout")  # under the peer's dir: removed with it
        d.docker("load", "-i", str(peers.docker_archive(layout, d.tmp / "busybox-docker.tar", IMAGE)))
        yield d


def test_run_echo(dockerd: peers.Dockerd) -> None:
    res = dockerd.docker("run", "--rm", "--runtime", "seabox", "--network", "none", IMAGE, "echo", "hi")
    assert res.stdout == "hi\n"


def test_exit_code(dockerd: peers.Dockerd) -> None:
    res = dockerd.docker(
        "run", "--rm", "--runtime", "seabox", "--network", "none", IMAGE, "sh", "-c", "exit 7", check=False
    )
    assert res.returncode == 7, res.stderr


def _start_detached(dockerd: peers.Dockerd) -> str:
    name = f"sbt-{secrets.token_hex(4)}"
    dockerd.docker(
        "run", "-d", "--name", name, "--runtime", "seabox", "--network", "none", "--memory", "64m", "--pids-limit", "50",
        IMAGE, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    )  # fmt: skip
    return name


def test_detached_stop(dockerd: peers.Dockerd) -> None:
    name = _start_detached(dockerd)
    try:
        inspect = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert inspect["HostConfig"]["Runtime"] == "seabox"
        assert inspect["State"]["Running"] is True
        stats = json.loads(dockerd.docker("stats", "--no-stream", "--format", "{{json .}}", name).stdout)
        assert stats["MemUsage"].endswith("64MiB"), stats  # the limit, read back through `events --stats`
        assert stats["PIDs"] == "2", stats  # sh and sleep
        dockerd.docker("stop", "-t", "10", name)
        inspect = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert inspect["State"]["Running"] is False and inspect["State"]["ExitCode"] == 0
    finally:
        dockerd.docker("rm", "-f", name, check=False)


def test_exec(dockerd: peers.Dockerd) -> None:
    name = _start_detached(dockerd)
    try:
        out = dockerd.docker("exec", name, "cat", "/proc/self/cgroup")
        assert f"pids:/{dockerd.cgroup_parent}/" in out.stdout, out.stdout
        res = dockerd.docker("exec", name, "sh", "-c", "exit 4", check=False)
        assert res.returncode == 4, res.stderr
    finally:
        dockerd.docker("rm", "-f", name, check=False)
