"""``ctr containers``: ls / info / rm / label / create, and container creation for ``run``.

A container is metadata: id, image name, runtime, the OCI spec (an Any holding the spec's
JSON, as containerd stores it) and the rootfs snapshot key.  Creating one prepares an
active snapshot on the image's top chain ID (under a lease, so GC cannot take it before the
container record references it), then records the container.
"""

from __future__ import annotations

import os

from seabox import errdefs
from seabox.ctr.client import Client, CommandError, grpc_code

TYPE_CHECKING = False  # this module is on ``run``'s path: json, contextlib and the rest load where used
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

DEFAULT_RUNTIME = "io.containerd.runc.v2"


def _pb() -> Any:
    from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2

    return containers_pb2


def get(client: Client, container_id: str) -> Any:
    if not container_id:
        raise CommandError("container id must be provided")
    return client.containers.Get(_pb().GetContainerRequest(id=container_id)).container


def ls(client: Client, out: TextIO, *, quiet: bool = False, filters: Sequence[str] = ()) -> int:
    from seabox.ctr.tables import tabwrite

    cs = list(client.containers.List(_pb().ListContainersRequest(filters=list(filters))).containers)
    if quiet:
        for c in cs:
            out.write(c.id + "\n")
        return 0
    lines = ["CONTAINER\tIMAGE\tRUNTIME\t"]
    for c in cs:
        lines.append(f"{c.id}\t{c.image or '-'}\t{c.runtime.name}\t")
    out.write(tabwrite(lines, minwidth=4, padding=4))
    return 0


def _any_json(a: Any) -> Any:
    import json

    if not a.type_url and not a.value:
        return None
    try:
        return json.loads(a.value)
    except ValueError:
        import base64

        return {"type_url": a.type_url, "value": base64.b64encode(a.value).decode()}


def info_dict(c: Any) -> dict[str, Any]:
    from seabox.ctr.tables import rfc3339_pb

    d: dict[str, Any] = {
        "ID": c.id,
        "Labels": dict(sorted(c.labels.items())) or None,
        "Image": c.image,
        "Runtime": {"Name": c.runtime.name, "Options": _any_json(c.runtime.options) if c.runtime.HasField("options") else None},
        "SnapshotKey": c.snapshot_key,
        "Snapshotter": c.snapshotter,
        "CreatedAt": rfc3339_pb(c.created_at),
        "UpdatedAt": rfc3339_pb(c.updated_at),
        "Extensions": {k: _any_json(v) for k, v in c.extensions.items()} or None,
    }
    spec = _any_json(c.spec) if c.HasField("spec") else None
    if spec is not None:
        d["Spec"] = spec
    return d


def info(client: Client, container_id: str, out: TextIO, *, spec_only: bool = False) -> int:
    import json

    c = get(client, container_id)
    if spec_only:
        out.write(json.dumps(_any_json(c.spec), indent=4) + "\n")
        return 0
    out.write(json.dumps(info_dict(c), indent=4) + "\n")
    return 0


def label(client: Client, container_id: str, labels: Sequence[str], out: TextIO) -> int:
    from google.protobuf import field_mask_pb2

    from seabox.ctr.tables import parse_labels

    pb = _pb()
    kv = parse_labels(labels)
    c = get(client, container_id)
    upd = pb.Container(id=container_id, labels={k: v for k, v in kv.items() if v})
    mask = field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in kv])
    client.containers.Update(pb.UpdateContainerRequest(container=upd, update_mask=mask))
    del c
    return 0


def _status_line(p: Any) -> str:
    from seabox.ctr.tasks import status_name

    return f"{{{status_name(p.status).lower()} {p.exit_status} 0001-01-01 00:00:00 +0000 UTC}}"


def delete_one(client: Client, container_id: str, *, keep_snapshot: bool = False, container: Any = None,
               task_gone: bool = False) -> None:  # fmt: skip
    """ctr's deleteContainer: a stopped (or created) task goes with it; a live one refuses.
    ``container``/``task_gone`` let a caller that knows skip the lookups."""
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as tpb
    from seabox.ctr.tasks import status_name

    c = container if container is not None else get(client, container_id)
    p = None
    if not task_gone:
        try:
            p = client.tasks.Get(tpb.GetRequest(container_id=container_id)).process
        except Exception as e:
            if grpc_code(e) not in ("NOT_FOUND", "UNIMPLEMENTED"):
                raise
    if p is not None:
        if status_name(p.status) not in ("STOPPED", "CREATED"):
            raise CommandError(f"cannot delete a non stopped container: {_status_line(p)}")
        client.tasks.Delete(tpb.DeleteTaskRequest(container_id=container_id))
    from seabox.ctr import network

    if network.LABEL in c.labels:  # started with run --cni: its networks go with it
        network.remove(network.Settings.from_label(c.labels[network.LABEL]),
                       network.full_id(client.namespace, container_id))
    if not keep_snapshot and c.snapshot_key:
        try:
            client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=c.snapshotter, key=c.snapshot_key))
        except Exception as e:
            if grpc_code(e) != "NOT_FOUND":
                raise
    client.containers.Delete(_pb().DeleteContainerRequest(id=container_id))


