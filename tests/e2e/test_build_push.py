"""Build FROM the nginx fixture, push to the auth registry with a ``seabox login``-style config.json,
pull it back with seabox.images.pull and run it with seabox-runc; and export into a real seaboxd.

The registry login is made with ``seabox.images.registry.client.login`` into a temp
``$DOCKER_CONFIG``; the build CLI reads it there (as docker does) and hands buildd the
credentials for the push.  Every repository name is unique (``app/nginx-sbt-<random>``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.buildd.testing import RunningBuildd, buildd, temp_buildd

pytestmark = [pytest.mark.e2e, pytest.mark.root]

DATA = Path(__file__).resolve().parents[1] / "data" / "build"


@pytest.fixture(scope="module")
def bd() -> Iterator[RunningBuildd]:
    with temp_buildd("sbt-bdp-") as d:
        yield d


def run_build(bd: RunningBuildd, context: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict], str]:
    import os

    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address,
                        "--progress", "rawjson", *args, str(context)], capture_output=True, text=True, timeout=900,
                       env={**os.environ, **(env or {})})
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.strip()], p.stderr


def test_nginx_build_push_pull_run(bd, tmp_path, fixtures_info):
    from seabox.content.store import ContentStore
    from seabox.images.pull import pull
    from seabox.images.registry.client import login
    from seabox.images.registry.credentials import CredentialStore
    from seabox.snapshots.mount import mount_all, unmount
    from seabox.snapshots.overlay import OverlaySnapshotter
    from seabox.testing.bundle import make_bundle

    auth = fixtures_info["registries"]["auth"]
    cfgdir = tmp_path / "docker-config"
    cfgdir.mkdir()
    login(auth["host"], auth["username"], auth["password"], config_path=cfgdir / "config.json")
    ref = f"{auth['host']}/app/nginx-sbt-{secrets.token_hex(4)}:1.26"
    ctx = tmp_path / "nginx"
    shutil.copytree(DATA / "nginx", ctx)
    rc, ev, err = run_build(bd, ctx, "-t", ref, "--push", env={"DOCKER_CONFIG": str(cfgdir)})
    assert rc == 0, err
    result = next(e for e in ev if e["type"] == "result")

    # pull it back (with the same login) and run it
    store = ContentStore(tmp_path / "content")
    snap = OverlaySnapshotter(tmp_path / "snapshots")
    mnt = tmp_path / "bundle" / "rootfs"
    mnt.mkdir(parents=True)
    runc_root = tmp_path / "runc"
    try:
        img = pull(ref, content_store=store, snapshotter=snap, credentials=CredentialStore(cfgdir / "config.json"))
        assert img.manifest_descriptor.digest == result["digest"]
        assert img.config.config["Cmd"] == ["nginx", "-g", "daemon off;"]
        mounts = snap.prepare("run-1", img.snapshot)
        mount_all(mounts, mnt)
        try:
            assert (mnt / "etc/seabox-built").read_text() == "seabox-built\n"
            assert "built by seabox" in (mnt / "usr/share/nginx/html/index.html").read_text()
            make_bundle(tmp_path / "bundle", ["nginx", "-v"])
            cid = f"sbt-{secrets.token_hex(4)}"
            try:
                p = subprocess.run([sys.executable, "-m", "seabox.cli.runc", "--root", str(runc_root), "run",
                                    "--bundle", str(tmp_path / "bundle"), cid],
                                   capture_output=True, text=True, timeout=120)
            finally:
                subprocess.run([sys.executable, "-m", "seabox.cli.runc", "--root", str(runc_root), "delete",
                                "--force", cid], capture_output=True, timeout=60)
            assert p.returncode == 0, p.stdout + p.stderr
            assert "nginx version: nginx/" in p.stdout + p.stderr
        finally:
            unmount(mnt)
    finally:
        snap.close()


def test_image_output_lands_in_seaboxd(tmp_path):
    from seabox.ctr.client import Client
    from seabox.daemon.testing import seaboxd

    base = Path(tempfile.mkdtemp(prefix="sbt-bds-", dir="/tmp"))
    try:
        with seaboxd(base / "sd") as sd, buildd(base / "bd", seaboxd_address=str(sd.address)) as b:
            ctx = tmp_path / "ctx"
            shutil.copytree(DATA / "multistage", ctx)
            name = f"sbt-local/multi-{secrets.token_hex(4)}:1"
            rc, ev, err = run_build(b, ctx, "-t", name)
            assert rc == 0, err
            result = next(e for e in ev if e["type"] == "result")
            from seabox.api.gen.containerd.api.services.images.v1 import images_pb2 as ipb

            with Client(str(sd.address), "default") as c:
                got = c.images.Get(ipb.GetImageRequest(name=name)).image
                assert got.target.digest == result["digest"]
                from seabox.ctr.content import RemoteStore

                man = json.loads(RemoteStore(c).read(result["digest"]))
                for layer in man["layers"]:
                    assert RemoteStore(c).exists(layer["digest"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_buildctl_output_image_push(bd, tmp_path, fixtures_info):
    import os

    from seabox.images.registry.client import RegistryClient, login
    from seabox.images.registry.credentials import CredentialStore
    from seabox.oci import reference

    auth = fixtures_info["registries"]["auth"]
    cfgdir = tmp_path / "cfg"
    cfgdir.mkdir()
    login(auth["host"], auth["username"], auth["password"], config_path=cfgdir / "config.json")
    ref = f"{auth['host']}/app/buildctl-sbt-{secrets.token_hex(4)}:v1"
    ctx = tmp_path / "ctx"
    shutil.copytree(DATA / "multistage", ctx)
    p = subprocess.run([sys.executable, "-m", "seabox.cli.buildctl", "--addr", bd.address, "build",
                        "--frontend", "dockerfile.v0", "--local", f"context={ctx}", "--local", f"dockerfile={ctx}",
                        "--opt", "build-arg:BASE=127.0.0.1:5000/library/busybox:latest",
                        "--output", f"type=image,name={ref},push=true", "--progress", "plain"],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "DOCKER_CONFIG": str(cfgdir)})
    assert p.returncode == 0, p.stderr
    digest = p.stderr.strip().splitlines()[-1].split()[2]
    with RegistryClient(credentials=CredentialStore(cfgdir / "config.json")) as c:
        assert c.resolve(reference.parse_with_default_tag(ref)).descriptor.digest == digest
