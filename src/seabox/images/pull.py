"""Pull: resolve a reference, fetch its content into the store, unpack layers into snapshots.

The pipeline, for one image:

1. resolve the reference to a descriptor (tag → digest) on the first host that has it;
2. fetch the manifest or index (kept in the content store, as every blob is); from an
   index pick the manifest for the requested platform (default: the host's), or
   every platform's when ``platform="all"`` (export wants them all);
3. fetch the config (small), which gives the layers' diff IDs and hence chain IDs;
4. download the layers concurrently (a thread pool; each into its own ingest, resumed
   if a previous pull was interrupted) while the calling thread unpacks them in order:
   layer *n* is applied as soon as it and layers *< n* are in.  A layer whose chain ID
   is already a committed snapshot is not unpacked again.

Unpacking a layer: prepare an active snapshot on the parent chain, stream the blob
through the decompressor (gzip via python-isal when installed, else zlib; zstd via
zstandard) and a sha256 of the uncompressed bytes into ``apply_layer``, check that
hash against the config's diff ID, and commit the snapshot under the chain ID
(containerd's naming, so snapshots are shared between images).

Blobs get containerd's GC labels (``containerd.io/gc.ref.content.*``, the
``containerd.io/uncompressed`` diff ID, ``containerd.io/distribution.source.<host>``
for cross-repository mounts on push) so the store's GC and push can follow them.
Progress events are delivered from several threads; the callback must be thread-safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, cast

from seabox import errdefs
from seabox.oci import image as oci
from seabox.oci import platform as platforms
from seabox.oci import reference as references

if TYPE_CHECKING:
    from seabox.images.registry.client import RegistryClient
    from seabox.images.registry.credentials import CredentialStore

CHUNK = 1 << 20
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
LABEL_SOURCE_PREFIX = "containerd.io/distribution.source."
LABEL_REF_CONFIG = "containerd.io/gc.ref.content.config"
LABEL_REF_LAYER = "containerd.io/gc.ref.content.l."
LABEL_REF_MANIFEST = "containerd.io/gc.ref.content.m."
LABEL_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."

EventKind = Literal["resolved", "downloading", "verifying", "extracting", "done", "already-exists"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a pull.  ``digest`` is the blob concerned (the resolved digest for ``resolved``).

    ``kind``: resolved, downloading (``current``/``total`` bytes), verifying, extracting,
    done, already-exists.  ``media_type`` says whether it is a layer, config or manifest.
    """

    kind: EventKind
    digest: str
    media_type: str = ""
    current: int = 0
    total: int = 0
    ref: str = ""


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True, slots=True)
class Image:
    """What a pull produced; the daemon persists it (name → target) in its metadata."""

    name: str
    target: oci.Descriptor
    manifest_descriptor: oci.Descriptor
    manifest: oci.Manifest
    config_descriptor: oci.Descriptor
    config: oci.ImageConfig
    platform: oci.Platform
    chain_ids: tuple[str, ...]
    snapshot: str | None = None  # the top chain ID when unpacked
    other_platforms: tuple[oci.Descriptor, ...] = field(default=())


class _Store(Protocol):
    def exists(self, digest: str) -> bool: ...
    def open(self, digest: str) -> BinaryIO: ...
    def writer(self, ref: str, *, expected: str | None = None, total: int | None = None) -> Any: ...
    def update_labels(self, digest: str, labels: dict[str, str | None]) -> Any: ...


ApplyLayer = Callable[..., Any]


# -- decompression --------------------------------------------------------------


def decompressor(stream: BinaryIO, compression: str) -> BinaryIO:
    """A reader of ``stream``'s uncompressed bytes (``gzip``, ``zstd`` or ``""``)."""
    if compression == "gzip":
        try:
            from isal import igzip

            return cast(BinaryIO, igzip.IGzipFile(fileobj=stream, mode="rb"))
        except ImportError:  # pragma: no cover - isal is a dependency
            import gzip

            return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
    if compression == "zstd":
        import zstandard

        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True, closefd=False))
    if compression == "":
        return stream
    raise errdefs.InvalidArgument(errdefs.subject("compression", compression, "unsupported"))


