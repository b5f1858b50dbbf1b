"""``commit`` and ``import``: a container's writable layer, or a rootfs tarball, becomes an image.

Design reason: the layer is the overlay upper dir written as a gzip tar (``write_diff``, the
same code that makes build layers, whiteouts converted), so the image is exactly the parent's
layers plus one; blobs go through seaboxd's Content service under a temporary lease, as every
other client's do, and the image record is created last, so nothing is left half-made.  The
run config is the container's (its command, env, user, ports, labels...), with ``--change``
lines (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, HEALTHCHECK)
replayed over it by the Dockerfile parser and ``imageconfig``, as a build step would be.  A
running container is paused while its layer is read (docker's default; ``pause=false`` skips
it).  As nerdctl's, a commit needs a repository name.  ``import`` (``POST /images/create?fromSrc=-``)
makes a one-layer image of the uploaded tarball for the host's (or the given) platform, with
the same ``--change`` handling and ``write_image``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from typing import Any

from seabox import errdefs

_NOT_IMAGE_CONFIG = ("Hostname", "Domainname", "Image", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                     "OpenStdin", "StdinOnce")
_CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR", "VOLUME", "STOPSIGNAL",
            "HEALTHCHECK", "ONBUILD")


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """``--change`` instructions over a run config, through the Dockerfile parser."""
    if not changes:
        return config
    from seabox.build import imageconfig
    from seabox.build.dockerfile import DockerfileError, parse

    for c in changes:
        word = c.strip().split(None, 1)[0].upper() if c.strip() else ""
        if word not in _CHANGES:
            raise errdefs.InvalidArgument(f"commit --change {c!r}: {word or 'empty'} is not an instruction a "
                                          f"commit can apply ({', '.join(_CHANGES)})")
    try:
        df = parse("FROM scratch\n" + "\n".join(changes) + "\n", filename="--change")
    except DockerfileError as e:
        raise errdefs.InvalidArgument(f"commit --change: {e}") from None
    return dict(imageconfig.stage_config(df.stages[0], config).config)


def commit(engine: Any, ns: str, ref: str, repo: str, tag: str = "", *, comment: str = "", author: str = "",
           changes: list[str] | None = None, pause: bool = True, config: dict[str, Any] | None = None) -> str:
    """Commit container ``ref`` as ``repo:tag``; returns the image id (its config digest)."""
    from seabox.ctr import images as ctrimages
    from seabox.ctr import leases
    from seabox.ctr.content import RemoteStore
    from seabox.engine.archive import _layers
    from seabox.oci import reference as references
    from seabox.snapshots.diff import write_diff

    if not repo:
        raise errdefs.InvalidArgument("commit: a repository name is required (REPOSITORY[:TAG])")
    name = str(references.parse_with_default_tag(f"{repo}:{tag}" if tag else repo))
    C = engine.containers
    rec = C.get(ns, ref)
    cid = rec["Id"]
    run_config = {k: v for k, v in (rec.get("Config") or {}).items() if k not in _NOT_IMAGE_CONFIG}
    run_config.update(config or {})
    run_config = apply_changes(run_config, list(changes or []))
    c = engine.new_client(ns)
    paused = False
    tmp_dir = os_state_dir(engine)
    with leases.temporary(c), tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="commit-") as layer:
        try:
            if pause and rec["State"].get("Running") and not rec["State"].get("Paused"):
                C.pause(ns, cid, True)
                paused = True
            upper, _lowers = _layers(engine, ns, cid)
            res = write_diff(None, upper, layer, overlay=True)  # type: ignore[arg-type]  # a binary file
        finally:
            if paused:
                with contextlib.suppress(errdefs.SeaboxError):
                    C.pause(ns, cid, False)
        layer.flush()
        store = RemoteStore(c)
        base = ctrimages.resolve(c, rec["ImageRef"] or rec["ImageName"])
        base_cfg = json.loads(store.read(base.manifest.config.digest))
        cmd = " ".join([rec.get("Path") or "", *(rec.get("Args") or [])]).strip()
        cfg_digest = write_image(c, name, layer, res, base_cfg, list(base.manifest.layers), run_config,
                                 created_by=cmd, comment=comment, author=author)
    engine.emit(ns, "container", "commit", cid, {"name": rec["Name"][1:], "imageName": name})
    return cfg_digest


def os_state_dir(engine: Any) -> str:
    d = os.path.join(str(engine.settings.state), "engine", "commit")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def write_image(c: Any, name: str, layer: Any, res: Any, base_cfg: dict[str, Any], base_layers: list[Any],
                run_config: dict[str, Any], *, created_by: str, comment: str = "", author: str = "") -> str:
    """Upload ``layer`` (a gzip tar file; ``res``: its digest, size and diff ID), then the config
    (``base_cfg`` with the new layer, run config and history entry) and the manifest, and point
    image ``name`` at it; returns the config digest.  The caller holds a lease."""
    from seabox.ctr import images as ctrimages
    from seabox.ctr.content import RemoteStore
    from seabox.oci import digest as digests
    from seabox.oci import image as oci

    store = RemoteStore(c)
    if not store.exists(str(res.digest)):
        w = store.writer(f"commit-{res.digest}", expected=str(res.digest), total=res.size)
        try:
            if w.offset:
                w.truncate(0)
            layer.seek(0)
            while chunk := layer.read(1 << 20):
                w.write(chunk)
            w.commit(res.size, str(res.digest), {"containerd.io/uncompressed": str(res.diff_id)})
        finally:
            w.close()
    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 1_000_000_000:09d}Z"
    new_cfg = {k: v for k, v in base_cfg.items() if k not in ("config", "rootfs", "history", "created", "author")}
    diff_ids = list((base_cfg.get("rootfs") or {}).get("diff_ids") or [])
    new_cfg.update({
        "created": created, "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [*diff_ids, str(res.diff_id)]},
        "history": [*(base_cfg.get("history") or []),
                    {k: v for k, v in {"created": created, "created_by": created_by, "comment": comment,
                                       "author": author}.items() if v}],
    })  # fmt: skip
    if author:
        new_cfg["author"] = author
    cfg_bytes = json.dumps(new_cfg, separators=(",", ":")).encode()
    cfg_digest = str(digests.from_bytes(cfg_bytes))
    store.put(cfg_bytes, cfg_digest)
    layers = [*(d.to_dict() for d in base_layers),
              {"mediaType": oci.DOCKER_LAYER_GZIP, "digest": str(res.digest), "size": res.size}]
    manifest = {"schemaVersion": 2, "mediaType": oci.DOCKER_MANIFEST,
                "config": {"mediaType": oci.DOCKER_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
                "layers": layers}
    m_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    m_digest = str(digests.from_bytes(m_bytes))
    labels = {"containerd.io/gc.ref.content.config": cfg_digest}
    labels.update({f"containerd.io/gc.ref.content.l.{i}": x["digest"] for i, x in enumerate(layers)})
    store.put(m_bytes, m_digest, labels)
    ctrimages.save_record(c, name, oci.Descriptor(oci.DOCKER_MANIFEST, m_digest, len(m_bytes)))
    return cfg_digest


def import_rootfs(engine: Any, ns: str, data: bytes, repo: str, tag: str = "", *, message: str = "",
                  changes: list[str] | None = None, platform: str = "") -> str:
    """``docker import``: a root filesystem tarball (plain, gzip, bzip2 or xz) as a one-layer
    image; returns its id.  The tar is checked to be one, then stored gzip-compressed."""
    import bz2
    import gzip
    import hashlib
    import lzma
    import tarfile
    from io import BytesIO

    from seabox.ctr import leases
    from seabox.oci import platform as platforms
    from seabox.oci import reference as references

    if not repo:
        raise errdefs.InvalidArgument("import: a repository name is required (REPOSITORY[:TAG])")
    name = str(references.parse_with_default_tag(f"{repo}:{tag}" if tag else repo))
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:3] == b"BZh":
            data = bz2.decompress(data)
        elif data[:6] == b"\xfd7zXZ\x00":
            data = lzma.decompress(data)
        with tarfile.open(fileobj=BytesIO(data), mode="r:") as t:
            t.getmembers()
    except (OSError, EOFError, lzma.LZMAError, tarfile.TarError) as e:
        raise errdefs.InvalidArgument(f"import: not a tar archive: {e}") from None
    plat = platforms.parse(platform) if platform else platforms.host()
    base_cfg: dict[str, Any] = {"architecture": plat.architecture, "os": plat.os}
    if plat.variant:
        base_cfg["variant"] = plat.variant
    run_config = apply_changes({}, list(changes or []))

    class _Res:
        def __init__(self, digest: str, size: int, diff_id: str) -> None:
            self.digest, self.size, self.diff_id = digest, size, diff_id

    with tempfile.TemporaryFile(dir=os_state_dir(engine)) as layer:
        gz = gzip.compress(data, compresslevel=6, mtime=0)
        layer.write(gz)
        layer.flush()
        res = _Res("sha256:" + hashlib.sha256(gz).hexdigest(), len(gz), "sha256:" + hashlib.sha256(data).hexdigest())
        c = engine.new_client(ns)
        with leases.temporary(c):
            image_id = write_image(c, name, layer, res, base_cfg, [], run_config, created_by="",
                                   comment=message or "Imported from -")
    engine.emit(ns, "image", "import", image_id, {"name": name})
    return image_id
