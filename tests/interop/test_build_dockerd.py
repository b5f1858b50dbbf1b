"""Images seabox-buildd builds, checked by real peers: Debian's dockerd loads the docker archive
and runs it (``docker run --rm --network none``), and ``skopeo inspect`` reads the pushed image.

dockerd runs private (temp data-root/exec-root/socket, no bridge or iptables) and is
stopped with everything it mounted; buildd runs on a temp root/state/socket.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.buildd.testing import RunningBuildd, temp_buildd
from seabox.testing.peers import Dockerd
from seabox.testing.peers import dockerd as peer_dockerd

pytestmark = [pytest.mark.interop, pytest.mark.root]

DATA = Path(__file__).resolve().parents[1] / "data" / "build"


@pytest.fixture(scope="module")
def bd() -> Iterator[RunningBuildd]:
    with temp_buildd("sbt-bdi-") as d:
        yield d


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    base = Path(tempfile.mkdtemp(prefix="sbt-dkb-", dir="/tmp"))
    with peer_dockerd(base, config={"insecure-registries": ["127.0.0.1:5000", "127.0.0.1:5001"]}) as d:
        yield d


def build(bd: RunningBuildd, context: Path, *args: str, env: dict[str, str] | None = None) -> str:
    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address, "--progress",
                        "plain", *args, str(context)], capture_output=True, text=True, timeout=900,
                       env={**os.environ, **(env or {})})
    assert p.returncode == 0, p.stderr
    return p.stderr


def test_docker_archive_loads_and_runs_in_dockerd(bd, dockerd, tmp_path):
    ctx = tmp_path / "multistage"
    shutil.copytree(DATA / "multistage", ctx)
    name = f"sbt-build/multi-{secrets.token_hex(4)}:1"
    archive = tmp_path / "img.tar"
    build(bd, ctx, "-t", name, "--output", f"type=docker,dest={archive}")
    dockerd.docker("load", "-i", str(archive))
    try:
        r = dockerd.docker("run", "--rm", "--network", "none", name)
        assert r.stdout == "alpha\nbeta\nbuilt by 0\n"
        r = dockerd.docker("run", "--rm", "--network", "none", name, "id", "-u")
        assert r.stdout.strip() == "65534"
        info = json.loads(dockerd.docker("image", "inspect", name).stdout)[0]
        assert info["Config"]["WorkingDir"] == "/app"
        assert info["Config"]["Labels"]["org.example.test"] == "multistage"
    finally:
        dockerd.docker("rmi", "-f", name, check=False)


def test_pushed_nginx_runs_in_dockerd_and_skopeo_inspects_it(bd, dockerd, tmp_path, fixtures_info):
    from seabox.images.registry.client import login

    auth = fixtures_info["registries"]["auth"]
    cfgdir = tmp_path / "cfg"
    cfgdir.mkdir()
    login(auth["host"], auth["username"], auth["password"], config_path=cfgdir / "config.json")
    ref = f"{auth['host']}/app/nginx-sbt-{secrets.token_hex(4)}:1.26"
    ctx = tmp_path / "nginx"
    shutil.copytree(DATA / "nginx", ctx)
    build(bd, ctx, "-t", ref, "--push", env={"DOCKER_CONFIG": str(cfgdir)})

    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds",
                        f"{auth['username']}:{auth['password']}", f"docker://{ref}"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["Architecture"] and len(info["Layers"]) >= 2
    assert "nginx" in " ".join(info["Env"] + [info.get("Name", "")])

    dockerd.docker("login", "-u", auth["username"], "--password-stdin", auth["host"],
                   input=auth["password"])
    dockerd.docker("pull", ref)
    try:
        r = dockerd.docker("run", "--rm", "--network", "none", ref, "cat", "/etc/seabox-built")
        assert r.stdout == "seabox-built\n"
        r = dockerd.docker("run", "--rm", "--network", "none", ref, "nginx", "-v")
        assert "nginx version" in r.stderr
    finally:
        dockerd.docker("rmi", "-f", ref, check=False)