class _Hashing:
    """Passes reads through while hashing them (the layer's diff ID)."""

    def __init__(self, r: BinaryIO) -> None:
        self._r = r
        self.h = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        b = self._r.read(n)
        if b:
            self.h.update(b)
            self.size += len(b)
        return b

    def readinto(self, buf: bytearray | memoryview) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def readable(self) -> bool:
        return True

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return "sha256:" + self.h.hexdigest()


class _QueueReader:
    """A file-like reader of chunks that another thread puts on a bounded queue.

    ``None`` on the queue is the end, an exception is raised in the reader.  ``_put`` blocks
    while the queue is full, so a slow reader slows its producer rather than filling memory,
    until ``_halt`` makes further puts no-ops (the producer can then finish without a reader).
    """

    def __init__(self, depth: int) -> None:
        import queue

        self._q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._halted = False
        self._buf = b""
        self._pos = 0
        self._eof = False

    def _put(self, item: bytes | BaseException | None) -> None:
        import queue

        while not self._halted:
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _halt(self) -> None:
        import queue

        self._halted = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()

    def _before_read(self) -> None:
        """Subclasses start their producer here."""

    def read(self, n: int = -1) -> bytes:
        self._before_read()
        # serve from the current chunk (no re-slicing of a growing buffer); block for the next one
        while self._pos >= len(self._buf) and not self._eof:
            item = self._q.get()
            if item is None:
                self._eof = True
            elif isinstance(item, BaseException):
                self._eof = True
                raise item
            else:
                self._buf, self._pos = item, 0
        if self._pos >= len(self._buf):
            return b""
        end = len(self._buf) if n is None or n < 0 else min(len(self._buf), self._pos + n)
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def readinto(self, buf: bytearray | memoryview) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def readable(self) -> bool:
        return True


class _Pipe(_QueueReader):
    """Hands a layer's bytes from its download thread to the unpacker while they arrive.

    The downloader first calls ``start(streaming)``: False when the blob will not be
    streamed (already stored, or resuming a partial ingest), and the unpacker reads
    the stored blob instead.  The queue is bounded, so a slow unpack slows the
    download of this one layer rather than filling memory; ``abort()`` (unpacker
    failed) makes further writes no-ops so the download can still complete.
    """

    def __init__(self, depth: int = 16) -> None:
        super().__init__(depth)
        self._decided = threading.Event()
        self.streaming = False

    # downloader side
    def start(self, streaming: bool) -> None:
        self.streaming = streaming
        self._decided.set()

    def write(self, b: bytes) -> None:
        self._put(b)

    def finish(self, error: BaseException | None = None) -> None:
        if not self._decided.is_set():
            self.start(False)
        elif self.streaming:
            self._put(error)

    # unpacker side
    def wait_decision(self) -> bool:
        self._decided.wait()
        return self.streaming

    def abort(self) -> None:
        import queue

        self._halt()
        with contextlib.suppress(queue.Full):
            self._q.put_nowait(None)  # wake a reader blocked on the next chunk (it sees the end)


