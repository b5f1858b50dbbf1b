"""``ctr images``: ls / rm / tag / pull / push / import / export / mount / unmount.

Everything runs client side over the daemon's services, as containerd's client does:
a pull resolves and fetches through seabox's registry library into the Content service
(:class:`~seabox.ctr.content.RemoteStore`) under a lease, records the image with the
Images service, then unpacks it with Snapshots (Prepare/Commit) and Diff (Apply), naming
committed snapshots by chain ID so images share them.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from seabox import errdefs
from seabox.ctr.client import Client, CommandError, grpc_code
from seabox.ctr.content import RemoteStore
from seabox.ctr.tables import human_bytes, tabwrite
from seabox.oci import image as oci

DEFAULT_SNAPSHOTTER = "overlayfs"
SNAPSHOT_REF_LABEL = "containerd.io/snapshot.ref"
GC_SNAPSHOT_LABEL = "containerd.io/gc.ref.snapshot."
HOSTS_DIRS = ("/etc/seabox/certs.d", "/etc/containerd/certs.d")


def _pb() -> Any:
    from seabox.api.gen.containerd.api.services.images.v1 import images_pb2

    return images_pb2


# -- reading images ----------------------------------------------------------------------------


def get(client: Client, name: str) -> Any:
    """The Images service's record for ``name`` (``image "x": not found`` otherwise)."""
    pb = _pb()
    try:
        return client.images.Get(pb.GetImageRequest(name=name)).image
    except Exception as e:
        if grpc_code(e) == "NOT_FOUND":
            raise errdefs.NotFound(errdefs.subject("image", name, "not found")) from None
        raise


def _desc(d: Any) -> oci.Descriptor:
    return oci.Descriptor(d.media_type, d.digest, int(d.size), annotations=dict(d.annotations))


@dataclass
class Resolved:
    """An image's manifest and config for one platform, read from the daemon's content store."""

    name: str
    target: oci.Descriptor
    manifest_desc: oci.Descriptor
    manifest: oci.Manifest
    config: oci.ImageConfig
    platforms: list[str] = field(default_factory=list)
    size: int = 0

    @property
    def chain_ids(self) -> list[str]:
        return oci.chain_ids(list(self.config.diff_ids))


def resolve_local(store: RemoteStore, name: str, target: oci.Descriptor, platform: str | None = None) -> Resolved:
    """Walk ``target`` (index or manifest) in the content store to the manifest for ``platform``."""
    from seabox.oci import platform as platforms

    want = platforms.parse(platform) if platform else platforms.host()
    matcher = platforms.only(want)
    size = target.size
    plats: list[str] = []
    md = target
    if oci.is_index(target.media_type):
        index = oci.parse_index(store.read(target.digest), name=name, media_type=target.media_type)
        cands = [d for d in index.manifests if oci.is_manifest(d.media_type)]
        plats = [platforms.display(d.platform) for d in cands if d.platform is not None]
        best = matcher.best([d.platform for d in cands if d.platform is not None])
        chosen = next((d for d in cands if d.platform is not None and d.platform == best), None)
        if chosen is None:
            raise errdefs.NotFound(errdefs.subject("image", name, f"no match for platform {want} in manifest"))
        md = chosen
    elif not oci.is_manifest(target.media_type):
        raise errdefs.FailedPrecondition(errdefs.subject("image", name, f"unsupported media type {target.media_type}"))
    manifest = oci.parse_manifest(store.read(md.digest), name=name, media_type=md.media_type)
    config = oci.parse_config(store.read(manifest.config.digest), name=manifest.config.digest)
    if not plats:
        plats = [platforms.display(config.platform)]
    if md is not target:
        size += md.size
    size += manifest.config.size + sum(x.size for x in manifest.layers)
    return Resolved(name, target, md, manifest, config, plats, size)


def resolve(client: Client, name: str, platform: str | None = None) -> Resolved:
    img = get(client, name)
    return resolve_local(RemoteStore(client), name, _desc(img.target), platform)


# -- ls / rm / tag -----------------------------------------------------------------------------


def ls(client: Client, out: TextIO, *, quiet: bool = False, filters: Sequence[str] = ()) -> int:
    pb = _pb()
    imgs = list(client.images.List(pb.ListImagesRequest(filters=list(filters))).images)
    if quiet:
        for i in imgs:
            out.write(i.name + "\n")
        return 0
    store = RemoteStore(client)
    lines = ["REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t"]
    for i in imgs:
        size, plats = "-", "-"
        try:
            r = resolve_local(store, i.name, _desc(i.target))
            size, plats = human_bytes(r.size), ",".join(r.platforms)
        except Exception:
            pass
        labels = ",".join(f"{k}={v}" for k, v in sorted(i.labels.items())) or "-"
        lines.append(f"{i.name}\t{i.target.media_type}\t{i.target.digest}\t{size}\t{plats}\t{labels}\t")
    out.write(tabwrite(lines))
    return 0


