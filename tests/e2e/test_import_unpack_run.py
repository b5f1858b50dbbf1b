"""The whole local path of an image with no registry: a docker-save archive (written by seabox's own
export of the fixture layout) is imported, unpacked into overlay snapshots by chain ID, a container
snapshot is mounted and busybox runs from it (chroot), the container's change comes back as a layer,
and GC keeps everything while the image exists and removes it all afterwards."""

import gzip
import io
import os
import subprocess
import tarfile

import pytest

from seabox.content import ContentStore
from seabox.images import gc
from seabox.images.archive import ArchiveImage, export_docker, import_archive
from seabox.images.pull import unpack
from seabox.oci import image as oci
from seabox.oci.image import Platform
from seabox.snapshots import mount_all, unmount
from seabox.snapshots.diff import write_diff
from seabox.snapshots.overlay import OverlaySnapshotter

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def tar_dir(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in sorted(os.listdir(path)):
            tf.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def test_import_unpack_run_gc(tmp_path, fixtures_info):
    # a docker-save archive of busybox, written by seabox from the fixture OCI layout
    src = ContentStore(tmp_path / "src")
    layout_images = import_archive(io.BytesIO(tar_dir(fixtures_info["layouts"]["busybox"])), src)
    multi = next(i for i in layout_images if i.ref_name == "multi")
    archive = io.BytesIO()
    export_docker([ArchiveImage("docker.io/library/sbt-e2e:1", multi.target)], src, archive,
                  platform=Platform("linux", "amd64"))

    store = ContentStore(tmp_path / "content")
    snaps = OverlaySnapshotter(tmp_path / "overlay")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mounted = False
    try:
        [img] = import_archive(io.BytesIO(archive.getvalue()), store)
        assert img.name == "docker.io/library/sbt-e2e:1"
        manifest = oci.parse_manifest(store.read_bytes(img.target.digest), media_type=img.target.media_type)
        config = oci.parse_config(store.read_bytes(manifest.config.digest))
        top = unpack(manifest, config, store=store, snapshotter=snaps, name=img.name)
        assert top == oci.chain_ids(config.diff_ids)[-1]
        store.update_labels(manifest.config.digest, {"containerd.io/gc.ref.snapshot.overlayfs": top})

        mount_all(snaps.prepare("sbt-ctr", top), rootfs)
        mounted = True
        r = subprocess.run(["/bin/busybox", "sh", "-c", "echo ok > /hello; cat /hello; rm /etc/group"],
                           preexec_fn=lambda: (os.chroot(str(rootfs)), os.chdir("/")),
                           capture_output=True, env={"PATH": "/bin"})
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"ok\n"
        unmount(rootfs)
        mounted = False

        buf = io.BytesIO()
        d = write_diff(None, snaps.upper_dir("sbt-ctr"), buf)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(buf.getvalue()))) as tf:
            assert sorted(tf.getnames()) == ["etc", "etc/.wh.group", "hello"]
        assert d.media_type == oci.OCI_LAYER_GZIP

        images = {img.name: img.target.digest}
        containers = [gc.ContainerRef("sbt-ctr", "overlayfs", "sbt-ctr")]
        res = gc.run(store, {"overlayfs": snaps}, images=images, containers=containers)
        assert res.content == [] and res.snapshots == [] and res.errors == []
        # the container goes: its snapshot too, the image's chain stays
        res = gc.run(store, {"overlayfs": snaps}, images=images)
        assert res.snapshots == [("overlayfs", "sbt-ctr")] and res.content == []
        # the image goes: blobs and snapshots all go
        res = gc.run(store, {"overlayfs": snaps}, images={})
        assert res.errors == []
        assert store.list() == [] and list(snaps.walk()) == []
        assert os.listdir(snaps.snapshots_dir) == []
    finally:
        if mounted:
            unmount(rootfs, detach=True)
        snaps.close()
