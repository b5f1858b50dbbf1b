"""Import and export image archives: docker-save tars and OCI image-layout tars.

Import streams the tar once (``tarfile`` mode ``r|``): every blob-like member
(``blobs/...``, ``*/layer.tar``, anything over 1 MiB) is written through a
content-store ingest and committed under the digest computed while writing;
small metadata files (``manifest.json``, ``index.json``, ``repositories``,
configs) are kept in memory until the end, because docker puts ``manifest.json``
last.  Then:

* an OCI layout (``oci-layout`` + ``index.json``) is taken as is: each blob's path
  must match its digest, and each entry of ``index.json`` becomes an image named
  by its ``io.containerd.image.name`` or ``org.opencontainers.image.ref.name``
  annotation (when that is a full reference);
* a docker-save archive (``manifest.json``; layers as ``<id>/layer.tar`` or
  ``blobs/sha256/<hex>``, possibly symlinked between images) becomes a proper
  docker schema2 manifest + config in the store, one image per ``RepoTags`` entry.

Manifests and indexes get containerd's ``containerd.io/gc.ref.content.*`` labels,
so garbage collection keeps everything an image points to.

Export writes one tar that is both an OCI image layout and a docker-save archive
(``manifest.json`` + ``repositories`` pointing into ``blobs/sha256``), as docker 25
does; ``docker load`` of older daemons reads the docker part and decompresses
gzip layers itself.  zstd layers, which docker before 23.0 cannot read, are given
to the docker part as plain tars named by their diff_id.  ``export_oci`` writes only the OCI layout.  Both take all
platforms of an index or a chosen one (docker-save holds one manifest per image,
so ``export_docker`` always picks one: the host's unless told).
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from seabox import errdefs
from seabox.content import ContentStore
from seabox.oci import image as oci
from seabox.oci import platform as platforms
from seabox.oci import reference as references
from seabox.oci.digest import Digest, Digester, from_bytes
from seabox.snapshots.apply import BoundedTarInfo

ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
LABEL_REF_CONFIG = "containerd.io/gc.ref.content.config"
LABEL_REF_LAYER = "containerd.io/gc.ref.content.l."
LABEL_REF_MANIFEST = "containerd.io/gc.ref.content.m."
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
_SMALL = 1 << 20
_CHUNK = 1 << 20


@dataclass
class ArchiveImage:
    """An image in an archive: its name (may be empty) and its manifest or index descriptor."""

    name: str
    target: oci.Descriptor
    ref_name: str = ""  # the raw org.opencontainers.image.ref.name (often just a tag), if any


class _Named(Protocol):
    name: str
    target: oci.Descriptor


@dataclass
class _Member:
    path: str
    digest: Digest | None = None
    size: int = 0
    data: bytes | None = None
    link: str | None = None  # a symlink's resolved archive path


@dataclass
class _Ingested:
    members: dict[str, _Member] = field(default_factory=dict)


def _norm(name: str) -> str:
    n = posixpath.normpath("/" + name).lstrip("/")
    return n


def _bad(name: str, why: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(errdefs.subject("archive", name, why))


def _ingest(stream: BinaryIO, store: ContentStore, label: str) -> _Ingested:
    out = _Ingested()
    base = f"import-{uuid.uuid4().hex}"
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo) as tf:
            for i, m in enumerate(tf):
                path = _norm(m.name)
                if m.issym() or m.islnk():
                    target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(path), m.linkname)
                    out.members[path] = _Member(path, link=_norm(target))
                    continue
                if not m.isreg():
                    continue
                src = tf.extractfile(m)
                assert src is not None
                blobish = path.startswith("blobs/") or path.endswith("layer.tar") or m.size > _SMALL
                if not blobish:
                    data = src.read()
                    out.members[path] = _Member(path, from_bytes(data), len(data), data=data)
                    continue
                with store.writer(f"{base}-{i}") as w:
                    w.truncate(0)
                    while True:
                        b = src.read(_CHUNK)
                        if not b:
                            break
                        w.write(b)
                    d = w.digest()
                    w.commit(w.offset, d)
                out.members[path] = _Member(path, d, w.offset)
    except tarfile.TarError as e:
        raise _bad(label, f"invalid tar: {e}")
    return out


def _resolve(ing: _Ingested, path: str, label: str) -> _Member:
    seen = 0
    p = _norm(path)
    while True:
        m = ing.members.get(p)
        if m is None:
            raise _bad(label, f"{path!r} is missing")
        if m.link is None:
            return m
        p = m.link
        seen += 1
        if seen > 40:
            raise _bad(label, f"{path!r}: too many links")


def _blob(ing: _Ingested, store: ContentStore, path: str, label: str) -> tuple[Digest, int]:
    m = _resolve(ing, path, label)
    assert m.digest is not None
    if m.data is not None and not store.exists(m.digest):
        store.put(m.data)
    return m.digest, m.size


def _image_name(raw: str) -> str:
    """A full normalized reference from an annotation or RepoTag, or "" if it is not one."""
    if not raw or raw.startswith("sha256:") or (":" not in raw and "/" not in raw):
        return ""
    try:
        return str(references.parse(raw))
    except errdefs.InvalidArgument:
        return ""


def _compression_of(store: ContentStore, digest: str) -> str:
    with store.open(digest) as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return oci.DOCKER_LAYER_GZIP
    if head == b"\x28\xb5\x2f\xfd":
        return oci.DOCKER_LAYER_ZSTD
    return oci.DOCKER_LAYER


def _label_refs(store: ContentStore, digest: str, data: bytes, media_type: str) -> None:
    labels: dict[str, str | None] = {}
    if oci.is_index(media_type):
        idx = oci.parse_index(data, name=digest, media_type=media_type)
        for i, d in enumerate(idx.manifests):
            if store.exists(d.digest):
                labels[f"{LABEL_REF_MANIFEST}{i}"] = d.digest
    else:
        man = oci.parse_manifest(data, name=digest, media_type=media_type)
        labels[LABEL_REF_CONFIG] = man.config.digest
        for i, d in enumerate(man.layers):
            labels[f"{LABEL_REF_LAYER}{i}"] = d.digest
    if labels:
        store.update_labels(digest, labels)


def _walk_and_label(store: ContentStore, desc: oci.Descriptor, label: str) -> None:
    """Check the target's tree is in the store and give each manifest/index its gc labels."""
    if not store.exists(desc.digest):
        raise _bad(label, f"blob {desc.digest} ({desc.media_type}) is not in the archive")
    if not (oci.is_index(desc.media_type) or oci.is_manifest(desc.media_type)):
        return
    data = store.read_bytes(desc.digest)
    if oci.is_index(desc.media_type):
        for d in oci.parse_index(data, name=desc.digest, media_type=desc.media_type).manifests:
            if store.exists(d.digest):
                _walk_and_label(store, d, label)
    else:
        man = oci.parse_manifest(data, name=desc.digest, media_type=desc.media_type)
        for d in (man.config, *man.layers):
            if not store.exists(d.digest) and not d.urls:
                raise _bad(label, f"blob {d.digest} of manifest {desc.digest} is not in the archive")
    _label_refs(store, desc.digest, data, desc.media_type)