def remove(client: Client, names: Sequence[str], out: TextIO, err: TextIO, *, sync: bool = False) -> int:
    from seabox.ctr.client import describe

    pb = _pb()
    failed = False
    for n in names:
        try:
            client.images.Delete(pb.DeleteImageRequest(name=n, sync=sync))
        except Exception as e:
            msg = describe(e, client.address)
            if msg is None:
                raise
            if grpc_code(e) == "NOT_FOUND":
                err.write(f"WARN: {n}: image not found\n")  # ctr only warns about a missing image
                continue
            err.write(f"ctr: unable to delete {n}: {msg}\n")
            failed = True
            continue
        out.write(n + "\n")
    return 1 if failed else 0


def tag(client: Client, source: str, targets: Sequence[str], out: TextIO, *, force: bool = False) -> int:
    if not targets:
        raise CommandError("target image reference must be provided")
    pb = _pb()
    src = get(client, source)
    for t in targets:
        img = pb.Image(name=t, target=src.target, labels=dict(src.labels))
        try:
            client.images.Create(pb.CreateImageRequest(image=img))
        except Exception as e:
            if not (force and grpc_code(e) == "ALREADY_EXISTS"):
                raise
            client.images.Delete(pb.DeleteImageRequest(name=t))
            client.images.Create(pb.CreateImageRequest(image=img))
        out.write(t + "\n")
    return 0


def save_record(client: Client, name: str, target: oci.Descriptor, labels: dict[str, str] | None = None) -> None:
    """Create the image record, or point an existing one at ``target`` (what ctr's pull does)."""
    from google.protobuf import field_mask_pb2

    from seabox.api.gen.containerd.api.types import descriptor_pb2

    pb = _pb()
    desc = descriptor_pb2.Descriptor(media_type=target.media_type, digest=target.digest, size=target.size)
    img = pb.Image(name=name, target=desc, labels=labels or {})
    try:
        client.images.Create(pb.CreateImageRequest(image=img))
    except Exception as e:
        if grpc_code(e) != "ALREADY_EXISTS":
            raise
        paths = ["target"] + ([f"labels.{k}" for k in labels] if labels else [])
        client.images.Update(pb.UpdateImageRequest(image=img, update_mask=field_mask_pb2.FieldMask(paths=paths)))


# -- unpack ------------------------------------------------------------------------------------


def snapshot_exists(client: Client, snapshotter: str, key: str) -> bool:
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb

    try:
        client.snapshots.Stat(spb.StatSnapshotRequest(snapshotter=snapshotter, key=key))
        return True
    except Exception as e:
        if grpc_code(e) == "NOT_FOUND":
            return False
        raise


def unpack(client: Client, r: Resolved, *, snapshotter: str = DEFAULT_SNAPSHOTTER) -> str:
    """Apply ``r``'s layers as committed snapshots named by chain ID; returns the top chain ID."""
    from seabox.api.gen.containerd.api.services.diff.v1 import diff_pb2 as dpb
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.api.gen.containerd.api.types import descriptor_pb2

    chains = r.chain_ids
    diff_ids = list(r.config.diff_ids)
    if len(diff_ids) != len(r.manifest.layers):
        raise errdefs.InvalidArgument(errdefs.subject("image", r.name, "config and manifest disagree on the layer count"))
    store = RemoteStore(client)
    for i, chain in enumerate(chains):
        if snapshot_exists(client, snapshotter, chain):
            continue
        parent = chains[i - 1] if i else ""
        key = f"extract-{time.time_ns() % 1_000_000_000}-{os.urandom(4).hex()} {chain}"
        prep = client.snapshots.Prepare(
            spb.PrepareSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent, labels={SNAPSHOT_REF_LABEL: chain})
        )
        try:
            ld = r.manifest.layers[i]
            applied = client.diff.Apply(
                dpb.ApplyRequest(
                    diff=descriptor_pb2.Descriptor(media_type=ld.media_type, digest=ld.digest, size=ld.size),
                    mounts=list(prep.mounts),
                )
            ).applied
            if applied.digest != diff_ids[i]:
                raise errdefs.FailedPrecondition(
                    errdefs.subject("layer", ld.digest, f"wrong diff id calculated on extraction {applied.digest!r}")
                )
            try:
                client.snapshots.Commit(spb.CommitSnapshotRequest(snapshotter=snapshotter, name=chain, key=key))
            except Exception as e:
                if grpc_code(e) != "ALREADY_EXISTS":
                    raise
                client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key))
        except BaseException:
            with contextlib.suppress(Exception):
                client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key))
            raise
        store.update_labels(r.manifest.layers[i].digest, {"containerd.io/uncompressed": diff_ids[i]})
    top = chains[-1] if chains else ""
    if top:
        store.update_labels(r.manifest.config.digest, {GC_SNAPSHOT_LABEL + snapshotter: top})
    return top