def remove(client: Client, ids: Sequence[str], err: TextIO, *, keep_snapshot: bool = False) -> int:
    from seabox.ctr.client import describe

    if not ids:
        raise CommandError("must specify at least one container to delete")
    failed = False
    for cid in ids:
        try:
            delete_one(client, cid, keep_snapshot=keep_snapshot)
        except Exception as e:
            msg = describe(e, client.address)
            if msg is None:
                raise
            err.write(f"ctr: failed to delete container \"{cid}\": {msg}\n" if len(ids) > 1 else f"ctr: {msg}\n")
            failed = True
    return 1 if failed else 0


# -- create ------------------------------------------------------------------------------------


class CreateOptions:
    """What ``containers create`` and ``run`` are asked to create."""

    def __init__(self, image: str, id: str, runtime: str = DEFAULT_RUNTIME, snapshotter: str = "overlayfs",
                 labels: dict[str, str] | None = None, config_path: str = "", rootfs: bool = False, platform: str = "",
                 runtime_options: Any = None, spec: Any = None) -> None:  # fmt: skip
        self.image = image
        self.id = id
        self.runtime = runtime
        self.snapshotter = snapshotter
        self.labels: dict[str, str] = labels if labels is not None else {}
        self.config_path = config_path
        self.rootfs = rootfs
        self.platform = platform
        self.runtime_options = runtime_options
        self.spec = spec  # seabox.ctr.spec.SpecOptions

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"CreateOptions({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def read_chain_files(client: Client, snapshotter: str, parent: str, paths: Sequence[str]) -> list[str | None]:
    """Read small files (``/etc/passwd``) from a committed snapshot: a temporary view mounted here."""
    import contextlib
    import tempfile

    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.ctr import snapshots

    key = f"ctr-read-{os.urandom(6).hex()}"
    mounts = client.snapshots.View(spb.ViewSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)).mounts
    d = tempfile.mkdtemp(prefix="seabox-ctr-")
    out: list[str | None] = []
    try:
        snapshots.mount_all(list(mounts), d)
        try:
            for p in paths:
                try:
                    with open(os.path.join(d, p.lstrip("/")), encoding="utf-8", errors="replace") as f:
                        out.append(f.read(1 << 20))
                except OSError:
                    out.append(None)
        finally:
            snapshots.unmount_all(d)
    finally:
        os.rmdir(d)
        with contextlib.suppress(Exception):
            client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key))
    return out


def _layer_dirs(mounts: Sequence[Any]) -> list[str] | None:
    """The directories a snapshot's mounts stack, top first (None for a mount type we do not know)."""
    dirs: list[str] = []
    for m in mounts:
        opts = list(m.options)
        if m.type == "bind" or "bind" in opts or "rbind" in opts:
            dirs = [m.source]
        elif m.type == "overlay":
            upper = [o.split("=", 1)[1] for o in opts if o.startswith("upperdir=")]
            lower = [d for o in opts if o.startswith("lowerdir=") for d in o.split("=", 1)[1].split(":")]
            dirs = upper + lower
        else:
            return None
    return dirs


def read_files_from_mounts(mounts: Sequence[Any], paths: Sequence[str]) -> list[str | None] | None:
    """Small files of a snapshot read straight from its layer directories (no mount needed):
    the first layer holding the path wins, an overlay whiteout (0/0 char device) hides it.
    None when the mounts are of a kind this cannot read (the caller mounts instead)."""
    import stat as st

    dirs = _layer_dirs(mounts)
    if dirs is None:
        return None
    out: list[str | None] = []
    for p in paths:
        rel = p.lstrip("/")
        found: str | None = None
        for d in dirs:
            full = os.path.join(d, rel)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if st.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                break  # whited out
            if st.S_ISREG(info.st_mode):
                with open(full, encoding="utf-8", errors="replace") as f:
                    found = f.read(1 << 20)
            break
        out.append(found)
    return out