class _Ahead(_QueueReader):
    """Reads a decompressor on its own thread, a few chunks ahead of the unpacker.

    isal, zlib and zstandard decompress with the GIL released, so gunzip overlaps the
    unpacker's tar parsing and file creation instead of taking turns with it on the one
    thread.  The queue is bounded; ``close()`` stops and joins the thread (it must run
    before the source is closed, and after a streamed pipe was aborted if unpacking failed).
    """

    def __init__(self, src: BinaryIO, depth: int = 8) -> None:
        super().__init__(depth)
        self._src = src
        self._thread: threading.Thread | None = None  # started by the first read: nothing is consumed before

    def _run(self) -> None:
        try:
            while not self._halted:
                b = self._src.read(CHUNK)
                if not b:
                    break
                self._put(b)
        except BaseException as e:  # handed to the reader, raised there
            self._put(e)
            return
        self._put(None)

    def _before_read(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pull-decompress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._halt()
        if self._thread is not None:
            self._thread.join()


# -- content --------------------------------------------------------------------


class _Fetcher:
    """Downloads blobs into the content store, once each, resuming ingests."""

    def __init__(self, client: RegistryClient, ref: references.Reference, store: _Store, progress: Progress | None) -> None:
        self.client = client
        self.ref = ref
        self.store = store
        self.progress = progress
        self.source_label = {LABEL_SOURCE_PREFIX + ref.domain: ref.path}

    def emit(self, kind: EventKind, desc: oci.Descriptor, current: int = 0) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(kind, desc.digest, desc.media_type, current, desc.size, str(self.ref)))

    def writer(self, desc: oci.Descriptor) -> Any | None:
        """An exclusive ingest for ``desc``, or None once the blob is in the store.

        When another pull (thread or process) holds the ingest, wait for it: it either
        commits the blob (we return None) or dies, releasing its lock (we take over and
        resume from what it wrote).
        """
        from seabox.content.store import IngestLocked

        delay = 0.01
        while True:
            if self.store.exists(desc.digest):
                return None
            try:
                return self.store.writer(f"pull-{desc.digest}", expected=desc.digest, total=desc.size)
            except IngestLocked:
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def small(self, desc: oci.Descriptor, *, manifest: bool, labels: dict[str, str] | None = None) -> bytes:
        """A manifest/index/config: from the store if present, else fetched and stored."""

        def stored() -> bytes:
            with self.store.open(desc.digest) as f:
                data = f.read()
            if labels:
                self.store.update_labels(desc.digest, dict(labels))
            return data

        if self.store.exists(desc.digest):
            return stored()
        data = self.client.fetch_manifest(self.ref, desc) if manifest else self.client.fetch_blob(self.ref, desc)
        w = self.writer(desc)
        if w is None:
            return stored()
        try:
            if w.offset:
                w.truncate(0)
            w.write(data)
            w.commit(len(data), desc.digest, labels or None)
        finally:
            w.close()
        return data

    def blob(self, desc: oci.Descriptor, labels: dict[str, str], tee: _Pipe | None = None) -> None:
        """Download a layer blob into the store (no-op if present), copying it to ``tee`` if given."""
        try:
            self._blob(desc, labels, tee)
        except BaseException as e:
            if tee is not None:
                tee.finish(e)
            raise
        if tee is not None:
            tee.finish()

    def _blob(self, desc: oci.Descriptor, labels: dict[str, str], tee: _Pipe | None) -> None:
        for attempt in range(3):
            w = self.writer(desc)
            if w is None:
                self.store.update_labels(desc.digest, dict(labels))
                self.emit("already-exists", desc, desc.size)
                return
            try:
                offset = w.offset
                if offset > desc.size:
                    w.truncate(0)
                    offset = 0
                if tee is not None:
                    tee.start(offset == 0 and attempt == 0)
                    if offset:
                        tee = None
                if offset < desc.size:
                    self.emit("downloading", desc, offset)
                    # the store hashes what we write and verifies the digest on commit
                    with self.client.open_blob(self.ref, desc, offset=offset, verify_digest=False) as r:
                        done, last = offset, offset
                        while True:
                            b = r.read(CHUNK)
                            if not b:
                                break
                            w.write(b)
                            if tee is not None:
                                tee.write(b)
                            done += len(b)
                            if done - last >= 4 * CHUNK:
                                self.emit("downloading", desc, done)
                                last = done
                    self.emit("downloading", desc, done)
                self.emit("verifying", desc, desc.size)
                try:
                    w.commit(desc.size, desc.digest, labels)
                except errdefs.FailedPrecondition:
                    if offset and attempt < 2 and tee is None:
                        continue  # a resumed ingest was bad: the store dropped it, start over
                    raise
                return
            finally:
                w.close()
        raise errdefs.Unavailable(errdefs.subject("blob", desc.digest, "could not be downloaded"))


# -- pull -----------------------------------------------------------------------


def _select(index: oci.Index, want: oci.Platform, name: str) -> oci.Descriptor:
    matcher = platforms.only(want)
    cands = [d for d in index.manifests if d.platform is not None and oci.is_manifest(d.media_type)]
    best = matcher.best(d.platform for d in cands if d.platform is not None)
    if best is None:
        avail = ", ".join(sorted({platforms.display(d.platform) for d in cands if d.platform})) or "none"
        raise errdefs.NotFound(
            errdefs.subject("image", name, f"no manifest for platform {platforms.display(want)} (available: {avail})")
        )
    return next(d for d in cands if d.platform == best)