def _import_oci(ing: _Ingested, store: ContentStore, label: str) -> list[ArchiveImage]:
    for path, m in ing.members.items():
        if path.startswith("blobs/") and m.link is None and m.digest is not None:
            parts = path.split("/")
            if len(parts) == 3 and parts[1] == "sha256" and m.digest.hex != parts[2]:
                raise _bad(label, f"{path}: content does not match its name (sha256:{m.digest.hex})")
    raw = _resolve(ing, "index.json", label).data
    assert raw is not None
    index = oci.parse_index(raw, name=f"{label}:index.json", media_type=oci.OCI_INDEX)
    images = []
    for d in index.manifests:
        _blob(ing, store, f"blobs/sha256/{Digest(d.digest).hex}", label)
        _walk_and_label(store, d, label)
        name = _image_name(d.annotations.get(ANNOTATION_IMAGE_NAME, "")) or _image_name(
            d.annotations.get(ANNOTATION_REF_NAME, "")
        )
        images.append(ArchiveImage(name, d, d.annotations.get(ANNOTATION_REF_NAME, "")))
    return images


def _import_docker(ing: _Ingested, store: ContentStore, label: str) -> list[ArchiveImage]:
    raw = _resolve(ing, "manifest.json", label).data
    assert raw is not None
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise _bad(label, f"manifest.json: {exc}")
    if not isinstance(entries, list):
        raise _bad(label, "manifest.json is not a list")
    images: list[ArchiveImage] = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str) or not isinstance(e.get("Layers"), list):
            raise _bad(label, f"manifest.json entry {n} lacks Config or Layers")
        cfg_digest, cfg_size = _blob(ing, store, e["Config"], label)
        config = oci.parse_config(store.read_bytes(cfg_digest), name=cfg_digest)
        diff_ids = list(config.diff_ids)
        if len(diff_ids) != len(e["Layers"]):
            raise _bad(label, f"image {n}: {len(e['Layers'])} layers but {len(diff_ids)} diff_ids in its config")
        layers = []
        for path, diff_id in zip(e["Layers"], diff_ids, strict=True):
            d, size = _blob(ing, store, path, label)
            media = _compression_of(store, d)
            if media == oci.DOCKER_LAYER and d != diff_id:
                raise _bad(label, f"layer {path}: digest {d} does not match diff_id {diff_id}")
            store.update_labels(d, {LABEL_UNCOMPRESSED: diff_id})
            layers.append(oci.Descriptor(media, d, size))
        manifest = oci.Manifest(
            oci.DOCKER_MANIFEST, oci.Descriptor(oci.DOCKER_CONFIG, cfg_digest, cfg_size), tuple(layers)
        )
        data = manifest.to_json()
        mdigest = store.put(data)
        _label_refs(store, mdigest, data, oci.DOCKER_MANIFEST)
        desc = oci.Descriptor(oci.DOCKER_MANIFEST, mdigest, len(data), platform=config.platform)
        tags = [t for t in (e.get("RepoTags") or []) if isinstance(t, str)]
        names = [_image_name(t) for t in tags] or [""]
        images.extend(ArchiveImage(nm, desc) for nm in names)
    return images


