"""One function per Engine API endpoint: parse the request, call the engine, shape the reply.

The contract with clients (the ``seabox`` CLI, the docker CLI, docker-py) is the Docker Engine
API with v1.41 shapes; a ``/v1.NN`` prefix is accepted and ignored.  Namespace: the
``X-Seabox-Namespace`` header (or ``namespace`` query parameter), else ``default`` — the
containerd namespace every object lives in (nerdctl's ``-n``).  Served:

* system: ``/_ping`` (GET, HEAD), ``/version``, ``/info``, ``/events`` (stream; since/until/filters),
  ``/system/df``, ``/auth`` (checks a login against the registry; stores nothing), ``/commit``;
* containers: ``create``, ``json`` (all/limit/filters name, id, label, status, exited, ancestor,
  network, volume), ``{id}/json``, ``start``, ``stop``, ``restart``, ``kill``, ``pause``,
  ``unpause``, ``wait`` (not-running, next-exit, removed), ``rename``, ``resize``, ``attach``
  (hijacked, ``Upgrade: tcp``), ``logs``, ``top``, ``stats``, ``archive`` (GET/HEAD/PUT), ``export``, ``changes``,
  ``DELETE`` (force, v), ``prune``; exec: ``{id}/exec``, ``/exec/{id}/start`` (hijacked or
  detached), ``/exec/{id}/resize``, ``/exec/{id}/json``;
* images: ``json``, ``create`` (fromImage/tag/platform, X-Registry-Auth; ``fromSrc=-``: import), ``{name}/json``,
  ``history``, ``tag``, ``push``, ``DELETE``, ``get`` (save), ``load``, ``prune``;
* networks: list, ``create``, inspect, ``DELETE``, ``prune``; volumes: list, ``create``, inspect,
  ``DELETE``, ``prune``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import seabox
from seabox import errdefs
from seabox.engine import logs as logmod
from seabox.engine import stdcopy
from seabox.engine.http import API_VERSION, MIN_API_VERSION, HTTPError, Reply, Request, Router
from seabox.engine.records import ZERO_TIME

DEFAULT_NAMESPACE = "default"


def ns_of(req: Request) -> str:
    return req.headers.get("X-Seabox-Namespace") or req.q("namespace") or DEFAULT_NAMESPACE


def build(engine: Any) -> Router:
    r = Router()
    C = engine.containers
    I = engine.images  # noqa: E741

    # -- system ---------------------------------------------------------------------------------
    def ping(req: Request) -> Reply:
        return Reply(200, b"OK", "text/plain; charset=utf-8", {"Cache-Control": "no-cache, no-store, must-revalidate",
                                                              "Pragma": "no-cache", "Builder-Version": "1"})

    def version(req: Request) -> Reply:
        u = os.uname()
        return Reply(200, {
            "Platform": {"Name": "seabox"},
            "Components": [{"Name": "Engine", "Version": seabox.__version__, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": "amd64",
                "KernelVersion": u.release}}],
            "Version": seabox.__version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": engine.deps.revision[:7], "GoVersion": "python" + platform.python_version(), "Os": "linux",
            "Arch": "amd64", "KernelVersion": u.release, "BuildTime": ""})

    def info(req: Request) -> Reply:
        ns = ns_of(req)
        recs = C.records.all(ns)
        running = sum(1 for x in recs if x["State"]["Running"] and not x["State"].get("Paused"))
        paused = sum(1 for x in recs if x["State"].get("Paused"))
        u = os.uname()
        images = 0
        try:
            images = len(I.records(ns))
        except Exception:
            pass
        return Reply(200, {
            "ID": engine.deps.uuid, "Containers": len(recs), "ContainersRunning": running,
            "ContainersPaused": paused, "ContainersStopped": len(recs) - running - paused, "Images": images,
            "Driver": "overlayfs", "DriverStatus": [], "Plugins": {"Volume": ["local"], "Network": ["bridge", "host",
                                                                                                  "none"],
                                                                 "Log": ["json-file", "none"]},
            "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True, "PidsLimit": True,
            "IPv4Forwarding": True, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": threading.active_count(), "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
            "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
            "KernelVersion": u.release, "OperatingSystem": _os_name(), "OSType": "linux", "Architecture": u.machine,
            "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "DockerRootDir": str(engine.settings.root),
            "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
            "ServerVersion": seabox.__version__, "Runtimes": {"io.containerd.runc.v2": {"path": "seabox-runc"}},
            "DefaultRuntime": "io.containerd.runc.v2", "LiveRestoreEnabled": True, "Isolation": "",
            "InitBinary": engine.settings.init_path, "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": None, "Namespace": ns})

    def events(req: Request) -> Reply:
        flt = req.filters()
        until = logmod.parse_since(req.q("until")) if req.q("until") else 0.0
        since = logmod.parse_since(req.q("since")) if req.q("since") else 0.0
        q = engine.subscribe()
        past = engine.history(since) if since else []
        ns = ns_of(req)

        def stream() -> Iterator[bytes]:
            try:
                yield b""
                for ev in past:
                    if until and ev["timeNano"] / 1e9 > until:
                        return
                    if ev.get("namespace") == ns and _event_match(ev, flt):
                        yield json.dumps({k: v for k, v in ev.items() if k != "namespace"}).encode() + b"\n"
                if until and time.time() >= until:
                    return
                while True:
                    timeout = None if not until else max(0.0, until - time.time())
                    try:
                        ev = q.get(timeout=timeout if timeout is not None else 1.0)
                    except Exception:
                        if until and time.time() >= until:
                            return
                        continue
                    if ev is None:
                        return
                    if ev.get("namespace") != ns or not _event_match(ev, flt):
                        continue
                    e = {k: v for k, v in ev.items() if k != "namespace"}
                    yield json.dumps(e).encode() + b"\n"
            finally:
                engine.unsubscribe(q)

        return Reply(200, stream())

    def auth(req: Request) -> Reply:
        from seabox.engine.images import check_login

        body = req.json() or {}
        if not body.get("username"):
            raise errdefs.InvalidArgument("auth: username is required")
        check_login(engine.settings, str(body.get("serveraddress") or ""), str(body["username"]),
                    str(body.get("password") or ""))
        return Reply(200, {"Status": "Login Succeeded", "IdentityToken": ""})

    r.add("POST", "/auth", auth)
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/events", events)
    r.add("GET", "/system/df", lambda req: Reply(200, {
        "LayersSize": 0, "Images": I.summary(ns_of(req)),
        "Containers": C.list(ns_of(req), all=True), "Volumes": C.volumes.list(), "BuildCache": []}))

    # -- containers -----------------------------------------------------------------------------
    def c_create(req: Request) -> Reply:
        ns = ns_of(req)
        rec = C.create(ns, req.q("name"), req.json(), defer_prepare=True)
        # a --rm container's early preparation begins once the answer is out (the client's next
        # requests need this thread's CPU first); a start waits for it either way
        return Reply(201, {"Id": rec["Id"], "Warnings": []}, after=lambda: C.begin_prepare(ns, rec))

    def c_list(req: Request) -> Reply:
        return Reply(200, C.list(ns_of(req), all=req.qbool("all"), limit=req.qint("limit", -1),
                                 filters=req.filters()))

    def c_inspect(req: Request) -> Reply:
        return Reply(200, C.inspect(ns_of(req), req.params["id"]))

    def c_start(req: Request) -> Reply:
        rec = C.get(ns_of(req), req.params["id"])
        if rec["State"]["Running"]:
            return Reply(304)
        C.start(ns_of(req), req.params["id"])
        return Reply(204)

    def c_stop(req: Request) -> Reply:
        t = req.q("t")
        stopped = C.stop(ns_of(req), req.params["id"], int(t) if t else None, req.q("signal"))
        return Reply(204 if stopped else 304)

    def c_restart(req: Request) -> Reply:
        t = req.q("t")
        C.restart(ns_of(req), req.params["id"], int(t) if t else None)
        return Reply(204)

    def c_kill(req: Request) -> Reply:
        C.kill(ns_of(req), req.params["id"], req.q("signal"))
        return Reply(204)

    def c_pause(req: Request) -> Reply:
        C.pause(ns_of(req), req.params["id"], True)
        return Reply(204)

    def c_unpause(req: Request) -> Reply:
        C.pause(ns_of(req), req.params["id"], False)
        return Reply(204)

    def c_wait(req: Request) -> Reply:
        ns, ref = ns_of(req), req.params["id"]
        C.check_waitable(ns, ref)
        cond = req.q("condition", "not-running")
        seen = C.wait_mark(ns, ref)  # before the headers: the client starts the container once it has them

        def stream() -> Iterator[bytes]:
            yield b""  # headers go out at once; docker clients wait for them before starting
            yield json.dumps(C.wait(ns, ref, cond, seen=seen)).encode() + b"\n"

        return Reply(200, stream())

    def c_rename(req: Request) -> Reply:
        C.rename(ns_of(req), req.params["id"], req.q("name"))
        return Reply(204)

    def c_resize(req: Request) -> Reply:
        rec = C.get(ns_of(req), req.params["id"])
        if not rec["State"]["Running"]:
            raise errdefs.FailedPrecondition(f"Container {rec['Id']} is not running")
        engine.tasks.resize(ns_of(req), rec["Id"], req.qint("w"), req.qint("h"))
        return Reply(200)

    def c_delete(req: Request) -> Reply:
        C.remove(ns_of(req), req.params["id"], force=req.qbool("force"), volumes=req.qbool("v"))
        return Reply(204)

    def c_prune(req: Request) -> Reply:
        return Reply(200, C.prune(ns_of(req)))

    def c_logs(req: Request) -> Reply:
        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        if not req.qbool("stdout") and not req.qbool("stderr"):
            raise errdefs.InvalidArgument("Bad parameters: you must choose at least one stream")
        if (rec["HostConfig"].get("LogConfig") or {}).get("Type") == "none":
            raise HTTPError(501, "configured logging driver does not support reading")
        tail = req.q("tail", "all")
        opts = logmod.LogOptions(stdout=req.qbool("stdout"), stderr=req.qbool("stderr"),
                                 since=logmod.parse_since(req.q("since")), until=logmod.parse_since(req.q("until")),
                                 timestamps=req.qbool("timestamps"),
                                 tail=-1 if tail in ("", "all") else int(tail), follow=req.qbool("follow"),
                                 tty=bool(rec["Config"].get("Tty")))
        cid = rec["Id"]

        def running() -> bool:
            x = C.records.items.get(cid)
            return bool(x and (x["State"]["Running"] or x["State"].get("Restarting")))

        ctype = "application/vnd.docker.raw-stream" if opts.tty else "application/vnd.docker.multiplexed-stream"

        def stream() -> Iterator[bytes]:
            yield b""
            yield from logmod.read(rec["LogPath"], opts, running, C.nap(cid))

        return Reply(200, stream(), ctype)

    def c_attach(req: Request) -> Reply:
        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        tty = bool(rec["Config"].get("Tty"))
        want_stdin = req.qbool("stdin")
        do_stream = req.qbool("stream")
        logs_too = req.qbool("logs")
        opts = logmod.LogOptions(stdout=req.qbool("stdout"), stderr=req.qbool("stderr"), tty=tty, follow=do_stream,
                                 tail=-1 if logs_too else 0)
        cid = rec["Id"]

        def running() -> bool:
            x = C.records.items.get(cid)
            if x is None:
                return False
            st = x["State"]
            # attached before start: keep waiting while it is created, unless a start failed
            return bool(st["Running"] or st.get("Restarting") or (st["Status"] == "created" and not st.get("Error")))

        def hijack(conn: socket.socket, rfile: Any) -> None:
            if want_stdin and rec["Config"].get("OpenStdin"):
                fifo = C._stdin_fifo(cid)

                def feed() -> None:
                    fd = os.open(fifo, os.O_RDWR)  # held until the shim took the data: a FIFO
                    try:                             # nobody holds open loses what it buffers
                        while True:
                            data = rfile.read1(65536) if hasattr(rfile, "read1") else conn.recv(65536)
                            if not data:
                                break
                            os.write(fd, data)
                    except OSError:
                        pass
                    try:
                        # docker attaches before start: the input may end before the task exists
                        deadline = time.monotonic() + 60
                        while time.monotonic() < deadline:
                            x = C.records.items.get(cid)
                            if x is None or x["State"]["Running"] or (
                                    x["State"]["Status"] == "exited" and x["State"]["StartedAt"] != ZERO_TIME):
                                break
                            time.sleep(0.02)
                        deadline = time.monotonic() + 5
                        while _pending(fd) and time.monotonic() < deadline:
                            time.sleep(0.01)
                        if rec["Config"].get("StdinOnce"):  # the attached client's EOF is the process's EOF
                            try:
                                engine.tasks.close_io(ns, cid)
                            except errdefs.SeaboxError:
                                pass
                    finally:
                        os.close(fd)

                threading.Thread(target=feed, daemon=True).start()
            try:
                for chunk in logmod.read(rec["LogPath"], opts, running, C.nap(cid)):
                    conn.sendall(chunk)
            finally:
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
        return Reply(200, None, ctype, hijack=hijack)

    def c_top(req: Request) -> Reply:
        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        if not rec["State"]["Running"]:
            raise errdefs.FailedPrecondition(f"Container {rec['Id']} is not running")
        pids = [int(p.get("pid", 0)) for p in engine.tasks.pids(ns, rec["Id"])]
        procs = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                st = os.stat(f"/proc/{pid}")
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ppid = fields[1]
            except OSError:
                continue
            procs.append([_user(st.st_uid), str(pid), ppid, "0", "", "?", "00:00:00", cmd])
        return Reply(200, {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": procs})

    def c_stats(req: Request) -> Reply:
        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        raw: dict[str, Any] = {}
        if rec["State"]["Running"]:
            try:
                raw = engine.tasks.stats(ns, rec["Id"])
            except errdefs.SeaboxError:
                raw = {}
        doc = _docker_stats(rec, raw)
        if req.qbool("stream", True) and req.q("stream") not in ("0", "false"):
            def stream() -> Iterator[bytes]:
                while True:
                    x = C.records.items.get(rec["Id"])
                    if x is None:
                        return
                    try:
                        s = engine.tasks.stats(ns, rec["Id"]) if x["State"]["Running"] else {}
                    except errdefs.SeaboxError:
                        s = {}
                    yield json.dumps(_docker_stats(x, s)).encode() + b"\n"
                    time.sleep(1)
            return Reply(200, stream())
        return Reply(200, doc)

    def c_archive_get(req: Request) -> Reply:
        from seabox.engine import archive as cp

        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        data, stat = cp.get(engine, ns, rec, req.q("path"))
        import base64

        hdr = base64.b64encode(json.dumps(stat).encode()).decode()
        return Reply(200, data, "application/x-tar", {"X-Docker-Container-Path-Stat": hdr})

    def c_archive_head(req: Request) -> Reply:
        from seabox.engine import archive as cp

        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        stat = cp.stat(engine, ns, rec, req.q("path"))
        import base64

        hdr = base64.b64encode(json.dumps(stat).encode()).decode()
        return Reply(200, None, headers={"X-Docker-Container-Path-Stat": hdr})

    def c_archive_put(req: Request) -> Reply:
        from seabox.engine import archive as cp

        ns = ns_of(req)
        rec = C.get(ns, req.params["id"])
        cp.put(engine, ns, rec, req.q("path"), req.body,
                    no_overwrite_dir=req.qbool("noOverwriteDirNonDir"))
        return Reply(200)

    r.add("POST", "/containers/create", c_create)
    r.add("GET", "/containers/json", c_list)
    r.add("POST", "/containers/prune", c_prune)
    r.add("GET", "/containers/{id}/json", c_inspect)
    r.add("POST", "/containers/{id}/start", c_start)
    r.add("POST", "/containers/{id}/stop", c_stop)
    r.add("POST", "/containers/{id}/restart", c_restart)
    r.add("POST", "/containers/{id}/kill", c_kill)
    r.add("POST", "/containers/{id}/pause", c_pause)
    r.add("POST", "/containers/{id}/unpause", c_unpause)
    r.add("POST", "/containers/{id}/wait", c_wait)
    r.add("POST", "/containers/{id}/rename", c_rename)
    r.add("POST", "/containers/{id}/resize", c_resize)
    r.add("POST", "/containers/{id}/attach", c_attach)
    r.add("GET", "/containers/{id}/logs", c_logs)
    r.add("GET", "/containers/{id}/top", c_top)
    r.add("GET", "/containers/{id}/stats", c_stats)
    r.add("GET", "/containers/{id}/archive", c_archive_get)
    r.add("HEAD", "/containers/{id}/archive", c_archive_head)
    r.add("PUT", "/containers/{id}/archive", c_archive_put)
    def c_export(req: Request) -> Reply:
        from seabox.engine import archive as cp

        ns = ns_of(req)
        return Reply(200, cp.export(engine, ns, C.get(ns, req.params["id"])), "application/x-tar")

    def c_changes(req: Request) -> Reply:
        from seabox.engine import archive as cp

        ns = ns_of(req)
        return Reply(200, cp.changes(engine, ns, C.get(ns, req.params["id"])))

    def commit(req: Request) -> Reply:
        from seabox.engine.commit import commit as do_commit

        changes = req.query.get("changes") or []
        changes = [ln for c in changes for ln in c.split("\n") if ln.strip()]  # docker joins them with newlines
        image_id = do_commit(engine, ns_of(req), req.q("container"), req.q("repo"), req.q("tag"),
                             comment=req.q("comment"), author=req.q("author"), changes=changes,
                             pause=req.q("pause") not in ("0", "false"), config=req.json() if req.body else None)
        return Reply(201, {"Id": image_id})

    r.add("POST", "/commit", commit)
    r.add("GET", "/containers/{id}/export", c_export)
    r.add("GET", "/containers/{id}/changes", c_changes)
    r.add("DELETE", "/containers/{id}", c_delete)

    # -- exec -----------------------------------------------------------------------------------
    def e_create(req: Request) -> Reply:
        return Reply(201, {"Id": engine.execs.create(ns_of(req), req.params["id"], req.json())})

    def e_start(req: Request) -> Reply:
        body = req.json()
        eid = req.params["id"]
        e = engine.execs.get(eid)
        if body.get("Detach"):
            engine.execs.start(eid, None, detach=True)
            return Reply(200)
        tty = bool(e["Body"].get("Tty"))
        ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
        return Reply(200, None, ctype, hijack=lambda conn, rfile: engine.execs.start(eid, conn))

    def e_inspect(req: Request) -> Reply:
        return Reply(200, engine.execs.inspect(req.params["id"]))

    def e_resize(req: Request) -> Reply:
        e = engine.execs.get(req.params["id"])
        engine.tasks.resize(e["Namespace"], e["ContainerID"], req.qint("w"), req.qint("h"), e["ID"][:24])
        return Reply(200)

    r.add("POST", "/containers/{id}/exec", e_create)
    r.add("POST", "/exec/{id}/start", e_start)
    r.add("GET", "/exec/{id}/json", e_inspect)
    r.add("POST", "/exec/{id}/resize", e_resize)

    # -- images ---------------------------------------------------------------------------------
    def i_create(req: Request) -> Reply:
        src = req.q("fromImage")
        if not src and req.q("fromSrc") == "-":  # docker import: the request body is the rootfs tarball
            from seabox.engine.commit import import_rootfs

            changes = [ln for c in req.query.get("changes") or [] for ln in c.split("\n") if ln.strip()]
            image_id = import_rootfs(engine, ns_of(req), req.body, req.q("repo"), req.q("tag"),
                                     message=req.q("message"), changes=changes, platform=req.q("platform"))
            return Reply(200, json.dumps({"status": image_id}).encode() + b"\n")
        if not src:
            raise errdefs.InvalidArgument("fromImage is required (or fromSrc=- with the rootfs tarball as the body; "
                                          "importing from a URL is not supported)")
        tag = req.q("tag")
        ref = src
        if tag:
            ref = f"{src}@{tag}" if tag.startswith("sha256:") else f"{src}:{tag}"
        return Reply(200, I.pull(ns_of(req), ref, auth=req.headers.get("X-Registry-Auth", ""),
                                 platform=req.q("platform")))

    def i_list(req: Request) -> Reply:
        out = I.summary(ns_of(req))
        flt = req.filters()
        if flt.get("reference"):
            import fnmatch

            out = [i for i in out if any(fnmatch.fnmatch(t, p) or fnmatch.fnmatch(t.rsplit(":", 1)[0], p)
                                         for t in i["RepoTags"] for p in flt["reference"])]
        if flt.get("dangling") and flt["dangling"][0] in ("1", "true"):
            out = [i for i in out if not i["RepoTags"]]
        return Reply(200, out)

    def i_inspect(req: Request) -> Reply:
        return Reply(200, I.inspect(ns_of(req), req.params["name"]))

    def i_history(req: Request) -> Reply:
        return Reply(200, I.history(ns_of(req), req.params["name"]))

    def i_tag(req: Request) -> Reply:
        I.tag(ns_of(req), req.params["name"], req.q("repo"), req.q("tag"))
        return Reply(201)

    def i_delete(req: Request) -> Reply:
        return Reply(200, I.remove(ns_of(req), req.params["name"], force=req.qbool("force")))

    def i_push(req: Request) -> Reply:
        from seabox.engine import transfer

        return Reply(200, transfer.push(engine, ns_of(req), req.params["name"], req.q("tag"),
                                        req.headers.get("X-Registry-Auth", "")))

    def i_save(req: Request) -> Reply:
        from seabox.engine import transfer

        names = req.query.get("names") or []
        return Reply(200, transfer.save(engine, ns_of(req), names), "application/x-tar")

    def i_save_one(req: Request) -> Reply:
        from seabox.engine import transfer

        return Reply(200, transfer.save(engine, ns_of(req), [req.params["name"]]), "application/x-tar")

    def i_load(req: Request) -> Reply:
        from seabox.engine import transfer

        return Reply(200, transfer.load(engine, ns_of(req), req.body, quiet=req.qbool("quiet")))

    def i_prune(req: Request) -> Reply:
        ns = ns_of(req)
        flt = req.filters()
        dangling_only = not (flt.get("dangling") and flt["dangling"][0] in ("0", "false"))
        used = {x["Image"] for x in C.records.all(ns)}
        deleted = []
        for img in I.summary(ns):
            if img["Id"] in used or (dangling_only and img["RepoTags"]):
                continue
            try:
                deleted.extend(I.remove(ns, img["Id"]))
            except errdefs.SeaboxError:
                continue
        return Reply(200, {"ImagesDeleted": deleted or None, "SpaceReclaimed": 0})

    r.add("POST", "/images/create", i_create)
    r.add("GET", "/images/json", i_list)
    r.add("GET", "/images/get", i_save)
    r.add("POST", "/images/load", i_load)
    r.add("POST", "/images/prune", i_prune)
    r.add("GET", "/images/{name:.+}/json", i_inspect)
    r.add("GET", "/images/{name:.+}/history", i_history)
    r.add("GET", "/images/{name:.+}/get", i_save_one)
    r.add("POST", "/images/{name:.+}/tag", i_tag)
    r.add("POST", "/images/{name:.+}/push", i_push)
    r.add("DELETE", "/images/{name:.+}", i_delete)

    # -- networks -------------------------------------------------------------------------------
    def n_list(req: Request) -> Reply:
        nets = C.nets()
        nets.ensure_default()
        out = [nets.inspect(n.name) for n in nets.list()]
        flt = req.filters()
        if flt.get("name"):
            out = [n for n in out if any(v in n["Name"] for v in flt["name"])]
        return Reply(200, out)

    def n_create(req: Request) -> Reply:
        body = req.json()
        ipam = ((body.get("IPAM") or {}).get("Config") or [{}])
        first = ipam[0] if ipam else {}
        net = C.nets().create(body.get("Name", ""), first.get("Subnet") or None, first.get("Gateway") or None,
                              first.get("IPRange") or None, body.get("Labels") or {}, body.get("Driver") or "bridge")
        return Reply(201, {"Id": net.id, "Warning": ""})

    def n_inspect(req: Request) -> Reply:
        try:
            return Reply(200, C.nets().inspect(req.params["id"]))
        except errdefs.NotFound:
            raise HTTPError(404, f"network {req.params['id']} not found") from None

    def n_delete(req: Request) -> Reply:
        C.nets().remove(req.params["id"])
        return Reply(204)

    def n_prune(req: Request) -> Reply:
        return Reply(200, {"NetworksDeleted": C.nets().prune() or None})

    r.add("GET", "/networks", n_list)
    r.add("POST", "/networks/create", n_create)
    r.add("POST", "/networks/prune", n_prune)
    r.add("GET", "/networks/{id}", n_inspect)
    r.add("DELETE", "/networks/{id}", n_delete)

    # -- volumes --------------------------------------------------------------------------------
    def v_list(req: Request) -> Reply:
        vols = C.volumes.list()
        flt = req.filters()
        if flt.get("name"):
            vols = [v for v in vols if any(x in v["Name"] for x in flt["name"])]
        if flt.get("dangling"):
            want = flt["dangling"][0] in ("1", "true")
            vols = [v for v in vols if bool(C._volume_users(v["Name"])) != want]
        return Reply(200, {"Volumes": vols, "Warnings": None})

    def v_create(req: Request) -> Reply:
        b = req.json()
        return Reply(201, C.volumes.create(b.get("Name", ""), b.get("Labels"), b.get("Driver") or "local",
                                           b.get("DriverOpts")))

    def v_inspect(req: Request) -> Reply:
        return Reply(200, C.volumes.inspect(req.params["name"]))

    def v_delete(req: Request) -> Reply:
        C.volumes.remove(req.params["name"], force=req.qbool("force"))
        return Reply(204)

    def v_prune(req: Request) -> Reply:
        flt = req.filters()
        all_named = bool(flt.get("all") and flt["all"][0] in ("1", "true"))
        return Reply(200, {"VolumesDeleted": C.volumes.prune(all_named=all_named) or None, "SpaceReclaimed": 0})

    r.add("GET", "/volumes", v_list)
    r.add("POST", "/volumes/create", v_create)
    r.add("POST", "/volumes/prune", v_prune)
    r.add("GET", "/volumes/{name}", v_inspect)
    r.add("DELETE", "/volumes/{name}", v_delete)
    _ = stdcopy
    return r


def _pending(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    import array
    import fcntl
    import termios

    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    except OSError:
        return 0
    return int(buf[0])


def _event_match(ev: dict[str, Any], flt: dict[str, list[str]]) -> bool:
    for k, vals in flt.items():
        if not vals:
            continue
        if k == "type" and ev["Type"] not in vals:
            return False
        if k == "event" and ev["Action"] not in vals:
            return False
        # as docker's filter: an event passes a container filter only if its actor is one of
        # them (by id prefix or name), whatever its type — an image pull does not pass
        if k == "container" and not any(
                ev["Actor"]["ID"].startswith(v) or ev["Actor"]["Attributes"].get("name") == v for v in vals):
            return False
    return True


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def _docker_stats(rec: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """runc's stats shape (cpu.usage.total, memory.usage.usage, pids.current) → docker's."""
    mem = (raw.get("memory") or {}).get("usage") or {}
    cpu = ((raw.get("cpu") or {}).get("usage")) or {}
    pids = raw.get("pids") or {}
    raw_mem = (raw.get("memory") or {}).get("raw") or {}
    return {
        "read": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "preread": "0001-01-01T00:00:00Z",
        "id": rec["Id"], "name": rec["Name"],
        "pids_stats": {"current": int(pids.get("current", 0) or 0)},
        "cpu_stats": {"cpu_usage": {"total_usage": int(cpu.get("total", 0) or 0),
                                    "usage_in_kernelmode": int(cpu.get("kernel", 0) or 0),
                                    "usage_in_usermode": int(cpu.get("user", 0) or 0)},
                      "system_cpu_usage": _system_cpu_ns(), "online_cpus": os.cpu_count() or 1},
        "precpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0},
        "memory_stats": {"usage": int(mem.get("usage", 0) or 0), "max_usage": int(mem.get("max", 0) or 0),
                         "limit": min(int(mem.get("limit", 0) or 0) or _mem_total(), _mem_total() or 1 << 62),
                         "stats": {k: int(v) for k, v in raw_mem.items() if isinstance(v, int)}},
        "networks": {}, "blkio_stats": {},
    }


def _system_cpu_ns() -> int:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:8]
        return sum(int(x) for x in fields) * 10_000_000  # USER_HZ ticks → ns
    except (OSError, ValueError):
        return 0
