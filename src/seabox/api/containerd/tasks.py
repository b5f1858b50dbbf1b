"""Tasks service (containerd.services.tasks.v1.Tasks): the wire edge of seabox.daemon.tasks.

Design reason: every decision about a task (bundle, rootfs mounts, which shim, recovery) is
made by :class:`seabox.daemon.tasks.TaskManager`; this module only decodes requests (the spec
and resources Anys are OCI JSON, as containerd's clients send them), calls the manager, and
encodes replies and the events the manager reports (containerd's ``containerd.events.Task*``
messages on containerd's topics).  Metrics are cgroups v1 statistics encoded as
``io.containerd.cgroups.v1.Metrics`` — the host runs cgroups v1, as ctr expects for that type.
Checkpoint needs CRIU and is not implemented.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import Message

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps, PluginEntry
from seabox.api.convert import pack, timestamp
from seabox.api.errors import rpc
from seabox.api.gen.containerd.api.events import task_pb2 as ev
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as pb
from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2_grpc as pb_grpc
from seabox.api.gen.containerd.api.types import metrics_pb2, mount_pb2
from seabox.api.gen.containerd.api.types.task import task_pb2 as tpb
from seabox.daemon.tasks import Process, TaskEvent, TaskManager
from seabox.errdefs import InvalidArgument, NotImplementedYet, subject
from seabox.metadata.filters import parse_all
from seabox.snapshots.mount import Mount

PLUGIN_ID = "tasks"
REQUIRES = ("io.containerd.runtime.v2", "io.containerd.metadata.v1")

_STATUS = {"created": tpb.CREATED, "running": tpb.RUNNING, "stopped": tpb.STOPPED, "paused": tpb.PAUSED,
           "pausing": tpb.PAUSING}


def process_to_wire(p: Process) -> tpb.Process:
    out = tpb.Process(container_id=p.container_id, id=p.exec_id or p.container_id, pid=p.pid,
                      status=_STATUS.get(p.status, tpb.UNKNOWN), stdin=p.stdin, stdout=p.stdout, stderr=p.stderr,
                      terminal=p.terminal, exit_status=p.exit_status)
    if p.exited_at:
        out.exited_at.CopyFrom(timestamp(p.exited_at))
    return out


def json_any(what: str, name: str, a: any_pb2.Any) -> dict:
    """An OCI JSON Any (spec, process, resources) as a dict; InvalidArgument when it is not one."""
    try:
        doc = json.loads(bytes(a.value) or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(subject(what, name, f"{a.type_url or 'value'} is not valid JSON: {e}"))
    if not isinstance(doc, dict):
        raise InvalidArgument(subject(what, name, f"{a.type_url or 'value'} must be a JSON object"))
    return doc


def event_message(e: TaskEvent) -> Message:
    f = e.fields
    if e.topic == "/tasks/create":
        msg = ev.TaskCreate(container_id=f["container_id"], bundle=f["bundle"], pid=f["pid"],
                            rootfs=[mount_pb2.Mount(type=m.type, source=m.source, options=m.options)
                                    for m in f["rootfs"]])
        msg.io.CopyFrom(ev.TaskIO(**f["io"]))
        return msg
    if e.topic == "/tasks/start":
        return ev.TaskStart(**f)
    if e.topic in ("/tasks/exit", "/tasks/delete"):
        cls = ev.TaskExit if e.topic == "/tasks/exit" else ev.TaskDelete
        m = cls(container_id=f["container_id"], id=f["id"], pid=f["pid"], exit_status=f["exit_status"])
        if f["exited_at"]:
            m.exited_at.CopyFrom(timestamp(f["exited_at"]))
        return m
    if e.topic == "/tasks/exec-added":
        return ev.TaskExecAdded(**f)
    if e.topic == "/tasks/exec-started":
        return ev.TaskExecStarted(**f)
    if e.topic == "/tasks/paused":
        return ev.TaskPaused(**f)
    if e.topic == "/tasks/resumed":
        return ev.TaskResumed(**f)
    if e.topic == "/tasks/oom":
        return ev.TaskOOM(**f)
    raise ValueError(f"unknown task event topic {e.topic!r}")


def cgroups_v1_metrics(stats: dict) -> Message:
    """runc-style ``events --stats`` data as containerd's ``io.containerd.cgroups.v1.Metrics``."""
    from seabox.api.gen.cgroups.stats.v1 import metrics_pb2 as cg

    m = cg.Metrics()
    pids = stats.get("pids") or {}
    m.pids.current, m.pids.limit = int(pids.get("current", 0)), int(pids.get("limit", 0))
    cpu = stats.get("cpu") or {}
    u = cpu.get("usage") or {}
    m.cpu.usage.total, m.cpu.usage.kernel, m.cpu.usage.user = (int(u.get("total", 0)), int(u.get("kernel", 0)),
                                                               int(u.get("user", 0)))
    m.cpu.usage.per_cpu.extend(int(x) for x in u.get("percpu") or [])
    th = cpu.get("throttling") or {}
    m.cpu.throttling.periods = int(th.get("periods", 0))
    m.cpu.throttling.throttled_periods = int(th.get("throttled_periods", 0))
    m.cpu.throttling.throttled_time = int(th.get("throttled_time", 0))
    mem = stats.get("memory") or {}
    for key, target in (("usage", m.memory.usage), ("swap", m.memory.swap), ("kernel", m.memory.kernel),
                        ("kernelTCP", m.memory.kernel_tcp)):
        e = mem.get(key) or {}
        target.limit, target.usage, target.max, target.failcnt = (int(e.get("limit", 0)), int(e.get("usage", 0)),
                                                                  int(e.get("max", 0)), int(e.get("failcnt", 0)))
    names = set(cg.MemoryStat.DESCRIPTOR.fields_by_name)
    for k, v in (mem.get("raw") or {}).items():
        name = (k.replace("pgpgin", "pg_pg_in").replace("pgpgout", "pg_pg_out").replace("pgmajfault", "pg_maj_fault")
                .replace("pgfault", "pg_fault").replace("memsw_limit", "swap_limit"))
        if name in names and name not in ("usage", "swap", "kernel", "kernel_tcp"):
            setattr(m.memory, name, int(v))
    blk = stats.get("blkio") or {}
    for key, field in (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                       ("ioServicedRecursive", "io_serviced_recursive"),
                       ("ioQueuedRecursive", "io_queued_recursive"),
                       ("ioServiceTimeRecursive", "io_service_time_recursive"),
                       ("ioWaitTimeRecursive", "io_wait_time_recursive"),
                       ("ioMergedRecursive", "io_merged_recursive"),
                       ("ioTimeRecursive", "io_time_recursive"),
                       ("sectorsRecursive", "sectors_recursive")):
        for e in blk.get(key) or []:
            getattr(m.blkio, field).add(op=str(e.get("op", "")), major=int(e.get("major", 0)),
                                        minor=int(e.get("minor", 0)), value=int(e.get("value", 0)))
    return m