def import_archive(source: BinaryIO | str, store: ContentStore) -> list[ArchiveImage]:
    """Import a docker-save or OCI-layout tar (a stream or a path) into ``store``."""
    if isinstance(source, str):
        with open(source, "rb") as f:
            return import_archive(f, store)
    label = getattr(source, "name", "<stream>")
    label = label if isinstance(label, str) else "<stream>"
    ing = _ingest(source, store, label)
    if "index.json" in ing.members and "oci-layout" in ing.members:
        layout = json.loads(_resolve(ing, "oci-layout", label).data or b"{}")
        if not str(layout.get("imageLayoutVersion", "")).startswith("1."):
            raise _bad(label, f"unsupported oci-layout version {layout.get('imageLayoutVersion')!r}")
        images = _import_oci(ing, store, label)
        if "manifest.json" in ing.members and not any(i.name for i in images):
            # docker 25 writes both; its manifest.json carries the names
            named = _import_docker(ing, store, label)
            if named:
                return named
        return images
    if "manifest.json" in ing.members:
        return _import_docker(ing, store, label)
    raise _bad(label, "neither an OCI image layout (oci-layout, index.json) nor a docker-save archive (manifest.json)")


# -- export --------------------------------------------------------------------


class _TarOut:
    def __init__(self, out: BinaryIO) -> None:
        self.tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.done: set[str] = set()

    def dir(self, name: str) -> None:
        if name in self.done:
            return
        self.done.add(name)
        ti = tarfile.TarInfo(name + "/")
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        self.tf.addfile(ti)

    def file(self, name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), 0o644
        self.tf.addfile(ti, io.BytesIO(data))

    def blob(self, store: ContentStore, digest: str) -> None:
        name = f"blobs/sha256/{Digest(digest).hex}"
        if name in self.done:
            return
        self.done.add(name)
        info = store.info(digest)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = info.size, 0o444
        with store.open(digest) as f:
            self.tf.addfile(ti, f)

    def uncompressed_zstd(self, store: ContentStore, digest: str, diff_id: str, label: str) -> None:
        """Add the decompressed tar of a zstd layer as the blob named by its diff_id."""
        name = f"blobs/sha256/{Digest(diff_id).hex}"
        if name in self.done:
            return
        import zstandard

        d = Digester()
        with tempfile.TemporaryFile() as tmp, store.open(digest) as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            while True:
                b = reader.read(_CHUNK)
                if not b:
                    break
                d.update(b)
                tmp.write(b)
            if d.digest() != diff_id:
                raise errdefs.FailedPrecondition(errdefs.subject(
                    "image", label, f"layer {digest}: uncompressed digest {d.digest()} is not its diff_id {diff_id}"))
            tmp.seek(0)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = d.size, 0o444
            self.tf.addfile(ti, tmp)
        self.done.add(name)

    def close(self) -> None:
        self.tf.close()


def _select(store: ContentStore, desc: oci.Descriptor, platform: oci.Platform | None, label: str) -> oci.Descriptor:
    """The manifest of ``desc`` for ``platform`` (``desc`` itself when it is a manifest)."""
    if oci.is_manifest(desc.media_type):
        return desc
    if not oci.is_index(desc.media_type):
        raise _bad(label, f"target {desc.digest} has media type {desc.media_type!r}")
    idx = oci.parse_index(store.read_bytes(desc.digest), name=desc.digest, media_type=desc.media_type)
    matcher = platforms.Matcher(platform or platforms.host())
    best: tuple[int, oci.Descriptor] | None = None
    for d in idx.manifests:
        if d.platform is None or (not oci.is_manifest(d.media_type) and not oci.is_index(d.media_type)):
            continue
        r = matcher.rank(d.platform)
        if r is not None and (best is None or r < best[0]) and store.exists(d.digest):
            best = (r, d)
    if best is None:
        want = platforms.display(platform or platforms.host())
        raise errdefs.NotFound(errdefs.subject("image", label, f"no manifest for platform {want} in the store"))
    return _select(store, best[1], platform, label)


