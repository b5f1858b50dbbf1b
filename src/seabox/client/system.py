"""info, version, events, system prune."""

from __future__ import annotations

import platform
import sys

from seabox import __version__, errdefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from seabox.client.context import Context
    from seabox.client.runopts import Options


def info(ctx: Context, o: Options) -> int:
    from seabox.client.units import bytes_size

    i = ctx.client.get_json("/info")
    if o.format:
        from seabox.client.containers import print_objects

        print_objects(ctx, [i], o.format)
        return 0
    p = ctx.print
    p("Client:")
    p(f" Context:    default\n Debug Mode: {str(bool(ctx.settings.get('debug'))).lower()}\n Namespace:  {ctx.client.namespace}")
    p("")
    p("Server:")
    p(f" Containers: {i.get('Containers', 0)}")
    p(f"  Running: {i.get('ContainersRunning', 0)}\n  Paused: {i.get('ContainersPaused', 0)}\n  Stopped: {i.get('ContainersStopped', 0)}")
    p(f" Images: {i.get('Images', 0)}")
    p(f" Server Version: {i.get('ServerVersion', '')}")
    p(f" Storage Driver: {i.get('Driver', '')}")
    p(f" Logging Driver: {i.get('LoggingDriver', '')}")
    p(f" Cgroup Driver: {i.get('CgroupDriver', '')}")
    p(f" Cgroup Version: {i.get('CgroupVersion', '')}")
    runtimes = " ".join(sorted((i.get("Runtimes") or {}).keys()))
    p(f" Runtimes: {runtimes}")
    p(f" Default Runtime: {i.get('DefaultRuntime', '')}")
    sec = i.get("SecurityOptions") or []
    if sec:
        p(" Security Options:")
        for s in sec:
            p("  " + ", ".join(x.partition("=")[2] if x.startswith("name=") else x for x in s.split(",")))
    p(f" Kernel Version: {i.get('KernelVersion', '')}")
    p(f" Operating System: {i.get('OperatingSystem', '')}")
    p(f" OSType: {i.get('OSType', '')}")
    p(f" Architecture: {i.get('Architecture', '')}")
    p(f" CPUs: {i.get('NCPU', 0)}")
    p(f" Total Memory: {bytes_size(i.get('MemTotal', 0))}")
    p(f" Name: {i.get('Name', '')}")
    p(f" ID: {i.get('ID', '')}")
    p(f" Docker Root Dir: {i.get('DockerRootDir', '')}")
    p(f" Debug Mode: {str(bool(i.get('Debug'))).lower()}")
    for w in i.get("Warnings") or []:
        ctx.warn(w)
    return 0


def version(ctx: Context, o: Options) -> int:
    client = {"Version": __version__, "ApiVersion": ctx.client.version.lstrip("v"), "GoVersion": "python" + platform.python_version(),
              "Os": sys.platform, "Arch": platform.machine()}  # fmt: skip
    server: Any = None
    err = None
    try:
        server = ctx.client.get_json("/version")
    except errdefs.SeaboxError as e:
        err = e
    if o.format:
        from seabox.client.template import Template

        ctx.print(Template(o.format).render({"Client": client, "Server": server}))
    else:
        p = ctx.print
        p("Client:")
        p(f" Version:           {client['Version']}\n API version:       {client['ApiVersion']}")
        p(f" Python version:    {platform.python_version()}\n OS/Arch:           {client['Os']}/{client['Arch']}")
        if server:
            p("")
            p(f"Server: {server.get('Platform', {}).get('Name', '')}".rstrip())
            p(" Engine:")
            p(f"  Version:          {server.get('Version', '')}\n  API version:      {server.get('ApiVersion', '')} (minimum version {server.get('MinAPIVersion', '')})")
            p(f"  Go version:       {server.get('GoVersion', '')}\n  Git commit:       {server.get('GitCommit', '')}")
            p(f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}")
            for comp in server.get("Components") or []:
                if comp.get("Name") != "Engine":
                    p(f" {comp.get('Name')}:\n  Version:          {comp.get('Version', '')}")
    if err is not None:
        raise err
    return 0


def events(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.units import parse_since

    q = {"since": parse_since(o.since) if o.since else None, "until": parse_since(o.until) if o.until else None,
         "filters": filters_json(o.get("filter", []))}  # fmt: skip
    resp = ctx.client.request("GET", "/events", query=q)
    t = None
    if o.format:
        from seabox.client.template import Template

        t = Template(o.format)
    try:
        for ev in resp.iter_json():
            if t is not None:
                ctx.print(t.render(ev) if o.format != "json" else __import__("json").dumps(ev))
            else:
                ctx.print(format_event(ev))
            ctx.out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        resp.close()
    return 0


def format_event(ev: dict[str, Any]) -> str:
    import time

    ns = ev.get("timeNano") or int(ev.get("time", 0) * 1e9)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ns / 1e9)) + f".{ns % 1_000_000_000:09d}" + time.strftime("%z")
    ts = ts[:-2] + ":" + ts[-2:]
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{ts} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', ev.get('id', ''))}"
    if attrs:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return line


def system_prune(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.images import confirm
    from seabox.client.units import human_size

    warn = ["all stopped containers", "all networks not used by at least one container"]
    if o.volumes:
        warn.append("all anonymous volumes not used by at least one container")
    warn.append("all images without at least one container associated to them" if o.all else "all dangling images")
    if not o.force and not confirm(ctx, "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warn).rstrip("\n")):
        return 0
    f = filters_json(o.get("filter", []))
    total = 0
    res = ctx.client.post_json("/containers/prune", query={"filters": f}) or {}
    if res.get("ContainersDeleted"):
        ctx.print("Deleted Containers:\n" + "\n".join(res["ContainersDeleted"]) + "\n")
    total += res.get("SpaceReclaimed") or 0
    res = ctx.client.post_json("/networks/prune", query={"filters": f}) or {}
    if res.get("NetworksDeleted"):
        ctx.print("Deleted Networks:\n" + "\n".join(res["NetworksDeleted"]) + "\n")
    if o.volumes:
        res = ctx.client.post_json("/volumes/prune", query={"filters": f}) or {}
        if res.get("VolumesDeleted"):
            ctx.print("Deleted Volumes:\n" + "\n".join(res["VolumesDeleted"]) + "\n")
        total += res.get("SpaceReclaimed") or 0
    img_filters = [*list(o.get("filter", [])), "dangling=false" if o.all else "dangling=true"]
    res = ctx.client.post_json("/images/prune", query={"filters": filters_json(img_filters)}) or {}
    if res.get("ImagesDeleted"):
        ctx.print("Deleted Images:")
        for d in res["ImagesDeleted"]:
            ctx.print(f"untagged: {d['Untagged']}" if d.get("Untagged") else f"deleted: {d.get('Deleted')}")
        ctx.print()
    total += res.get("SpaceReclaimed") or 0
    ctx.print(f"Total reclaimed space: {human_size(total)}")
    return 0


def container_prune(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.images import confirm
    from seabox.client.units import human_size

    if not o.force and not confirm(ctx, "WARNING! This will remove all stopped containers."):
        return 0
    res = ctx.client.post_json("/containers/prune", query={"filters": filters_json(o.get("filter", []))}) or {}
    if res.get("ContainersDeleted"):
        ctx.print("Deleted Containers:\n" + "\n".join(res["ContainersDeleted"]) + "\n")
    ctx.print(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed') or 0)}")
    return 0