def _target_dir(snapshotter: Any, key: str, mounts: list[Any]) -> tuple[Path, bool]:
    """Where to apply a layer for an active snapshot, and whether whiteouts are overlay-style."""
    overlay = any(getattr(m, "type", "") == "overlay" for m in mounts) or getattr(snapshotter, "name", "") in (
        "overlayfs",
        "overlay",
    )
    if hasattr(snapshotter, "path_of"):
        return Path(snapshotter.path_of(key)), overlay
    for m in mounts:
        for o in getattr(m, "options", []):
            if o.startswith("upperdir="):
                return Path(o[len("upperdir=") :]), True
    return Path(mounts[0].source), overlay


def _existing_depth(snapshotter: Any, chains: list[str]) -> int:
    """Index of the deepest chain ID that is already a snapshot (-1: none); all below it exist too."""
    for i in range(len(chains) - 1, -1, -1):
        try:
            snapshotter.stat(chains[i])
            return i
        except errdefs.NotFound:
            continue
    return -1


def unpack(
    manifest: oci.Manifest,
    config: oci.ImageConfig,
    *,
    store: _Store,
    snapshotter: Any,
    wait_layer: Callable[[int], None] = lambda i: None,
    apply_layer: ApplyLayer | None = None,
    progress: Progress | None = None,
    name: str = "",
    streams: dict[int, _Pipe] | None = None,
) -> str:
    """Apply the manifest's layers in order into snapshots named by chain ID; returns the top chain ID.

    ``wait_layer(i)`` blocks until layer ``i``'s blob is in the store (the pull passes
    its download futures), so unpacking overlaps the remaining downloads.
    """
    # the real apply_layer reads the stream to its end and returns its diff_id: no second hash
    trust_result = apply_layer is None
    if apply_layer is None:
        from seabox.snapshots.apply import apply_layer as _apply

        apply_layer = _apply
    diff_ids = list(config.diff_ids)
    if len(diff_ids) != len(manifest.layers):
        raise errdefs.InvalidArgument(
            errdefs.subject("image", name, f"config lists {len(diff_ids)} diff IDs for {len(manifest.layers)} layers")
        )
    chains = oci.chain_ids(diff_ids)

    def emit(kind: EventKind, desc: oci.Descriptor) -> None:
        if progress is not None:
            progress(ProgressEvent(kind, desc.digest, desc.media_type, desc.size, desc.size, name))

    have = _existing_depth(snapshotter, chains)
    for i in range(have + 1):
        emit("already-exists", manifest.layers[i])
    for i in range(have + 1, len(chains)):
        desc = manifest.layers[i]
        pipe = (streams or {}).get(i)
        streamed = pipe is not None and pipe.wait_decision()
        if not streamed:
            wait_layer(i)
        parent = chains[i - 1] if i else None
        key = f"extract-{secrets.token_hex(6)}-{chains[i]}"
        mounts = snapshotter.prepare(key, parent, labels={"containerd.io/snapshot.ref": chains[i]})
        try:
            target, overlay = _target_dir(snapshotter, key, mounts)
            extra: dict[str, Any] = {}
            if overlay and hasattr(snapshotter, "lower_dirs"):
                extra["parents"] = list(snapshotter.lower_dirs(key))
            emit("extracting", desc)
            with contextlib.ExitStack() as stack:
                raw = cast(BinaryIO, pipe) if streamed else stack.enter_context(store.open(desc.digest))
                compression = oci.layer_compression(desc.media_type)
                plain = decompressor(raw, compression)
                if compression:
                    ahead = _Ahead(plain)
                    stack.callback(ahead.close)  # before the stored blob is closed
                    plain = cast(BinaryIO, ahead)
                try:
                    if trust_result:
                        result = apply_layer(plain, target, overlay_whiteouts=overlay, **extra)
                        got = str(result.diff_id)
                    else:
                        hashing = _Hashing(plain)
                        apply_layer(cast(BinaryIO, hashing), target, overlay_whiteouts=overlay, **extra)
                        got = hashing.drain()
                except BaseException:
                    if streamed and pipe is not None:
                        pipe.abort()
                        wait_layer(i)  # a failed download explains a failed apply better: raise that
                    raise
            if streamed:
                wait_layer(i)  # the blob's digest is verified when its download commits
            if got != diff_ids[i]:
                raise errdefs.FailedPrecondition(
                    errdefs.subject("layer", desc.digest, f"diff ID mismatch: got {got}, config says {diff_ids[i]}")
                )
            try:
                snapshotter.commit(chains[i], key)
            except errdefs.AlreadyExists:
                snapshotter.remove(key)  # a concurrent pull committed the same chain
        except BaseException:
            try:
                snapshotter.remove(key)
            except errdefs.SeaboxError:
                pass
            raise
        store.update_labels(desc.digest, {LABEL_UNCOMPRESSED: diff_ids[i]})
        emit("done", desc)
    return chains[-1] if chains else ""