class TasksService(pb_grpc.TasksServicer):
    def __init__(self, manager: TaskManager) -> None:
        self.m = manager

    @rpc
    def Create(self, request: pb.CreateTaskRequest, context: grpc.ServicerContext) -> pb.CreateTaskResponse:
        ns = nsctx.from_context(context)
        if request.HasField("checkpoint") and request.checkpoint.digest:
            raise NotImplementedYet(subject("task", request.container_id, "restore from a checkpoint is not supported"))
        rootfs = [Mount(m.type, m.source, list(m.options)) for m in request.rootfs]
        pid = self.m.create(ns, request.container_id, rootfs=rootfs, stdin=request.stdin, stdout=request.stdout,
                            stderr=request.stderr, terminal=request.terminal)
        return pb.CreateTaskResponse(container_id=request.container_id, pid=pid)

    @rpc
    def Start(self, request: pb.StartRequest, context: grpc.ServicerContext) -> pb.StartResponse:
        ns = nsctx.from_context(context)
        return pb.StartResponse(pid=self.m.start(ns, request.container_id, request.exec_id))

    @rpc
    def Delete(self, request: pb.DeleteTaskRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        ns = nsctx.from_context(context)
        return self._deleted(self.m.delete(ns, request.container_id))

    @rpc
    def DeleteProcess(self, request: pb.DeleteProcessRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        ns = nsctx.from_context(context)
        return self._deleted(self.m.delete_process(ns, request.container_id, request.exec_id))

    @staticmethod
    def _deleted(p: Process) -> pb.DeleteResponse:
        out = pb.DeleteResponse(id=p.exec_id or p.container_id, pid=p.pid, exit_status=p.exit_status)
        if p.exited_at:
            out.exited_at.CopyFrom(timestamp(p.exited_at))
        return out

    @rpc
    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> pb.GetResponse:
        ns = nsctx.from_context(context)
        return pb.GetResponse(process=process_to_wire(self.m.get(ns, request.container_id, request.exec_id)))

    @rpc
    def List(self, request: pb.ListTasksRequest, context: grpc.ServicerContext) -> pb.ListTasksResponse:
        ns = nsctx.from_context(context)
        return pb.ListTasksResponse(tasks=[process_to_wire(p) for p in self.m.list(ns)])

    @rpc
    def Kill(self, request: pb.KillRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.m.kill(ns, request.container_id, request.signal, exec_id=request.exec_id, all=request.all)
        return empty_pb2.Empty()

    @rpc
    def Exec(self, request: pb.ExecProcessRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        process = json_any("exec", request.exec_id, request.spec)
        self.m.exec(ns, request.container_id, request.exec_id, process, stdin=request.stdin, stdout=request.stdout,
                    stderr=request.stderr, terminal=request.terminal)
        return empty_pb2.Empty()

    @rpc
    def ResizePty(self, request: pb.ResizePtyRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.m.resize(ns, request.container_id, request.width, request.height, request.exec_id)
        return empty_pb2.Empty()

    @rpc
    def CloseIO(self, request: pb.CloseIORequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        if request.stdin:
            self.m.close_io(ns, request.container_id, request.exec_id)
        return empty_pb2.Empty()

    @rpc
    def Pause(self, request: pb.PauseTaskRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.m.pause(nsctx.from_context(context), request.container_id)
        return empty_pb2.Empty()

    @rpc
    def Resume(self, request: pb.ResumeTaskRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.m.resume(nsctx.from_context(context), request.container_id)
        return empty_pb2.Empty()

    @rpc
    def ListPids(self, request: pb.ListPidsRequest, context: grpc.ServicerContext) -> pb.ListPidsResponse:
        ns = nsctx.from_context(context)
        pids = self.m.pids(ns, request.container_id)
        return pb.ListPidsResponse(processes=[tpb.ProcessInfo(pid=int(p["pid"])) for p in pids])

    @rpc
    def Checkpoint(self, request: pb.CheckpointTaskRequest, context: grpc.ServicerContext) -> pb.CheckpointTaskResponse:
        raise NotImplementedYet(subject("task", request.container_id,
                                        "checkpoint is not supported by seaboxd (it needs CRIU)"))

    @rpc
    def Update(self, request: pb.UpdateTaskRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        self.m.update(ns, request.container_id, json_any("task", request.container_id, request.resources))
        return empty_pb2.Empty()

    @rpc
    def Metrics(self, request: pb.MetricsRequest, context: grpc.ServicerContext) -> pb.MetricsResponse:
        import time

        ns = nsctx.from_context(context)
        flt = parse_all(list(request.filters))
        out = pb.MetricsResponse()
        for cid in self.m.ids(ns):
            if not flt.match(lambda path, cid=cid: (cid, True) if path == ("id",) else ("", False)):  # type: ignore[misc]
                continue
            try:
                stats = self.m.stats(ns, cid)
            except Exception:  # a stopped or vanished task has no metrics: skip it, as containerd does
                continue
            metric = out.metrics.add(id=cid)
            metric.timestamp.CopyFrom(timestamp(time.time_ns()))
            metric.data.CopyFrom(pack(cgroups_v1_metrics(stats)))
        return out

    @rpc
    def Wait(self, request: pb.WaitRequest, context: grpc.ServicerContext) -> pb.WaitResponse:
        ns = nsctx.from_context(context)
        p = self.m.wait(ns, request.container_id, request.exec_id, cancelled=lambda: not context.is_active())
        out = pb.WaitResponse(exit_status=p.exit_status)
        if p.exited_at:
            out.exited_at.CopyFrom(timestamp(p.exited_at))
        return out


def add(server: grpc.Server, deps: Deps, state: str | Path) -> TaskManager:
    """Start the task manager (recovering shims left by a previous daemon) and serve Tasks."""
    exchange = deps.exchange

    def publish(e: TaskEvent) -> None:
        a = pack(event_message(e))
        exchange.publish(e.namespace, e.topic, a.type_url, a.value)

    manager = TaskManager(Path(state), deps.metadata, deps.snapshotters, publish)
    manager.recover()  # the launcher itself starts with the first task (no process for a daemon that runs none)
    pb_grpc.add_TasksServicer_to_server(TasksService(manager), server)
    deps.plugins.append(PluginEntry("io.containerd.runtime.v2", "task", exports={"state": str(manager.state)}))
    deps.plugins.append(PluginEntry("io.containerd.grpc.v1", PLUGIN_ID, requires=REQUIRES))
    return manager


_ = metrics_pb2  # the Metric message type of MetricsResponse
