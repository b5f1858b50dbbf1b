"""``ctr images import`` / ``export``: archives go through a scratch local content store.

seabox.images.archive reads and writes docker-save and OCI-layout tars against a local
:class:`~seabox.content.store.ContentStore`.  The client has no access to the daemon's
store, so an import lands in a temporary local store first and its blobs are then written
through the Content service (labels included); an export copies the images' blobs out of
the daemon into a temporary store and writes the tar from there.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from seabox.ctr import images
from seabox.ctr.client import Client
from seabox.ctr.content import CHUNK, RemoteStore
from seabox.oci import image as oci


def _copy_in(local: Any, remote: RemoteStore) -> None:
    for info in local.list():
        digest = str(info.digest)
        if remote.exists(digest):
            if info.labels:
                remote.update_labels(digest, dict(info.labels))
            continue
        w = remote.writer(f"import-{digest}", expected=digest, total=info.size)
        try:
            if w.offset:
                w.truncate(0)
            with local.open(digest) as f:
                while b := f.read(CHUNK):
                    w.write(b)
            w.commit(info.size, digest, dict(info.labels) or None)
        finally:
            w.close()


def _children(data: bytes, desc: oci.Descriptor) -> list[oci.Descriptor]:
    if oci.is_index(desc.media_type):
        return list(oci.parse_index(data, media_type=desc.media_type).manifests)
    if oci.is_manifest(desc.media_type):
        m = oci.parse_manifest(data, media_type=desc.media_type)
        return [m.config, *m.layers]
    return []


def _copy_out(remote: RemoteStore, local: Any, desc: oci.Descriptor, *, skip_missing: bool) -> None:
    if not local.exists(desc.digest):
        try:
            src = remote.open(desc.digest)
        except Exception:
            if skip_missing:
                return
            raise
        w = local.writer(f"export-{desc.digest}", expected=desc.digest, total=desc.size)
        try:
            with src:
                while b := src.read(CHUNK):
                    w.write(b)
            w.commit(desc.size, desc.digest, None)
        except Exception:
            if not skip_missing:
                raise
            return
        finally:
            w.close()
    if oci.is_index(desc.media_type) or oci.is_manifest(desc.media_type):
        for child in _children(local.read_bytes(desc.digest), desc):
            _copy_out(remote, local, child, skip_missing=skip_missing)


def import_(client: Client, source: str, out: TextIO, *, base_name: str = "", digests: bool = False,
            all_platforms: bool = False, platform: str | None = None, unpack: bool = True,
            snapshotter: str = images.DEFAULT_SNAPSHOTTER) -> int:  # fmt: skip
    from seabox.content.store import ContentStore
    from seabox.ctr import leases
    from seabox.images.archive import import_archive

    remote = RemoteStore(client)
    with tempfile.TemporaryDirectory(prefix="seabox-ctr-import-") as tmp, leases.temporary(client):
        local = ContentStore(Path(tmp))
        stream: BinaryIO = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
        with contextlib.closing(stream):
            imgs = import_archive(stream, local)
        _copy_in(local, remote)
        for img in imgs:
            name = img.name
            if base_name:
                if name and not name.startswith(base_name):
                    continue
                if not name and img.ref_name:
                    name = f"{base_name}:{img.ref_name}"
            if not name:
                if not digests:
                    continue
                name = f"import-{time.strftime('%Y-%m-%d')}@{img.target.digest}"
            images.save_record(client, name, img.target)
            if unpack:
                out.write(f"unpacking {name} ({img.target.digest})...")
                out.flush()
                r = images.resolve_local(remote, name, img.target, platform)
                images.unpack(client, r, snapshotter=snapshotter)
                out.write("done\n")
            else:
                out.write(f"{name}\n")
    return 0


def export(client: Client, out_path: str, refs: Sequence[str], *, platform: str | None = None,
           all_platforms: bool = False, skip_manifest_json: bool = False) -> int:  # fmt: skip
    from seabox.content.store import ContentStore
    from seabox.images.archive import ArchiveImage, export_docker, export_oci
    from seabox.oci import platform as platforms

    remote = RemoteStore(client)
    plat = platforms.parse(platform) if platform else None
    with tempfile.TemporaryDirectory(prefix="seabox-ctr-export-") as tmp:
        local = ContentStore(Path(tmp))
        named = []
        for ref in refs:
            img = images.get(client, ref)
            desc = images._desc(img.target)
            _copy_out(remote, local, desc, skip_missing=not all_platforms)
            named.append(ArchiveImage(img.name, desc))
        sink: BinaryIO = sys.stdout.buffer if out_path == "-" else open(out_path, "wb")  # noqa: SIM115
        with contextlib.closing(sink) if out_path != "-" else contextlib.nullcontext(sink):
            if skip_manifest_json:
                export_oci(named, local, sink, platform=plat)
            else:
                export_docker(named, local, sink, platform=plat)
    return 0
