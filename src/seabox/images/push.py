"""Push: copy an image (manifest or index, with its config and layers) from the store to a registry.

Order matters to registries: every blob a manifest references must be in the
repository before the manifest is PUT, and every manifest an index lists before the
index.  So: blobs first (concurrently), then platform manifests by digest, then the
top-level manifest or index under the tag.

For each blob: ``HEAD`` says whether the repository already has it; if not and the
blob's ``containerd.io/distribution.source.<registry>`` label (written by pull)
names another repository on the same registry, a cross-repository mount is tried
(no bytes move); otherwise the bytes are streamed from the content store in one PUT,
or in ``chunk_size`` PATCH chunks when asked (large layers over flaky links).  The
manifest bytes are sent exactly as stored so the digest the registry computes is
the one we hold.

An index whose platform manifests are not all in the store (a single-platform pull)
is pushed as that platform's manifest alone, which is what docker does.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

from seabox import errdefs
from seabox.images.pull import LABEL_SOURCE_PREFIX
from seabox.oci import image as oci
from seabox.oci import platform as platforms
from seabox.oci import reference as references

if TYPE_CHECKING:
    from seabox.images.registry.client import RegistryClient
    from seabox.images.registry.credentials import CredentialStore

PushKind = Literal["exists", "mounted", "uploading", "uploaded", "manifest"]


@dataclass(frozen=True, slots=True)
class PushEvent:
    kind: PushKind
    digest: str
    media_type: str = ""
    current: int = 0
    total: int = 0
    ref: str = ""


@dataclass(frozen=True, slots=True)
class PushResult:
    ref: str
    descriptor: oci.Descriptor  # what the tag now points to
    uploaded: tuple[str, ...]
    mounted: tuple[str, ...]
    existed: tuple[str, ...]


class _Store(Protocol):
    def exists(self, digest: str) -> bool: ...
    def open(self, digest: str) -> BinaryIO: ...
    def info(self, digest: str) -> Any: ...
    def update_labels(self, digest: str, labels: dict[str, str | None]) -> Any: ...


def _read(store: _Store, digest: str) -> bytes:
    with store.open(digest) as f:
        return f.read()


def push(
    ref: str | references.Reference,
    descriptor: oci.Descriptor,
    *,
    content_store: _Store,
    hosts_dir: Path | str | None = None,
    credentials: CredentialStore | Callable[[str], tuple[str, str] | None] | None = None,
    client: RegistryClient | None = None,
    plain_http: bool | None = None,
    skip_verify: bool = False,
    progress: Callable[[PushEvent], None] | None = None,
    chunk_size: int | None = None,
    max_concurrent_uploads: int = 3,
    platform: str | oci.Platform | None = None,
    cross_repo_mount: bool = True,
) -> PushResult:
    """Push the image ``descriptor`` (a manifest or index in ``content_store``) to ``ref``."""
    from seabox.images.registry.client import RegistryClient

    r = references.parse_with_default_tag(ref) if isinstance(ref, str) else ref.tagged_or_latest()
    if not content_store.exists(descriptor.digest):
        raise errdefs.NotFound(errdefs.subject("content", descriptor.digest, f"not in the store (pushing {r})"))
    own = client is None
    c = client or RegistryClient(hosts_dir=hosts_dir, credentials=credentials, plain_http=plain_http, skip_verify=skip_verify)
    uploaded: list[str] = []
    mounted: list[str] = []
    existed: list[str] = []

    def emit(kind: PushKind, d: oci.Descriptor, current: int = 0) -> None:
        if progress is not None:
            progress(PushEvent(kind, d.digest, d.media_type, current, d.size, str(r)))

    def push_blob(d: oci.Descriptor) -> None:
        if c.blob_exists(r, d.digest) is not None:
            existed.append(d.digest)
            emit("exists", d, d.size)
            return
        location: str | None = None
        labels = getattr(content_store.info(d.digest), "labels", {}) or {}
        sources = [s for s in labels.get(LABEL_SOURCE_PREFIX + r.domain, "").split(",") if s and s != r.path]
        if not cross_repo_mount:
            sources = []
        for src in sources:
            try:
                location = c.mount_blob(r, d.digest, src)
            except (errdefs.NotFound, errdefs.Unauthorized, errdefs.FailedPrecondition):
                continue
            if location is None:
                mounted.append(d.digest)
                emit("mounted", d, d.size)
                _add_source(content_store, d.digest, r)
                return
            break  # the registry opened an upload session instead of mounting: use it
        done = [0]

        def on_bytes(n: int) -> None:
            done[0] += n
            emit("uploading", d, done[0])

        with content_store.open(d.digest) as f:
            c.push_blob(r, d, f, location=location, chunk_size=chunk_size, progress=on_bytes)
        uploaded.append(d.digest)
        emit("uploaded", d, d.size)
        _add_source(content_store, d.digest, r)

    def push_manifest_blobs(md: oci.Descriptor, data: bytes) -> None:
        m = oci.parse_manifest(data, name=md.digest, media_type=md.media_type)
        blobs = [m.config, *m.layers]
        missing = [b.digest for b in blobs if not content_store.exists(b.digest)]
        if missing:
            raise errdefs.FailedPrecondition(
                errdefs.subject("image", str(r), f"blob {missing[0]} is not in the content store (pull it first)")
            )
        uniq = list({b.digest: b for b in blobs}.values())
        with ThreadPoolExecutor(max_workers=max(1, max_concurrent_uploads), thread_name_prefix="push") as pool:
            for fut in [pool.submit(push_blob, b) for b in uniq]:
                fut.result()

    try:
        top = _read(content_store, descriptor.digest)
        if oci.is_index(descriptor.media_type):
            index = oci.parse_index(top, name=descriptor.digest, media_type=descriptor.media_type)
            children = [d for d in index.manifests if oci.is_manifest(d.media_type)]
            present = [d for d in children if content_store.exists(d.digest)]
            if len(present) == len(children):
                for md in children:
                    data = _read(content_store, md.digest)
                    push_manifest_blobs(md, data)
                    c.put_manifest(r, md.media_type, data, tag=md.digest)
                    emit("manifest", md, md.size)
                c.put_manifest(r, descriptor.media_type, top)
                emit("manifest", descriptor, descriptor.size)
                final = descriptor
            else:
                want = platforms.host() if platform is None else (
                    platforms.parse(platform) if isinstance(platform, str) else platform
                )  # fmt: skip
                best = platforms.only(want).best(d.platform for d in present if d.platform is not None)
                if best is None:
                    raise errdefs.FailedPrecondition(
                        errdefs.subject("image", str(r), f"no manifest for {platforms.display(want)} in the content store")
                    )
                md = next(d for d in present if d.platform == best)
                data = _read(content_store, md.digest)
                push_manifest_blobs(md, data)
                c.put_manifest(r, md.media_type, data)
                emit("manifest", md, md.size)
                final = oci.Descriptor(md.media_type, md.digest, md.size)
        elif oci.is_manifest(descriptor.media_type):
            push_manifest_blobs(descriptor, top)
            c.put_manifest(r, descriptor.media_type, top)
            emit("manifest", descriptor, descriptor.size)
            final = descriptor
        else:
            raise errdefs.InvalidArgument(
                errdefs.subject("image", str(r), f"cannot push media type {descriptor.media_type}")
            )
        return PushResult(str(r), final, tuple(uploaded), tuple(mounted), tuple(existed))
    finally:
        if own:
            c.close()


def _add_source(store: _Store, digest: str, r: references.Reference) -> None:
    key = LABEL_SOURCE_PREFIX + r.domain
    try:
        labels = getattr(store.info(digest), "labels", {}) or {}
        repos = [s for s in labels.get(key, "").split(",") if s]
        if r.path not in repos:
            store.update_labels(digest, {key: ",".join([*repos, r.path])})
    except errdefs.SeaboxError:
        pass
