"""The CRI runtime and image services as a library: pods, containers, images, execs.

Design reason: like the engine, the CRI is a client of seaboxd's own pieces — image records,
content and snapshots through seaboxd's containerd API on the internal socket (so GC, leases
and ``seabox-ctr -n k8s.io`` see the same objects), container records in the metadata store,
tasks through the in-process TaskManager (shims, recovery) — and adds only the CRI's own
objects, kept in :mod:`seabox.cri.store`.  ``seabox.cri.server`` translates gRPC messages to
these calls; nothing here imports grpc's server side, so it can be driven from tests.

A pod: a named network namespace (``<cri state>/netns/<id>``) set up with the CNI plugins from
the configured conf dir (port mappings through the ``portMappings`` capability), pod files
(hostname, hosts, resolv.conf) under ``<cri root>/sandboxes/<id>``, and the built-in pause
(:mod:`seabox.cri.pause`) holding the IPC, UTS and PID namespaces.  Containers join those by
path.  A container's stdout/stderr go to FIFOs under ``<cri state>/io/<id>`` that
:mod:`seabox.cri.logs` turns into kubelet's log file.  When a task exits, its exit status is
recorded and the task deleted (rootfs unmounted), as containerd's CRI does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal as signals
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.cri import events as cri_events
from seabox.cri import pause
from seabox.cri import spec as specs
from seabox.cri import store as stores
from seabox.cri.config import NAMESPACE, CRIConfig
from seabox.cri.logs import LogRelay
from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger("seabox.cri")

NS = NAMESPACE
READY, NOTREADY = "ready", "notready"
CREATED, RUNNING, EXITED = "created", "running", "exited"
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
RUNTIME = "io.containerd.runc.v2"


def new_id() -> str:
    return secrets.token_hex(32)


def _b64(msg: Any) -> str:
    return base64.b64encode(msg.SerializeToString()).decode()


def _pod_config(rec: dict[str, Any]) -> cri.PodSandboxConfig:
    c = cri.PodSandboxConfig()
    c.ParseFromString(base64.b64decode(rec["config"]))
    return c


def _ctr_config(rec: dict[str, Any]) -> cri.ContainerConfig:
    c = cri.ContainerConfig()
    c.ParseFromString(base64.b64decode(rec["config"]))
    return c


def match_labels(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def find_by_prefix(ids: list[str], want: str, what: str) -> str:
    if want in ids:
        return want
    hits = [i for i in ids if i.startswith(want)] if want else []
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InvalidArgument(errdefs.subject(what, want, "ambiguous id prefix"))
    raise NotFound(errdefs.subject(what, want, "not found"))


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class CRI:
    def __init__(self, cfg: CRIConfig, *, metadata: Any, tasks: Any, snapshotters: dict[str, Any],
                 client_factory: Callable[[], Any], version: str = "") -> None:
        self.cfg = cfg
        self.metadata = metadata
        self.tasks = tasks
        self.snapshotters = snapshotters
        self.client_factory = client_factory
        self.version = version
        self.root = Path(cfg.root)
        self.state = Path(cfg.state)
        for d in (self.root, self.state, self.state / "io", self.state / "exec"):
            d.mkdir(parents=True, exist_ok=True, mode=0o711)
        self.store = stores.Store(self.root / "cri.db")
        self.relays: dict[str, LogRelay] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._glock = threading.Lock()
        self._closed = threading.Event()
        self.pod_cidr = ""
        self.limits = specs.Limits(restrict_oom_score_adj=cfg.restrict_oom_score_adj,
                                   own_oom_score_adj=specs.own_oom_score_adj(),
                                   enable_seccomp_default=cfg.enable_seccomp_default)
        self._seccomp_loaded = False
        self._client: Any = None
        self.events = cri_events.EventHub()

    # -- plumbing ---------------------------------------------------------------------------------

    def lock(self, id: str) -> threading.RLock:
        with self._glock:
            return self._locks.setdefault(id, threading.RLock())

    def client(self) -> Any:
        with self._glock:
            if self._client is None:
                self._client = self.client_factory()
            return self._client

    def _limits(self) -> specs.Limits:
        if not self._seccomp_loaded:
            from seabox.engine.spec import default_seccomp

            self.limits.seccomp_default = default_seccomp()
            self._seccomp_loaded = True
        return self.limits

    def cni(self) -> Any:
        from seabox.network.cni import CNI

        return CNI(self.cfg.cni_bin_dirs, self.cfg.cni_cache_dir)

    def network_configs(self) -> list[dict[str, Any]]:
        from seabox.network.cni import network_configs

        if not os.path.isdir(self.cfg.cni_conf_dir):
            return []
        return network_configs(self.cfg.cni_conf_dir)[: max(1, self.cfg.cni_max_conf_num)]

    def close(self) -> None:
        self._closed.set()
        self.events.close()
        for r in list(self.relays.values()):
            r.close()
        self.relays.clear()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self.store.close()

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> tuple[list[tuple[str, bool, str, str]], dict[str, str]]:
        conds: list[tuple[str, bool, str, str]] = [("RuntimeReady", True, "", "")]
        try:
            confs = self.network_configs()
            if confs:
                conds.append(("NetworkReady", True, "", ""))
            else:
                conds.append(("NetworkReady", False, "NetworkPluginNotReady",
                              f"Network plugin returns error: cni config uninitialized (no network config "
                              f"found in {self.cfg.cni_conf_dir})"))
        except errdefs.SeaboxError as e:
            conds.append(("NetworkReady", False, "NetworkPluginNotReady", str(e)))
        info = {"config": json.dumps({"cniConfDir": self.cfg.cni_conf_dir, "cniBinDirs": self.cfg.cni_bin_dirs,
                                      "podCIDR": self.pod_cidr, "sandboxImage": self.cfg.sandbox_image or "built-in",
                                      "restrictOOMScoreAdj": self.cfg.restrict_oom_score_adj})}
        return conds, info

    # -- images ----------------------------------------------------------------------------------

    def _normalize(self, ref: str) -> str:
        from seabox.oci import reference as references

        try:
            return str(references.parse_with_default_tag(ref))
        except errdefs.SeaboxError:
            raise InvalidArgument(f'image "{ref}": invalid reference') from None

    def image_records(self) -> list[Any]:
        from seabox.ctr import images as ctrimages

        pb = ctrimages._pb()
        return list(self.client().images.List(pb.ListImagesRequest()).images)

    def images(self) -> list[dict[str, Any]]:
        """One entry per image (by config digest) with every name pointing at it."""
        from seabox.ctr import images as ctrimages

        out: dict[str, dict[str, Any]] = {}
        for rec in self.image_records():
            try:
                r = ctrimages.resolve(self.client(), rec.name)
            except errdefs.SeaboxError:
                continue
            iid = r.manifest.config.digest
            e = out.setdefault(iid, {"id": iid, "repo_tags": [], "repo_digests": [], "size": r.size,
                                     "config": r.config, "names": [], "chain": r.chain_ids,
                                     "labels": dict(rec.labels)})
            e["names"].append(rec.name)
            if "@" in rec.name:
                e["repo_digests"].append(rec.name)
            else:
                if not rec.name.startswith("sha256:"):
                    e["repo_tags"].append(rec.name)
                repo = rec.name.rsplit(":", 1)[0] if ":" in rec.name.rsplit("/", 1)[-1] else rec.name
                dig = f"{repo}@{r.target.digest}"
                if dig not in e["repo_digests"]:
                    e["repo_digests"].append(dig)
        return list(out.values())

    def image(self, ref: str) -> dict[str, Any]:
        """An image by name, id or id prefix; NotFound otherwise."""
        imgs = self.images()
        want = ref
        with contextlib.suppress(InvalidArgument):
            want = self._normalize(ref) if not ref.startswith("sha256:") else ref
        for e in imgs:
            if want in e["names"] or ref in e["names"] or ref == e["id"] or want in e["repo_digests"]:
                return e
        short = ref.removeprefix("sha256:")
        if len(short) >= 4 and all(c in "0123456789abcdef" for c in short):
            hits = [e for e in imgs if e["id"].removeprefix("sha256:").startswith(short)]
            if len(hits) == 1:
                return hits[0]
        raise NotFound(errdefs.subject("image", ref, "not found"))

    def pull(self, ref: str, creds: tuple[str, str] | None = None) -> str:
        from seabox.ctr import images as ctrimages
        from seabox.ctr import leases
        from seabox.ctr.content import RemoteStore
        from seabox.images.pull import pull as do_pull

        name = self._normalize(ref)
        c = self.client_factory()
        try:
            with leases.temporary(c):
                img = do_pull(name, content_store=RemoteStore(c), snapshotter=None, hosts_dir=self.cfg.hosts_dir(),
                              credentials=(lambda host: creds) if creds else None)
                ctrimages.save_record(c, name, img.target)
                r = ctrimages.resolve(c, name)
                if not ctrimages.is_unpacked(c, r, self.cfg.snapshotter):
                    ctrimages.unpack(c, r, snapshotter=self.cfg.snapshotter)
                iid = r.manifest.config.digest
                # containerd's CRI also names the image by its id, so the id resolves after untagging
                ctrimages.save_record(c, iid, img.target, {"io.cri-containerd.image": "managed"})
        finally:
            c.close()
        return iid

    def remove_image(self, ref: str) -> None:
        from seabox.ctr import images as ctrimages

        try:
            e = self.image(ref)
        except NotFound:
            return  # idempotent, as kubelet expects
        pb = ctrimages._pb()
        for n in e["names"]:
            with contextlib.suppress(Exception):
                self.client().images.Delete(pb.DeleteImageRequest(name=n))

    def image_fs(self) -> tuple[str, int, int]:
        path = Path(self.cfg.root).parent / "snapshots" / self.cfg.snapshotter
        used = inodes = 0
        for dirpath, _dirs, files in os.walk(path):
            for f in files:
                with contextlib.suppress(OSError):
                    used += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                inodes += 1
        return str(path), used, inodes

    # -- sandboxes -------------------------------------------------------------------------------

    def _record(self, kind: str, id: str, what: str) -> dict[str, Any]:
        """A sandbox's or container's record by full id or unique prefix (NotFound otherwise)."""
        rec = self.store.get(kind, id)
        if rec is None:
            ids = [r["id"] for r in self.store.all(kind)]
            rec = self.store.get(kind, find_by_prefix(ids, id, what))
        assert rec is not None
        return rec

    def _sandbox(self, id: str) -> dict[str, Any]:
        return self._record(stores.SANDBOX, id, "sandbox")

    def run_sandbox(self, config: cri.PodSandboxConfig, runtime_handler: str = "") -> str:
        if not config.metadata.name:
            raise InvalidArgument("sandbox config must include metadata.name")
        md = config.metadata
        for r in self.store.all(stores.SANDBOX):
            m = _pod_config(r).metadata
            if (m.name, m.namespace, m.uid, m.attempt) == (md.name, md.namespace, md.uid, md.attempt):
                raise errdefs.AlreadyExists(errdefs.subject(
                    "sandbox", f"{md.name}_{md.namespace}_{md.uid}_{md.attempt}", f"already reserved for {r['id']}"))
        sid = new_id()
        with self.lock(sid):
            sdir = self.root / "sandboxes" / sid
            sdir.mkdir(parents=True, mode=0o755)
            rec: dict[str, Any] = {"id": sid, "config": _b64(config), "state": NOTREADY, "created_at": time.time_ns(),
                                   "dir": str(sdir), "netns": "", "ip": "", "additional_ips": [], "pid": 0,
                                   "runtime_handler": runtime_handler, "network_ready": False}
            self.store.put(stores.SANDBOX, rec)
            try:
                self._setup_sandbox(rec, config)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._teardown_sandbox(rec, force=True)
                self.store.delete(stores.SANDBOX, sid)
                shutil.rmtree(sdir, ignore_errors=True)
                raise
            self.events.publish(cri_events.CREATED, sid, sid)
            self.events.publish(cri_events.STARTED, sid, sid)
        return sid

    def _setup_sandbox(self, rec: dict[str, Any], config: cri.PodSandboxConfig) -> None:
        from seabox.network import hostsfile, netns

        sid = rec["id"]
        nso = config.linux.security_context.namespace_options
        host_net = nso.network == specs.NODE
        sdir = Path(rec["dir"])
        hostname = config.hostname or (os.uname().nodename if host_net else sid[:12])
        (sdir / "hostname").write_text(hostname + "\n")
        ip = ""
        if not host_net:
            confs = self.network_configs()
            if not confs:
                raise FailedPrecondition(f'sandbox "{config.metadata.name}": no CNI network config in '
                                         f'{self.cfg.cni_conf_dir} (NetworkReady is false)')
            path = netns.create(f"cni-{sid[:32]}", self.cfg.netns_dir)
            rec["netns"] = path
            self.store.put(stores.SANDBOX, rec)
            net_sysctls = {k: v for k, v in config.linux.sysctls.items() if k.startswith("net.")}
            if net_sysctls:
                apply_net_sysctls(path, net_sysctls)
            caps: dict[str, Any] = {}
            if config.port_mappings:
                caps["portMappings"] = [{"hostPort": int(p.host_port), "containerPort": int(p.container_port),
                                         "protocol": cri.Protocol.Name(p.protocol).lower(), "hostIP": p.host_ip}
                                        for p in config.port_mappings if p.host_port]
            if self.pod_cidr:
                caps["ipRanges"] = [[{"subnet": self.pod_cidr}]]
            args = [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", config.metadata.namespace),
                    ("K8S_POD_NAME", config.metadata.name), ("K8S_POD_INFRA_CONTAINER_ID", sid),
                    ("K8S_POD_UID", config.metadata.uid)]
            results = self.cni().setup(confs, sid, path, args=args, capability_args=caps)
            rec["network_ready"] = True
            ips = [r.ip for r in results if r.ip]
            if ips:
                ip, rec["additional_ips"] = ips[0], ips[1:]
            rec["ip"] = ip
            rec["cni"] = [r.to_dict() for r in results]
            dns = config.dns_config
            host_text = Path(hostsfile.host_resolv_path()).read_text() if os.path.exists(
                hostsfile.host_resolv_path()) else ""
            resolv = pod_resolv(host_text, list(dns.servers), list(dns.searches), list(dns.options))
            (sdir / "resolv.conf").write_text(resolv)
            (sdir / "hosts").write_text(hostsfile.render_hosts(hostname=hostname, ip=ip))
        else:
            shutil.copyfile("/etc/hosts", sdir / "hosts")
            shutil.copyfile("/etc/resolv.conf", sdir / "resolv.conf")
        self.store.put(stores.SANDBOX, rec)
        if self.cfg.sandbox_image:
            spec, key, image = self._pause_from_image(sid, config, rec["netns"])
        else:
            rootfs = pause.ensure_rootfs(self.root / "pause", self.cfg.pause_binary)
            spec = specs.pause_spec(sid, config, str(rootfs), rec["netns"], self._limits(), pause.PAUSE_ARGS, NS)
            key, image = "", ""
        self._create_record(sid, spec, {"io.cri-containerd.kind": "sandbox"}, snapshot_key=key, image=image)
        null = str(self._null_fifo(sid))
        rec["pid"] = self.tasks.create(NS, sid, stdout=null, stderr=null)
        self.tasks.start(NS, sid)
        rec["state"] = READY
        self.store.put(stores.SANDBOX, rec)
        self._monitor_sandbox(sid)

    def _pause_from_image(self, sid: str, config: cri.PodSandboxConfig, netns_path: str
                          ) -> tuple[dict[str, Any], str, str]:
        """``sandbox_image`` instead of the built-in pause: pulled if absent (no credentials), its
        rootfs a snapshot keyed by the sandbox id, its ENTRYPOINT + CMD the process."""
        from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

        ref = self.cfg.sandbox_image
        try:
            img = self.image(ref)
        except NotFound:
            self.pull(ref)
            img = self.image(ref)
        img_cfg = dict(getattr(img["config"], "config", None) or {})
        args = list(img_cfg.get("Entrypoint") or []) + list(img_cfg.get("Cmd") or [])
        if not args:
            raise FailedPrecondition(errdefs.subject("sandbox image", ref, "has no entrypoint or command"))
        spec = specs.pause_spec(sid, config, "rootfs", netns_path, self._limits(), args, NS)
        self.client().snapshots.Prepare(spb.PrepareSnapshotRequest(
            snapshotter=self.cfg.snapshotter, key=sid, parent=img["chain"][-1] if img["chain"] else ""))
        return spec, sid, img["names"][0]

    def _null_fifo(self, sid: str) -> Path:
        """The pause writes nothing; its stdio goes to a FIFO nobody needs to read."""
        d = self.state / "io" / sid
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        p = d / "null"
        if not p.exists():
            os.mkfifo(p, 0o600)
        return p

    def _create_record(self, id: str, spec: dict[str, Any], labels: dict[str, str], *, snapshot_key: str,
                       image: str = "") -> None:
        from seabox.metadata.containers import Container, TypedBlob

        c = Container(id=id, labels=labels, image=image, runtime_name=RUNTIME,
                      spec=TypedBlob(SPEC_TYPE_URL, json.dumps(spec).encode()),
                      snapshotter=self.cfg.snapshotter if snapshot_key else "", snapshot_key=snapshot_key)
        with contextlib.suppress(NotFound):
            self.metadata.containers.delete(NS, id)
        self.metadata.containers.create(NS, c)

    def _monitor_sandbox(self, sid: str) -> None:
        def run() -> None:
            try:
                self.tasks.wait(NS, sid)
            except errdefs.SeaboxError:
                pass
            if self._closed.is_set():
                return
            with self.lock(sid):
                rec = self.store.get(stores.SANDBOX, sid)
                if rec is not None and rec["state"] == READY:
                    rec["state"] = NOTREADY
                    self.store.put(stores.SANDBOX, rec)
                    self.events.publish(cri_events.STOPPED, sid, sid)

        threading.Thread(target=run, name=f"cri-pause-{sid[:12]}", daemon=True).start()

    def stop_sandbox(self, id: str) -> None:
        rec = self._sandbox(id)
        sid = rec["id"]
        for c in self.store.all(stores.CONTAINER):
            if c["sandbox_id"] == sid:
                self.stop_container(c["id"], 0)
        with self.lock(sid):
            rec = self._sandbox(sid)
            self._stop_task(sid, 0)
            self._teardown_network(rec)
            was_ready = rec["state"] == READY
            rec["state"] = NOTREADY
            self.store.put(stores.SANDBOX, rec)
        if was_ready:
            self.events.publish(cri_events.STOPPED, sid, sid)

    def _teardown_network(self, rec: dict[str, Any]) -> None:
        from seabox.network import netns

        if rec.get("netns"):
            if rec.get("network_ready"):
                cfg = _pod_config(rec)
                args = [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", cfg.metadata.namespace),
                        ("K8S_POD_NAME", cfg.metadata.name), ("K8S_POD_INFRA_CONTAINER_ID", rec["id"]),
                        ("K8S_POD_UID", cfg.metadata.uid)]
                self.cni().teardown(rec["id"], rec["netns"], args=args)
                rec["network_ready"] = False
            netns.remove(rec["netns"], self.cfg.netns_dir)
            rec["netns"] = ""

    def _teardown_sandbox(self, rec: dict[str, Any], force: bool = False) -> None:
        self._stop_task(rec["id"], 0)
        self._delete_task(rec["id"])
        self._teardown_network(rec)
        snapshot_key = ""
        with contextlib.suppress(NotFound):
            snapshot_key = self.metadata.containers.get(NS, rec["id"]).snapshot_key
            self.metadata.containers.delete(NS, rec["id"])
        if snapshot_key:  # a pause from sandbox_image
            from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

            with contextlib.suppress(Exception):
                self.client().snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=self.cfg.snapshotter,
                                                                         key=snapshot_key))

    def remove_sandbox(self, id: str) -> None:
        try:
            rec = self._sandbox(id)
        except NotFound:
            return  # idempotent
        sid = rec["id"]
        for c in self.store.all(stores.CONTAINER):
            if c["sandbox_id"] == sid:
                self.remove_container(c["id"])
        with self.lock(sid):
            rec = self._sandbox(sid)
            self._teardown_sandbox(rec)
            shutil.rmtree(rec["dir"], ignore_errors=True)
            shutil.rmtree(self.state / "io" / sid, ignore_errors=True)
            self.store.delete(stores.SANDBOX, sid)
        self.events.publish(cri_events.DELETED, sid, sid)

    def sandbox_status(self, id: str) -> dict[str, Any]:
        rec = self._sandbox(id)
        rec["config_pb"] = _pod_config(rec)
        return rec

    def sandboxes(self, flt: cri.PodSandboxFilter | None = None) -> list[dict[str, Any]]:
        out = []
        for rec in self.store.all(stores.SANDBOX):
            cfg = _pod_config(rec)
            if flt is not None:
                if flt.id and not rec["id"].startswith(flt.id):
                    continue
                if flt.HasField("state") and flt.state.state != (cri.SANDBOX_READY if rec["state"] == READY
                                                                 else cri.SANDBOX_NOTREADY):
                    continue
                if not match_labels(dict(cfg.labels), dict(flt.label_selector)):
                    continue
            rec["config_pb"] = cfg
            out.append(rec)
        return out

    # -- tasks -----------------------------------------------------------------------------------

    def _task_status(self, id: str) -> Any:
        try:
            return self.tasks.get(NS, id)
        except NotFound:
            return None

    def _stop_task(self, id: str, timeout: int, sig: int = signals.SIGTERM) -> None:
        p = self._task_status(id)
        if p is None or p.status == "stopped":
            return
        if timeout > 0:
            with contextlib.suppress(errdefs.SeaboxError):
                self.tasks.kill(NS, id, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                p = self._task_status(id)
                if p is None or p.status == "stopped":
                    return
                time.sleep(0.05)
        with contextlib.suppress(errdefs.SeaboxError):
            self.tasks.kill(NS, id, signals.SIGKILL, all=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            p = self._task_status(id)
            if p is None or p.status == "stopped":
                return
            time.sleep(0.02)
        raise errdefs.Unavailable(errdefs.subject("task", id, "did not stop after SIGKILL"))

    def _delete_task(self, id: str) -> Any:
        try:
            return self.tasks.delete(NS, id)
        except NotFound:
            return None

    # -- containers ------------------------------------------------------------------------------

    def _container(self, id: str) -> dict[str, Any]:
        return self._record(stores.CONTAINER, id, "container")

    def _sandbox_view(self, rec: dict[str, Any]) -> specs.SandboxView:
        cfg = _pod_config(rec)
        nso = cfg.linux.security_context.namespace_options
        d = Path(rec["dir"])
        return specs.SandboxView(rec["id"], rec["pid"], rec["netns"], host_ipc=nso.ipc == specs.NODE,
                                 host_pid=nso.pid == specs.NODE, cgroup_parent=cfg.linux.cgroup_parent,
                                 hostname_path=str(d / "hostname"), hosts_path=str(d / "hosts"),
                                 resolv_path=str(d / "resolv.conf"))

    def create_container(self, sandbox_id: str, config: cri.ContainerConfig,
                         sandbox_config: cri.PodSandboxConfig | None = None) -> str:
        from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

        if not config.metadata.name:
            raise InvalidArgument("container config must include metadata.name")
        sb = self._sandbox(sandbox_id)
        if sb["state"] != READY:
            raise FailedPrecondition(errdefs.subject("sandbox", sb["id"], "is not ready"))
        md = config.metadata
        for r in self.store.all(stores.CONTAINER):
            if r["sandbox_id"] == sb["id"]:
                m = _ctr_config(r).metadata
                if (m.name, m.attempt) == (md.name, md.attempt):
                    raise errdefs.AlreadyExists(errdefs.subject("container", f"{md.name}_{md.attempt}",
                                                                f"already reserved for {r['id']}"))
        img = self.image(config.image.image)
        cid = new_id()
        pcfg = _pod_config(sb)
        log_path = ""
        if pcfg.log_directory and config.log_path:
            log_path = os.path.join(pcfg.log_directory, config.log_path)
        img_cfg = dict(getattr(img["config"], "config", None) or {})
        passwd = group = None
        user = config.linux.security_context.run_as_username or str(img_cfg.get("User") or "")
        if user and not all(p.isdigit() for p in user.split(":") if p) and img["chain"]:
            from seabox.ctr.containers import read_chain_files

            passwd, group = read_chain_files(self.client(), self.cfg.snapshotter, img["chain"][-1],
                                             ["/etc/passwd", "/etc/group"])
        view = self._sandbox_view(sb)
        nso = config.linux.security_context.namespace_options
        if nso.pid == specs.TARGET and nso.target_id:
            target = self._container(nso.target_id)
            if target["state"] != RUNNING or target["sandbox_id"] != sb["id"]:
                raise FailedPrecondition(errdefs.subject("container", nso.target_id,
                                                         "target of a pid namespace must be running in the same pod"))
            view.target_pid_ns = f"/proc/{target['pid']}/ns/pid"
        spec = specs.container_spec(cid, config, view, img_cfg, self._limits(), passwd=passwd,
                                    group=group, namespace=NS)
        with self.lock(cid):
            self.client().snapshots.Prepare(spb.PrepareSnapshotRequest(
                snapshotter=self.cfg.snapshotter, key=cid, parent=img["chain"][-1] if img["chain"] else ""))
            try:
                self._create_record(cid, spec, {"io.cri-containerd.kind": "container"}, snapshot_key=cid,
                                    image=img["names"][0])
                rec = {"id": cid, "sandbox_id": sb["id"], "config": _b64(config), "state": CREATED,
                       "created_at": time.time_ns(), "started_at": 0, "finished_at": 0, "exit_code": 0,
                       "reason": "", "message": "", "log_path": log_path, "image_id": img["id"],
                       "image_ref": (img["repo_digests"] or [img["id"]])[0], "pid": 0,
                       "user": {"uid": spec["process"]["user"]["uid"], "gid": spec["process"]["user"]["gid"],
                                "groups": spec["process"]["user"].get("additionalGids", [])}}
                self.store.put(stores.CONTAINER, rec)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.client().snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=self.cfg.snapshotter,
                                                                             key=cid))
                with contextlib.suppress(NotFound):
                    self.metadata.containers.delete(NS, cid)
                raise
        self.events.publish(cri_events.CREATED, cid, sb["id"])
        return cid

    def _io_dir(self, cid: str) -> Path:
        return self.state / "io" / cid

    def _fifos(self, cid: str, tty: bool, stdin: bool) -> dict[str, str]:
        d = self._io_dir(cid)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        names = ["stdout"] + ([] if tty else ["stderr"]) + (["stdin"] if stdin else [])
        out = {}
        for n in names:
            p = d / n
            if not p.exists():
                os.mkfifo(p, 0o600)
            out[n] = str(p)
        return out

    def start_container(self, id: str) -> None:
        rec = self._container(id)
        cid = rec["id"]
        with self.lock(cid):
            rec = self._container(cid)
            if rec["state"] != CREATED:
                raise FailedPrecondition(errdefs.subject("container", cid, f"is in {rec['state']} state, not created"))
            sb = self._sandbox(rec["sandbox_id"])
            if sb["state"] != READY:
                raise FailedPrecondition(errdefs.subject("sandbox", sb["id"], "is not ready"))
            cfg = _ctr_config(rec)
            fifos = self._fifos(cid, cfg.tty, cfg.stdin)
            relay = LogRelay(rec["log_path"], {k: v for k, v in fifos.items() if k != "stdin"})
            relay.start()
            try:
                pid = self.tasks.create(NS, cid, stdin=fifos.get("stdin", ""), stdout=fifos["stdout"],
                                        stderr=fifos.get("stderr", ""), terminal=cfg.tty)
                self.tasks.start(NS, cid)
            except BaseException as e:
                relay.close()
                with contextlib.suppress(Exception):
                    self._delete_task(cid)
                rec.update(state=EXITED, finished_at=time.time_ns(), exit_code=128, reason="StartError",
                           message=str(e))
                self.store.put(stores.CONTAINER, rec)
                raise
            self.relays[cid] = relay
            rec.update(state=RUNNING, pid=pid, started_at=time.time_ns())
            self.store.put(stores.CONTAINER, rec)
            self._monitor(cid)
            # under the lock: the exit monitor's STOPPED (also under it) cannot come first
            self.events.publish(cri_events.STARTED, cid, rec["sandbox_id"])

    def _monitor(self, cid: str) -> None:
        def run() -> None:
            try:
                p = self.tasks.wait(NS, cid)
                code, at = p.exit_status, p.exited_at or time.time_ns()
            except errdefs.SeaboxError:
                code, at = 255, time.time_ns()
            if self._closed.is_set():
                return
            self._on_exit(cid, code, at)

        threading.Thread(target=run, name=f"cri-wait-{cid[:12]}", daemon=True).start()

    def _on_exit(self, cid: str, code: int, at: int) -> None:
        relay = self.relays.pop(cid, None)
        if relay is not None:
            relay.wait(2.0)
            relay.close()
        with self.lock(cid):
            rec = self.store.get(stores.CONTAINER, cid)
            if rec is None:
                return
            with contextlib.suppress(errdefs.SeaboxError, OSError):
                self._delete_task(cid)
            if rec["state"] == RUNNING:
                reason = "Completed" if code == 0 else "Error"
                if rec.get("oom"):
                    reason = "OOMKilled"
                rec.update(state=EXITED, exit_code=code, finished_at=at, reason=reason)
                self.store.put(stores.CONTAINER, rec)
                self.events.publish(cri_events.STOPPED, cid, rec["sandbox_id"])

    def stop_container(self, id: str, timeout: int) -> None:
        rec = self._container(id)
        cid = rec["id"]
        if rec["state"] != RUNNING:
            if rec["state"] == CREATED:
                with self.lock(cid):
                    rec = self._container(cid)
                    rec.update(state=EXITED, finished_at=time.time_ns(), exit_code=0, reason="Completed")
                    self.store.put(stores.CONTAINER, rec)
                self.events.publish(cri_events.STOPPED, cid, rec["sandbox_id"])
            return
        cfg = _ctr_config(rec)
        sig = signals.SIGTERM
        if cfg.stop_signal:
            name = cri.Signal.Name(cfg.stop_signal)
            with contextlib.suppress(AttributeError):
                sig = getattr(signals, name)
        self._stop_task(cid, max(0, int(timeout)), sig)
        p = self._task_status(cid)
        if p is not None:
            self._on_exit(cid, p.exit_status, p.exited_at or time.time_ns())
        else:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self._container(cid)["state"] == RUNNING:
                time.sleep(0.02)

    def remove_container(self, id: str) -> None:
        from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

        try:
            rec = self._container(id)
        except NotFound:
            return
        cid = rec["id"]
        if rec["state"] == RUNNING:
            self.stop_container(cid, 0)
        with self.lock(cid):
            relay = self.relays.pop(cid, None)
            if relay is not None:
                relay.close()
            self._delete_task(cid)
            with contextlib.suppress(NotFound):
                self.metadata.containers.delete(NS, cid)
            with contextlib.suppress(Exception):
                self.client().snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=self.cfg.snapshotter, key=cid))
            shutil.rmtree(self._io_dir(cid), ignore_errors=True)
            self.store.delete(stores.CONTAINER, cid)
        self.events.publish(cri_events.DELETED, cid, rec["sandbox_id"])

    def container_status(self, id: str) -> dict[str, Any]:
        rec = self._container(id)
        rec["config_pb"] = _ctr_config(rec)
        return rec

    def containers(self, flt: cri.ContainerFilter | None = None) -> list[dict[str, Any]]:
        out = []
        states = {CREATED: cri.CONTAINER_CREATED, RUNNING: cri.CONTAINER_RUNNING, EXITED: cri.CONTAINER_EXITED}
        for rec in self.store.all(stores.CONTAINER):
            cfg = _ctr_config(rec)
            if flt is not None:
                if flt.id and not rec["id"].startswith(flt.id):
                    continue
                if flt.pod_sandbox_id and not rec["sandbox_id"].startswith(flt.pod_sandbox_id):
                    continue
                if flt.HasField("state") and flt.state.state != states.get(rec["state"], cri.CONTAINER_UNKNOWN):
                    continue
                if not match_labels(dict(cfg.labels), dict(flt.label_selector)):
                    continue
            rec["config_pb"] = cfg
            out.append(rec)
        return out

    def update_resources(self, id: str, r: cri.LinuxContainerResources) -> None:
        rec = self._container(id)
        res = specs.resources_update(r, self._limits())
        cid = rec["id"]
        if rec["state"] == RUNNING:
            self.tasks.update(NS, cid, res)
        c = self.metadata.containers.get(NS, cid)
        spec = json.loads(c.spec.value)
        spec["linux"].setdefault("resources", {}).update(res)
        from dataclasses import replace

        from seabox.metadata.containers import TypedBlob

        self.metadata.containers.update(NS, replace(c, spec=TypedBlob(SPEC_TYPE_URL, json.dumps(spec).encode())),
                                        ["spec"])

    def reopen_log(self, id: str) -> None:
        rec = self._container(id)
        if rec["state"] != RUNNING:
            raise FailedPrecondition(errdefs.subject("container", rec["id"], "is not running"))
        relay = self.relays.get(rec["id"])
        if relay is None:
            raise FailedPrecondition(errdefs.subject("container", rec["id"], "has no log relay"))
        relay.reopen()

    def stats(self, id: str) -> dict[str, Any]:
        rec = self._container(id)
        try:
            return {"rec": rec, "stats": self.tasks.stats(NS, rec["id"]) if rec["state"] == RUNNING else {}}
        except errdefs.SeaboxError:
            return {"rec": rec, "stats": {}}

    # -- exec ------------------------------------------------------------------------------------

    def _running(self, id: str) -> dict[str, Any]:
        rec = self._container(id)
        if rec["state"] != RUNNING:
            raise FailedPrecondition(errdefs.subject("container", rec["id"], "is not running"))
        return rec

    def exec_prepare(self, id: str, tty: bool, stdin: bool) -> tuple[str, str, dict[str, str]]:
        rec = self._running(id)
        cid = rec["id"]
        eid = "exec-" + secrets.token_hex(8)
        d = self.state / "exec" / eid
        d.mkdir(parents=True, mode=0o700)
        names = ["stdout"] + ([] if tty else ["stderr"]) + (["stdin"] if stdin else [])
        fifos = {}
        for n in names:
            os.mkfifo(d / n, 0o600)
            fifos[n] = str(d / n)
        return cid, eid, fifos

    def exec_run(self, cid: str, eid: str, cmd: list[str], fifos: dict[str, str], tty: bool) -> None:
        from seabox.ctr.spec import exec_process

        if not cmd:
            raise InvalidArgument(errdefs.subject("container", cid, "exec: a command is required"))
        c = self.metadata.containers.get(NS, cid)
        spec = json.loads(c.spec.value)
        proc = exec_process(spec, cmd, tty=tty)
        self.tasks.exec(NS, cid, eid, proc, stdin=fifos.get("stdin", ""), stdout=fifos.get("stdout", ""),
                        stderr=fifos.get("stderr", ""), terminal=tty)
        self.tasks.start(NS, cid, eid)

    def exec_finish(self, cid: str, eid: str, timeout: float | None = None) -> tuple[int, bool]:
        """Wait for the exec (killing it after ``timeout``); returns (exit code, timed out)."""
        timed_out = False
        result: list[int] = []

        def waiter() -> None:
            try:
                result.append(self.tasks.wait(NS, cid, eid).exit_status)
            except errdefs.SeaboxError:
                result.append(255)

        t = threading.Thread(target=waiter, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            timed_out = True
            with contextlib.suppress(errdefs.SeaboxError):
                self.tasks.kill(NS, cid, signals.SIGKILL, exec_id=eid)
            t.join(10)
        with contextlib.suppress(errdefs.SeaboxError):
            self.tasks.delete_process(NS, cid, eid)
        shutil.rmtree(self.state / "exec" / eid, ignore_errors=True)
        return (result[0] if result else 255), timed_out

    def exec_sync(self, id: str, cmd: list[str], timeout: float) -> ExecResult:
        cid, eid, fifos = self.exec_prepare(id, False, False)
        bufs: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        readers = []
        fds = {n: os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC) for n, p in fifos.items()}
        for n, fd in fds.items():
            t = threading.Thread(target=_drain, args=(fd, bufs[n]), daemon=True)
            readers.append(t)
            t.start()
        try:
            self.exec_run(cid, eid, cmd, fifos, False)
        except BaseException:
            with contextlib.suppress(errdefs.SeaboxError):
                self.tasks.delete_process(NS, cid, eid)  # registered but not started
            for n in fds:  # a writer that comes and goes ends each reader (they close their fds)
                with contextlib.suppress(OSError):
                    os.close(os.open(fifos[n], os.O_WRONLY | os.O_NONBLOCK))
            for t in readers:
                t.join(5)
            shutil.rmtree(self.state / "exec" / eid, ignore_errors=True)
            raise
        code, timed_out = self.exec_finish(cid, eid, timeout if timeout > 0 else None)
        for t in readers:
            t.join(5)
        return ExecResult(code, bytes(bufs["stdout"]), bytes(bufs["stderr"]), timed_out)

    # -- recovery --------------------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: pause monitors, log relays and exit monitors for what still runs;
        exits that happened while seaboxd was down are recorded."""
        for rec in self.store.all(stores.SANDBOX):
            p = self._task_status(rec["id"])
            if rec["state"] == READY:
                if p is None or p.status == "stopped":
                    rec["state"] = NOTREADY
                    self.store.put(stores.SANDBOX, rec)
                else:
                    self._monitor_sandbox(rec["id"])
        for rec in self.store.all(stores.CONTAINER):
            if rec["state"] != RUNNING:
                continue
            cid = rec["id"]
            p = self._task_status(cid)
            if p is None:
                rec.update(state=EXITED, exit_code=255, finished_at=time.time_ns(), reason="Unknown",
                           message="the task was lost while seaboxd was down")
                self.store.put(stores.CONTAINER, rec)
                continue
            if p.status != "stopped":
                cfg = _ctr_config(rec)
                fifos = self._fifos(cid, cfg.tty, False)
                relay = LogRelay(rec["log_path"], {k: v for k, v in fifos.items() if k != "stdin"})
                relay.start()
                self.relays[cid] = relay
            self._monitor(cid)
        log.info("cri recovered", extra={"fields": {"sandboxes": len(self.store.all(stores.SANDBOX)),
                                                    "containers": len(self.store.all(stores.CONTAINER))}})