def _write_tree(t: _TarOut, store: ContentStore, desc: oci.Descriptor, label: str, *, skip_missing: bool) -> None:
    if not store.exists(desc.digest):
        if skip_missing and not oci.is_index(desc.media_type):
            return
        raise errdefs.NotFound(errdefs.subject("image", label, f"content {desc.digest} not in the store"))
    if oci.is_index(desc.media_type):
        idx = oci.parse_index(store.read_bytes(desc.digest), name=desc.digest, media_type=desc.media_type)
        for d in idx.manifests:
            _write_tree(t, store, d, label, skip_missing=skip_missing)
    elif oci.is_manifest(desc.media_type):
        man = oci.parse_manifest(store.read_bytes(desc.digest), name=desc.digest, media_type=desc.media_type)
        for d in (man.config, *man.layers):
            if d.urls and not store.exists(d.digest):
                continue  # foreign layers stay where their URLs say
            _write_tree(t, store, d, label, skip_missing=False)
    t.blob(store, desc.digest)


def _ref_annotations(name: str) -> dict[str, str]:
    if not name:
        return {}
    r = references.parse(name)
    out = {ANNOTATION_IMAGE_NAME: str(r)}
    if r.tag:
        out[ANNOTATION_REF_NAME] = r.tag
    return out


def _write_layout(t: _TarOut, store: ContentStore, images: Sequence[_Named],
                  platform: oci.Platform | None) -> list[tuple[str, oci.Descriptor]]:
    """Blobs + oci-layout + index.json; returns (name, manifest descriptor) chosen per image."""
    t.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    t.dir("blobs")
    t.dir("blobs/sha256")
    entries: list[oci.Descriptor] = []
    chosen = []
    for img in images:
        label = img.name or img.target.digest
        desc = img.target if platform is None else _select(store, img.target, platform, label)
        _write_tree(t, store, desc, label, skip_missing=platform is None)
        entries.append(oci.Descriptor(desc.media_type, desc.digest, desc.size, desc.urls,
                                      {**desc.annotations, **_ref_annotations(img.name)}, desc.platform))
        chosen.append((img.name, desc))
    index = oci.Index(oci.OCI_INDEX, tuple(entries))
    t.file("index.json", index.to_json())
    return chosen


def export_oci(images: Iterable[_Named], store: ContentStore, out: BinaryIO, *,
               platform: oci.Platform | None = None) -> None:
    """Write an OCI image-layout tar of ``images`` (all platforms, or only ``platform``)."""
    t = _TarOut(out)
    try:
        _write_layout(t, store, list(images), platform)
    finally:
        t.close()


def export_docker(images: Iterable[_Named], store: ContentStore, out: BinaryIO, *,
                  platform: oci.Platform | None = None) -> None:
    """Write a tar that ``docker load`` accepts (and that is also an OCI layout).

    Each image contributes its manifest for ``platform`` (default: the host's).
    """
    imgs = list(images)
    plat = platform or platforms.host()
    t = _TarOut(out)
    try:
        chosen = _write_layout(t, store, imgs, plat)
        by_config: dict[str, dict[str, Any]] = {}
        repositories: dict[str, dict[str, str]] = {}
        for name, desc in chosen:
            man = oci.parse_manifest(store.read_bytes(desc.digest), name=desc.digest, media_type=desc.media_type)
            cfg = Digest(man.config.digest)
            if cfg not in by_config:
                diff_ids = oci.parse_config(store.read_bytes(cfg), name=cfg).diff_ids
                paths = []
                for d, diff_id in zip(man.layers, diff_ids, strict=False):
                    if oci.layer_compression(d.media_type) == "zstd":
                        # docker load (before 23.0) cannot read zstd: give it the plain tar
                        t.uncompressed_zstd(store, d.digest, diff_id, name or desc.digest)
                        paths.append(f"blobs/sha256/{Digest(diff_id).hex}")
                    else:
                        paths.append(f"blobs/sha256/{Digest(d.digest).hex}")
                by_config[cfg] = {"Config": f"blobs/sha256/{cfg.hex}", "RepoTags": [], "Layers": paths}
            entry = by_config[cfg]
            if name:
                r = references.parse(name)
                if r.tag:
                    tag = references.familiar_name(r.name) + ":" + r.tag
                    if tag not in entry["RepoTags"]:
                        entry["RepoTags"].append(tag)
                    if man.layers:
                        repositories.setdefault(references.familiar_name(r.name), {})[r.tag] = Digest(
                            man.layers[-1].digest).hex
        t.file("manifest.json", json.dumps(list(by_config.values()), separators=(",", ":")).encode())
        if repositories:
            t.file("repositories", json.dumps(repositories, separators=(",", ":")).encode())
    finally:
        t.close()


__all__ = ["ArchiveImage", "export_docker", "export_oci", "import_archive"]