def read_user_files(client: Client, c: Any) -> tuple[str | None, str | None]:
    """/etc/passwd and /etc/group of a container's image (for a ``--user`` name)."""
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

    if not c.snapshot_key:
        return None, None
    mounts = client.snapshots.Mounts(spb.MountsRequest(snapshotter=c.snapshotter, key=c.snapshot_key)).mounts
    got = read_files_from_mounts(list(mounts), ["/etc/passwd", "/etc/group"])
    if got is not None:
        return got[0], got[1]
    info = client.snapshots.Stat(spb.StatSnapshotRequest(snapshotter=c.snapshotter, key=c.snapshot_key)).info
    if not info.parent:
        return None, None
    pw, gr = read_chain_files(client, c.snapshotter, info.parent, ["/etc/passwd", "/etc/group"])
    return pw, gr


def create(client: Client, opts: CreateOptions) -> Any:
    """Prepare the rootfs snapshot and record the container; returns the Container message."""
    return create_with_mounts(client, opts)[0]


def create_with_mounts(client: Client, opts: CreateOptions) -> tuple[Any, list[Any] | None]:
    """:func:`create`, also returning the rootfs snapshot's mounts (None without a snapshot),
    which is what the task is created with: ``run`` needs no second lookup."""
    import contextlib
    import json
    import socket

    from google.protobuf import any_pb2

    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.ctr import images, leases
    from seabox.ctr import spec as specs

    if not opts.id:
        raise CommandError("container id must be provided")
    if not opts.image:
        raise CommandError("image ref must be provided")
    pb = _pb()
    sopts = opts.spec or specs.SpecOptions()
    labels: dict[str, str] = {}
    with leases.temporary(client):
        snapshot_key = ""
        image_name = ""
        mounts: Any = None
        if opts.config_path:
            with open(opts.config_path, encoding="utf-8") as f:
                spec_dict = json.load(f)
        if opts.rootfs:
            if not opts.config_path:
                spec_dict = specs.build(client.namespace, opts.id, None, sopts, host_hostname=socket.gethostname())
                spec_dict["root"] = {"path": opts.image, **({"readonly": True} if sopts.read_only else {})}
        else:
            r = images.ensure_unpacked(client, opts.image, snapshotter=opts.snapshotter, platform=opts.platform or None)
            image_name = r.name
            cfg = dict(r.config.config or {})
            labels.update({k: v for k, v in (cfg.get("Labels") or {}).items()})
            if cfg.get("StopSignal"):
                from seabox.ctr.tasks import STOP_SIGNAL_LABEL

                labels[STOP_SIGNAL_LABEL] = cfg["StopSignal"]
            top = r.chain_ids[-1] if r.chain_ids else ""
            try:
                mounts = client.snapshots.Prepare(
                    spb.PrepareSnapshotRequest(snapshotter=opts.snapshotter, key=opts.id, parent=top)
                ).mounts
            except Exception as e:
                if grpc_code(e) == "ALREADY_EXISTS":
                    raise errdefs.AlreadyExists(errdefs.subject("snapshot", opts.id, "already exists")) from None
                raise
            snapshot_key = opts.id
            try:
                if not opts.config_path:
                    files = read_files_from_mounts(list(mounts), ["/etc/passwd", "/etc/group"])
                    if files is None and top:
                        files = read_chain_files(client, opts.snapshotter, top, ["/etc/passwd", "/etc/group"])
                    passwd, group = (files or [None, None])[0], (files or [None, None])[1]
                    spec_dict = specs.build(
                        client.namespace, opts.id, cfg, sopts, passwd=passwd, group=group,
                        host_hostname=socket.gethostname(),
                    )  # fmt: skip
            except BaseException:
                with contextlib.suppress(Exception):
                    client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=opts.snapshotter, key=snapshot_key))
                raise
        labels.update(opts.labels)
        runtime = pb.Container.Runtime(name=opts.runtime or DEFAULT_RUNTIME)
        if opts.runtime_options is not None:
            runtime.options.CopyFrom(opts.runtime_options)
        c = pb.Container(
            id=opts.id,
            labels=labels,
            image=image_name,
            runtime=runtime,
            spec=any_pb2.Any(type_url=specs.SPEC_TYPE_URL, value=json.dumps(spec_dict).encode()),
            snapshotter=opts.snapshotter if snapshot_key else "",
            snapshot_key=snapshot_key,
        )
        try:
            created = client.containers.Create(pb.CreateContainerRequest(container=c)).container
            return created, (list(mounts) if mounts is not None else None)
        except BaseException:
            if snapshot_key:
                with contextlib.suppress(Exception):
                    client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=opts.snapshotter, key=snapshot_key))
            raise