def pull(
    ref: str | references.Reference,
    *,
    content_store: _Store,
    snapshotter: Any | None = None,
    hosts_dir: Path | str | None = None,
    credentials: CredentialStore | Callable[[str], tuple[str, str] | None] | None = None,
    platform: str | oci.Platform | None = None,
    progress: Progress | None = None,
    client: RegistryClient | None = None,
    plain_http: bool | None = None,
    skip_verify: bool = False,
    max_concurrent_downloads: int = 3,
    apply_layer: ApplyLayer | None = None,
    save: Callable[[Image], None] | None = None,
    stream_first_layer: bool = True,
) -> Image:
    """Pull ``ref`` into ``content_store`` and (if a snapshotter is given) unpack it.

    ``platform``: None for the host's, ``"os/arch[/variant]"``/``Platform`` for another,
    ``"all"`` to fetch every platform's content (the host's, or the first, is unpacked
    and returned).  ``save`` receives the Image to persist (the daemon's metadata).
    """
    from seabox.images.registry.client import RegistryClient

    r = references.parse_with_default_tag(ref) if isinstance(ref, str) else ref.tagged_or_latest()
    all_platforms = platform == "all"
    want = platforms.host() if platform is None or all_platforms else (
        platforms.parse(platform) if isinstance(platform, str) else platforms.normalize(platform)
    )  # fmt: skip
    own_client = client is None
    c = client or RegistryClient(hosts_dir=hosts_dir, credentials=credentials, plain_http=plain_http, skip_verify=skip_verify)
    try:
        resolved = c.resolve(r)
        target = resolved.descriptor
        if progress is not None:
            progress(ProgressEvent("resolved", target.digest, target.media_type, 0, target.size, str(r)))
        f = _Fetcher(c, r, content_store, progress)
        top = f.small(target, manifest=True)
        manifests: list[oci.Descriptor]
        if oci.is_index(target.media_type):
            index = oci.parse_index(top, name=f"{r}@{target.digest}", media_type=target.media_type)
            try:
                chosen = _select(index, want, str(r))
            except errdefs.NotFound:
                if not all_platforms:
                    raise
                chosen = next(d for d in index.manifests if oci.is_manifest(d.media_type))
            manifests = [d for d in index.manifests if oci.is_manifest(d.media_type)] if all_platforms else [chosen]
            content_store.update_labels(
                target.digest,
                {LABEL_REF_MANIFEST + str(i): d.digest for i, d in enumerate(index.manifests) if d in manifests},
            )
        elif oci.is_manifest(target.media_type):
            chosen = target
            manifests = [target]
        else:
            raise errdefs.FailedPrecondition(errdefs.subject("image", str(r), f"unsupported media type {target.media_type}"))

        parsed: dict[str, tuple[oci.Manifest, oci.ImageConfig]] = {}
        layer_jobs: list[tuple[oci.Descriptor, dict[str, str]]] = []
        for md in manifests:
            mbytes = f.small(md, manifest=True) if md is not target else top
            m = oci.parse_manifest(mbytes, name=f"{r.name}@{md.digest}", media_type=md.media_type)
            labels = {LABEL_REF_CONFIG: m.config.digest}
            labels.update({LABEL_REF_LAYER + str(i): ld.digest for i, ld in enumerate(m.layers)})
            content_store.update_labels(md.digest, dict(labels))
            cbytes = f.small(m.config, manifest=False, labels=f.source_label)
            diff_ids: tuple[str, ...] = ()
            if md.digest == chosen.digest:
                # the image we return and unpack must be a container image with layers we can read
                if m.config.media_type not in oci.CONFIG_TYPES:
                    raise errdefs.FailedPrecondition(
                        errdefs.subject("image", str(r), f"not a container image (config type {m.config.media_type})")
                    )
                cfg = oci.parse_config(cbytes, name=m.config.digest)
                if md is target and platform is not None and not all_platforms \
                        and platforms.only(want).best([cfg.platform]) is None:
                    # a single-platform image: an explicitly requested other platform is an error
                    # (as with docker and ctr); with no --platform it is taken as it is
                    raise errdefs.NotFound(errdefs.subject(
                        "image", str(r), f"is for {platforms.display(cfg.platform)}, "
                                         f"not the requested {platforms.display(want)}"))
                for ld in m.layers:
                    oci.layer_compression(ld.media_type)  # refuse unknown layer types before downloading
                parsed[md.digest] = (m, cfg)
                diff_ids = cfg.diff_ids
            # other platforms (platform="all") are copied as they are, attestations included
            for i, ld in enumerate(m.layers):
                lab = dict(f.source_label)
                if i < len(diff_ids):
                    lab[LABEL_UNCOMPRESSED] = diff_ids[i]
                layer_jobs.append((ld, lab))

        manifest, config = parsed[chosen.digest]
        futures: dict[str, Future[None]] = {}
        with ThreadPoolExecutor(max_workers=max(1, max_concurrent_downloads), thread_name_prefix="pull") as pool:
            # the chosen platform's layers first, in order, so unpacking can start early
            ordered = [j for j in layer_jobs if j[0] in manifest.layers] + [j for j in layer_jobs if j[0] not in manifest.layers]
            # the first layer to unpack is streamed into the unpacker while it downloads
            streams: dict[int, _Pipe] = {}
            if snapshotter is not None and stream_first_layer and manifest.layers:
                first = _existing_depth(snapshotter, oci.chain_ids(config.diff_ids)) + 1
                if (
                    first < len(manifest.layers)
                    and not content_store.exists(manifest.layers[first].digest)
                    and sum(ld.digest == manifest.layers[first].digest for ld in manifest.layers) == 1
                ):
                    streams[first] = _Pipe()
            tees = {manifest.layers[i].digest: p for i, p in streams.items()}
            for ld, lab in ordered:
                if ld.digest not in futures:
                    futures[ld.digest] = pool.submit(f.blob, ld, lab, tees.get(ld.digest))
            snapshot: str | None = None
            try:
                if snapshotter is not None:
                    snapshot = unpack(
                        manifest, config, store=content_store, snapshotter=snapshotter,
                        wait_layer=lambda i: futures[manifest.layers[i].digest].result(),
                        apply_layer=apply_layer, progress=progress, name=str(r), streams=streams,
                    )  # fmt: skip
                    if snapshot:
                        sname = getattr(snapshotter, "name", "overlayfs")
                        content_store.update_labels(manifest.config.digest, {LABEL_REF_SNAPSHOT + sname: snapshot})
                for fut in futures.values():
                    fut.result()
            except BaseException:
                for fut in futures.values():
                    fut.cancel()
                for p in streams.values():
                    p.abort()
                raise
        img = Image(
            name=str(r),
            target=target,
            manifest_descriptor=chosen,
            manifest=manifest,
            config_descriptor=manifest.config,
            config=config,
            platform=config.platform,
            chain_ids=tuple(oci.chain_ids(config.diff_ids)),
            snapshot=snapshot,
            other_platforms=tuple(d for d in manifests if d.digest != chosen.digest),
        )
        if save is not None:
            save(img)
        return img
    finally:
        if own_client:
            c.close()

