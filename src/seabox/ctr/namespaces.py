"""``ctr namespaces``: ls / create / rm / label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from seabox.ctr.client import Client, CommandError
from seabox.ctr.tables import parse_labels, tabwrite


def _pb() -> object:
    from seabox.api.gen.containerd.api.services.namespaces.v1 import namespace_pb2

    return namespace_pb2


def ls(client: Client, out: TextIO, *, quiet: bool = False) -> int:
    pb = _pb()
    resp = client.namespaces.List(pb.ListNamespacesRequest())  # type: ignore[attr-defined]
    nss = sorted(resp.namespaces, key=lambda n: n.name)
    if quiet:
        for n in nss:
            out.write(n.name + "\n")
        return 0
    lines = ["NAME\tLABELS\t"]
    for n in nss:
        labels = ",".join(sorted(f"{k}={v}" for k, v in n.labels.items()))
        lines.append(f"{n.name}\t{labels}\t")
    out.write(tabwrite(lines))
    return 0


def create(client: Client, name: str, labels: Sequence[str] = ()) -> int:
    if not name:
        raise CommandError("must specify a namespace name")
    pb = _pb()
    ns = pb.Namespace(name=name, labels=parse_labels(labels))  # type: ignore[attr-defined]
    client.namespaces.Create(pb.CreateNamespaceRequest(namespace=ns))  # type: ignore[attr-defined]
    return 0


def remove(client: Client, names: Sequence[str], out: TextIO, err: TextIO) -> int:
    if not names:
        raise CommandError("must specify at least one namespace name")
    from seabox.ctr.client import describe

    pb = _pb()
    failed = False
    for name in names:
        try:
            client.namespaces.Delete(pb.DeleteNamespaceRequest(name=name))  # type: ignore[attr-defined]
        except Exception as e:
            msg = describe(e, client.address)
            if msg is None:
                raise
            err.write(f"ctr: unable to delete {name}: {msg}\n")
            failed = True
            continue
        out.write(name + "\n")
    return 1 if failed else 0


def label(client: Client, name: str, labels: Sequence[str]) -> int:
    if not name:
        raise CommandError("must specify a namespace name")
    from google.protobuf import field_mask_pb2

    pb = _pb()
    kv = parse_labels(labels)
    cur = client.namespaces.Get(pb.GetNamespaceRequest(name=name)).namespace  # type: ignore[attr-defined]
    merged = dict(cur.labels)
    for k, v in kv.items():
        if v:
            merged[k] = v
        else:
            merged.pop(k, None)
    ns = pb.Namespace(name=name, labels=merged)  # type: ignore[attr-defined]
    mask = field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in kv])
    client.namespaces.Update(pb.UpdateNamespaceRequest(namespace=ns, update_mask=mask))  # type: ignore[attr-defined]
    return 0
