"""Container verbs: each takes a Context and an Options object, talks to the Engine API, prints
what docker prints and returns the exit status."""

from __future__ import annotations

import os
import sys
import time

from seabox import errdefs, jsonlite
from seabox.client.http import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from seabox.client.context import Context
    from seabox.client.runopts import Options

PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED", "CreatedAt": "CREATED AT",
    "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "State": "STATE", "LocalVolumes": "LOCAL VOLUMES",
}  # fmt: skip
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def ellipsis(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def short_id(i: str) -> str:
    if i.startswith("sha256:"):
        i = i[7:]
    return i[:12]


def filters_json(items: list[str]) -> str | None:
    """``--filter k=v`` (repeatable) → docker's filters JSON (``{"k": {"v": true}}``)."""
    if not items:
        return None
    out: dict[str, dict[str, bool]] = {}
    for f in items:
        k, sep, v = f.partition("=")
        if not sep or not k:
            raise errdefs.InvalidArgument(f"bad format of filter (expected name=value): {f}")
        out.setdefault(k.strip().lower(), {})[v] = True
    return jsonlite.dumps(out, ascii=False)


def format_ports(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip and ip != "::" else (":::" if False else ip)
            host = f"{ip}:{p['PublicPort']}" if ip != "::" else f":::{p['PublicPort']}"
            out.append(f"{host}->{p['PrivatePort']}/{proto}")
        else:
            out.append(f"{p['PrivatePort']}/{proto}")
    seen: list[str] = []
    for x in out:
        if x not in seen:
            seen.append(x)
    return ", ".join(seen)


def ps_item(c: dict[str, Any], no_trunc: bool, now: float) -> dict[str, Any]:
    from seabox.client.units import ago, go_time, human_size

    names = [n.lstrip("/") for n in c.get("Names") or []]
    if not no_trunc:
        names = [n for n in names if "/" not in n] or names[:1]
    cmd = c.get("Command", "")
    image = c.get("Image", "")
    if not no_trunc and image.startswith("sha256:"):
        image = short_id(image)
    labels = c.get("Labels") or {}
    size = ""
    if "SizeRw" in c or "SizeRootFs" in c:
        size = f"{human_size(c.get('SizeRw', 0))} (virtual {human_size(c.get('SizeRootFs', 0))})"
    nets = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    item: dict[str, Any] = {
        "Command": jsonlite.dumps(cmd if no_trunc else ellipsis(cmd, 20), ascii=False),
        "CreatedAt": go_time(c.get("Created", 0)),
        "ID": c.get("Id", "") if no_trunc else short_id(c.get("Id", "")),
        "Image": image,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Mounts": ",".join((m.get("Name") or m.get("Source", "")) for m in c.get("Mounts") or []),
        "Names": ",".join(names),
        "Networks": ",".join(nets),
        "Ports": format_ports(c.get("Ports") or []),
        "RunningFor": ago(c.get("Created", 0), now),
        "Size": size,
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
    }
    item["Label"] = lambda name: labels.get(name, "")
    return item


def ps(ctx: Context, o: Options) -> int:
    limit = int(o.last) if o.last not in (None, "", -1, "-1") else (1 if o.latest else None)
    q: dict[str, Any] = {"all": o.all or bool(limit), "limit": limit, "size": o.size, "filters": filters_json(o.get("filter", []))}
    rows = ctx.client.get_json("/containers/json", q) or []
    if o.quiet:
        for c in rows:
            ctx.print(c["Id"] if o.no_trunc else short_id(c["Id"]))
        return 0
    from seabox.client.table import render

    now = time.time()
    default = PS_TABLE + ("\t{{.Size}}" if o.size else "")
    ctx.out.write(render(o.get("format", ""), [ps_item(c, bool(o.no_trunc), now) for c in rows], default, PS_HEADERS))
    return 0


# ---- create / run ---------------------------------------------------------------------------------
def create_container(ctx: Context, o: Options, attach_next: bool = False) -> str:
    """POST /containers/create, pulling the image first when --pull says so; returns the id."""
    from seabox.client.runopts import create_body

    body = create_body(o)
    q = {"name": o.name or None, "platform": o.platform or None}
    policy = o.get("pull", "missing")
    if policy not in ("always", "missing", "never"):
        raise errdefs.InvalidArgument(f'invalid pull option: \'{policy}\': must be one of "always", "missing" or "never"')
    if policy == "always":
        _pull_for_run(ctx, o)
    try:
        sock = ctx.client.send("POST", "/containers/create", query=q, body=body)
        if attach_next:  # what attaching needs is imported while the daemon creates
            from seabox.client import streams  # noqa: F401
        res = ctx.client.response(sock, method="POST").json()
    except APIError as e:
        if e.status != 404 or policy == "never" or "image" not in e.message.lower():
            raise
        from seabox.client.refs import familiar

        ctx.warn(f"Unable to find image '{familiar(o.image)}' locally")
        _pull_for_run(ctx, o)
        res = ctx.client.post_json("/containers/create", body, q)
    for w in res.get("Warnings") or []:
        ctx.warn(f"WARNING: {w}")
    cid = res["Id"]
    if o.cidfile:
        try:
            fd = os.open(o.cidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise errdefs.AlreadyExists(f"container ID file found, make sure the other container isn't running or delete {o.cidfile}") from None
        with os.fdopen(fd, "w") as f:
            f.write(cid)
    return cid


def _pull_for_run(ctx: Context, o: Options) -> None:
    from seabox.client.images import pull_image

    pull_image(ctx, o.image, platform=o.platform or "", quiet=False, out=ctx.err, print_ref=False)


def create(ctx: Context, o: Options) -> int:
    ctx.print(create_container(ctx, o))
    return 0


def _send_wait(ctx: Context, cid: str, condition: str) -> Any:
    """Send POST /wait (before the start, so the exit cannot be missed); returns the open socket."""
    return ctx.client.send("POST", f"/containers/{cid}/wait", query={"condition": condition})


def _wait_registered(s: Any) -> None:
    import select

    select.select([s], [], [], 5.0)  # dockerd answers the headers once the waiter is registered


def _finish_wait(ctx: Context, s: Any) -> int:
    resp = ctx.client.response(s)
    res = resp.json() or {}
    err = (res.get("Error") or {}).get("Message") if isinstance(res.get("Error"), dict) else None
    if err:
        ctx.warn(err)
    return int(res.get("StatusCode", 0))


def attach_session(ctx: Context, cid: str, *, tty: bool, stdin: bool, start: bool, wait_condition: str | None,
                   detach_keys: str | None = None) -> int:  # fmt: skip
    """Attach, optionally start, copy I/O until the stream ends; returns the exit code if waiting."""
    from seabox.client import streams

    q: dict[str, Any] = {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1}
    if detach_keys:
        q["detachKeys"] = detach_keys
    # attach and wait go out together (two connections, one round trip); the start waits for both
    attach_sock = ctx.client.send("POST", f"/containers/{cid}/attach", query=q, upgrade=True)
    try:
        wait_sock = _send_wait(ctx, cid, wait_condition) if wait_condition else None
    except BaseException:
        attach_sock.close()
        raise
    try:
        resp = ctx.client.response(attach_sock)
    except BaseException:
        if wait_sock is not None:
            wait_sock.close()
        raise
    if wait_sock is not None:
        _wait_registered(wait_sock)
    if start:
        ctx.client.post(f"/containers/{cid}/start")
    raw = tty and stdin and streams.stdin_is_tty()
    if tty and os.isatty(1):
        streams.on_resize(lambda h, w: ctx.client.post(f"/containers/{cid}/resize", {"h": h, "w": w}))
    restore = None
    if not tty:
        restore = _proxy_signals(ctx, cid)
    code = 0
    with streams.RawTerminal(0, raw):
        if stdin:
            streams.pump_stdin(resp.sock, 0)
        try:
            syserr = streams.copy_output(resp, tty)
        except KeyboardInterrupt:
            syserr = ""
        resp.close()
        if wait_sock is not None:
            code = _finish_wait(ctx, wait_sock)
    if restore:
        restore()
    if syserr:
        ctx.warn(syserr.strip())
    return code


def _proxy_signals(ctx: Context, cid: str) -> Any:
    # _signal, not signal/threading: those two cost ~13 ms of start-up (enum) on every `run`
    import _signal

    names = {_signal.SIGINT: "SIGINT", _signal.SIGTERM: "SIGTERM", _signal.SIGHUP: "SIGHUP",
             _signal.SIGQUIT: "SIGQUIT", _signal.SIGUSR1: "SIGUSR1", _signal.SIGUSR2: "SIGUSR2"}
    old: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        try:
            ctx.client.post(f"/containers/{cid}/kill", {"signal": names[signum]})
        except errdefs.SeaboxError:
            pass

    try:
        for s in names:
            old[s] = _signal.signal(s, handler)
    except ValueError:  # not the main thread: signals stay as they are
        for s, h in old.items():
            _signal.signal(s, h)
        return None

    def restore() -> None:
        for s, h in old.items():
            _signal.signal(s, h)

    return restore


def run(ctx: Context, o: Options) -> int:
    cid = create_container(ctx, o, attach_next=not o.detach)
    if o.detach:
        ctx.client.post(f"/containers/{cid}/start")
        ctx.print(cid)
        return 0
    cond = "removed" if o.rm else "next-exit"
    return attach_session(ctx, cid, tty=bool(o.tty), stdin=bool(o.interactive), start=True, wait_condition=cond,
                          detach_keys=o.detach_keys)  # fmt: skip


def start(ctx: Context, o: Options) -> int:
    if o.attach or o.interactive:
        if len(o.containers) > 1:
            raise errdefs.InvalidArgument("you cannot start and attach multiple containers at once")
        info = ctx.client.get_json(f"/containers/{o.containers[0]}/json")
        return attach_session(ctx, info["Id"], tty=bool(info["Config"].get("Tty")), stdin=bool(o.interactive),
                              start=True, wait_condition="next-exit")  # fmt: skip
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/start"))


def _each(ctx: Context, names: list[str], fn: Any, echo: bool = True) -> int:
    """Apply ``fn`` to every name, printing each name done and each error (docker's multi-object style)."""
    rc = 0
    for n in names:
        try:
            r = fn(n)
        except errdefs.SeaboxError as e:
            ctx.warn(f"Error response from daemon: {e}" if isinstance(e, APIError) else f"Error: {e}")
            rc = 1
            continue
        if echo:
            ctx.print(r if isinstance(r, str) else n)
    return rc


def stop(ctx: Context, o: Options) -> int:
    q = {"t": o.time} if o.time is not None else None
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/stop", q))


def restart(ctx: Context, o: Options) -> int:
    q = {"t": o.time} if o.time is not None else None
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/restart", q))


def kill(ctx: Context, o: Options) -> int:
    q = {"signal": o.signal} if o.signal else None
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/kill", q))


def rm(ctx: Context, o: Options) -> int:
    q = {"force": o.force, "v": o.volumes, "link": o.link}
    return _each(ctx, o.containers, lambda c: ctx.client.delete(f"/containers/{c}", q))


def pause(ctx: Context, o: Options) -> int:
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/pause"))


def unpause(ctx: Context, o: Options) -> int:
    return _each(ctx, o.containers, lambda c: ctx.client.post(f"/containers/{c}/unpause"))


def rename(ctx: Context, o: Options) -> int:
    ctx.client.post(f"/containers/{o.container}/rename", {"name": o.new_name})
    return 0


def wait(ctx: Context, o: Options) -> int:
    def one(c: str) -> str:
        res = ctx.client.post_json(f"/containers/{c}/wait") or {}
        return str(res.get("StatusCode", 0))

    return _each(ctx, o.containers, one)


def logs(ctx: Context, o: Options) -> int:
    from seabox.client import streams
    from seabox.client.units import parse_since

    info = ctx.client.get_json(f"/containers/{o.container}/json")
    q = {"stdout": 1, "stderr": 1, "follow": o.follow, "timestamps": o.timestamps,
         "tail": o.tail if o.tail not in (None, "") else "all",
         "since": parse_since(o.since) if o.since else None, "until": parse_since(o.until) if o.until else None}  # fmt: skip
    resp = ctx.client.request("GET", f"/containers/{info['Id']}/logs", query=q)
    try:
        streams.copy_output(resp, bool(info["Config"].get("Tty")))
    except KeyboardInterrupt:
        pass
    finally:
        resp.close()
    return 0


def attach(ctx: Context, o: Options) -> int:
    info = ctx.client.get_json(f"/containers/{o.container}/json")
    if not info["State"].get("Running"):
        raise errdefs.FailedPrecondition("You cannot attach to a stopped container, start it first")
    tty = bool(info["Config"].get("Tty"))
    stdin = not o.no_stdin and bool(info["Config"].get("OpenStdin"))
    return attach_session(ctx, info["Id"], tty=tty, stdin=stdin, start=False, wait_condition=None,
                          detach_keys=o.detach_keys) or _exit_code(ctx, info["Id"])  # fmt: skip


def _exit_code(ctx: Context, cid: str) -> int:
    try:
        info = ctx.client.get_json(f"/containers/{cid}/json")
    except errdefs.SeaboxError:
        return 0
    return 0 if info["State"].get("Running") else int(info["State"].get("ExitCode") or 0)


def exec_(ctx: Context, o: Options) -> int:
    from seabox.client import streams
    from seabox.client.runopts import env_list

    body = {
        "User": o.user or "", "Privileged": bool(o.privileged), "Tty": bool(o.tty),
        "AttachStdin": bool(o.interactive) and not o.detach, "AttachStdout": not o.detach,
        "AttachStderr": not o.detach, "Detach": bool(o.detach), "Env": env_list(o.get("env", []), o.get("env_file", [])),
        "WorkingDir": o.workdir or "", "Cmd": list(o.command),
    }  # fmt: skip
    if o.detach_keys:
        body["DetachKeys"] = o.detach_keys
    eid = ctx.client.post_json(f"/containers/{o.container}/exec", body)["Id"]
    if o.detach:
        ctx.client.post(f"/exec/{eid}/start", body={"Detach": True, "Tty": bool(o.tty)})
        return 0
    resp = ctx.client.hijack(f"/exec/{eid}/start", body={"Detach": False, "Tty": bool(o.tty)})
    if o.tty and os.isatty(1):
        streams.on_resize(lambda h, w: ctx.client.post(f"/exec/{eid}/resize", {"h": h, "w": w}))
    with streams.RawTerminal(0, bool(o.tty and o.interactive and streams.stdin_is_tty())):
        if o.interactive:
            streams.pump_stdin(resp.sock, 0)
        try:
            syserr = streams.copy_output(resp, bool(o.tty))
        except KeyboardInterrupt:
            syserr = ""
        resp.close()
    if syserr:
        ctx.warn(syserr.strip())
    info = ctx.client.get_json(f"/exec/{eid}/json")
    return int(info.get("ExitCode") or 0)


# ---- inspect, port, top, stats --------------------------------------------------------------------
_KINDS = {
    "container": "/containers/{}/json", "image": "/images/{}/json", "network": "/networks/{}",
    "volume": "/volumes/{}",
}  # fmt: skip


def inspect_objects(ctx: Context, names: list[str], kind: str | None, size: bool = False) -> tuple[list[Any], list[str]]:
    if kind and kind not in _KINDS:
        raise errdefs.InvalidArgument(f'"{kind}" is not a valid value for --type')
    kinds = [kind] if kind else list(_KINDS)
    found, errors = [], []
    for n in names:
        for k in kinds:
            try:
                q = {"size": 1} if size and k == "container" else None
                found.append(ctx.client.get_json(_KINDS[k].format(n), q))
                break
            except APIError as e:
                if e.status not in (404, 400):
                    raise
        else:
            errors.append(f"Error: No such {kind or 'object'}: {n}")
    return found, errors


def print_objects(ctx: Context, objs: list[Any], fmt: str | None) -> None:
    if fmt:
        from seabox.client.template import Template

        t = Template(fmt)
        for obj in objs:
            ctx.print(t.render(obj))
    else:
        import json

        ctx.print(json.dumps(objs, indent=4, ensure_ascii=False))


def inspect(ctx: Context, o: Options, kind: str | None = None) -> int:
    objs, errors = inspect_objects(ctx, o.names, kind or o.type, bool(o.size))
    print_objects(ctx, objs, o.format)
    for e in errors:
        ctx.warn(e)
    return 1 if errors else 0


def port(ctx: Context, o: Options) -> int:
    info = ctx.client.get_json(f"/containers/{o.container}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    want = o.private_port
    if want and "/" not in want:
        want += "/tcp"
    lines = []
    for p in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        if want and p != want:
            continue
        for b in ports[p] or []:
            ip = b.get("HostIp") or "0.0.0.0"
            hp = b.get("HostPort")
            host = f"[{ip}]:{hp}" if ":" in ip else f"{ip}:{hp}"
            lines.append(host if want else f"{p} -> {host}")
    if want and not lines:
        raise errdefs.NotFound(f"No public port '{want}' published for {o.container}")
    for line in lines:
        ctx.print(line)
    return 0


def top(ctx: Context, o: Options) -> int:
    from seabox.client.table import tabwrite

    q = {"ps_args": " ".join(o.ps_args)} if o.ps_args else None
    res = ctx.client.get_json(f"/containers/{o.container}/top", q)
    rows = [res.get("Titles") or []] + [list(p) for p in res.get("Processes") or []]
    ctx.out.write(tabwrite(rows, minwidth=1, padding=3))
    return 0


STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                 "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}  # fmt: skip
STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"


def stats_item(s: dict[str, Any], name: str) -> dict[str, Any]:
    from seabox.client.units import bytes_size, human_size

    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = (cpu_delta / sys_delta) * ncpu * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    st = mem.get("stats") or {}
    usage = mem.get("usage", 0) - (st.get("inactive_file") if "inactive_file" in st else st.get("total_inactive_file", 0))
    limit = mem.get("limit", 0)
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    rd = wr = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        if e.get("op", "").lower() == "read":
            rd += e.get("value", 0)
        elif e.get("op", "").lower() == "write":
            wr += e.get("value", 0)
    cid = s.get("id", "")
    return {
        "Container": name or cid[:12], "ID": cid[:12], "Name": (s.get("name") or name).lstrip("/"),
        "CPUPerc": f"{cpu_pct:.2f}%", "MemUsage": f"{bytes_size(max(usage, 0))} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}", "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)),
    }  # fmt: skip


STATS_INTERVAL = 1.0  # seconds between two screens, as docker's stats


def _stats_items(ctx: Context, o: Options, explicit: list[str]) -> list[dict[str, str]]:
    from seabox.client.http import APIError

    names = explicit or [c["Id"] for c in ctx.client.get_json("/containers/json", {"all": o.all}) or []]
    items = []
    for n in names:
        try:
            s = ctx.client.get_json(f"/containers/{n}/stats", {"stream": "false"})
        except APIError:
            if explicit:
                raise
            continue  # listed, then removed before its sample: it just leaves the screen
        items.append(stats_item(s, n))
    return items


def stats(ctx: Context, o: Options) -> int:
    """One table with ``--no-stream``; otherwise a new one every second until interrupted — on a
    terminal redrawn in place (docker clears the screen), else one after the other."""
    import time

    from seabox.client.table import render

    explicit = list(o.containers)
    tty = ctx.out.isatty()
    try:
        while True:
            t0 = time.monotonic()
            text = render(o.get("format", ""), _stats_items(ctx, o, explicit), STATS_TABLE, STATS_HEADERS)
            if o.no_stream:
                ctx.out.write(text)
                return 0
            ctx.out.write(("\x1b[2J\x1b[H" if tty else "") + text)
            ctx.out.flush()
            time.sleep(max(0.0, STATS_INTERVAL - (time.monotonic() - t0)))
    except KeyboardInterrupt:
        return 0


# ---- cp -------------------------------------------------------------------------------------------
def split_cp_arg(arg: str) -> tuple[str | None, str]:
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    c, _, p = arg.partition(":")
    return c, p


def _path_stat(ctx: Context, container: str, path: str) -> dict[str, Any] | None:
    import base64

    resp = ctx.client.request("HEAD", f"/containers/{container}/archive", query={"path": path}, check=False)
    resp.close()
    if resp.status == 404:
        return None
    if resp.status >= 400:
        raise APIError(resp.status, f"Could not find the file {path} in container {container}")
    h = resp.headers.get("x-docker-container-path-stat", "")
    return jsonlite.loads(base64.b64decode(h)) if h else {}


def cp(ctx: Context, o: Options) -> int:
    src_c, src = split_cp_arg(o.src)
    dst_c, dst = split_cp_arg(o.dst)
    if src_c and dst_c:
        raise errdefs.InvalidArgument("copying between containers is not supported")
    if not src_c and not dst_c:
        raise errdefs.InvalidArgument("must specify at least one container source")
    if src_c:
        return _copy_from(ctx, src_c, src, dst)
    assert dst_c is not None
    return _copy_to(ctx, src, dst_c, dst)


def _copy_from(ctx: Context, container: str, src: str, dst: str) -> int:
    import shutil
    import tarfile

    resp = ctx.client.request("GET", f"/containers/{container}/archive", query={"path": src})

    class _R:
        def read(self, n: int = -1) -> bytes:
            return resp.read() if n < 0 else resp.read_exact(n)

    try:
        if dst == "-":
            for chunk in resp.iter_chunks():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        dst_is_dir = os.path.isdir(dst)
        if not dst_is_dir and dst.endswith("/"):
            raise errdefs.InvalidArgument(f'destination directory "{dst}" must exist')
        if not dst_is_dir and not os.path.isdir(os.path.dirname(os.path.abspath(dst))):
            raise errdefs.NotFound(f'destination "{dst}": no such directory')
        with tarfile.open(fileobj=_R(), mode="r|") as tar:  # type: ignore[call-overload]
            base = os.path.basename(src.rstrip("/")) or "/"
            for member in tar:
                name = member.name
                if dst_is_dir:
                    rel = name
                    target_root = dst
                else:  # rename the copied root to the destination's name
                    parts = name.split("/", 1)
                    rel = os.path.basename(dst) + ("/" + parts[1] if len(parts) > 1 else "")
                    target_root = os.path.dirname(os.path.abspath(dst))
                    if parts[0] != base and base != "/":
                        rel = name
                member.name = rel
                if member.isdir() and os.path.isfile(os.path.join(target_root, rel)):
                    raise errdefs.InvalidArgument(f"cannot overwrite non-directory {os.path.join(target_root, rel)} with directory")
                if ".." in rel.split("/") or rel.startswith("/"):
                    raise errdefs.InvalidArgument(f"archive entry {member.name!r} escapes the destination")
                tar.extract(member, target_root, set_attrs=os.geteuid() == 0)
        del shutil
    finally:
        resp.close()
    return 0


def _copy_to(ctx: Context, src: str, container: str, dst: str) -> int:
    import io
    import tarfile

    if src == "-":
        body: Any = sys.stdin.buffer
        target_dir = dst
    else:
        if not os.path.lexists(src):
            raise errdefs.NotFound(f"stat {src}: no such file or directory")
        st = _path_stat(ctx, container, dst)
        if st is not None and (st.get("mode", 0) & (1 << 31)):  # os.ModeDir
            target_dir, arcname = dst, os.path.basename(os.path.abspath(src))
        else:
            if dst.endswith("/"):
                raise errdefs.NotFound(f'destination directory "{dst}" must exist')
            target_dir, arcname = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(src, arcname=arcname)
        body = buf.getvalue()
    resp = ctx.client.request("PUT", f"/containers/{container}/archive", query={"path": target_dir}, body=body)
    resp.close()
    return 0


def inspect_container(ctx: Context, o: Options) -> int:
    return inspect(ctx, o, "container")


def inspect_image(ctx: Context, o: Options) -> int:
    return inspect(ctx, o, "image")


def inspect_network(ctx: Context, o: Options) -> int:
    return inspect(ctx, o, "network")


def inspect_volume(ctx: Context, o: Options) -> int:
    return inspect(ctx, o, "volume")


# ---- diff / export -----------------------------------------------------------------------------
def diff(ctx: Context, o: Options) -> int:
    """``A``dded, ``C``hanged and ``D``eleted paths of the container's writable layer."""
    for c in ctx.client.get_json(f"/containers/{o.container}/changes") or []:
        ctx.print(f"{'CAD'[int(c['Kind'])]} {c['Path']}")
    return 0


def export(ctx: Context, o: Options) -> int:
    """The container's filesystem as a tar archive, to ``-o FILE`` or a non-terminal stdout."""
    from seabox.client.images import write_archive

    return write_archive(ctx, f"/containers/{o.container}/export", None, o.output)


def commit(ctx: Context, o: Options) -> int:
    """A new image from the container's changes; prints its id."""
    from seabox.client.refs import split

    repo, tag, digest = split(o.repository)
    if digest:
        raise errdefs.InvalidArgument(f"refusing to create a tag with a digest reference: {o.repository}")
    q = {"container": o.container, "repo": repo, "tag": tag or None, "comment": o.get("message") or None,
         "author": o.get("author") or None, "changes": list(o.get("change", [])) or None,
         "pause": None if o.get("pause", True) else "0"}
    doc = ctx.client.post_json("/commit", query=q)
    ctx.print(doc.get("Id", ""))
    return 0