def is_unpacked(client: Client, r: Resolved, snapshotter: str = DEFAULT_SNAPSHOTTER) -> bool:
    chains = r.chain_ids
    return not chains or snapshot_exists(client, snapshotter, chains[-1])


# -- pull --------------------------------------------------------------------------------------


@dataclass
class PullOptions:
    ref: str
    user: str = ""
    plain_http: bool = False
    skip_verify: bool = False
    hosts_dir: str = ""
    platform: str = ""
    all_platforms: bool = False
    snapshotter: str = DEFAULT_SNAPSHOTTER
    labels: dict[str, str] = field(default_factory=dict)
    print_chainid: bool = False
    max_concurrent_downloads: int = 3
    unpack: bool = True


def credentials_from(user: str, prompt: Callable[[str], str] = getpass.getpass) -> Callable[[str], tuple[str, str] | None] | None:
    """``--user USER[:PASS]`` as a credentials callback (prompting for a missing password, as ctr does)."""
    if not user:
        return None
    name, sep, password = user.partition(":")
    if not sep:
        password = prompt("Password: ")
    return lambda host: (name, password)


def hosts_dir(explicit: str) -> str | None:
    if explicit:
        return explicit
    for d in HOSTS_DIRS:
        if Path(d).is_dir():
            return d
    return None


class _Progress:
    """Collects pull events and prints ctr's status table (once at the end unless on a TTY)."""

    def __init__(self, ref: str, out: TextIO) -> None:
        self.ref = ref
        self.out = out
        self.lock = threading.Lock()
        self.order: list[str] = []
        self.state: dict[str, tuple[str, int, int]] = {}
        self.start = time.monotonic()
        self.resolved = False

    def __call__(self, ev: Any) -> None:
        with self.lock:
            if ev.kind == "resolved":
                self.resolved = True
                self._set(f"{oci_kind(ev.media_type)}-{ev.digest}", "done", ev.total, ev.total)
                return
            key = f"{oci_kind(ev.media_type)}-{ev.digest}"
            status = {
                "downloading": "downloading", "verifying": "downloading", "extracting": "done",
                "done": "done", "already-exists": "exists",
            }.get(ev.kind, ev.kind)  # fmt: skip
            if ev.kind == "already-exists" and key in self.state and self.state[key][0] == "done":
                return
            if ev.kind == "verifying":
                status = "done"
            self._set(key, status, ev.current, ev.total)

    def mark_done(self, d: oci.Descriptor) -> None:
        """Manifests and configs are fetched whole (no events of their own): show them done."""
        with self.lock:
            key = f"{oci_kind(d.media_type)}-{d.digest}"
            if key not in self.state:
                self._set(key, "done", d.size, d.size)

    def _set(self, key: str, status: str, cur: int, total: int) -> None:
        if key not in self.state:
            self.order.append(key)
        self.state[key] = (status, cur, total)

    def render(self) -> str:
        lines = [f"{self.ref}:\tresolved\t|{'+' * 40}|\t"]
        total = 0
        for key in self.order:
            status, cur, size = self.state[key]
            if status in ("done", "exists"):
                bar = "+" * 40
                total += size if status == "done" else 0
            else:
                filled = int(40 * cur / size) if size else 0
                bar = "+" * filled + "-" * (40 - filled)
            lines.append(f"{key}:\t{status}\t|{bar}|\t")
        elapsed = time.monotonic() - self.start
        rate = human_bytes(total / elapsed if elapsed > 0 else 0)
        lines.append(f"elapsed: {elapsed:<4.1f}s\ttotal: {human_bytes(total):>7}\t({rate}/s)\t")
        return tabwrite(lines)


def oci_kind(media_type: str) -> str:
    if oci.is_index(media_type):
        return "index"
    if oci.is_manifest(media_type):
        return "manifest"
    if media_type in oci.CONFIG_TYPES:
        return "config"
    return "layer"


