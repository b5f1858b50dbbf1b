"""``ctr content``: ls / get / rm / fetch / ingest, and the content store seen through gRPC.

:class:`RemoteStore` gives the pull library (seabox.images.pull) the store interface it
writes to (exists / open / writer / update_labels / info) over the Content service, so
``images pull`` runs client side as ctr's does: blobs go through the ``Write`` stream under
the client's lease.  The Write stream is driven in lock step (a request, its response),
which is how containerd's own remote writer talks to it.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO, TextIO

from seabox import errdefs
from seabox.ctr.client import Client, CommandError, grpc_code
from seabox.ctr.tables import age, human_size_decimal, tabwrite, ts_seconds

CHUNK = 1 << 20


def _pb() -> Any:
    from seabox.api.gen.containerd.api.services.content.v1 import content_pb2

    return content_pb2


class _Reader(io.RawIOBase):
    """A blob read through the Read stream."""

    def __init__(self, responses: Iterator[Any]) -> None:
        self._it = responses
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it).data
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        cancel = getattr(self._it, "cancel", None)
        if cancel is not None and self._buf is not None:
            cancel()
        super().close()


class RemoteWriter:
    """One ingest over the Write stream: ``offset``, ``write``, ``truncate(0)``, ``commit``, ``close``."""

    def __init__(self, client: Client, ref: str, *, expected: str | None, total: int | None) -> None:
        pb = _pb()
        self._pb = pb
        self._ref = ref
        self._expected = expected or ""
        self._total = total or 0
        self._q: queue.Queue[Any] = queue.Queue()
        self._responses = client.content.Write(iter(self._q.get, None))
        self._closed = False
        try:
            resp = self._send(pb.WriteContentRequest(action=pb.STAT, ref=ref, total=self._total, expected=self._expected))
        except Exception as e:
            self.close()
            if grpc_code(e) == "UNAVAILABLE" and "locked" in str(getattr(e, "details", lambda: "")()):
                from seabox.content.store import IngestLocked

                raise IngestLocked(errdefs.subject("ingest", ref, "locked by another writer")) from None
            raise
        self.offset = int(resp.offset)

    def _send(self, req: Any) -> Any:
        self._q.put(req)
        return next(self._responses)

    def write(self, data: bytes) -> int:
        pb = self._pb
        view = memoryview(data)
        for i in range(0, len(view), CHUNK):
            part = bytes(view[i : i + CHUNK])
            resp = self._send(pb.WriteContentRequest(action=pb.WRITE, ref=self._ref, offset=self.offset, data=part))
            self.offset = int(resp.offset)
        return len(data)

    def truncate(self, size: int = 0) -> None:
        pb = self._pb
        resp = self._send(pb.WriteContentRequest(action=pb.WRITE, ref=self._ref, offset=size))
        self.offset = int(resp.offset)

    def commit(self, size: int, digest: str, labels: dict[str, str] | None = None) -> None:
        pb = self._pb
        try:
            self._send(
                pb.WriteContentRequest(
                    action=pb.COMMIT, ref=self._ref, offset=self.offset, total=size, expected=digest, labels=labels or {}
                )
            )
        except Exception as e:
            if grpc_code(e) == "ALREADY_EXISTS":
                return
            if grpc_code(e) in ("FAILED_PRECONDITION", "INVALID_ARGUMENT"):
                raise errdefs.FailedPrecondition(str(e.details()) if hasattr(e, "details") else str(e)) from None
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
            cancel = getattr(self._responses, "cancel", None)
            if cancel is not None:
                cancel()

    def __enter__(self) -> RemoteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteStore:
    """The content store of a daemon, with the interface seabox.images.pull/push expect."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()

    def info(self, digest: str) -> Any:
        pb = _pb()
        try:
            return self.client.content.Info(pb.InfoRequest(digest=digest)).info
        except Exception as e:
            if grpc_code(e) == "NOT_FOUND":
                raise errdefs.NotFound(errdefs.subject("content", digest, "not found")) from None
            raise

    def exists(self, digest: str) -> bool:
        try:
            self.info(digest)
            return True
        except errdefs.NotFound:
            return False

    def open(self, digest: str) -> BinaryIO:
        pb = _pb()
        it = self.client.content.Read(pb.ReadContentRequest(digest=digest))
        return io.BufferedReader(_Reader(it), CHUNK)

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, ref: str, *, expected: str | None = None, total: int | None = None) -> RemoteWriter:
        return RemoteWriter(self.client, ref, expected=expected, total=total)

    def update_labels(self, digest: str, labels: dict[str, str | None]) -> Any:
        from google.protobuf import field_mask_pb2

        pb = _pb()
        set_ = {k: v for k, v in labels.items() if v}
        info = pb.Info(digest=digest, labels=set_)
        mask = field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in labels])
        return self.client.content.Update(pb.UpdateRequest(info=info, update_mask=mask)).info

    def put(self, data: bytes, digest: str, labels: dict[str, str] | None = None) -> None:
        """Store ``data`` (already known to hash to ``digest``) unless it is there."""
        if self.exists(digest):
            if labels:
                self.update_labels(digest, dict(labels))
            return
        w = self.writer(f"put-{digest}", expected=digest, total=len(data))
        try:
            if w.offset:
                w.truncate(0)
            w.write(data)
            w.commit(len(data), digest, labels)
        finally:
            w.close()


# -- commands ----------------------------------------------------------------------------------


def ls(client: Client, out: TextIO, *, quiet: bool = False, filters: Sequence[str] = ()) -> int:
    pb = _pb()
    infos = [i for resp in client.content.List(pb.ListContentRequest(filters=list(filters))) for i in resp.info]
    if quiet:
        for i in infos:
            out.write(i.digest + "\n")
        return 0
    lines = ["DIGEST\tSIZE\tAGE\tLABELS"]
    for i in infos:
        labels = ",".join(sorted(f"{k}={v}" for k, v in i.labels.items())) or "-"
        lines.append(f"{i.digest}\t{human_size_decimal(i.size)}\t{age(ts_seconds(i.created_at))}\t{labels}")
    out.write(tabwrite(lines, padchar="\t"))
    return 0


def get(client: Client, digests: Sequence[str], out: BinaryIO) -> int:
    store = RemoteStore(client)
    for d in digests:
        with store.open(d) as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                out.write(b)
    out.flush()
    return 0


def remove(client: Client, digests: Sequence[str], out: TextIO) -> int:
    if not digests:
        raise CommandError("must specify at least one digest")
    pb = _pb()
    for d in digests:
        client.content.Delete(pb.DeleteContentRequest(digest=d))
        out.write(d + "\n")
    return 0


def ingest(client: Client, ref: str, data: BinaryIO, *, expected_size: int = 0, expected_digest: str = "") -> int:
    import hashlib

    if not ref:
        raise CommandError("must specify a transaction reference")
    w = RemoteWriter(client, ref, expected=expected_digest or None, total=expected_size or None)
    try:
        if w.offset:
            w.truncate(0)
        h = hashlib.sha256()
        n = 0
        while True:
            b = data.read(CHUNK)
            if not b:
                break
            h.update(b)
            n += len(b)
            w.write(b)
        w.commit(expected_size or n, expected_digest or f"sha256:{h.hexdigest()}")
    finally:
        w.close()
    return 0