def _drain(fd: int, buf: bytearray, limit: int = 16 << 20) -> None:
    """Collect a FIFO into ``buf`` (at most ``limit`` bytes kept) until its writer closes."""

    def keep(data: bytes) -> None:
        if len(buf) < limit:
            buf.extend(data[: limit - len(buf)])

    _drain_to(fd, keep)


def _drain_to(fd: int, sink: Callable[[bytes], None]) -> None:
    """Copy a FIFO to ``sink`` until its writer closes (not before a writer came)."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    try:
        while True:
            if not poller.poll(1000):
                continue  # no writer yet reads as EOF: only read once poll reports something
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                return
            sink(data)
    finally:
        os.close(fd)


def apply_net_sysctls(netns_path: str, sysctls: dict[str, str]) -> None:
    """Write ``net.*`` sysctls inside the pod's network namespace (a thread enters it).

    The pause joins the netns by path, and seabox-runc (unlike runc) refuses net sysctls for a
    joined namespace, so the CRI, which created the namespace, sets them itself."""
    from seabox.network.netns import run_in

    def write() -> None:
        for k, v in sysctls.items():
            if "/" in k or ".." in k:
                raise InvalidArgument(f'sysctl "{k}": invalid name')
            with open("/proc/sys/" + k.replace(".", "/"), "w") as f:
                f.write(v)

    try:
        run_in(netns_path, write, "cri-sysctl")
    except FileNotFoundError as e:
        raise InvalidArgument(f"sysctl: {e.filename}: not found") from None


def pod_resolv(host_text: str, servers: list[str], searches: list[str], options: list[str]) -> str:
    """The pod's resolv.conf as containerd's CRI writes it: exactly kubelet's DNS config when it
    gives any part (kubelet has already merged the host's for dnsPolicy Default), else the
    host's file (loopback resolvers dropped, as they cannot be reached from the pod)."""
    from seabox.network import hostsfile

    if not (servers or searches or options):
        return hostsfile.render_resolv(host_text)
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
