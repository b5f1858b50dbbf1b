"""The Tasks service over gRPC against a real seaboxd: status codes, Wait, events, the daemon stays up.

Containers are created through the Containers service with a hand-built OCI spec, and the
rootfs is passed in the Create request as an overlay over the fixture busybox tree (as
containerd clients pass snapshot mounts), so no image is needed.  Every test has its own
daemon, namespace ``sbt-<random>`` and temp dir; teardown purges shims, mounts and cgroups.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, empty_pb2

from seabox.api.gen.containerd.api.events import task_pb2 as evpb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as cpb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2_grpc as cgrpc
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2 as epb
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2_grpc as egrpc
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as tpb
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2_grpc as tgrpc
from seabox.api.gen.containerd.api.services.version.v1 import version_pb2_grpc as vgrpc
from seabox.api.gen.containerd.api.types import mount_pb2
from seabox.api.gen.containerd.api.types.task import task_pb2 as typb
from seabox.ctr.testing import private_seaboxd
from seabox.daemon.tasks.testing import shim_pids
from seabox.daemon.testing import RunningDaemon
from seabox.testing.bundle import default_spec

pytestmark = [pytest.mark.e2e, pytest.mark.root]

SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
PROCESS_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"


@dataclass
class Env:
    d: RunningDaemon
    ns: str
    work: Path
    channel: grpc.Channel
    rootfs_dir: str

    @property
    def md(self) -> list[tuple[str, str]]:
        return [("containerd-namespace", self.ns)]

    @property
    def tasks(self) -> tgrpc.TasksStub:
        return tgrpc.TasksStub(self.channel)

    def container(self, cid: str, args: list[str], spec_value: bytes | None = None) -> None:
        spec = default_spec(args)
        spec.setdefault("linux", {})["cgroupsPath"] = f"/{self.ns}/{cid}"
        value = spec_value if spec_value is not None else json.dumps(spec).encode()
        c = cpb.Container(id=cid, spec=any_pb2.Any(type_url=SPEC_URL, value=value))
        c.runtime.name = "io.containerd.runc.v2"
        cgrpc.ContainersStub(self.channel).Create(cpb.CreateContainerRequest(container=c), metadata=self.md)

    def rootfs(self, cid: str) -> list[mount_pb2.Mount]:
        upper, work = self.work / "ov" / cid / "upper", self.work / "ov" / cid / "work"
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        return [mount_pb2.Mount(type="overlay", source="overlay",
                                options=[f"lowerdir={self.rootfs_dir}", f"upperdir={upper}", f"workdir={work}"])]

    def create(self, cid: str, args: list[str]) -> int:
        self.container(cid, args)
        r = self.tasks.Create(tpb.CreateTaskRequest(container_id=cid, rootfs=self.rootfs(cid)), metadata=self.md)
        return int(r.pid)


@pytest.fixture
def env(fixtures_info: dict) -> Iterator[Env]:
    with private_seaboxd() as (d, ns, work):
        ch = grpc.insecure_channel(f"unix:{d.address}")
        try:
            yield Env(d, ns, work, ch, fixtures_info["rootfs"]["busybox"])
        finally:
            ch.close()


def code_of(fn: object, *args: object, **kw: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, **kw)  # type: ignore[operator]
    return e.value.code()  # type: ignore[no-any-return]


def test_bad_requests_get_the_right_codes_and_the_daemon_stays_up(env: Env) -> None:
    t = env.tasks
    # no namespace header, a malformed one, an unknown one
    assert code_of(t.List, tpb.ListTasksRequest()) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(t.List, tpb.ListTasksRequest(), metadata=[("containerd-namespace", "bad name")]) == \
        grpc.StatusCode.INVALID_ARGUMENT
    unknown = [("containerd-namespace", f"sbt-nope-{secrets.token_hex(3)}")]
    assert list(t.List(tpb.ListTasksRequest(), metadata=unknown).tasks) == []
    assert code_of(t.Create, tpb.CreateTaskRequest(container_id="x"), metadata=unknown) == grpc.StatusCode.NOT_FOUND
    # missing container, missing task
    assert code_of(t.Create, tpb.CreateTaskRequest(container_id="nope"), metadata=env.md) == grpc.StatusCode.NOT_FOUND
    for call, req in ((t.Get, tpb.GetRequest(container_id="nope")),
                      (t.Kill, tpb.KillRequest(container_id="nope", signal=9)),
                      (t.Delete, tpb.DeleteTaskRequest(container_id="nope")),
                      (t.Wait, tpb.WaitRequest(container_id="nope")),
                      (t.Start, tpb.StartRequest(container_id="nope"))):
        assert code_of(call, req, metadata=env.md) == grpc.StatusCode.NOT_FOUND
    # malformed spec
    env.container("badspec", ["true"], spec_value=b"{not json")
    assert code_of(t.Create, tpb.CreateTaskRequest(container_id="badspec"), metadata=env.md) == \
        grpc.StatusCode.INVALID_ARGUMENT
    env.container("noargs", [], spec_value=json.dumps({"ociVersion": "1.0.2", "process": {"args": []}}).encode())
    assert code_of(t.Create, tpb.CreateTaskRequest(container_id="noargs"), metadata=env.md) == \
        grpc.StatusCode.INVALID_ARGUMENT
    # duplicate task
    env.create("c1", ["sleep", "1000"])
    assert code_of(t.Create, tpb.CreateTaskRequest(container_id="c1", rootfs=env.rootfs("c1b")), metadata=env.md) == \
        grpc.StatusCode.ALREADY_EXISTS
    t.Start(tpb.StartRequest(container_id="c1"), metadata=env.md)
    # malformed exec spec, checkpoint, delete of a running task
    bad = any_pb2.Any(type_url=PROCESS_URL, value=b"[1,2")
    assert code_of(t.Exec, tpb.ExecProcessRequest(container_id="c1", exec_id="e1", spec=bad), metadata=env.md) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(t.Checkpoint, tpb.CheckpointTaskRequest(container_id="c1"), metadata=env.md) == \
        grpc.StatusCode.UNIMPLEMENTED
    assert code_of(t.Delete, tpb.DeleteTaskRequest(container_id="c1"), metadata=env.md) == \
        grpc.StatusCode.FAILED_PRECONDITION
    # kill, then kill of the stopped task
    t.Kill(tpb.KillRequest(container_id="c1", signal=9), metadata=env.md)
    w = t.Wait(tpb.WaitRequest(container_id="c1"), metadata=env.md, timeout=60)
    assert w.exit_status == 137 and w.exited_at.seconds > 0
    assert code_of(t.Kill, tpb.KillRequest(container_id="c1", signal=9), metadata=env.md) == \
        grpc.StatusCode.FAILED_PRECONDITION
    got = t.Get(tpb.GetRequest(container_id="c1"), metadata=env.md).process
    assert (got.status, got.exit_status) == (typb.STOPPED, 137)
    d = t.Delete(tpb.DeleteTaskRequest(container_id="c1"), metadata=env.md)
    assert d.exit_status == 137
    # still serving
    vgrpc.VersionStub(env.channel).Version(empty_pb2.Empty())
    assert env.d.proc.poll() is None
    assert shim_pids(env.d.state) == []


def test_lifecycle_events_wait_and_exec(env: Env) -> None:
    seen: list[tuple[str, str]] = []
    sub = egrpc.EventsStub(env.channel).Subscribe(epb.SubscribeRequest(filters=[f'namespace=={env.ns}']))
    ready = threading.Event()

    def collect() -> None:
        try:
            for e in sub:
                seen.append((e.topic, e.event.type_url))
                ready.set()
        except grpc.RpcError:
            pass

    th = threading.Thread(target=collect, daemon=True)
    th.start()
    pid = env.create("c1", ["sh", "-c", "sleep 1000"])
    assert pid > 0
    t = env.tasks
    assert t.Start(tpb.StartRequest(container_id="c1"), metadata=env.md).pid == pid
    proc = {"args": ["sh", "-c", "exit 6"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}}
    t.Exec(tpb.ExecProcessRequest(container_id="c1", exec_id="e1",
                                  spec=any_pb2.Any(type_url=PROCESS_URL, value=json.dumps(proc).encode())),
           metadata=env.md)
    with pytest.raises(grpc.RpcError) as gone:  # a waiter that gives up; the daemon lets its thread go
        t.Wait(tpb.WaitRequest(container_id="c1", exec_id="e1"), metadata=env.md, timeout=0.3)
    assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    t.Start(tpb.StartRequest(container_id="c1", exec_id="e1"), metadata=env.md)
    assert t.Wait(tpb.WaitRequest(container_id="c1", exec_id="e1"), metadata=env.md, timeout=60).exit_status == 6
    assert t.DeleteProcess(tpb.DeleteProcessRequest(container_id="c1", exec_id="e1"),
                           metadata=env.md).exit_status == 6
    pids = [p.pid for p in t.ListPids(tpb.ListPidsRequest(container_id="c1"), metadata=env.md).processes]
    assert pid in pids
    t.Pause(tpb.PauseTaskRequest(container_id="c1"), metadata=env.md)
    assert t.Get(tpb.GetRequest(container_id="c1"), metadata=env.md).process.status == typb.PAUSED
    t.Resume(tpb.ResumeTaskRequest(container_id="c1"), metadata=env.md)
    res = {"memory": {"limit": 64 << 20}}
    t.Update(tpb.UpdateTaskRequest(container_id="c1", resources=any_pb2.Any(
        type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", value=json.dumps(res).encode())),
        metadata=env.md)
    m = t.Metrics(tpb.MetricsRequest(filters=["id==c1"]), metadata=env.md).metrics
    assert [x.id for x in m] == ["c1"] and m[0].data.type_url == "io.containerd.cgroups.v1.Metrics"
    from seabox.api.gen.cgroups.stats.v1 import metrics_pb2 as cg

    stats = cg.Metrics.FromString(m[0].data.value)
    assert stats.memory.usage.limit == 64 << 20 and stats.pids.current >= 1
    t.Kill(tpb.KillRequest(container_id="c1", signal=9), metadata=env.md)  # pid 1 ignores an unhandled SIGTERM
    assert t.Wait(tpb.WaitRequest(container_id="c1"), metadata=env.md, timeout=60).exit_status == 137
    t.Delete(tpb.DeleteTaskRequest(container_id="c1"), metadata=env.md)
    import time

    deadline = time.monotonic() + 10
    while ("/tasks/delete", "containerd.events.TaskDelete") not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.cancel()
    topics = [s[0] for s in seen]
    for topic, url in (("/tasks/create", "containerd.events.TaskCreate"), ("/tasks/start", "containerd.events.TaskStart"),
                       ("/tasks/exec-added", "containerd.events.TaskExecAdded"),
                       ("/tasks/exec-started", "containerd.events.TaskExecStarted"),
                       ("/tasks/paused", "containerd.events.TaskPaused"),
                       ("/tasks/resumed", "containerd.events.TaskResumed"),
                       ("/tasks/exit", "containerd.events.TaskExit"),
                       ("/tasks/delete", "containerd.events.TaskDelete")):
        assert (topic, url) in seen, (topic, topics)
    assert topics.index("/tasks/create") < topics.index("/tasks/start") < topics.index("/tasks/delete")
    _ = evpb  # the event messages the type URLs name
