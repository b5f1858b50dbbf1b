"""Network and volume verbs (create, ls, inspect, rm, prune)."""

from __future__ import annotations

from seabox import errdefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from seabox.client.context import Context
    from seabox.client.runopts import Options


def network_create(ctx: Context, o: Options) -> int:
    from seabox.client.runopts import label_map

    subnets, gateways, ranges = list(o.get("subnet", [])), list(o.get("gateway", [])), list(o.get("ip_range", []))
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise errdefs.InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    config = []
    for i, s in enumerate(subnets):
        c: dict[str, Any] = {"Subnet": s}
        if i < len(gateways):
            c["Gateway"] = gateways[i]
        if i < len(ranges):
            c["IPRange"] = ranges[i]
        config.append(c)
    opts = dict(x.partition("=")[::2] for x in o.get("opt", []))
    body = {
        "Name": o.name, "CheckDuplicate": True, "Driver": o.driver or "bridge", "Internal": bool(o.internal),
        "Attachable": bool(o.attachable), "EnableIPv6": bool(o.ipv6),
        "IPAM": {"Driver": o.ipam_driver or "default", "Config": config, "Options": {}},
        "Options": opts, "Labels": label_map(o.get("label", []), []),
    }  # fmt: skip
    res = ctx.client.post_json("/networks/create", body)
    if res.get("Warning"):
        ctx.warn(f"WARNING: {res['Warning']}")
    ctx.print(res["Id"])
    return 0


def network_ls(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.table import render
    from seabox.client.units import go_time, parse_rfc3339

    rows = ctx.client.get_json("/networks", {"filters": filters_json(o.get("filter", []))}) or []
    rows.sort(key=lambda n: n.get("Name", ""))
    if o.quiet:
        for n in rows:
            ctx.print(n["Id"] if o.no_trunc else n["Id"][:12])
        return 0
    items = []
    for n in rows:
        labels = n.get("Labels") or {}
        items.append({
            "ID": n["Id"] if o.no_trunc else n["Id"][:12], "Name": n.get("Name", ""), "Driver": n.get("Driver", ""),
            "Scope": n.get("Scope", "local"), "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
            "Internal": str(bool(n.get("Internal"))).lower(), "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "CreatedAt": go_time(parse_rfc3339(n.get("Created", ""))), "Label": lambda k, _l=labels: _l.get(k, ""),
        })  # fmt: skip
    ctx.out.write(render(o.get("format", ""), items, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                         {"ID": "NETWORK ID", "CreatedAt": "CREATED"}))  # fmt: skip
    return 0


def network_rm(ctx: Context, o: Options) -> int:
    from seabox.client.containers import _each

    return _each(ctx, o.networks, lambda n: ctx.client.request("DELETE", f"/networks/{n}").close())


def network_prune(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.images import confirm

    if not o.force and not confirm(ctx, "WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    res = ctx.client.post_json("/networks/prune", query={"filters": filters_json(o.get("filter", []))}) or {}
    deleted = res.get("NetworksDeleted") or []
    if deleted:
        ctx.print("Deleted Networks:")
        for n in deleted:
            ctx.print(n)
    return 0


def volume_create(ctx: Context, o: Options) -> int:
    from seabox.client.runopts import label_map

    if o.name and o.name_flag and o.name != o.name_flag:
        raise errdefs.InvalidArgument("conflicting options: either specify --name or provide positional arg, not both")
    body = {"Name": o.name or o.name_flag or "", "Driver": o.driver or "local",
            "DriverOpts": dict(x.partition("=")[::2] for x in o.get("opt", [])), "Labels": label_map(o.get("label", []), [])}  # fmt: skip
    res = ctx.client.post_json("/volumes/create", body)
    ctx.print(res["Name"])
    return 0


def volume_ls(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.table import render

    res = ctx.client.get_json("/volumes", {"filters": filters_json(o.get("filter", []))}) or {}
    vols = sorted(res.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    for w in res.get("Warnings") or []:
        ctx.warn(w)
    if o.quiet:
        for v in vols:
            ctx.print(v["Name"])
        return 0
    items = []
    for v in vols:
        labels = v.get("Labels") or {}
        items.append({"Driver": v.get("Driver", "local"), "Name": v.get("Name", ""), "Mountpoint": v.get("Mountpoint", ""),
                      "Scope": v.get("Scope", "local"), "Labels": ",".join(f"{k}={x}" for k, x in sorted(labels.items())),
                      "Label": lambda k, _l=labels: _l.get(k, "")})  # fmt: skip
    ctx.out.write(render(o.get("format", ""), items, "table {{.Driver}}\t{{.Name}}", {"Name": "VOLUME NAME"}))
    return 0


def volume_rm(ctx: Context, o: Options) -> int:
    from seabox.client.containers import _each

    return _each(ctx, o.volumes, lambda v: ctx.client.request("DELETE", f"/volumes/{v}", query={"force": o.force}).close())


def volume_prune(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.images import confirm
    from seabox.client.units import human_size

    if not o.force and not confirm(ctx, "WARNING! This will remove all local volumes not used by at least one container."):
        return 0
    filters = list(o.get("filter", []))
    if o.all:
        filters.append("all=true")
    res = ctx.client.post_json("/volumes/prune", query={"filters": filters_json(filters)}) or {}
    deleted = res.get("VolumesDeleted") or []
    if deleted:
        ctx.print("Deleted Volumes:")
        for v in deleted:
            ctx.print(v)
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed', 0))}")
    return 0
