"""Docker containers on seaboxd: create, start, stop, wait, restart policies, rm.

Design reason: a docker container is three things kept in step here — the engine's record
(Config, HostConfig, State: ``records.Records``), containerd's container record plus its rootfs
snapshot (through seaboxd's own gRPC API, as dockerd uses containerd's) and, while it runs, a
task kept by one shim (``seabox.daemon.tasks.TaskManager``, called in-process).  The shim keeps
the json-file log, so logs survive seaboxd restarts; the engine only reads them.

Lifecycle: ``create`` prepares the snapshot (key = container id) and records the container;
``start`` builds the OCI spec (networking first: a named netns attached through
seabox.network, kept across restarts and removed on rm), creates and starts the task, and
starts a *monitor* thread waiting for the exit.  For an AutoRemove container (``run --rm``,
which docker's CLI starts right after creating it) everything up to the created task is begun
by ``create`` on a thread, so the runtime's create overlaps the client's attach and wait.  On exit the monitor records the status,
deletes the task, then applies the restart policy with docker's backoff (100 ms doubling, reset
after 10 s of running).  An AutoRemove (``--rm``) container is instead taken out of lookups,
listings and the name table (and its network released) as soon as its exit code is known, which
answers ``wait?condition=removed`` at once, and the rest of the removal (task, rootfs, snapshot,
files) follows on the monitor thread: the client does not wait for clean-up nobody can observe.  A user ``stop``/``kill`` marks the container manually
stopped, so ``always``/``unless-stopped`` do not bring it back; after a seaboxd restart
``recover`` re-attaches monitors to running tasks and starts always/unless-stopped containers
that were not stopped by the user.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal as signals
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.engine import health
from seabox.engine import records as rec_mod
from seabox.engine import spec as specs
from seabox.engine.records import ZERO_TIME, Records, now
from seabox.engine.volumes import Volumes

log = logging.getLogger("seabox.engine.containers")

BACKOFF_START = 0.1
BACKOFF_RESET = 10.0
BACKOFF_MAX = 60.0
TOMBSTONES = 256
PREPARE_WAIT = 120.0  # the longest a start or rm waits for an early preparation before taking the lock itself


def default_host_config() -> dict[str, Any]:
    return {"NetworkMode": "default", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "json-file", "Config": {}}, "Binds": None, "PortBindings": {},
            "AutoRemove": False, "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False}


def parse_signal(sig: str | int | None, default: int = signals.SIGKILL) -> int:
    if sig in (None, ""):
        return default
    s = str(sig).upper()
    if s.isdigit():
        return int(s)
    if not s.startswith("SIG"):
        s = "SIG" + s
    try:
        return int(signals.Signals[s])
    except KeyError:
        raise errdefs.InvalidArgument(f"Invalid signal: {sig}") from None


def next_backoff(prev: float, ran: float) -> float:
    """Docker's restart delay: 100 ms, doubling while the container keeps failing fast, back to
    100 ms once it ran for at least 10 s; never more than a minute."""
    if prev <= 0 or ran >= BACKOFF_RESET:
        return BACKOFF_START
    return min(prev * 2, BACKOFF_MAX)


def should_restart(policy: dict[str, Any], code: int, restarts: int, manually_stopped: bool) -> bool:
    name = policy.get("Name") or "no"
    if manually_stopped or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        return code != 0 and (limit == 0 or restarts < limit)
    return False


def parse_size(v: str) -> int:
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    v = v.strip().lower()
    if v and v[-1] in units:
        return int(float(v[:-1]) * units[v[-1]])
    return int(v)


class Containers:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.records = Records(self.settings.containers_dir)
        self.volumes = Volumes(self.settings.volumes_dir, self._volume_users)
        self._nets: Any = None
        self._locks: dict[str, threading.RLock] = {}
        self._glock = threading.Lock()
        self._monitors: dict[str, threading.Thread] = {}
        self._exit_events: dict[str, threading.Condition] = {}
        self._exits: dict[str, tuple[int, int]] = {}  # id → (exits seen since seaboxd started, last code)
        self._seccomp: dict[str, Any] | None = None
        self._closed = threading.Event()
        self._removing: set[str] = set()  # AutoRemove containers whose removal runs after the exit
        self._removed = threading.Condition(self._glock)
        # AutoRemove containers gone after their exit: (namespace, name, exit code), the last few,
        # so a ``wait`` that comes after the (now early) removal still gets the code, as it would
        # have while docker was still removing the container
        self._tombstones: dict[str, tuple[str, str, int]] = {}
        self._prepared: dict[str, tuple[list[float], BaseException | None]] = {}  # _prepare_early's results
        self._preparing: dict[str, threading.Event] = {}  # _prepare_early's threads still running
        self._prepare_threads: dict[str, threading.Thread] = {}  # registered, begun by begin_prepare
        self.health = health.Monitor(self)

    # -- helpers --------------------------------------------------------------------------------

    @property
    def tasks(self) -> Any:
        return self.engine.tasks

    def nets(self) -> Any:
        if self._nets is None:
            from seabox.network.manager import Networks

            self._nets = Networks(self.settings.network_settings())
        return self._nets

    def lock(self, cid: str) -> threading.RLock:
        with self._glock:
            return self._locks.setdefault(cid, threading.RLock())

    def cond(self, cid: str) -> threading.Condition:
        with self._glock:
            return self._exit_events.setdefault(cid, threading.Condition())

    def _notify(self, cid: str) -> None:
        c = self.cond(cid)
        with c:
            c.notify_all()

    def _volume_users(self, name: str) -> list[str]:
        out = []
        for r in list(self.records.items.values()):
            if any(m.get("Type") == "volume" and m.get("Name") == name for m in r.get("Mounts") or []):
                out.append(r["Id"][:12])
        return out

    def seccomp(self) -> dict[str, Any]:
        if self._seccomp is None:
            self._seccomp = specs.default_seccomp()
        return self._seccomp

    def get(self, ns: str, ref: str) -> dict[str, Any]:
        return self.records.find(ns, ref)

    # -- create ---------------------------------------------------------------------------------

    def create(self, ns: str, name: str, body: dict[str, Any], *, defer_prepare: bool = False) -> dict[str, Any]:
        """A new container; an AutoRemove one gets its start prepared early (``_prepare_early``),
        begun here or, with ``defer_prepare``, by the caller's ``begin_prepare`` (a start waits
        for it from now on)."""
        cfg = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        host = {**default_host_config(), **(body.get("HostConfig") or {})}
        netcfg = body.get("NetworkingConfig") or {}
        image_ref = cfg.get("Image") or ""
        if not image_ref:
            raise errdefs.InvalidArgument("Config.Image: an image is required")
        rp = host.get("RestartPolicy") or {}
        if rp.get("Name") not in ("", "no", "always", "on-failure", "unless-stopped"):
            raise errdefs.InvalidArgument(f"invalid restart policy '{rp.get('Name')}'")
        if host.get("AutoRemove") and rp.get("Name") not in ("", "no"):
            raise errdefs.InvalidArgument("can't create 'AutoRemove' container with restart policy")
        lc = host.get("LogConfig") or {}
        if lc.get("Type") not in (None, "", "json-file", "none"):
            raise errdefs.InvalidArgument(f"log driver {lc.get('Type')!r}: not supported (json-file, none)")
        mode = host.get("NetworkMode") or "default"
        if mode.startswith("container:"):
            self.get(ns, mode.split(":", 1)[1])
        elif mode not in ("default", "bridge", "host", "none"):
            self.nets().get(mode, create_default=False)  # NotFound for an unknown network
        marks = [time.monotonic()]
        r = self.engine.images.ensure_unpacked(ns, image_ref)
        marks.append(time.monotonic())
        cid = rec_mod.new_id()
        with self.records.lock:
            if name:
                full = rec_mod.check_name(name)
                other = self.records.name_taken(ns, full)
                if other is not None:
                    raise errdefs.AlreadyExists(
                        f'Conflict. The container name "{full}" is already in use by container "{other["Id"]}". '
                        "You have to remove (or rename) that container to be able to reuse that name.")
            else:
                full = "/" + rec_mod.random_name()
                while self.records.name_taken(ns, full):
                    full = "/" + rec_mod.random_name()
            img_cfg = dict(r.config.config or {})
            merged = dict(cfg)
            for k in ("Env", "WorkingDir", "User", "Entrypoint", "StopSignal", "ExposedPorts", "Labels", "Volumes"):
                if not merged.get(k) and img_cfg.get(k):
                    merged[k] = img_cfg[k]
            merged["Cmd"] = specs.command(img_cfg, cfg)[len(merged.get("Entrypoint") or []):] \
                if (cfg.get("Cmd") or not cfg.get("Entrypoint")) else list(cfg.get("Cmd") or [])
            if cfg.get("Env") or img_cfg.get("Env"):
                merged["Env"] = specs.merge_env(list(img_cfg.get("Env") or []), list(cfg.get("Env") or []))
            labels = {**(img_cfg.get("Labels") or {}), **(cfg.get("Labels") or {})}
            merged["Labels"] = labels
            check = health.merge(img_cfg.get("Healthcheck"), cfg.get("Healthcheck"))
            merged.pop("Healthcheck", None)
            if check is not None:
                merged["Healthcheck"] = check
            merged["Image"] = image_ref
            merged.setdefault("Hostname", "")
            if not merged.get("Hostname"):
                merged["Hostname"] = cid[:12]
            rec: dict[str, Any] = {
                "Id": cid, "Name": full, "Namespace": ns, "Created": now(),
                "Path": "", "Args": [], "State": rec_mod.new_state(),
                "Image": r.manifest.config.digest, "ImageName": image_ref, "ImageRef": r.name,
                "ImageConfig": img_cfg, "ImageTop": r.chain_ids[-1] if r.chain_ids else "",
                "Config": merged, "RequestConfig": cfg, "HostConfig": host, "NetworkingConfig": netcfg,
                "RestartCount": 0, "ManuallyStopped": False, "Mounts": [],
                "LogPath": str(self.records.dir(cid) / f"{cid}-json.log"),
                "Driver": "overlayfs", "Platform": "linux", "ExecIDs": None,
            }
            args = specs.command(img_cfg, cfg)
            rec["Path"], rec["Args"] = (args[0], args[1:]) if args else ("", [])
            rec["Mounts"] = self._plan_mounts(cid, merged, host)
            self.records.save(rec)  # reserves the name
        marks.append(time.monotonic())
        if host.get("AutoRemove"):  # its shim starts now, alongside the snapshot (see _prepare_early)
            self.tasks.prepare_shim(ns, cid)
        try:
            self._prepare_rootfs(ns, rec, r)
        except BaseException:
            self.tasks.cancel_shim(ns, cid)
            self.records.remove(cid)
            raise
        marks.append(time.monotonic())
        steps = ("image_ms", "record_ms", "rootfs_ms")
        log.debug("created", extra={"fields": {"id": cid[:12], **{k: round((b - a) * 1000, 1) for k, a, b in
                                                                   zip(steps, marks, marks[1:], strict=False)}}})
        self.engine.emit(ns, "container", "create", cid, {"name": full[1:], "image": image_ref})
        if host.get("AutoRemove"):
            self._prepare_early(ns, rec, begin=not defer_prepare)
        return rec

    def _plan_mounts(self, cid: str, cfg: dict[str, Any], host: dict[str, Any]) -> list[dict[str, Any]]:
        """Binds, Mounts, Tmpfs and image VOLUMEs → docker's Mounts list (volumes created here)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for b in host.get("Binds") or []:
            parts = b.split(":")
            if len(parts) < 2 or len(parts) > 3:
                if len(parts) == 1 and parts[0].startswith("/"):
                    parts = ["", parts[0]]
                else:
                    raise errdefs.InvalidArgument(f"invalid volume specification: '{b}'")
            src, dst = parts[0], parts[1]
            opts = parts[2].split(",") if len(parts) == 3 else []
            if not dst.startswith("/"):
                raise errdefs.InvalidArgument(f"invalid volume specification: '{b}': destination must be absolute")
            rw = "ro" not in opts
            if src.startswith("/"):
                if not os.path.exists(src):
                    os.makedirs(src, exist_ok=True)  # docker creates a missing bind source directory
                out.append({"Type": "bind", "Source": src, "Destination": dst, "Mode": ",".join(opts), "RW": rw,
                            "Propagation": "rprivate"})
            else:
                v = self.volumes.create(src, anonymous=not src)
                out.append({"Type": "volume", "Name": v["Name"], "Source": v["Mountpoint"], "Destination": dst,
                            "Driver": "local", "Mode": ",".join(opts), "RW": rw, "Propagation": ""})
            seen.add(dst)
        for m in host.get("Mounts") or []:
            t = m.get("Type", "volume")
            dst = m.get("Target") or m.get("Destination") or ""
            ro = bool(m.get("ReadOnly"))
            if t == "bind":
                out.append({"Type": "bind", "Source": m.get("Source", ""), "Destination": dst, "Mode": "",
                            "RW": not ro, "Propagation": "rprivate"})
            elif t == "volume":
                v = self.volumes.create(m.get("Source") or "", anonymous=not m.get("Source"))
                out.append({"Type": "volume", "Name": v["Name"], "Source": v["Mountpoint"], "Destination": dst,
                            "Driver": "local", "Mode": "", "RW": not ro, "Propagation": ""})
            elif t == "tmpfs":
                topts = m.get("TmpfsOptions") or {}
                o = [f"size={int(topts['SizeBytes'])}"] if topts.get("SizeBytes") else []
                o += [f"mode={int(topts['Mode']):o}"] if topts.get("Mode") else []
                out.append({"Type": "tmpfs", "Source": "", "Destination": dst, "Mode": ",".join(o), "RW": not ro,
                            "Propagation": ""})
            else:
                raise errdefs.InvalidArgument(f'mount type "{t}": not supported')
            seen.add(dst)
        for dst in (cfg.get("Volumes") or {}):
            if dst not in seen:
                v = self.volumes.create("", anonymous=True)
                out.append({"Type": "volume", "Name": v["Name"], "Source": v["Mountpoint"], "Destination": dst,
                            "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
        return out

    def _prepare_rootfs(self, ns: str, rec: dict[str, Any], r: Any) -> None:
        """containerd's container record, then its rootfs snapshot: the record (its spec
        provisional until the first start) names the snapshot, which keeps it from GC as soon as
        it exists, so no lease is needed around the two calls (two round trips fewer)."""
        from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
        from seabox.ctr import containers as ctrc

        cid = rec["Id"]
        c = self.engine.client(ns)
        provisional = {"ociVersion": "1.0.2-dev", "process": {"args": [rec["Path"], *rec["Args"]], "cwd": "/"},
                       "root": {"path": "rootfs"}}
        self._write_container(ns, rec, provisional, client=c)
        try:
            top = r.chain_ids[-1] if r.chain_ids else ""
            c.snapshots.Prepare(spb.PrepareSnapshotRequest(snapshotter="overlayfs", key=cid, parent=top))
        except BaseException:
            with contextlib.suppress(Exception):
                c.containers.Delete(ctrc._pb().DeleteContainerRequest(id=cid))
            raise

    # -- start ----------------------------------------------------------------------------------

    def start(self, ns: str, ref: str) -> None:
        rec = self.get(ns, ref)
        cid = rec["Id"]
        self._await_prepared(cid)
        with self.lock(cid):
            rec = self.records.items[cid]
            st = rec["State"]
            if st["Running"]:
                return  # docker: 304 Not Modified; the router maps it
            if st.get("Paused"):
                raise errdefs.FailedPrecondition("cannot start a paused container, try unpause instead")
            rec["ManuallyStopped"] = False
            self._start_locked(ns, rec)

    def _prepare_task(self, ns: str, rec: dict[str, Any]) -> list[float]:
        """Everything of a start up to the created task (the init waiting on its exec FIFO):
        inputs (network first), spec, containerd's record, the task; returns the step marks."""
        cid = rec["Id"]
        cfg, host = rec["Config"], rec["HostConfig"]
        marks = [time.monotonic()]
        # the shim is spawned while the spec and bundle are made, and containerd's record gets the
        # new spec while the runtime creates the container: neither depends on the other
        self.tasks.prepare_shim(ns, cid)
        record: list[BaseException | None] = []
        inp = self._inputs(ns, rec)
        marks.append(time.monotonic())
        spec = specs.build(rec["RequestConfig"] | {"Hostname": cfg.get("Hostname"),
                                                 "User": rec["RequestConfig"].get("User") or ""},
                           host, inp)
        marks.append(time.monotonic())

        def write_record() -> None:
            try:
                self._write_container(ns, rec, spec, exists=True)
                record.append(None)
            except BaseException as e:
                record.append(e)

        writer = threading.Thread(target=write_record, name=f"engine-record-{cid[:12]}", daemon=True)
        writer.start()
        try:
            self._create_task(ns, rec, spec)
        finally:
            marks.append(time.monotonic())
            writer.join()
        if record and record[0] is not None:
            raise record[0]
        marks.append(time.monotonic())
        return marks

    def _unprepare(self, ns: str, cid: str) -> None:
        self.tasks.cancel_shim(ns, cid)
        with contextlib.suppress(Exception):
            self.tasks.delete(ns, cid)

    def _prepare_early(self, ns: str, rec: dict[str, Any], begin: bool = True) -> None:
        """``run --rm``: the start's preparation (up to the created task) begins as soon as the
        container exists, on a thread, so that the runtime's create overlaps the client's next
        requests (attach, wait) instead of following its ``start``.  ``start`` and ``rm`` wait
        for it (``_await_prepared``, registered before ``create`` answers); a failure is kept
        and raised by ``start``, as it would have been there.  Only for AutoRemove containers:
        docker's ``run --rm`` always starts what it created at once."""
        cid = rec["Id"]
        done = threading.Event()
        with self._glock:
            self._preparing[cid] = done

        def run() -> None:
            try:
                with self.lock(cid):
                    if self.records.items.get(cid) is not rec or rec["State"]["Running"] or cid in self._prepared:
                        self.tasks.cancel_shim(ns, cid)
                        return
                    try:
                        self._prepared[cid] = (self._prepare_task(ns, rec), None)
                    except BaseException as e:
                        self._unprepare(ns, cid)
                        self._prepared[cid] = ([], e)
            finally:
                with self._glock:
                    self._preparing.pop(cid, None)
                done.set()

        th = threading.Thread(target=run, name=f"engine-prepare-{cid[:12]}", daemon=True)
        with self._glock:
            self._prepare_threads[cid] = th
        if begin:
            self.begin_prepare(ns, rec)

    def begin_prepare(self, ns: str, rec: dict[str, Any]) -> None:
        """Start the early preparation registered by ``create`` (no-op for other containers)."""
        with self._glock:
            th = self._prepare_threads.pop(rec["Id"], None)
        if th is not None:
            th.start()

    def _await_prepared(self, cid: str) -> None:
        with self._glock:
            done = self._preparing.get(cid)
        if done is not None:
            done.wait(PREPARE_WAIT)

    def _start_locked(self, ns: str, rec: dict[str, Any]) -> None:
        cid = rec["Id"]
        early = self._prepared.pop(cid, None)
        try:
            if early is None:
                marks = self._prepare_task(ns, rec)
            else:
                marks, err = early
                if err is not None:
                    raise err
            t_start = time.monotonic()
            pid = self.tasks.start(ns, cid)
            t_started = time.monotonic()
        except BaseException as e:
            self._unprepare(ns, cid)
            rec["State"].update({"Status": "created" if rec["State"]["StartedAt"] == ZERO_TIME else "exited",
                                 "Error": str(e), "ExitCode": 128 if "not found" in str(e) else 126})
            self.records.save(rec)
            raise
        rec["State"].update({"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                             "OOMKilled": False, "Dead": False, "Pid": pid, "ExitCode": 0, "Error": "",
                             "StartedAt": now(), "FinishedAt": ZERO_TIME})
        self.records.save(rec)
        steps = ("inputs_ms", "spec_ms", "task_create_ms", "record_wait_ms")
        log.debug("started", extra={"fields": {"id": cid[:12], "prepared_early": early is not None,
                                               **{k: round((b - a) * 1000, 1) for k, a, b in
                                                  zip(steps, marks, marks[1:], strict=False)},
                                               "task_start_ms": round((t_started - t_start) * 1000, 1)}})
        self.engine.emit(ns, "container", "start", cid, {"name": rec["Name"][1:], "image": rec["ImageName"]})
        self._monitor(ns, cid, time.monotonic())

    def _inputs(self, ns: str, rec: dict[str, Any]) -> specs.Inputs:
        cid = rec["Id"]
        cfg, host = rec["Config"], rec["HostConfig"]
        rootfs, passwd, group, img_cfg = self._image_files(ns, rec)
        inp = specs.Inputs(ns, cid, img_cfg, passwd=passwd, group=group, init_path=self.settings.init_path)
        if host.get("Init") and not inp.init_path:
            raise errdefs.FailedPrecondition("--init: no init binary (install Debian's tini package)")
        inp.seccomp = self.seccomp()
        self._network(ns, rec, inp)
        inp.mounts = self._oci_mounts(ns, rec, rootfs)
        _ = cfg
        return inp

    def _image_files(self, ns: str, rec: dict[str, Any]) -> tuple[Path | None, str | None, str | None, dict]:
        """The image config, and /etc/passwd|group when a user name must be resolved."""
        if "ImageConfig" in rec:  # kept at create time: no image lookups on the start path
            img_cfg, top = dict(rec["ImageConfig"]), str(rec.get("ImageTop") or "")
        else:
            r = self.engine.images.resolve(ns, rec["ImageRef"])
            img_cfg, top = dict(r.config.config or {}), (r.chain_ids[-1] if r.chain_ids else "")
        user = rec["RequestConfig"].get("User") or img_cfg.get("User") or ""
        passwd = group = None
        names = any(not str(g).isdigit() for g in rec["HostConfig"].get("GroupAdd") or [])
        if ((user and not all(p.isdigit() for p in user.split(":") if p)) or names) and top:
            from seabox.ctr.containers import read_chain_files

            c = self.engine.new_client(ns)
            try:
                passwd, group = read_chain_files(c, "overlayfs", top, ["/etc/passwd", "/etc/group"])
            finally:
                c.close()
        return None, passwd, group, img_cfg

    def _oci_mounts(self, ns: str, rec: dict[str, Any], rootfs: Path | None) -> list[dict[str, Any]]:
        out = []
        host = rec["HostConfig"]
        for m in rec.get("Mounts") or []:
            if m["Type"] == "volume":
                self._fill_volume(ns, rec, m)
            if m["Type"] in ("bind", "volume"):
                opts = ["rbind", "rprivate", "ro" if not m["RW"] else "rw"]
                out.append({"destination": m["Destination"], "type": "bind", "source": m["Source"], "options": opts})
            elif m["Type"] == "tmpfs":
                extra = [x for x in str(m.get("Mode") or "").split(",") if x] + ([] if m["RW"] else ["ro"])
                out.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "noexec", *extra]})
        for dst, opt in (host.get("Tmpfs") or {}).items():
            o = ["nosuid", "nodev", "noexec"] + [x for x in str(opt or "").split(",") if x]
            out.append({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": o})
        return out

    def _fill_volume(self, ns: str, rec: dict[str, Any], m: dict[str, Any]) -> None:
        """Docker's copy-up: the image's content at the mount path fills a new empty volume."""
        import json as _json

        meta = self.volumes._load(m["Name"])
        if meta.get("Filled"):
            return
        sn = self.engine.deps.snapshotters["overlayfs"]
        mounts = sn.mounts(f"{ns}/{rec['Id']}")
        tmp = Path(self.settings.state) / "engine" / "fill" / rec["Id"]
        tmp.mkdir(parents=True, exist_ok=True)
        from seabox.ctr import snapshots as ctrsnap

        ctrsnap.mount_all(mounts, str(tmp))
        try:
            src = _inside(tmp, m["Destination"])
            self.volumes.fill_once(m["Name"], src)
        finally:
            ctrsnap.unmount_all(str(tmp))
            with contextlib.suppress(OSError):
                tmp.rmdir()
        _ = _json

    def _network(self, ns: str, rec: dict[str, Any], inp: specs.Inputs) -> None:
        cid = rec["Id"]
        cfg, host = rec["Config"], rec["HostConfig"]
        mode = host.get("NetworkMode") or "default"
        if mode.startswith("container:"):
            other = self.get(ns, mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise errdefs.FailedPrecondition(f"cannot join network of a non running container: {other['Id']}")
            inp.join_netns = f"/proc/{other['State']['Pid']}/ns/net"
            att = self.nets().attachment(other["Id"])
            if att is not None:
                inp.hosts_path, inp.resolv_path = att.hosts_path, att.resolv_path
            return
        from seabox.network import netns
        from seabox.network.hostsfile import DNSConfig, parse_add_host
        from seabox.network.ports import parse_publish, publish_all

        nets = self.nets()
        att = nets.attachment(cid)
        if att is None:
            extra = [parse_add_host(h) for h in host.get("ExtraHosts") or []]
            dns = DNSConfig(tuple(host.get("Dns") or ()), tuple(host.get("DnsSearch") or ()),
                            tuple(host.get("DnsOptions") or ()))
            hostname = cfg.get("Hostname") or cid[:12]
            if mode in ("host", "none"):
                att = nets.attach(cid, "", [], hostname=hostname, name=rec["Name"][1:], extra_hosts=extra, dns=dns,
                                  host_network=mode == "host")
            else:
                network = nets.settings.default_network if mode in ("default", "bridge") else mode
                ports = []
                for spec_key, binds in (host.get("PortBindings") or {}).items():
                    port, _, proto = spec_key.partition("/")
                    for b in binds or [{}]:
                        hp = str(b.get("HostPort") or "")
                        hip = str(b.get("HostIp") or "")
                        text = (f"{hip}:" if hip else "") + (f"{hp}:" if hp or hip else "") + port + \
                            (f"/{proto}" if proto else "")
                        ports.extend(parse_publish(text))
                if host.get("PublishAllPorts"):
                    ports.extend(publish_all(list((cfg.get("ExposedPorts") or {}).keys())))
                ipam = ((rec.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(network) or {}
                static_ip = ((ipam.get("IPAMConfig") or {}).get("IPv4Address")) or None
                aliases = list(ipam.get("Aliases") or [])
                path = netns.path_of(cid, nets.settings.netns_dir)
                if not netns.exists(cid, nets.settings.netns_dir):
                    path = netns.create(cid, nets.settings.netns_dir)
                try:
                    att = nets.attach(cid, path, [network], port_mappings=ports, static_ip=static_ip,
                                      hostname=hostname, name=rec["Name"][1:], aliases=aliases, extra_hosts=extra,
                                      dns=dns)
                except BaseException:
                    with contextlib.suppress(Exception):
                        netns.remove(path)
                    raise
        if mode == "host":
            inp.host_network = True
        elif mode == "none":
            inp.netns_path = ""
        else:
            inp.netns_path = att.netns
        inp.hosts_path, inp.resolv_path, inp.hostname_path = att.hosts_path, att.resolv_path, att.hostname_path

    def _write_container(self, ns: str, rec: dict[str, Any], spec: dict[str, Any], client: Any = None,
                         exists: bool = False) -> None:
        """containerd's record: created with a provisional spec at create time, its spec replaced at
        every start (``exists``: try the Update first, saving a failing Create round trip)."""
        from google.protobuf import any_pb2, field_mask_pb2

        from seabox.ctr import containers as ctrc
        from seabox.ctr import spec as ctrspec

        pb = ctrc._pb()
        cid = rec["Id"]
        c = pb.Container(id=cid, labels={k: str(v) for k, v in (rec["Config"].get("Labels") or {}).items()},
                         image=rec["ImageRef"], runtime=pb.Container.Runtime(name=ctrc.DEFAULT_RUNTIME),
                         spec=any_pb2.Any(type_url=ctrspec.SPEC_TYPE_URL, value=json.dumps(spec).encode()),
                         snapshotter="overlayfs", snapshot_key=cid)
        c.labels["nerdctl/name"] = rec["Name"][1:]
        client = client or self.engine.client(ns)
        from seabox.ctr.client import grpc_code

        if exists:
            try:
                client.containers.Update(pb.UpdateContainerRequest(
                    container=c, update_mask=field_mask_pb2.FieldMask(paths=["spec"])))
                return
            except Exception as e:
                if grpc_code(e) != "NOT_FOUND":
                    raise
        try:
            client.containers.Create(pb.CreateContainerRequest(container=c))
        except Exception as e:
            if grpc_code(e) != "ALREADY_EXISTS":
                raise
            client.containers.Update(pb.UpdateContainerRequest(
                container=c, update_mask=field_mask_pb2.FieldMask(paths=["spec"])))

    def _log_config(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        lc = rec["HostConfig"].get("LogConfig") or {}
        if lc.get("Type") == "none":
            return None
        opts = lc.get("Config") or {}
        out: dict[str, Any] = {"driver": "json-file", "path": rec["LogPath"]}
        if opts.get("max-size"):
            out["max_size"] = str(opts["max-size"])
        if opts.get("max-file"):
            out["max_file"] = int(opts["max-file"])
        return out

    def _create_task(self, ns: str, rec: dict[str, Any], spec: dict[str, Any]) -> None:
        """The task, with the shim keeping the json-file log and the spec built here."""
        cid = rec["Id"]
        with contextlib.suppress(errdefs.NotFound):
            if self.tasks.get(ns, cid).status == "stopped":  # a leftover of an earlier run
                self.tasks.delete(ns, cid)
        stdin = str(self._stdin_fifo(cid)) if rec["Config"].get("OpenStdin") else ""
        self.tasks.create(ns, cid, stdin=stdin, terminal=bool(rec["Config"].get("Tty")), log=self._log_config(rec),
                          spec=spec, volatile=bool(rec["HostConfig"].get("AutoRemove")))

    def _stdin_fifo(self, cid: str) -> Path:
        d = Path(self.settings.state) / "engine" / "fifo" / cid
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        p = d / "stdin"
        if not p.exists():
            with contextlib.suppress(FileExistsError):  # attach and an early prepared task race here
                os.mkfifo(p, 0o600)
        return p

    # -- exit monitor and restart policy --------------------------------------------------------

    def _monitor(self, ns: str, cid: str, started: float) -> None:
        def run() -> None:
            try:
                p = self.tasks.wait(ns, cid)
            except errdefs.SeaboxError:
                p = None
            if self._closed.is_set():
                return
            self._on_exit(ns, cid, p.exit_status if p is not None else 137, started)

        t = threading.Thread(target=run, name=f"engine-wait-{cid[:12]}", daemon=True)
        self._monitors[cid] = t
        t.start()
        self.health.watch(ns, cid)  # the container runs: its health check (if any) starts over

    def _on_exit(self, ns: str, cid: str, code: int, started: float) -> None:
        t0 = time.monotonic()
        self.health.stop(cid)
        with self.lock(cid):
            rec = self.records.items.get(cid)
            if rec is None:
                return
            auto = bool(rec["HostConfig"].get("AutoRemove"))
            st = rec["State"]
            st.update({"Status": "exited", "Running": False, "Paused": False, "Restarting": False, "Pid": 0,
                       "ExitCode": code, "FinishedAt": now()})
            if auto:
                # --rm: the exit code is final, so the waiters ("removed") are answered now and the
                # removal runs after.  What a next command could see goes first: the record leaves
                # lookups, listings and the name table (its file stays until the removal ends, so
                # ``recover`` still finds it), and the network (published ports, host entries) is
                # released.  The task, rootfs, snapshot and files follow on this thread.
                with self._glock:
                    self._removing.add(cid)
                    self._tombstones[cid] = (ns, rec["Name"], code)
                    while len(self._tombstones) > TOMBSTONES:
                        del self._tombstones[next(iter(self._tombstones))]
                self.records.hide(cid)
                mode = rec["HostConfig"].get("NetworkMode") or "default"
                if mode not in ("none", "host") and not mode.startswith("container:"):
                    self._teardown_network(cid)
            else:
                with contextlib.suppress(errdefs.SeaboxError):
                    self.tasks.delete(ns, cid)
                log.debug("exited", extra={"fields": {"id": cid[:12],
                                                      "task_delete_ms": round((time.monotonic() - t0) * 1000, 1)}})
                self.records.save(rec)
            n = self._exits.get(cid, (0, 0))[0]
            self._exits[cid] = (n + 1, code)
        self.engine.emit(ns, "container", "die", cid, {"name": rec["Name"][1:], "exitCode": str(code),
                                                       "image": rec["ImageName"]})
        self._notify(cid)
        if auto:
            try:
                with self.lock(cid):
                    self._remove_locked(ns, rec, volumes=True)
            except Exception as e:
                log.warning("removal after exit failed", extra={"fields": {"id": cid, "error": str(e)}})
            finally:
                with self._glock:
                    self._removing.discard(cid)
                    self._removed.notify_all()
            return
        self._maybe_restart(ns, rec, code, time.monotonic() - started)

    def _should_restart(self, rec: dict[str, Any], code: int) -> bool:
        return should_restart(rec["HostConfig"].get("RestartPolicy") or {}, code, int(rec.get("RestartCount") or 0),
                              bool(rec.get("ManuallyStopped")))

    def _maybe_restart(self, ns: str, rec: dict[str, Any], code: int, ran: float) -> None:
        cid = rec["Id"]
        if not self._should_restart(rec, code):
            return
        backoff = next_backoff(float(rec.get("Backoff") or 0), ran)
        rec["Backoff"] = backoff
        rec["State"].update({"Restarting": True, "Status": "restarting"})
        self.records.save(rec)

        def later() -> None:
            if self._closed.wait(backoff):
                return
            with self.lock(cid):
                r = self.records.items.get(cid)
                if r is None or r.get("ManuallyStopped") or r["State"]["Running"]:
                    return
                r["RestartCount"] = int(r.get("RestartCount") or 0) + 1
                try:
                    self._start_locked(ns, r)
                except Exception as e:
                    log.warning("restart failed", extra={"fields": {"id": cid, "error": str(e)}})
                    r["State"].update({"Restarting": False, "Status": "exited"})
                    self.records.save(r)
                    self._maybe_restart(ns, r, 1, 0.0)

        threading.Thread(target=later, name=f"engine-restart-{cid[:12]}", daemon=True).start()

    def recover(self) -> None:
        """After seaboxd (re)starts: re-attach to running tasks, settle the ones that exited, restart."""
        for cid, rec in list(self.records.items.items()):
            ns = rec.get("Namespace", "default")
            try:
                p = self.tasks.get(ns, cid)
            except errdefs.SeaboxError:
                p = None
            if p is not None and p.status == "created" and rec["State"]["StartedAt"] == ZERO_TIME:
                with contextlib.suppress(errdefs.SeaboxError):  # prepared early, never started
                    self.tasks.delete(ns, cid)
                p = None
            if p is not None and p.status in ("running", "paused", "created"):
                rec["State"].update({"Running": True, "Status": "paused" if p.status == "paused" else "running",
                                     "Pid": p.pid, "Restarting": False, "Paused": p.status == "paused"})
                self.records.save(rec)
                self._monitor(ns, cid, time.monotonic() - BACKOFF_RESET)
                continue
            was_running = rec["State"]["Running"] or rec["State"].get("Restarting")
            if p is not None:
                with contextlib.suppress(errdefs.SeaboxError):
                    self.tasks.delete(ns, cid)
            if was_running:
                rec["State"].update({"Status": "exited", "Running": False, "Restarting": False, "Pid": 0,
                                     "ExitCode": p.exit_status if p is not None else 255,
                                     "FinishedAt": now()})
                self.records.save(rec)
            if rec["HostConfig"].get("AutoRemove") and rec["State"]["StartedAt"] != ZERO_TIME:
                with contextlib.suppress(errdefs.SeaboxError):  # --rm that ended while seaboxd was down
                    self.remove(ns, cid, force=True, volumes=True)
                continue
            name = (rec["HostConfig"].get("RestartPolicy") or {}).get("Name")
            if name in ("always", "unless-stopped") and not rec.get("ManuallyStopped"):
                with self.lock(cid):
                    try:
                        self._start_locked(ns, rec)
                    except Exception as e:
                        log.warning("restart at start-up failed", extra={"fields": {"id": cid, "error": str(e)}})

    def close(self, timeout: float = 10.0) -> None:
        """Stop monitoring; removals already under way (``--rm`` after the exit) finish first,
        while the clients they need are still open."""
        self._closed.set()
        self.health.close()
        deadline = time.monotonic() + timeout
        with self._removed:
            while self._removing and time.monotonic() < deadline:
                self._removed.wait(0.1)

    # -- stop / kill / wait ---------------------------------------------------------------------

    def stop(self, ns: str, ref: str, timeout: int | None = None, signal: str = "") -> bool:
        """False when it was not running (docker's 304)."""
        rec = self.get(ns, ref)
        cid = rec["Id"]
        rec["ManuallyStopped"] = True
        self.records.save(rec)
        if not rec["State"]["Running"]:
            if rec["State"].get("Restarting"):
                rec["State"].update({"Restarting": False, "Status": "exited"})
                self.records.save(rec)
            return False
        sig = parse_signal(signal or rec["Config"].get("StopSignal") or "SIGTERM", signals.SIGTERM)
        if timeout is None:
            timeout = rec["Config"].get("StopTimeout")
            if timeout is None:
                timeout = 10
        with contextlib.suppress(errdefs.SeaboxError):
            self.tasks.kill(ns, cid, sig, all=False)
        if not self.wait_exit(cid, float(timeout) if timeout >= 0 else None):
            with contextlib.suppress(errdefs.SeaboxError):
                self.tasks.kill(ns, cid, signals.SIGKILL, all=True)
            self.wait_exit(cid, 30)
        self.engine.emit(ns, "container", "stop", cid, {"name": rec["Name"][1:]})
        return True

    def nap(self, cid: str) -> Callable[[float], object]:
        """A sleep that ends early when the container exits (for log followers)."""
        c = self.cond(cid)

        def nap(seconds: float) -> object:
            with c:
                return c.wait(seconds)

        return nap

    def wait_exit(self, cid: str, timeout: float | None) -> bool:
        c = self.cond(cid)
        deadline = None if timeout is None else time.monotonic() + timeout
        with c:
            while True:
                rec = self.records.items.get(cid)
                if rec is None or not rec["State"]["Running"]:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                c.wait(left if left is not None else 1.0)

    def kill(self, ns: str, ref: str, signal: str = "") -> None:
        rec = self.get(ns, ref)
        if not rec["State"]["Running"]:
            raise errdefs.FailedPrecondition(f"Cannot kill container: {ref}: Container {rec['Id']} is not running")
        sig = parse_signal(signal or "SIGKILL")
        if sig in (signals.SIGKILL, signals.SIGTERM, signals.SIGINT):
            rec["ManuallyStopped"] = True
            self.records.save(rec)
        self.tasks.kill(ns, rec["Id"], sig, all=sig == signals.SIGKILL)
        self.engine.emit(ns, "container", "kill", rec["Id"], {"name": rec["Name"][1:], "signal": str(sig)})

    def restart(self, ns: str, ref: str, timeout: int | None = None) -> None:
        self.stop(ns, ref, timeout)
        self.start(ns, ref)

    def _tombstone(self, ns: str, ref: str) -> int | None:
        """The exit code of an AutoRemove container already removed (by id, unique prefix or name)."""
        name = "/" + ref.lstrip("/")
        with self._glock:
            gone = [t[2] for cid, t in self._tombstones.items()
                    if t[0] == ns and (cid == ref or t[1] == name or (len(ref) >= 12 and cid.startswith(ref)))]
        return gone[0] if len(gone) == 1 else None

    def check_waitable(self, ns: str, ref: str) -> None:
        """NotFound unless ``wait`` can answer for ``ref`` (a container, or a tombstone)."""
        try:
            self.get(ns, ref)
        except errdefs.NotFound:
            if self._tombstone(ns, ref) is None:
                raise

    def wait_mark(self, ns: str, ref: str) -> int | None:
        """How many exits of ``ref`` were seen so far: taken when a wait request arrives, before
        its answer's headers tell the client it may start the container, so that an exit right
        after the start is the "next" one (None: no such container, or only a tombstone)."""
        try:
            cid = self.get(ns, ref)["Id"]
        except errdefs.NotFound:
            return None
        with self.cond(cid):
            return self._exits.get(cid, (0, 0))[0]

    def wait(self, ns: str, ref: str, condition: str = "not-running", seen: int | None = None) -> dict[str, Any]:
        """Docker's wait: ``not-running`` returns at once for a stopped container, else at its
        next exit; ``next-exit`` always waits for the next exit (``docker run`` sends it before
        ``start``); ``removed`` waits until the container is gone.  An AutoRemove container that already
        exited and went away answers with its exit code (its tombstone).  ``seen``: the exit count
        from ``wait_mark`` when the request came in."""
        try:
            rec = self.get(ns, ref)
        except errdefs.NotFound:
            code = self._tombstone(ns, ref)
            if code is None or condition not in ("", "not-running", "next-exit", "removed"):
                raise
            return {"StatusCode": code, "Error": None}
        cid = rec["Id"]
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise errdefs.InvalidArgument(f"invalid condition: {condition}")
        c = self.cond(cid)
        with c:
            now_seen, code = self._exits.get(cid, (0, int(rec["State"]["ExitCode"])))
            if seen is None:
                seen = now_seen
            st = rec["State"]
            idle = not st["Running"] and not st.get("Restarting") and now_seen == seen
            if condition == "removed":
                while cid in self.records.items:
                    c.wait(1.0)
                code = self._exits.get(cid, (seen, code))[1]
            elif condition == "next-exit" or not idle:
                while self._exits.get(cid, (0, 0))[0] == seen and cid in self.records.items:
                    c.wait(1.0)
                code = self._exits.get(cid, (seen, code))[1]
        err = rec["State"].get("Error") or ""
        return {"StatusCode": code, "Error": {"Message": err} if err else None}

    # -- pause / rename / resize ----------------------------------------------------------------

    def pause(self, ns: str, ref: str, on: bool) -> None:
        rec = self.get(ns, ref)
        if not rec["State"]["Running"]:
            raise errdefs.FailedPrecondition(f"Container {rec['Id']} is not running")
        if on:
            self.tasks.pause(ns, rec["Id"])
        else:
            self.tasks.resume(ns, rec["Id"])
        rec["State"].update({"Paused": on, "Status": "paused" if on else "running"})
        self.records.save(rec)
        self.engine.emit(ns, "container", "pause" if on else "unpause", rec["Id"], {"name": rec["Name"][1:]})

    def rename(self, ns: str, ref: str, new: str) -> None:
        rec = self.get(ns, ref)
        full = rec_mod.check_name(new)
        with self.records.lock:
            other = self.records.name_taken(ns, full)
            if other is not None and other["Id"] != rec["Id"]:
                raise errdefs.AlreadyExists(
                    f'Conflict. The container name "{full}" is already in use by container "{other["Id"]}". '
                    "You have to remove (or rename) that container to be able to reuse that name.")
            rec["Name"] = full
            self.records.save(rec)
        self.engine.emit(ns, "container", "rename", rec["Id"], {"name": full[1:]})

    # -- remove ---------------------------------------------------------------------------------

    def remove(self, ns: str, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        rec = self.get(ns, ref)
        cid = rec["Id"]
        if rec["State"]["Running"] and not force:
            raise errdefs.FailedPrecondition(
                f"You cannot remove a running container {cid}. Stop the container before attempting removal "
                "or force remove")
        with self.lock(cid):
            rec["ManuallyStopped"] = True
            rec["HostConfig"]["AutoRemove"] = False
            if rec["State"]["Running"]:
                with contextlib.suppress(errdefs.SeaboxError):
                    self.tasks.kill(ns, cid, signals.SIGKILL, all=True)
        if rec["State"]["Running"]:
            self.wait_exit(cid, 30)
        with self._removed:
            while cid in self._removing:  # the exit's AutoRemove got there first: it finishes the job
                self._removed.wait(1.0)
        self._await_prepared(cid)
        with self.lock(cid):
            if cid not in self.records.items and not self.records.dir(cid).exists():
                return
            self._prepared.pop(cid, None)  # a task prepared early goes with the container
            self._remove_locked(ns, rec, volumes=volumes)

    def _remove_locked(self, ns: str, rec: dict[str, Any], *, volumes: bool) -> None:
        """Task, network, containerd's record and snapshot, the record's files, anonymous volumes."""
        cid = rec["Id"]
        marks = [time.monotonic()]
        self.tasks.cancel_shim(ns, cid)  # one spawned early for a task that never came
        with contextlib.suppress(errdefs.SeaboxError):
            self.tasks.delete(ns, cid)
        marks.append(time.monotonic())
        self._teardown_network(cid)
        marks.append(time.monotonic())
        client = self.engine.client(ns)  # no lease needed to delete
        from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
        from seabox.ctr import containers as ctrc

        with contextlib.suppress(Exception):
            client.containers.Delete(ctrc._pb().DeleteContainerRequest(id=cid))
        with contextlib.suppress(Exception):
            client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter="overlayfs", key=cid))
        marks.append(time.monotonic())
        mounts = rec.get("Mounts") or []
        self.records.remove(cid)
        import shutil

        shutil.rmtree(Path(self.settings.state) / "engine" / "fifo" / cid, ignore_errors=True)
        if volumes:
            from seabox.engine.volumes import ANON_LABEL

            for m in mounts:
                if m.get("Type") == "volume":
                    with contextlib.suppress(errdefs.SeaboxError, OSError):
                        if ANON_LABEL in self.volumes.inspect(m["Name"])["Labels"]:
                            self.volumes.remove(m["Name"])
        marks.append(time.monotonic())
        steps = ("task_ms", "network_ms", "records_ms", "files_ms")
        log.debug("removed", extra={"fields": {"id": cid[:12], **{k: round((b - a) * 1000, 1) for k, a, b in
                                                                   zip(steps, marks, marks[1:], strict=False)}}})
        self._notify(cid)
        self.engine.emit(ns, "container", "destroy", cid, {"name": rec["Name"][1:]})

    def _teardown_network(self, cid: str) -> None:
        from seabox.network import netns

        nets = self.nets()
        try:
            att = nets.attachment(cid)
            if att is not None:
                nets.detach(cid, att.netns or None)
        except Exception as e:
            log.warning("network detach failed", extra={"fields": {"id": cid, "error": str(e)}})
        with contextlib.suppress(Exception):
            netns.remove(cid, nets.settings.netns_dir)

    def prune(self, ns: str) -> dict[str, Any]:
        gone = []
        for r in list(self.records.all(ns)):
            if not r["State"]["Running"] and not r["State"].get("Restarting"):
                with contextlib.suppress(errdefs.SeaboxError):
                    self.remove(ns, r["Id"])
                    gone.append(r["Id"])
        return {"ContainersDeleted": gone or None, "SpaceReclaimed": 0}

    # -- shapes ---------------------------------------------------------------------------------

    def network_settings(self, rec: dict[str, Any]) -> dict[str, Any]:
        host = rec["HostConfig"]
        mode = host.get("NetworkMode") or "default"
        ports: dict[str, Any] = {}
        for p in (rec["Config"].get("ExposedPorts") or {}):
            ports[p] = None
        networks: dict[str, Any] = {}
        att = None
        if rec["State"]["Running"] or rec["State"].get("Restarting"):
            with contextlib.suppress(Exception):
                att = self.nets().attachment(rec["Id"])
        if att is not None:
            for pm in att.ports:
                k = f"{pm.container_port}/{pm.protocol}"
                ports.setdefault(k, None)
                ports[k] = (ports[k] or []) + [{"HostIp": pm.host_ip or "0.0.0.0", "HostPort": str(pm.host_port)}]
            for itf in att.interfaces:
                networks[itf.network] = {
                    "IPAMConfig": None, "Links": None, "Aliases": list(att.aliases) or None,
                    "NetworkID": "", "EndpointID": f"{rec['Id']}-{itf.ifname}", "Gateway": itf.gateway,
                    "IPAddress": itf.ip, "IPPrefixLen": itf.prefixlen, "IPv6Gateway": "",
                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": itf.mac,
                    "DriverOpts": None}
        elif mode in ("host", "none"):
            networks[mode] = {"IPAddress": "", "Gateway": "", "MacAddress": ""}
        first: dict[str, Any] = next(iter(networks.values()), {})
        return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
                "SandboxKey": att.netns if att is not None else "",
                "Gateway": first.get("Gateway", ""), "IPAddress": first.get("IPAddress", ""),
                "IPPrefixLen": first.get("IPPrefixLen", 0), "MacAddress": first.get("MacAddress", ""),
                "Networks": networks}

    def inspect(self, ns: str, ref: str) -> dict[str, Any]:
        rec = self.get(ns, ref)
        st = dict(rec["State"])
        out = {
            "Id": rec["Id"], "Created": rec["Created"], "Path": rec["Path"], "Args": rec["Args"],
            "State": st, "Image": rec["Image"], "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
            "LogPath": rec["LogPath"], "Name": rec["Name"], "RestartCount": rec["RestartCount"],
            "Driver": "overlayfs", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": self.engine.execs.ids(rec["Id"]) or None, "HostConfig": rec["HostConfig"],
            "GraphDriver": {"Name": "overlayfs", "Data": None},
            "Mounts": [{k: v for k, v in m.items()} for m in rec.get("Mounts") or []],
            "Config": rec["Config"], "NetworkSettings": self.network_settings(rec),
        }
        with contextlib.suppress(Exception):
            att = self.nets().attachment(rec["Id"])
            if att is not None:
                out["HostsPath"], out["ResolvConfPath"], out["HostnamePath"] = (att.hosts_path, att.resolv_path,
                                                                                att.hostname_path)
        return out

    def summary(self, rec: dict[str, Any]) -> dict[str, Any]:
        ns = self.network_settings(rec)
        ports = []
        for k, binds in ns["Ports"].items():
            port, _, proto = k.partition("/")
            if not binds:
                ports.append({"PrivatePort": int(port), "Type": proto})
            for b in binds or []:
                ports.append({"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]),
                              "Type": proto})
        return {
            "Id": rec["Id"], "Names": [rec["Name"]], "Image": rec["ImageName"], "ImageID": rec["Image"],
            "Command": " ".join([rec["Path"], *rec["Args"]]).strip(), "Created": _epoch(rec["Created"]),
            "Ports": ports, "Labels": rec["Config"].get("Labels") or {}, "State": rec["State"]["Status"],
            "Status": status_text(rec["State"]), "HostConfig": {"NetworkMode": rec["HostConfig"].get("NetworkMode")},
            "NetworkSettings": {"Networks": ns["Networks"]},
            "Mounts": [{k: v for k, v in m.items()} for m in rec.get("Mounts") or []],
        }

    def list(self, ns: str, *, all: bool = False, limit: int = -1, filters: dict[str, list[str]] | None = None
             ) -> list[dict[str, Any]]:
        flt = filters or {}
        for key in flt:  # checked even when nothing would be matched, as docker does
            if key not in LIST_FILTERS:
                raise errdefs.InvalidArgument(f"invalid filter '{key}'")
        recs = sorted(self.records.all(ns), key=lambda r: r["Created"], reverse=True)
        out = []
        for r in recs:
            st = r["State"]
            if not all and not flt.get("status") and not st["Running"] and limit < 0 \
                    and not flt.get("exited"):
                continue
            if not _match(r, flt):
                continue
            out.append(self.summary(r))
            if limit > 0 and len(out) >= limit:
                break
        return out


LIST_FILTERS = ("name", "id", "label", "status", "exited", "ancestor", "network", "volume")


def _match(r: dict[str, Any], flt: dict[str, list[str]]) -> bool:
    import re

    for key, values in flt.items():
        if not values:
            continue
        if key == "name":
            if not any(re.search(v, r["Name"][1:]) for v in values):
                return False
        elif key == "id":
            if not any(r["Id"].startswith(v) for v in values):
                return False
        elif key == "label":
            labels = r["Config"].get("Labels") or {}
            for v in values:
                k, sep, val = v.partition("=")
                if k not in labels or (sep and labels[k] != val):
                    return False
        elif key == "status":
            if r["State"]["Status"] not in values:
                return False
        elif key == "exited":
            if r["State"]["Running"] or str(r["State"]["ExitCode"]) not in values:
                return False
        elif key == "ancestor":
            if not any(v in (r["ImageName"], r["Image"], r["ImageRef"]) or r["Image"].removeprefix("sha256:")
                       .startswith(v.removeprefix("sha256:")) for v in values):
                return False
        elif key == "network":
            mode = r["HostConfig"].get("NetworkMode")
            if mode not in values and not (mode == "default" and "bridge" in values):
                return False
        elif key == "volume":
            if not any(m.get("Name") in values or m.get("Destination") in values for m in r.get("Mounts") or []):
                return False
        else:
            raise errdefs.InvalidArgument(f"invalid filter '{key}'")
    return True


def _epoch(text: str) -> int:
    import datetime

    try:
        return int(datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.UTC).timestamp())
    except ValueError:
        return 0


def status_text(st: dict[str, Any]) -> str:
    from seabox.client.units import human_duration as _human  # docker's go-units HumanDuration

    now_s = time.time()
    if st.get("Restarting"):
        return f"Restarting ({st['ExitCode']}) {_human(now_s - _epoch(st['FinishedAt']))} ago"
    if st["Running"]:
        txt = f"Up {_human(now_s - _epoch(st['StartedAt']))}"
        return txt + " (Paused)" if st.get("Paused") else txt + health.status_suffix(st)
    if st["Status"] == "created":
        return "Created"
    return f"Exited ({st['ExitCode']}) {_human(now_s - _epoch(st['FinishedAt']))} ago"


def _inside(root: Path, path: str) -> Path:
    """``path`` inside ``root`` with symlinks resolved as if ``root`` were /."""
    from seabox.linux.paths import secure_join

    return Path(secure_join(str(root), path, max_links=40))
