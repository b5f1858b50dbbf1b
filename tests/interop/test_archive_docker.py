"""Archives against real peers: Debian's dockerd loads and runs what ``export_docker`` writes and
seabox imports what ``docker save`` writes; skopeo reads ``export_oci`` output and seabox imports
what ``skopeo copy`` writes; Debian's containerd (``ctr images import/export``) both ways.

The peers come from ``seabox.testing.peers``: dockerd on temp ``--data-root``/``--exec-root``/
socket/pidfile with no bridge, iptables, forwarding or masquerading, its own managed containerd and
a unique cgroup parent; containerd on a temp root/state/socket and a unique namespace.  Teardown
stops them and removes leftover processes, mounts, cgroups and the temp trees even when a test fails.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.content import ContentStore
from seabox.images.archive import ArchiveImage, export_docker, export_oci, import_archive
from seabox.oci import image as oci
from seabox.oci.image import Platform
from seabox.testing import peers

pytestmark = [pytest.mark.interop]


def _tar_dir(path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in sorted(os.listdir(path)):
            tf.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peers.Dockerd]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with peers.dockerd(tmp_path_factory.mktemp("dk") / "d") as d:
        yield d


@pytest.fixture
def busybox(tmp_path, fixtures_info):
    """The fixture busybox layout imported into a fresh store: (store, its images)."""
    store = ContentStore(tmp_path / "content")
    images = import_archive(io.BytesIO(_tar_dir(fixtures_info["layouts"]["busybox"])), store)
    return store, images


@pytest.mark.root
def test_export_loads_and_runs_in_dockerd(dockerd, busybox, tmp_path):
    store, images = busybox
    multi = next(i for i in images if i.ref_name == "multi")
    name = f"sbt-busybox-{secrets.token_hex(4)}"
    out = tmp_path / "export.tar"
    with open(out, "wb") as f:
        export_docker([ArchiveImage(f"docker.io/library/{name}:latest", multi.target)], store, f,
                      platform=Platform("linux", "amd64"))
    r = dockerd.docker("load", "-i", str(out))
    assert f"Loaded image: {name}:latest" in r.stdout, r
    try:
        r = dockerd.docker("run", "--rm", "--network", "none", f"{name}:latest", "echo", "ok")
        assert r.stdout.strip() == "ok"
        # docker keeps the config byte for byte: its image ID is our config digest
        amd = oci.parse_manifest(store.read_bytes(next(i for i in images if i.ref_name == "amd64").target.digest))
        image_id = dockerd.docker("image", "inspect", "-f", "{{.Id}}", f"{name}:latest").stdout.strip()
        assert image_id == amd.config.digest
        # and what docker saves, seabox imports (legacy layout with layer.tar files)
        saved = tmp_path / "saved.tar"
        dockerd.docker("save", "-o", str(saved), f"{name}:latest")
        other = ContentStore(tmp_path / "other")
        [img] = import_archive(str(saved), other)
        assert img.name == f"docker.io/library/{name}:latest"
        man = oci.parse_manifest(other.read_bytes(img.target.digest))
        assert man.media_type == oci.DOCKER_MANIFEST and man.config.digest == amd.config.digest
    finally:
        dockerd.docker("rmi", "-f", f"{name}:latest", check=False)


def test_skopeo_made_oci_archive_imports(tmp_path, fixtures_info):
    layout = fixtures_info["layouts"]["busybox"]
    single = tmp_path / "single.tar"
    multi = tmp_path / "multi.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:amd64", f"oci-archive:{single}"], check=True)
    subprocess.run(["skopeo", "copy", "-q", "--multi-arch", "all", f"oci:{layout}:multi",
                    f"oci-archive:{multi}:busybox:multi"], check=True)
    store = ContentStore(tmp_path / "content")
    [a] = import_archive(str(single), store)
    assert a.name == "" and a.target.media_type == oci.OCI_MANIFEST
    [m] = import_archive(str(multi), store)
    assert m.name == "docker.io/library/busybox:multi" and m.target.media_type == oci.OCI_INDEX
    idx = json.loads(Path(layout, "index.json").read_text())
    want = {d["annotations"]["org.opencontainers.image.ref.name"]: d["digest"] for d in idx["manifests"]}
    assert a.target.digest == want["amd64"] and m.target.digest == want["multi"]
    for info in store.list():
        assert Path(layout, "blobs", "sha256", info.digest[7:]).exists()


def test_skopeo_reads_export_oci(tmp_path, busybox):
    store, images = busybox
    multi = next(i for i in images if i.ref_name == "multi")
    out = tmp_path / "oci.tar"
    with open(out, "wb") as f:
        export_oci([ArchiveImage("docker.io/library/busybox:multi", multi.target)], store, f)
    r = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}"], capture_output=True, check=True)
    assert json.loads(r.stdout)["mediaType"] == oci.OCI_INDEX
    dest = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", "-q", "--multi-arch", "all", f"oci-archive:{out}", f"oci:{dest}:x"],
                   check=True)
    copied = json.loads((dest / "index.json").read_text())["manifests"][0]["digest"]
    assert copied == multi.target.digest


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[peers.Containerd]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with peers.containerd(tmp_path / "ctd") as c:
        yield c


@pytest.mark.root
@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_containerd_imports_our_export_and_we_import_its_export(containerd, busybox, tmp_path, kind):
    store, images = busybox
    multi = next(i for i in images if i.ref_name == "multi")
    name = f"docker.io/library/sbt-ctd-{kind}:1"
    out = tmp_path / "ours.tar"
    with open(out, "wb") as f:
        if kind == "oci":
            export_oci([ArchiveImage(name, multi.target)], store, f)
        else:
            export_docker([ArchiveImage(name, multi.target)], store, f, platform=Platform("linux", "amd64"))
    containerd.ctr("images", "import", "--all-platforms" if kind == "oci" else "--no-unpack", str(out))
    listed = containerd.ctr("images", "ls").stdout
    assert name in listed, listed
    if kind == "oci":
        assert multi.target.digest in listed  # the index itself, not a re-made manifest
        containerd.ctr("images", "check")
    theirs = tmp_path / "theirs.tar"
    containerd.ctr("images", "export", *(["--all-platforms"] if kind == "oci" else []), str(theirs), name)
    other = ContentStore(tmp_path / "other")
    back = import_archive(str(theirs), other)
    assert [i.name for i in back] == [name]
    if kind == "oci":
        assert back[0].target.digest == multi.target.digest
        assert len(other.list()) == 7


@pytest.mark.root
def test_zstd_image_loads_and_runs_in_dockerd(dockerd, tmp_path, fixtures_info):
    store = ContentStore(tmp_path / "content")
    [img] = [i for i in import_archive(io.BytesIO(_tar_dir(fixtures_info["layouts"]["busybox-zstd"])), store)
             if oci.is_manifest(i.target.media_type)][:1]
    man = oci.parse_manifest(store.read_bytes(img.target.digest))
    assert man.layers[0].media_type == oci.OCI_LAYER_ZSTD
    name = f"sbt-busybox-zstd-{secrets.token_hex(4)}"
    out = tmp_path / "export.tar"
    with open(out, "wb") as f:
        export_docker([ArchiveImage(f"docker.io/library/{name}:latest", img.target)], store, f,
                      platform=Platform("linux", "amd64"))
    dockerd.docker("load", "-i", str(out))
    try:
        r = dockerd.docker("run", "--rm", "--network", "none", f"{name}:latest", "echo", "ok")
        assert r.stdout.strip() == "ok"
    finally:
        dockerd.docker("rmi", "-f", f"{name}:latest", check=False)
