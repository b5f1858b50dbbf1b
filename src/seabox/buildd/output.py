"""What a finished build becomes: image blobs, and the exports of them.

The image is a Docker schema2 manifest (what ``docker push`` of a classic build
writes, loadable and runnable everywhere) whose config is ``executor``'s config
JSON.  Exports:

* ``image`` (default): the blobs are copied into seaboxd's content store over its
  gRPC Content service and an image record is created per ``-t`` name (seaboxd
  unpacks on first run); skipped with a note when seaboxd is not reachable;
* ``push``: ``seabox.images.push`` from buildd's store with the client's credentials;
* ``oci`` / ``docker``: an archive written by ``seabox.images.archive`` to ``dest``;
* ``local``: the final rootfs copied into the ``dest`` directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from seabox.buildd.cache import Layer
from seabox.buildd.executor import BuildResult, Engine, _docker_layer_type
from seabox.oci import image as oci


@dataclass
class Built:
    name: str
    target: oci.Descriptor


def _put(engine: Engine, data: bytes) -> str:
    return str(engine.content.put(data))


def write_image(engine: Engine, res: BuildResult) -> oci.Descriptor:
    """Store the config and manifest blobs; return the manifest's descriptor."""
    cfg = json.dumps(res.config, separators=(",", ":")).encode()
    cfg_digest = _put(engine, cfg)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.DOCKER_MANIFEST,
        "config": {"mediaType": oci.DOCKER_CONFIG, "digest": cfg_digest, "size": len(cfg)},
        "layers": [{"mediaType": _docker_layer_type(x.media_type), "digest": x.digest, "size": x.size}
                   for x in res.layers],
    }
    mdata = json.dumps(manifest, separators=(",", ":")).encode()
    labels = {"containerd.io/gc.ref.content.config": cfg_digest}
    labels.update({f"containerd.io/gc.ref.content.l.{i}": x.digest for i, x in enumerate(res.layers)})
    digest = engine.content.put(mdata, labels=labels)
    return oci.Descriptor(oci.DOCKER_MANIFEST, str(digest), len(mdata))


def to_seaboxd(engine: Engine, address: str, names: list[str], desc: oci.Descriptor, layers: list[Layer],
               config_digest: str, namespace: str = "default") -> None:
    """Copy the image's blobs into seaboxd's content store and create/update its image records."""
    from seabox.ctr.client import Client
    from seabox.ctr.content import RemoteStore
    from seabox.ctr.images import save_record

    with Client(address, namespace) as c:
        store = RemoteStore(c)
        for x in layers:
            if store.exists(x.digest):
                continue
            w = store.writer(f"buildd-{x.digest}", expected=x.digest, total=x.size)
            try:
                if w.offset:
                    w.truncate(0)
                with engine.content.open(x.digest) as f:
                    while chunk := f.read(1 << 20):
                        w.write(chunk)
                w.commit(x.size, x.digest, {"containerd.io/uncompressed": x.diff_id})
            finally:
                w.close()
        store.put(engine.content.read_bytes(config_digest), config_digest)
        labels = {"containerd.io/gc.ref.content.config": config_digest}
        labels.update({f"containerd.io/gc.ref.content.l.{i}": x.digest for i, x in enumerate(layers)})
        store.put(engine.content.read_bytes(desc.digest), desc.digest, labels)
        for n in names:
            save_record(c, n, desc)


def seaboxd_reachable(address: str) -> bool:
    path = address.removeprefix("unix://").removeprefix("unix:")
    return os.path.exists(path)


def push(engine: Engine, names: list[str], desc: oci.Descriptor, credentials: dict[str, tuple[str, str]],
         log: Any) -> None:
    from seabox.images.push import push as do_push

    for n in names:
        do_push(n, desc, content_store=engine.content, credentials=lambda host: credentials.get(host))
        log(f"pushed {n}@{desc.digest}")


def archive(engine: Engine, kind: str, dest: str, names: list[str], desc: oci.Descriptor) -> None:
    from seabox.images.archive import ArchiveImage, export_docker, export_oci

    imgs = [ArchiveImage(n, desc) for n in names] or [ArchiveImage("", desc)]
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        (export_docker if kind == "docker" else export_oci)(imgs, engine.content, f)
    os.replace(tmp, dest)


def local(engine: Engine, snapshot: str | None, dest: str) -> None:
    from seabox.buildd.fsops import copy_tree

    os.makedirs(dest, exist_ok=True)
    if snapshot is None:
        return
    with engine.mounted(snapshot, writable=False) as (_, mnt):
        copy_tree(mnt, dest, chown=None, chmod=None, keep_owner=True)
