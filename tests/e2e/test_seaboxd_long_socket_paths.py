"""A TTY container through seaboxd's Tasks service when the shim's sockets are longer than sun_path:
namespace ``a-very-long-namespace-name``, a 64-hex container id and a deep state dir put
``<state>/shims/<ns>/<id>/shim.sock`` and ``console-1.sock`` well past 107 bytes."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2

from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as cpb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2_grpc as cgrpc
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as tpb
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2_grpc as tgrpc
from seabox.api.gen.containerd.api.types import mount_pb2
from seabox.daemon.tasks.testing import purge, remove_cgroups, remove_tree, shim_pids
from seabox.daemon.testing import seaboxd
from seabox.shim.testsupport import read_until
from seabox.testing.bundle import default_spec

pytestmark = [pytest.mark.e2e, pytest.mark.root]

SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
NS = "a-very-long-namespace-name"


def test_tty_container_with_socket_paths_longer_than_sun_path(fixtures_info: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    cg = f"/sbt-{secrets.token_hex(4)}"
    cid = secrets.token_hex(32)
    deep = work / "var-run-seabox-state-for-a-realistically-long-path"
    md = [("containerd-namespace", NS)]
    state = deep / "state"
    try:
        with seaboxd(deep) as d:
            shim_dir = state / "shims" / NS / cid
            assert len(str(shim_dir / "console-1.sock").encode()) > 107  # the case under test
            ch = grpc.insecure_channel(f"unix:{d.address}")
            try:
                spec = default_spec(["sh"])
                spec["process"]["terminal"] = True
                spec.setdefault("linux", {})["cgroupsPath"] = f"{cg}/{cid}"
                c = cpb.Container(id=cid, spec=any_pb2.Any(type_url=SPEC_URL, value=json.dumps(spec).encode()))
                c.runtime.name = "io.containerd.runc.v2"
                cgrpc.ContainersStub(ch).Create(cpb.CreateContainerRequest(container=c), metadata=md)
                upper, wd = work / "ov" / "upper", work / "ov" / "work"
                upper.mkdir(parents=True)
                wd.mkdir(parents=True)
                lower = fixtures_info["rootfs"]["busybox"]
                rootfs = [mount_pb2.Mount(type="overlay", source="overlay",
                                          options=[f"lowerdir={lower}", f"upperdir={upper}", f"workdir={wd}"])]
                fin, fout = str(work / "in"), str(work / "out")
                os.mkfifo(fin, 0o600)
                os.mkfifo(fout, 0o600)
                t = tgrpc.TasksStub(ch)
                t.Create(tpb.CreateTaskRequest(container_id=cid, rootfs=rootfs, stdin=fin, stdout=fout,
                                               terminal=True), metadata=md, timeout=60)
                assert len(str(shim_dir / "shim.sock").encode()) > 107
                assert (shim_dir / "shim.sock").exists()
                fo = os.open(fout, os.O_RDONLY | os.O_NONBLOCK)
                fi = os.open(fin, os.O_WRONLY)
                try:
                    os.set_blocking(fo, True)
                    t.Start(tpb.StartRequest(container_id=cid), metadata=md, timeout=60)
                    os.write(fi, b"tty -s && echo is-a-tty; echo sum-$((40+2))\n")
                    seen = read_until(fo, b"sum-42\r\n")
                    assert b"is-a-tty" in seen, seen
                    os.write(fi, b"exit 5\n")
                    w = t.Wait(tpb.WaitRequest(container_id=cid), metadata=md, timeout=60)
                    assert w.exit_status == 5
                finally:
                    os.close(fo)
                    os.close(fi)
                assert t.Delete(tpb.DeleteTaskRequest(container_id=cid), metadata=md, timeout=60).exit_status == 5
                assert shim_pids(state) == []
            finally:
                ch.close()
            assert d.proc.poll() is None, d.log_text()
    finally:
        problems = purge(state, [NS]) + remove_cgroups(cg)
        remove_tree(work)
        assert not problems, problems
