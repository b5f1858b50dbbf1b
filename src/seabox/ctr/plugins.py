"""``ctr plugins ls``: the daemon's plugins and whether they loaded."""

from __future__ import annotations

from typing import TextIO

from seabox.ctr.client import Client
from seabox.ctr.tables import tabwrite


def _platforms(p: object) -> str:
    plats = [
        "/".join(x for x in (pl.os, pl.architecture, pl.variant) if x)
        for pl in getattr(p, "platforms", [])
    ]
    return ",".join(plats) if plats else "-"


def ls(client: Client, out: TextIO, *, quiet: bool = False, detailed: bool = False, filters: list[str] | None = None) -> int:
    from seabox.api.gen.containerd.api.services.introspection.v1 import introspection_pb2 as pb

    resp = client.introspection.Plugins(pb.PluginsRequest(filters=filters or []))
    if quiet:
        for p in resp.plugins:
            out.write(p.id + "\n")
        return 0
    if detailed:
        for p in resp.plugins:
            out.write(f"Type:\t{p.type}\nID:\t{p.id}\n")
            if p.requires:
                out.write("Requires:\t\n" + "".join(f"\t{r}\n" for r in p.requires))
            out.write(f"Platforms:\t{_platforms(p)}\n")
            if p.exports:
                out.write("Exports:\t\n" + "".join(f"\t{k}\t{v}\n" for k, v in sorted(p.exports.items())))
            if p.HasField("init_err"):
                out.write(f"Error:\t\n\tCode:\t{p.init_err.code}\n\tMessage:\t{p.init_err.message}\n")
            out.write("\n")
        return 0
    lines = ["TYPE\tID\tPLATFORMS\tSTATUS\t"]
    for p in resp.plugins:
        status = "ok"
        if p.HasField("init_err"):
            status = "skip" if "skip" in p.init_err.message.lower() else "error"
        lines.append(f"{p.type}\t{p.id}\t{_platforms(p)}\t{status}\t")
    out.write(tabwrite(lines, minwidth=4, padding=4))
    return 0
