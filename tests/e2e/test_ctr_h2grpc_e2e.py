"""seabox-ctr's h2grpc transport against a real seaboxd and a private Debian containerd.

Each daemon runs on temp dirs; the fixture busybox is pulled into it (seaboxd by seabox-ctr,
containerd by Debian's ctr).  Through h2grpc: version, namespaces, containers ls, the
``run --rm`` walkthrough with exit codes (in a process that must never import grpc), an error
status mapped to ctr's message, and a server-streaming Content.Read of the busybox layer
(> 64 KiB) on 16 KiB windows, so the client must keep giving flow-control credit back.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.ctr import h2grpc
from seabox.ctr.client import Client, describe

pytestmark = [pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
SEABOX_CTR = str(REPO / ".venv" / "bin" / "seabox-ctr")
H2 = dict(os.environ, SEABOX_CTR_TRANSPORT="h2")


@dataclass
class Daemon:
    kind: str
    address: str
    namespace: str
    fifo: str
    log: object


@pytest.fixture(params=["seaboxd", "containerd"])
def daemon(request: pytest.FixtureRequest, fixtures_info: dict) -> Iterator[Daemon]:
    from seabox.daemon.tasks.testing import purge, remove_tree

    img = fixtures_info["images"]["busybox"]["ref"]
    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    (work / "fifo").mkdir()
    ns = f"sbt-{secrets.token_hex(4)}"
    problems: list[str] = []
    try:
        if request.param == "seaboxd":
            from seabox.daemon.testing import seaboxd

            with seaboxd(work / "d") as d:
                _ctr(str(d.address), ns, "images", "pull", "--plain-http", img)
                yield Daemon("seaboxd", str(d.address), ns, str(work / "fifo"), d.log_text)
                assert d.proc.poll() is None, d.log_text()
            problems = purge(work / "d" / "state", [ns])
        else:
            from seabox.testing.peers import containerd

            with containerd(work / "c", namespace=ns) as c:
                c.ctr("images", "pull", "--plain-http", img)
                yield Daemon("containerd", c.address, ns, str(work / "fifo"), c.log)
    finally:
        remove_tree(work)
    assert not problems, problems


def _ctr(address: str, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([SEABOX_CTR, "--address", address, "--namespace", ns, *args], env=H2,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    if check and res.returncode != 0:
        raise AssertionError(f"seabox-ctr {' '.join(args)} exited {res.returncode}: {res.stderr}")
    return res


def test_version_namespaces_containers(daemon: Daemon) -> None:
    from google.protobuf import empty_pb2

    from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2
    from seabox.api.gen.containerd.api.services.version.v1 import version_pb2  # noqa: F401 - the stub's module

    with Client(daemon.address, daemon.namespace) as c:
        v = c.version.Version(empty_pb2.Empty())
        assert isinstance(c.version, h2grpc.Stub)
        assert v.version
        names = [n.name for n in c.namespaces.List(namespace_pb2.ListNamespacesRequest()).namespaces]
        assert daemon.namespace in names
    out = _ctr(daemon.address, daemon.namespace, "version").stdout
    assert "Server:" in out and v.version in out
    assert daemon.namespace in _ctr(daemon.address, daemon.namespace, "namespaces", "ls").stdout
    assert _ctr(daemon.address, daemon.namespace, "containers", "ls").stdout.split() == ["CONTAINER", "IMAGE", "RUNTIME"]


def test_run_rm_walkthrough_without_grpcio(daemon: Daemon, fixtures_info: dict) -> None:
    img = fixtures_info["images"]["busybox"]["ref"]
    cid = f"sbt-{secrets.token_hex(3)}"
    # one process drives run --rm twice (exit 0, exit 7), lists containers, and reports whether
    # grpc was ever imported
    script = f"""
import io, sys
from seabox.cli import ctr
base = ["--address", {daemon.address!r}, "--namespace", {daemon.namespace!r}]
a = ctr._main(base + ["run", "--rm", "--fifo-dir", {daemon.fifo!r}, {img!r}, "{cid}-a", "id"])
b = ctr._main(base + ["run", "--rm", "--fifo-dir", {daemon.fifo!r}, {img!r}, "{cid}-b", "sh", "-c", "echo out; exit 7"])
c = ctr._main(base + ["containers", "ls", "-q"])
print("codes", a, b, c, "grpc" in sys.modules, flush=True)
"""
    res = subprocess.run([sys.executable, "-c", script], env=H2, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "uid=0(root)" in res.stdout and "out\n" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "codes 0 7 0 False", res.stdout + res.stderr
    assert cid not in _ctr(daemon.address, daemon.namespace, "containers", "ls", "-q").stdout  # --rm removed both
    # the CLI itself: exit codes through the launcher
    r = _ctr(daemon.address, daemon.namespace, "run", "--rm", "--fifo-dir", daemon.fifo, img, f"{cid}-c", "false", check=False)
    assert r.returncode == 1, r.stderr
    r = _ctr(daemon.address, daemon.namespace, "run", "--rm", "--fifo-dir", daemon.fifo, img, f"{cid}-d", "true")
    assert r.returncode == 0


def test_error_status_mapped(daemon: Daemon) -> None:
    from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2

    with Client(daemon.address, daemon.namespace) as c, pytest.raises(h2grpc.RpcError) as e:
        c.containers.Get(containers_pb2.GetContainerRequest(id="sbt-missing"))
    assert e.value.code().name == "NOT_FOUND"
    assert (describe(e.value) or "").endswith("not found") and "sbt-missing" in (describe(e.value) or "")
    res = _ctr(daemon.address, daemon.namespace, "containers", "rm", "sbt-missing", check=False)
    assert res.returncode == 1
    assert res.stderr.startswith('ctr: container "sbt-missing"') and res.stderr.strip().endswith("not found")
    res = _ctr(daemon.address + ".nope", daemon.namespace, "version", check=False)
    assert res.returncode == 1 and "cannot connect" in res.stderr


def test_server_stream_large_blob_small_windows(daemon: Daemon, fixtures_info: dict) -> None:
    from seabox.api.gen.containerd.api.services.content.v1 import content_pb2

    layers = json.loads(_manifest(daemon, fixtures_info))["layers"]
    layer = max(layers, key=lambda x: x["size"])
    assert layer["size"] > 64 << 10
    ch = h2grpc.Channel(daemon.address, lambda: [("containerd-namespace", daemon.namespace)], window=16384)
    try:
        stub = ch.stub(content_pb2.DESCRIPTOR.services_by_name["Content"])
        data = b"".join(r.data for r in stub.Read(content_pb2.ReadContentRequest(digest=layer["digest"])))
        assert len(data) == layer["size"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
        # the same connection still serves unary calls afterwards
        info = stub.Info(content_pb2.InfoRequest(digest=layer["digest"])).info
        assert info.size == layer["size"]
        with pytest.raises(h2grpc.RpcError) as e:
            list(stub.Read(content_pb2.ReadContentRequest(digest="sha256:" + "0" * 64)))
        assert e.value.code().name == "NOT_FOUND"
    finally:
        ch.close()


def _manifest(daemon: Daemon, fixtures_info: dict) -> str:
    """The image's manifest for this platform, read with `content get` through h2."""
    img = fixtures_info["images"]["busybox"]
    top = json.loads(_ctr(daemon.address, daemon.namespace, "content", "get", img["digest"]).stdout)
    if "manifests" in top:
        digest = next(m["digest"] for m in top["manifests"] if m.get("platform", {}).get("architecture") == "amd64")
        return _ctr(daemon.address, daemon.namespace, "content", "get", digest).stdout
    return json.dumps(top)
