"""``ctr snapshots``: ls / info / rm / mounts / usage / tree / prepare / view / commit, and
mounting a snapshot's mounts on the client side (``images mount``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from seabox.ctr.client import Client, CommandError
from seabox.ctr.tables import human_bytes, rfc3339_pb, tabwrite

KINDS = {0: "Unknown", 1: "View", 2: "Active", 3: "Committed"}


def _pb() -> Any:
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2

    return snapshots_pb2


def _list(client: Client, snapshotter: str, filters: Sequence[str] = ()) -> list[Any]:
    pb = _pb()
    req = pb.ListSnapshotsRequest(snapshotter=snapshotter, filters=list(filters))
    return [i for resp in client.snapshots.List(req) for i in resp.info]


def ls(client: Client, out: TextIO, *, snapshotter: str, filters: Sequence[str] = ()) -> int:
    lines = ["KEY\tPARENT\tKIND\t"]
    for i in _list(client, snapshotter, filters):
        lines.append(f"{i.name}\t{i.parent}\t{KINDS.get(i.kind, 'Unknown')}\t")
    out.write(tabwrite(lines))
    return 0


def info_dict(i: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"Kind": KINDS.get(i.kind, "Unknown"), "Name": i.name}
    if i.parent:
        d["Parent"] = i.parent
    if i.labels:
        d["Labels"] = dict(sorted(i.labels.items()))
    d["Created"] = rfc3339_pb(i.created_at)
    d["Updated"] = rfc3339_pb(i.updated_at)
    return d


def info(client: Client, key: str, out: TextIO, *, snapshotter: str) -> int:
    if not key:
        raise CommandError("must specify a snapshot key")
    pb = _pb()
    i = client.snapshots.Stat(pb.StatSnapshotRequest(snapshotter=snapshotter, key=key)).info
    out.write(json.dumps(info_dict(i), indent=4) + "\n")
    return 0


def remove(client: Client, keys: Sequence[str], *, snapshotter: str) -> int:
    if not keys:
        raise CommandError("must specify at least one snapshot key")
    pb = _pb()
    for k in keys:
        client.snapshots.Remove(pb.RemoveSnapshotRequest(snapshotter=snapshotter, key=k))
    return 0


def print_mounts(mounts: Sequence[Any], target: str, out: TextIO) -> None:
    for m in mounts:
        out.write(f"mount -t {m.type} {m.source} {target} -o {','.join(m.options)}\n")


def mounts_json(mounts: Sequence[Any]) -> str:
    return json.dumps(
        [{"Type": m.type, "Source": m.source, "Options": list(m.options)} for m in mounts], indent=None
    )


def mounts(client: Client, target: str, key: str, out: TextIO, *, snapshotter: str) -> int:
    if not target or not key:
        raise CommandError("must specify mount target and key")
    pb = _pb()
    ms = client.snapshots.Mounts(pb.MountsRequest(snapshotter=snapshotter, key=key)).mounts
    print_mounts(ms, target, out)
    return 0


def prepare(client: Client, key: str, parent: str, out: TextIO, *, snapshotter: str, target: str = "",
            as_json: bool = False, view: bool = False) -> int:  # fmt: skip
    if not key:
        raise CommandError("must provide a key")
    pb = _pb()
    if view:
        ms = client.snapshots.View(pb.ViewSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)).mounts
    else:
        ms = client.snapshots.Prepare(pb.PrepareSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)).mounts
    if target:
        print_mounts(ms, target, out)
    if as_json:
        out.write(mounts_json(ms) + "\n")
    return 0


def commit(client: Client, name: str, key: str, *, snapshotter: str) -> int:
    if not name or not key:
        raise CommandError("must provide a name and an active key")
    pb = _pb()
    client.snapshots.Commit(pb.CommitSnapshotRequest(snapshotter=snapshotter, name=name, key=key))
    return 0


def usage(client: Client, keys: Sequence[str], out: TextIO, *, snapshotter: str, in_bytes: bool = False) -> int:
    pb = _pb()
    names = list(keys) or [i.name for i in _list(client, snapshotter)]
    lines = ["KEY\tSIZE\tINODES\t"]
    for k in names:
        u = client.snapshots.Usage(pb.UsageRequest(snapshotter=snapshotter, key=k))
        size = str(u.size) if in_bytes else human_bytes(u.size)
        lines.append(f"{k}\t{size}\t{u.inodes}\t")
    out.write(tabwrite(lines))
    return 0


def tree(client: Client, out: TextIO, *, snapshotter: str) -> int:
    infos = _list(client, snapshotter)
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    names = {i.name for i in infos}
    for i in infos:
        if i.parent and i.parent in names:
            children.setdefault(i.parent, []).append(i.name)
        else:
            roots.append(i.name)

    def walk(name: str, level: int) -> None:
        prefix = "  " * level + ("\\_" if level else "")
        out.write(f"{prefix} {name}\n")
        for c in children.get(name, []):
            walk(c, level + 1)

    for r in roots:
        walk(r, 0)
    return 0


# -- client-side mounting (images mount / unmount) ---------------------------------------------


def mount_all(mounts: Sequence[Any], target: str) -> None:
    """Mount a snapshot's mounts on ``target`` (bind mounts and overlay, as containerd's mount.All)."""
    from seabox.linux import syscalls as s
    from seabox.runtime.rootfs import parse_options

    sc = s.LinuxSyscalls()
    for m in mounts:
        opts = parse_options(list(m.options))
        fstype = m.type
        flags = opts.flags
        if fstype == "bind" or "bind" in m.options or "rbind" in m.options:
            flags |= s.MS_BIND | (s.MS_REC if "rbind" in m.options else 0)
            sc.mount(m.source, target, None, flags & ~s.MS_RDONLY, None)
            if flags & s.MS_RDONLY:
                sc.mount(None, target, None, flags | s.MS_REMOUNT, None)
            continue
        sc.mount(m.source, target, fstype, flags, opts.data_str)


def unmount_all(target: str) -> None:
    """Unmount everything stacked on ``target``."""
    from seabox.linux import syscalls as s

    sc = s.LinuxSyscalls()
    first = True
    while True:
        try:
            sc.umount2(target, 0)
        except OSError as e:
            if e.errno == 22 and not first:  # EINVAL: nothing mounted any more
                return
            raise
        first = False
