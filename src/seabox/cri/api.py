"""CRI v1 gRPC servicers (``runtime.v1.RuntimeService`` and ``ImageService``).

Only wire translation lives here: requests become calls on :class:`seabox.cri.service.CRI`,
its records become CRI messages, and seabox errors become the gRPC codes kubelet relies on
(NotFound for a missing pod, container or image; FailedPrecondition for a wrong state;
InvalidArgument for a bad config) through :func:`seabox.api.errors.rpc`.  :func:`build` makes the service, recovers pods
and containers of a previous daemon, starts the streaming server and returns the servicers'
gRPC handlers; ``seabox.cri.server`` calls it off seaboxd's start-up path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from typing import Any

from seabox.api.errors import rpc
from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.api.gen.cri.runtime.v1 import api_pb2_grpc as cri_grpc
from seabox.cri import events as cri_events
from seabox.cri.service import CREATED, CRI, EXITED, READY, RUNNING
from seabox.cri.streaming import Request, StreamServer
from seabox.errdefs import InvalidArgument, NotFound, NotImplementedYet

log = logging.getLogger("seabox.cri")

RUNTIME_NAME = "seabox"
API_VERSION = "v1"
_CSTATE = {CREATED: cri.CONTAINER_CREATED, RUNNING: cri.CONTAINER_RUNNING, EXITED: cri.CONTAINER_EXITED}


def _sandbox_state(rec: dict[str, Any]) -> Any:
    return cri.SANDBOX_READY if rec["state"] == READY else cri.SANDBOX_NOTREADY


def credentials(auth: cri.AuthConfig) -> tuple[str, str] | None:
    if auth.identity_token:
        return "", auth.identity_token
    if auth.registry_token:
        return "", auth.registry_token
    user, password = auth.username, auth.password
    if auth.auth and not (user or password):
        try:
            user, _, password = base64.b64decode(auth.auth).decode().partition(":")
        except ValueError:
            raise InvalidArgument("auth config: auth is not base64 of user:password") from None
    if not user and not password:
        return None
    return user, password


def _ns_mode(rec: dict[str, Any]) -> cri.NamespaceOption:
    cfg = rec["config_pb"]
    return cri.NamespaceOption(network=cfg.linux.security_context.namespace_options.network,
                               pid=cfg.linux.security_context.namespace_options.pid,
                               ipc=cfg.linux.security_context.namespace_options.ipc)


class RuntimeService(cri_grpc.RuntimeServiceServicer):
    def __init__(self, cri_: CRI, stream: StreamServer, version: str) -> None:
        self.c = cri_
        self.stream = stream
        self.version = version

    @rpc
    def Version(self, req: cri.VersionRequest, ctx: Any) -> cri.VersionResponse:
        return cri.VersionResponse(version="0.1.0", runtime_name=RUNTIME_NAME, runtime_version=self.version,
                                   runtime_api_version=API_VERSION)

    @rpc
    def Status(self, req: cri.StatusRequest, ctx: Any) -> cri.StatusResponse:
        conds, info = self.c.status()
        st = cri.RuntimeStatus(conditions=[cri.RuntimeCondition(type=t, status=s, reason=r, message=m)
                                           for t, s, r, m in conds])
        return cri.StatusResponse(status=st, info=info if req.verbose else {},
                                  runtime_handlers=[cri.RuntimeHandler(name="", features=cri.RuntimeHandlerFeatures())])

    @rpc
    def UpdateRuntimeConfig(self, req: cri.UpdateRuntimeConfigRequest, ctx: Any) -> Any:
        cidr = req.runtime_config.network_config.pod_cidr
        if cidr:
            self.c.pod_cidr = cidr
            log.info("pod CIDR noted", extra={"fields": {"pod_cidr": cidr}})
        return cri.UpdateRuntimeConfigResponse()

    @rpc
    def RuntimeConfig(self, req: Any, ctx: Any) -> Any:
        return cri.RuntimeConfigResponse(linux=cri.LinuxRuntimeConfiguration(cgroup_driver=cri.CGROUPFS))

    # -- sandboxes -------------------------------------------------------------------------------

    @rpc
    def RunPodSandbox(self, req: cri.RunPodSandboxRequest, ctx: Any) -> Any:
        return cri.RunPodSandboxResponse(pod_sandbox_id=self.c.run_sandbox(req.config, req.runtime_handler))

    @rpc
    def StopPodSandbox(self, req: cri.StopPodSandboxRequest, ctx: Any) -> Any:
        self.c.stop_sandbox(req.pod_sandbox_id)
        return cri.StopPodSandboxResponse()

    @rpc
    def RemovePodSandbox(self, req: cri.RemovePodSandboxRequest, ctx: Any) -> Any:
        self.c.remove_sandbox(req.pod_sandbox_id)
        return cri.RemovePodSandboxResponse()

    def _pod_status_msg(self, rec: dict[str, Any]) -> cri.PodSandboxStatus:
        cfg = rec["config_pb"]
        return cri.PodSandboxStatus(
            id=rec["id"], metadata=cfg.metadata, state=_sandbox_state(rec), created_at=rec["created_at"],
            network=cri.PodSandboxNetworkStatus(ip=rec.get("ip", ""),
                                                additional_ips=[cri.PodIP(ip=i) for i in rec.get("additional_ips", [])]),
            linux=cri.LinuxPodSandboxStatus(namespaces=cri.Namespace(options=_ns_mode(rec))),
            labels=dict(cfg.labels), annotations=dict(cfg.annotations), runtime_handler=rec.get("runtime_handler", ""))

    @rpc
    def PodSandboxStatus(self, req: cri.PodSandboxStatusRequest, ctx: Any) -> Any:
        rec = self.c.sandbox_status(req.pod_sandbox_id)
        cfg = rec["config_pb"]
        st = self._pod_status_msg(rec)
        info = {}
        if req.verbose:
            info["info"] = json.dumps({"pid": rec.get("pid", 0), "netNamespacePath": rec.get("netns", ""),
                                       "sandboxDir": rec.get("dir", ""), "cni": rec.get("cni", []),
                                       "pauseImage": self.c.cfg.sandbox_image or "built-in (busybox-static)",
                                       "runtimeHandler": rec.get("runtime_handler", ""),
                                       "cgroupParent": cfg.linux.cgroup_parent})
        return cri.PodSandboxStatusResponse(status=st, info=info, timestamp=time.time_ns())

    @rpc
    def ListPodSandbox(self, req: cri.ListPodSandboxRequest, ctx: Any) -> Any:
        items = []
        for rec in self.c.sandboxes(req.filter if req.HasField("filter") else None):
            cfg = rec["config_pb"]
            items.append(cri.PodSandbox(id=rec["id"], metadata=cfg.metadata, state=_sandbox_state(rec),
                                        created_at=rec["created_at"], labels=dict(cfg.labels),
                                        annotations=dict(cfg.annotations),
                                        runtime_handler=rec.get("runtime_handler", "")))
        return cri.ListPodSandboxResponse(items=items)

    # -- containers ------------------------------------------------------------------------------

    @rpc
    def CreateContainer(self, req: cri.CreateContainerRequest, ctx: Any) -> Any:
        return cri.CreateContainerResponse(container_id=self.c.create_container(
            req.pod_sandbox_id, req.config, req.sandbox_config))

    @rpc
    def StartContainer(self, req: cri.StartContainerRequest, ctx: Any) -> Any:
        self.c.start_container(req.container_id)
        return cri.StartContainerResponse()

    @rpc
    def StopContainer(self, req: cri.StopContainerRequest, ctx: Any) -> Any:
        self.c.stop_container(req.container_id, int(req.timeout))
        return cri.StopContainerResponse()

    @rpc
    def RemoveContainer(self, req: cri.RemoveContainerRequest, ctx: Any) -> Any:
        self.c.remove_container(req.container_id)
        return cri.RemoveContainerResponse()

    def _container_msg(self, rec: dict[str, Any]) -> cri.Container:
        cfg = rec["config_pb"]
        return cri.Container(id=rec["id"], pod_sandbox_id=rec["sandbox_id"], metadata=cfg.metadata,
                             image=cri.ImageSpec(image=rec["image_id"], user_specified_image=cfg.image.image),
                             image_ref=rec["image_ref"], image_id=rec["image_id"],
                             state=_CSTATE.get(rec["state"], cri.CONTAINER_UNKNOWN),
                             created_at=rec["created_at"], labels=dict(cfg.labels), annotations=dict(cfg.annotations))

    @rpc
    def ListContainers(self, req: cri.ListContainersRequest, ctx: Any) -> Any:
        recs = self.c.containers(req.filter if req.HasField("filter") else None)
        return cri.ListContainersResponse(containers=[self._container_msg(r) for r in recs])

    def _ctr_status_msg(self, rec: dict[str, Any]) -> cri.ContainerStatus:
        cfg = rec["config_pb"]
        u = rec.get("user") or {}
        return cri.ContainerStatus(
            id=rec["id"], metadata=cfg.metadata, state=_CSTATE.get(rec["state"], cri.CONTAINER_UNKNOWN),
            created_at=rec["created_at"], started_at=rec["started_at"], finished_at=rec["finished_at"],
            exit_code=rec["exit_code"], image=cri.ImageSpec(image=rec["image_id"],
                                                            user_specified_image=cfg.image.image),
            image_ref=rec["image_ref"], image_id=rec["image_id"], reason=rec["reason"], message=rec["message"],
            labels=dict(cfg.labels), annotations=dict(cfg.annotations), mounts=list(cfg.mounts),
            log_path=rec["log_path"], resources=cri.ContainerResources(linux=cfg.linux.resources),
            user=cri.ContainerUser(linux=cri.LinuxContainerUser(uid=u.get("uid", 0), gid=u.get("gid", 0),
                                                                supplemental_groups=u.get("groups", []))))

    @rpc
    def ContainerStatus(self, req: cri.ContainerStatusRequest, ctx: Any) -> Any:
        rec = self.c.container_status(req.container_id)
        st = self._ctr_status_msg(rec)
        info = {}
        if req.verbose:
            info["info"] = json.dumps({"sandboxID": rec["sandbox_id"], "pid": rec.get("pid", 0),
                                       "logPath": rec["log_path"], "snapshotKey": rec["id"],
                                       "snapshotter": self.c.cfg.snapshotter, "runtimeType": "io.containerd.runc.v2"})
        return cri.ContainerStatusResponse(status=st, info=info)

    @rpc
    def UpdateContainerResources(self, req: cri.UpdateContainerResourcesRequest, ctx: Any) -> Any:
        self.c.update_resources(req.container_id, req.linux)
        return cri.UpdateContainerResourcesResponse()

    @rpc
    def ReopenContainerLog(self, req: cri.ReopenContainerLogRequest, ctx: Any) -> Any:
        self.c.reopen_log(req.container_id)
        return cri.ReopenContainerLogResponse()

    def ExecSync(self, req: cri.ExecSyncRequest, ctx: Any) -> Any:
        import grpc

        from seabox.api.errors import to_status

        try:
            r = self.c.exec_sync(req.container_id, list(req.cmd), float(req.timeout))
        except Exception as e:
            code, msg = to_status(e)
            ctx.abort(code, msg)
        if r.timed_out:
            ctx.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                      f"command {list(req.cmd)} timed out after {req.timeout}s: deadline exceeded")
        return cri.ExecSyncResponse(stdout=r.stdout, stderr=r.stderr, exit_code=r.exit_code)

    @rpc
    def Exec(self, req: cri.ExecRequest, ctx: Any) -> Any:
        if not req.cmd:
            raise InvalidArgument("exec: cmd is required")
        if not (req.stdin or req.stdout or req.stderr):
            raise InvalidArgument("exec: one of stdin, stdout, or stderr is required")
        if req.tty and req.stderr:
            raise InvalidArgument("exec: tty and stderr cannot both be true")
        rec = self.c._running(req.container_id)
        return cri.ExecResponse(url=self.stream.url(Request("exec", rec["id"], list(req.cmd), req.tty, req.stdin,
                                                            req.stdout, req.stderr)))

    @rpc
    def Attach(self, req: cri.AttachRequest, ctx: Any) -> Any:
        rec = self.c._running(req.container_id)
        return cri.AttachResponse(url=self.stream.url(Request("attach", rec["id"], [], req.tty, req.stdin,
                                                              req.stdout, req.stderr)))

    @rpc
    def PortForward(self, req: cri.PortForwardRequest, ctx: Any) -> Any:
        rec = self.c._sandbox(req.pod_sandbox_id)
        return cri.PortForwardResponse(url=self.stream.url(Request("portforward", rec["id"],
                                                                   ports=[int(p) for p in req.port])))

    # -- stats -----------------------------------------------------------------------------------

    def _cstats(self, rec: dict[str, Any], raw: dict[str, Any]) -> cri.ContainerStats:
        cfg = rec["config_pb"]
        now = time.time_ns()
        attrs = cri.ContainerAttributes(id=rec["id"], metadata=cfg.metadata, labels=dict(cfg.labels),
                                        annotations=dict(cfg.annotations))
        cpu = raw.get("cpu") or {}
        mem = raw.get("memory") or {}
        mraw = mem.get("raw") or {}
        usage = int((cpu.get("usage") or {}).get("total", 0) or 0)
        mem_usage = int((mem.get("usage") or {}).get("usage", 0) or 0)
        inactive = int(mraw.get("total_inactive_file", mraw.get("inactive_file", 0)) or 0)
        ws = max(0, mem_usage - inactive)  # kubelet's working set: usage less inactive file pages
        rss = int(mraw.get("total_rss", mraw.get("rss", mraw.get("anon", 0))) or 0)
        return cri.ContainerStats(
            attributes=attrs,
            cpu=cri.CpuUsage(timestamp=now, usage_core_nano_seconds=cri.UInt64Value(value=usage)),
            memory=cri.MemoryUsage(timestamp=now, working_set_bytes=cri.UInt64Value(value=ws),
                                   usage_bytes=cri.UInt64Value(value=mem_usage),
                                   rss_bytes=cri.UInt64Value(value=rss)),
            writable_layer=cri.FilesystemUsage(timestamp=now, fs_id=cri.FilesystemIdentifier(mountpoint=""),
                                               used_bytes=cri.UInt64Value(value=0)))

    @rpc
    def ContainerStats(self, req: cri.ContainerStatsRequest, ctx: Any) -> Any:
        s = self.c.stats(req.container_id)
        s["rec"]["config_pb"] = self.c.container_status(s["rec"]["id"])["config_pb"]
        return cri.ContainerStatsResponse(stats=self._cstats(s["rec"], s["stats"]))

    @rpc
    def ListContainerStats(self, req: cri.ListContainerStatsRequest, ctx: Any) -> Any:
        f = req.filter
        flt = cri.ContainerFilter(id=f.id, pod_sandbox_id=f.pod_sandbox_id, label_selector=dict(f.label_selector))
        out = []
        for rec in self.c.containers(flt):
            if rec["state"] != RUNNING:
                continue
            s = self.c.stats(rec["id"])
            out.append(self._cstats(rec, s["stats"]))
        return cri.ListContainerStatsResponse(stats=out)

    def _pod_stats(self, rec: dict[str, Any]) -> cri.PodSandboxStats:
        cfg = rec["config_pb"]
        cs = []
        for c in self.c.containers(cri.ContainerFilter(pod_sandbox_id=rec["id"])):
            if c["state"] == RUNNING:
                cs.append(self._cstats(c, self.c.stats(c["id"])["stats"]))
        now = time.time_ns()
        cpu = sum(c.cpu.usage_core_nano_seconds.value for c in cs)
        mem = sum(c.memory.working_set_bytes.value for c in cs)
        return cri.PodSandboxStats(
            attributes=cri.PodSandboxAttributes(id=rec["id"], metadata=cfg.metadata, labels=dict(cfg.labels),
                                                annotations=dict(cfg.annotations)),
            linux=cri.LinuxPodSandboxStats(cpu=cri.CpuUsage(timestamp=now,
                                                            usage_core_nano_seconds=cri.UInt64Value(value=cpu)),
                                           memory=cri.MemoryUsage(timestamp=now,
                                                                  working_set_bytes=cri.UInt64Value(value=mem)),
                                           containers=cs))

    @rpc
    def PodSandboxStats(self, req: cri.PodSandboxStatsRequest, ctx: Any) -> Any:
        rec = self.c.sandbox_status(req.pod_sandbox_id)
        return cri.PodSandboxStatsResponse(stats=self._pod_stats(rec))

    @rpc
    def ListPodSandboxStats(self, req: cri.ListPodSandboxStatsRequest, ctx: Any) -> Any:
        flt = cri.PodSandboxFilter(id=req.filter.id, label_selector=dict(req.filter.label_selector))
        return cri.ListPodSandboxStatsResponse(stats=[self._pod_stats(r) for r in self.c.sandboxes(flt)
                                                      if r["state"] == READY])

    @rpc
    def CheckpointContainer(self, req: Any, ctx: Any) -> Any:
        raise NotImplementedYet("checkpoint: needs CRIU, not implemented")

    # -- events and metrics ----------------------------------------------------------------------

    def _event_msg(self, ev: cri_events.Event) -> cri.ContainerEventResponse:
        """The event with the pod's status and its containers' as they are now (a pod or
        container already removed has none, as with containerd)."""
        msg = cri.ContainerEventResponse(container_id=ev.container_id, created_at=ev.created_at,
                                         container_event_type=cri.ContainerEventType.Value(ev.kind))
        try:
            pod = self.c.sandbox_status(ev.sandbox_id)
        except NotFound:
            return msg
        msg.pod_sandbox_status.CopyFrom(self._pod_status_msg(pod))
        for rec in self.c.containers(cri.ContainerFilter(pod_sandbox_id=ev.sandbox_id)):
            with contextlib.suppress(NotFound):
                msg.containers_statuses.append(self._ctr_status_msg(self.c.container_status(rec["id"])))
        return msg

    def GetContainerEvents(self, req: cri.GetEventsRequest, ctx: Any) -> Any:
        """Server stream of lifecycle events from now on, until the client goes or the daemon stops."""
        sub = self.c.events.subscribe()
        try:
            while ctx.is_active() and not sub.closed:
                ev = sub.get(timeout=0.5)
                if ev is not None:
                    yield self._event_msg(ev)
        finally:
            sub.close()

    @rpc
    def ListMetricDescriptors(self, req: Any, ctx: Any) -> Any:
        return cri.ListMetricDescriptorsResponse()  # no cAdvisor-style metrics beyond the stats RPCs

    @rpc
    def ListPodSandboxMetrics(self, req: Any, ctx: Any) -> Any:
        return cri.ListPodSandboxMetricsResponse()


class ImageService(cri_grpc.ImageServiceServicer):
    def __init__(self, cri_: CRI) -> None:
        self.c = cri_

    def _image(self, e: dict[str, Any]) -> cri.Image:
        cfg = getattr(e["config"], "config", None) or {}
        user = str(cfg.get("User") or "")
        name = user.split(":")[0]
        img = cri.Image(id=e["id"], repo_tags=e["repo_tags"], repo_digests=e["repo_digests"], size=e["size"],
                        spec=cri.ImageSpec(image=e["id"]), pinned=e["labels"].get("io.cri-containerd.pinned") == "pinned")
        if name.isdigit():
            img.uid.value = int(name)
        elif name:
            img.username = name
        return img

    @rpc
    def ListImages(self, req: cri.ListImagesRequest, ctx: Any) -> Any:
        want = req.filter.image.image if req.HasField("filter") else ""
        out = []
        for e in self.c.images():
            if want:
                try:
                    if self.c.image(want)["id"] != e["id"]:
                        continue
                except Exception:
                    continue
            out.append(self._image(e))
        return cri.ListImagesResponse(images=out)

    @rpc
    def ImageStatus(self, req: cri.ImageStatusRequest, ctx: Any) -> Any:
        from seabox.errdefs import NotFound

        try:
            e = self.c.image(req.image.image)
        except NotFound:
            return cri.ImageStatusResponse()  # kubelet: an empty status means "not present"
        info = {}
        if req.verbose:
            cfgobj = e["config"]
            info["info"] = json.dumps({"chainID": e["chain"][-1] if e["chain"] else "", "names": e["names"],
                                       "imageSpec": {"architecture": cfgobj.architecture, "os": cfgobj.os,
                                                     "config": getattr(cfgobj, "config", None) or {}}})
        return cri.ImageStatusResponse(image=self._image(e), info=info)

    @rpc
    def PullImage(self, req: cri.PullImageRequest, ctx: Any) -> Any:
        if not req.image.image:
            raise InvalidArgument("pull: image is required")
        ref = self.c.pull(req.image.image, credentials(req.auth) if req.HasField("auth") else None)
        return cri.PullImageResponse(image_ref=ref)

    @rpc
    def RemoveImage(self, req: cri.RemoveImageRequest, ctx: Any) -> Any:
        self.c.remove_image(req.image.image)
        return cri.RemoveImageResponse()

    @rpc
    def ImageFsInfo(self, req: cri.ImageFsInfoRequest, ctx: Any) -> Any:
        path, used, inodes = self.c.image_fs()
        fs = cri.FilesystemUsage(timestamp=time.time_ns(), fs_id=cri.FilesystemIdentifier(mountpoint=path),
                                 used_bytes=cri.UInt64Value(value=used), inodes_used=cri.UInt64Value(value=inodes))
        return cri.ImageFsInfoResponse(image_filesystems=[fs], container_filesystems=[fs])


class Service:
    """What seaboxd keeps to stop the CRI."""

    def __init__(self, c: CRI, stream: StreamServer) -> None:
        self.cri = c
        self.stream = stream

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.close()
        self.cri.close()


class _Capture:
    """Stands in for a grpc.Server to collect the generated code's generic handlers."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, name: str, handlers: Any) -> None:
        pass  # the generic handlers serve the same methods


def build(c: Any, deps: Any, tasks: Any, state: str) -> tuple[Service, list[Any]]:
    """The CRI service for settings ``c`` (recovered, streaming server started) and its handlers."""
    from pathlib import Path

    from seabox.cri import config as cri_config

    internal = str(Path(state) / "grpc.sock")

    def client() -> Any:
        from seabox.ctr.client import Client

        return Client(internal, cri_config.NAMESPACE)

    svc = CRI(c, metadata=deps.metadata, tasks=tasks, snapshotters=deps.snapshotters, client_factory=client,
              version=getattr(deps, "version", ""))
    svc.recover()
    stream = StreamServer(svc, c.stream_server_address, c.stream_server_port, c.stream_idle_timeout)
    stream.start()
    cap = _Capture()
    cri_grpc.add_RuntimeServiceServicer_to_server(RuntimeService(svc, stream, getattr(deps, "version", "")), cap)
    cri_grpc.add_ImageServiceServicer_to_server(ImageService(svc), cap)
    log.info("cri serving", extra={"fields": {"namespace": cri_config.NAMESPACE, "stream": f"{c.stream_server_address}:"
                                              f"{stream.port}", "cni_conf_dir": c.cni_conf_dir}})
    return Service(svc, stream), cap.handlers
