"""The local content store: blobs, ingests, writers (see the package docstring)."""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from seabox import errdefs
from seabox.content.labels import BlobMeta, JsonLabelStore, LabelStore
from seabox.oci.digest import Digest, Digester, parse_sha256

_CHUNK = 1 << 20


class IngestLocked(errdefs.Unavailable):
    """Another writer holds the ingest for this ref."""


@dataclass
class Info:
    digest: str
    size: int
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class Status:
    ref: str
    offset: int
    total: int | None
    expected: str | None
    started_at: float
    updated_at: float


def _remove_ingest_dir(path: Path) -> None:
    """Move the ingest out of its name first (atomically), then delete it.

    A writer racing to open the same ref then either sees no directory or a fresh one;
    it never locks a file that is about to be unlinked under it.
    """
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _ingest_key(ref: str) -> str:
    return hashlib.sha256(ref.encode()).hexdigest()


class ContentStore:
    """Content-addressed blobs under ``root`` (created if missing)."""

    def __init__(self, root: Path, *, labels: LabelStore | None = None) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.ingests = self.root / "ingest"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.ingests.mkdir(parents=True, exist_ok=True)
        self.labels: LabelStore = labels if labels is not None else JsonLabelStore(self.root / "meta" / "sha256")

    # -- blobs ---------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / parse_sha256(digest).hex

    def exists(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def info(self, digest: str) -> Info:
        d = parse_sha256(digest)
        try:
            st = (self.blobs / d.hex).stat()
        except FileNotFoundError:
            raise errdefs.NotFound(errdefs.subject("content", d, "not found"))
        meta = self.labels.get(d.hex) or BlobMeta(created_at=st.st_mtime, updated_at=st.st_mtime)
        return Info(d, st.st_size, dict(meta.labels), meta.created_at, meta.updated_at)

    def open(self, digest: str) -> BinaryIO:
        d = parse_sha256(digest)
        try:
            return open(self.blobs / d.hex, "rb")
        except FileNotFoundError:
            raise errdefs.NotFound(errdefs.subject("content", d, "not found"))

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def delete(self, digest: str) -> None:
        d = parse_sha256(digest)
        try:
            (self.blobs / d.hex).unlink()
        except FileNotFoundError:
            raise errdefs.NotFound(errdefs.subject("content", d, "not found"))
        self.labels.delete(d.hex)

    def list(self) -> list[Info]:
        out = []
        for entry in sorted(os.listdir(self.blobs)):
            if entry.startswith("."):
                continue
            try:
                out.append(self.info("sha256:" + entry))
            except (errdefs.NotFound, errdefs.InvalidArgument):
                continue
        return out

    def update_labels(self, digest: str, labels: dict[str, str | None], *, replace: bool = False) -> Info:
        """Merge ``labels`` into the blob's labels (a ``None`` value removes the key).

        With ``replace=True`` the blob's labels become exactly ``labels``.
        """
        d = parse_sha256(digest)
        info = self.info(d)
        current: dict[str, str] = {} if replace else dict(info.labels)
        for k, v in labels.items():
            if v is None:
                current.pop(k, None)
            else:
                current[k] = v
        now = time.time()
        self.labels.put(d.hex, BlobMeta(current, info.created_at, now))
        return Info(d, info.size, current, info.created_at, now)

    def put(self, data: bytes, *, labels: dict[str, str] | None = None, ref: str | None = None) -> Digest:
        """Store ``data`` (a small blob such as a manifest) and return its digest."""
        d = Digest("sha256:" + hashlib.sha256(data).hexdigest())
        if self.exists(d):
            if labels:
                self.update_labels(d, dict(labels))
            return d
        with self.writer(ref or f"put-{d}-{os.getpid()}-{time.monotonic_ns()}", expected=d, total=len(data)) as w:
            w.truncate(0)
            w.write(data)
            w.commit(len(data), d, labels)
        return d

    # -- ingests -------------------------------------------------------------

    def writer(self, ref: str, *, expected: str | None = None, total: int | None = None) -> Writer:
        """Open (or resume) the ingest for ``ref``; ``IngestLocked`` if another writer holds it."""
        if not ref:
            raise errdefs.InvalidArgument(errdefs.subject("ingest", ref, "empty ref"))
        exp = parse_sha256(expected) if expected is not None else None
        return Writer(self, ref, expected=exp, total=total)

    def abort(self, ref: str) -> None:
        """Drop the ingest of ``ref``; ``IngestLocked`` while a writer holds it."""
        path = self.ingests / _ingest_key(ref)
        missing = errdefs.NotFound(errdefs.subject("ingest", ref, "not found"))
        try:
            fd = os.open(path / "lock", os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise missing
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestLocked(errdefs.subject("ingest", ref, "locked by another writer"))
            try:
                if os.stat(path / "lock").st_ino != os.fstat(fd).st_ino:
                    raise missing  # committed or aborted meanwhile; a new ingest is not ours to drop
            except FileNotFoundError:
                raise missing
            _remove_ingest_dir(path)
        finally:
            os.close(fd)

    def status(self, ref: str) -> Status:
        path = self.ingests / _ingest_key(ref)
        st = self._status(path)
        if st is None:
            raise errdefs.NotFound(errdefs.subject("ingest", ref, "not found"))
        return st

    def statuses(self) -> builtins.list[Status]:
        out = []
        for entry in sorted(os.listdir(self.ingests)):
            if entry.startswith("."):
                continue
            st = self._status(self.ingests / entry)
            if st is not None:
                out.append(st)
        return out

    def _status(self, path: Path) -> Status | None:
        try:
            meta = json.loads((path / "meta.json").read_text())
            size = (path / "data").stat().st_size
            mtime = (path / "data").stat().st_mtime
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return Status(
            ref=meta["ref"],
            offset=size,
            total=meta.get("total"),
            expected=meta.get("expected"),
            started_at=meta.get("started_at", 0.0),
            updated_at=mtime,
        )


class Writer:
    """An open ingest.  ``offset`` is where writing resumes (bytes already in the ingest).

    ``commit`` verifies size and digest, then renames the data into place.  On a
    digest mismatch the ingest is discarded (its bytes are known to be wrong) and
    ``FailedPrecondition`` is raised naming the expected digest and the ref; on a
    size mismatch the ingest is kept, since it may just be incomplete.
    """

    def __init__(self, store: ContentStore, ref: str, *, expected: Digest | None, total: int | None) -> None:
        self.store = store
        self.ref = ref
        self.expected = expected
        self.total = total
        self.path = store.ingests / _ingest_key(ref)
        self._lock = self._take_lock(ref)
        try:
            self._open()
        except BaseException:
            os.close(self._lock)
            raise
        self._closed = False

    def _take_lock(self, ref: str) -> int:
        """flock the ingest's lock file, making sure it is still the one in the directory.

        A concurrent commit or abort removes the ingest directory; a lock taken on a
        file that was unlinked meanwhile would not exclude the next writer, so retry.
        """
        lock_path = self.path / "lock"
        for _ in range(100):
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.path, 0o700)
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise IngestLocked(errdefs.subject("ingest", ref, "locked by another writer"))
            try:
                same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)
        raise errdefs.Unavailable(errdefs.subject("ingest", ref, "could not lock"))

    def _open(self) -> None:
        meta_path = self.path / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (FileNotFoundError, ValueError):
            meta = None
        now = time.time()
        stale = meta is None or meta.get("ref") != self.ref
        if meta is not None and not stale:
            # an ingest started for other content cannot be resumed into this one
            stale = (self.expected is not None and meta.get("expected") not in (None, self.expected)) or (
                self.total is not None and meta.get("total") not in (None, self.total)
            )
        if stale:
            meta = {"ref": self.ref, "started_at": now}
            with contextlib.suppress(FileNotFoundError):
                (self.path / "data").unlink()
        meta["expected"] = self.expected if self.expected is not None else meta.get("expected")
        meta["total"] = self.total if self.total is not None else meta.get("total")
        tmp = self.path / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, meta_path)
        self._f = open(self.path / "data", "ab+")  # noqa: SIM115 - lives as long as the writer
        self._digester = Digester()
        # re-hash what a previous (maybe killed) writer left, to resume from it
        self._f.seek(0)
        while True:
            b = self._f.read(_CHUNK)
            if not b:
                break
            self._digester.update(b)
        self._f.seek(0, os.SEEK_END)

    @property
    def offset(self) -> int:
        return self._digester.size

    def digest(self) -> Digest:
        """Digest of the bytes written so far."""
        return self._digester.digest()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check_open()
        self._f.write(data)
        self._digester.update(data)
        return len(data)

    def truncate(self, size: int = 0) -> None:
        """Drop bytes after ``size`` (e.g. when a server will not resume a range)."""
        self._check_open()
        if size == self.offset:
            return
        if size > self.offset or size < 0:
            raise errdefs.InvalidArgument(errdefs.subject("ingest", self.ref, f"cannot truncate to {size}"))
        self._f.flush()
        self._f.truncate(size)
        self._f.seek(0)
        self._digester = Digester()
        remaining = size
        while remaining:
            b = self._f.read(min(_CHUNK, remaining))
            if not b:
                break
            self._digester.update(b)
            remaining -= len(b)
        self._f.seek(0, os.SEEK_END)

    def commit(self, size: int, digest: str, labels: dict[str, str] | None = None) -> Info:
        self._check_open()
        want = parse_sha256(digest)
        self._f.flush()
        if size and self.offset != size:
            raise errdefs.FailedPrecondition(
                errdefs.subject("content", want, f"ref {self.ref!r}: size mismatch: have {self.offset}, want {size}")
            )
        got = self._digester.digest()
        if got != want:
            self._discard()
            raise errdefs.FailedPrecondition(
                errdefs.subject("content", want, f"ref {self.ref!r}: digest mismatch: got {got}")
            )
        target = self.store.blobs / want.hex
        if target.exists():
            self._discard()
        else:
            os.fsync(self._f.fileno())
            os.fchmod(self._f.fileno(), 0o444)
            self._f.close()
            os.rename(self.path / "data", target)
            self._discard()
        now = time.time()
        old = self.store.labels.get(want.hex)
        if old is None:
            self.store.labels.put(want.hex, BlobMeta(dict(labels or {}), now, now))
        elif labels:
            merged = dict(old.labels)
            merged.update(labels)
            self.store.labels.put(want.hex, BlobMeta(merged, old.created_at, now))
        return self.store.info(want)

    def _discard(self) -> None:
        with contextlib.suppress(ValueError):
            self._f.close()
        _remove_ingest_dir(self.path)
        self._release()

    def _release(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self._lock)

    def _check_open(self) -> None:
        if self._closed:
            raise errdefs.FailedPrecondition(errdefs.subject("ingest", self.ref, "writer closed"))

    def close(self) -> None:
        """Release the ingest, keeping its bytes for a later resume."""
        if self._closed:
            return
        with contextlib.suppress(OSError, ValueError):
            self._f.close()
        self._release()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ContentStore", "Info", "IngestLocked", "Status", "Writer"]