def pull(client: Client, opts: PullOptions, out: TextIO, *, prompt: Callable[[str], str] = getpass.getpass) -> int:
    from seabox.ctr import leases
    from seabox.images.pull import pull as do_pull
    from seabox.oci import reference as references

    if not opts.ref:
        raise CommandError("please provide an image reference to pull")
    ref = references.parse_with_default_tag(opts.ref)
    name = str(ref)
    progress = _Progress(name, out)
    creds = credentials_from(opts.user, prompt)
    platform: str | None = "all" if opts.all_platforms else (opts.platform or None)
    store = RemoteStore(client)
    with leases.temporary(client):
        try:
            img = do_pull(
                ref,
                content_store=store,
                snapshotter=None,
                hosts_dir=hosts_dir(opts.hosts_dir),
                credentials=creds,
                platform=platform,
                progress=progress,
                plain_http=True if opts.plain_http else None,
                skip_verify=opts.skip_verify,
                max_concurrent_downloads=max(1, opts.max_concurrent_downloads),
            )
        except BaseException:
            if progress.resolved:
                out.write(progress.render())
                out.flush()
            raise
        for d in (img.manifest_descriptor, img.manifest.config):
            progress.mark_done(d)
        out.write(progress.render())
        out.flush()
        save_record(client, name, img.target, opts.labels or None)
        if opts.unpack:
            started = time.monotonic()
            plat = str(img.platform)
            out.write(f"unpacking {plat} {img.target.digest}...\n")
            out.flush()
            r = Resolved(name, img.target, img.manifest_descriptor, img.manifest, img.config)
            top = unpack(client, r, snapshotter=opts.snapshotter)
            if opts.print_chainid:
                out.write(f"image chain ID: {top}\n")
            out.write(f"done: {(time.monotonic() - started) * 1000:.6g}ms\t\n")
    return 0


def ensure_unpacked(client: Client, name: str, *, snapshotter: str = DEFAULT_SNAPSHOTTER, platform: str | None = None) -> Resolved:
    """The image ``name`` resolved for this host, unpacked for ``snapshotter`` if it was not yet."""
    r = resolve(client, name, platform)
    if not is_unpacked(client, r, snapshotter):
        from seabox.ctr import leases

        with leases.temporary(client):
            unpack(client, r, snapshotter=snapshotter)
    return r


# -- push --------------------------------------------------------------------------------------


def push(
    client: Client, remote: str, local: str, out: TextIO, *, user: str = "", plain_http: bool = False,
    skip_verify: bool = False, hosts_dir_: str = "", platform: str = "",
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:  # fmt: skip
    from seabox.images.push import push as do_push
    from seabox.images.registry.client import RegistryClient
    from seabox.oci import reference as references

    img = get(client, local or remote)
    store = RemoteStore(client)
    creds = credentials_from(user, prompt)
    rc = RegistryClient(
        hosts_dir=hosts_dir(hosts_dir_), credentials=creds, plain_http=True if plain_http else None, skip_verify=skip_verify
    )
    started = time.monotonic()
    try:
        do_push(references.parse_with_default_tag(remote), _desc(img.target), content_store=store, client=rc)
    finally:
        rc.close()
    out.write(f"{references.parse_with_default_tag(remote)}: pushed\nelapsed: {time.monotonic() - started:.1f} s\n")
    return 0


# -- mount / unmount ---------------------------------------------------------------------------


def mount(client: Client, name: str, target: str, out: TextIO, *, snapshotter: str = DEFAULT_SNAPSHOTTER,
          rw: bool = False, platform: str | None = None) -> int:  # fmt: skip
    """Unpack if needed, prepare (rw) or view a snapshot keyed by ``target`` and mount it there."""
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.ctr import snapshots

    r = ensure_unpacked(client, name, snapshotter=snapshotter, platform=platform)
    parent = r.chain_ids[-1] if r.chain_ids else ""
    key = target
    if rw:
        mounts = client.snapshots.Prepare(spb.PrepareSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)).mounts
    else:
        mounts = client.snapshots.View(spb.ViewSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)).mounts
    try:
        snapshots.mount_all(list(mounts), target)
    except BaseException:
        with contextlib.suppress(Exception):
            client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key))
        raise
    out.write(target + "\n")
    return 0


def unmount(client: Client, target: str, out: TextIO, *, snapshotter: str = DEFAULT_SNAPSHOTTER, rm: bool = False) -> int:
    from seabox.api.gen.containerd.api.services.snapshots.v1 import snapshots_pb2 as spb
    from seabox.ctr import snapshots

    snapshots.unmount_all(target)
    if rm:
        client.snapshots.Remove(spb.RemoveSnapshotRequest(snapshotter=snapshotter, key=target))
    out.write(target + "\n")
    return 0
