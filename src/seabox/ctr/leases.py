"""``ctr leases``: ls / create / rm.  Also the lease a pull or a run works under."""

from __future__ import annotations

import binascii
import os
import time

from seabox.ctr.client import Client
from seabox.ctr.tables import parse_labels, rfc3339, rfc3339_pb, tabwrite

TYPE_CHECKING = False  # on ``run``'s path (its lease): base64 and typing would pull in re and typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import TextIO

EXPIRE_LABEL = "containerd.io/gc.expire"
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def random_id() -> str:
    """containerd's leases.WithRandomID form: ``<nanoseconds>-<urlsafe base64 of 8 random bytes>``."""
    b64 = binascii.b2a_base64(os.urandom(8), newline=False).translate(_URLSAFE)  # base64.urlsafe_b64encode
    return f"{time.time_ns() % 1_000_000_000}-{b64.decode()}"


def ls(client: Client, out: TextIO, *, quiet: bool = False, filters: Sequence[str] = ()) -> int:
    from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as pb

    resp = client.leases.List(pb.ListRequest(filters=list(filters)))
    if quiet:
        for lease in resp.leases:
            out.write(lease.id + "\n")
        return 0
    lines = ["ID\tCREATED AT\tLABELS\t"]
    for lease in resp.leases:
        labels = ",".join(sorted(f"{k}={v}" for k, v in lease.labels.items())) or "-"
        lines.append(f"{lease.id}\t{rfc3339_pb(lease.created_at)}\t{labels}\t")
    out.write(tabwrite(lines))
    return 0


def create(client: Client, out: TextIO, *, lease_id: str = "", expires: float = 24 * 3600, labels: Sequence[str] = ()) -> int:
    lease = _create(client, lease_id or random_id(), expires, parse_labels(labels))
    out.write(lease + "\n")
    return 0


def _create(client: Client, lease_id: str, expires: float, labels: dict[str, str]) -> str:
    from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as pb

    labels = dict(labels)
    if expires > 0:
        labels[EXPIRE_LABEL] = rfc3339(int(time.time() + expires))
    return str(client.leases.Create(pb.CreateRequest(id=lease_id, labels=labels)).lease.id)


def remove(client: Client, ids: Sequence[str], *, sync: bool = False) -> int:
    from seabox.api.gen.containerd.api.services.leases.v1 import leases_pb2 as pb

    for lid in ids:
        client.leases.Delete(pb.DeleteRequest(id=lid, sync=sync))
    return 0


def temporary(client: Client, expires: float = 24 * 3600) -> Temporary:
    """Work under a fresh lease (as the Go client's WithLease does): content and snapshots
    written meanwhile are safe from GC until the image or container references them."""
    return Temporary(client, expires)


class Temporary:
    """The context of :func:`temporary` (a class: contextlib is not on ``run``'s path)."""

    def __init__(self, client: Client, expires: float) -> None:
        self.client, self.expires = client, expires
        self.lease = ""  # ours to remove ("" when the client already had one)

    def __enter__(self) -> str:
        if self.client.lease:
            return self.client.lease
        self.lease = _create(self.client, random_id(), self.expires, {})
        self.client.lease = self.lease
        return self.lease

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.lease:
            lid, self.lease = self.lease, ""
            self.client.lease = ""
            try:
                remove(self.client, [lid])
            except Exception:
                pass
