"""Archives against real peers: Debian's dockerd loads and runs what ``export_docker`` writes and
seabox imports what ``docker save`` writes; skopeo reads ``export_oci`` output and seabox imports
what ``skopeo copy`` writes; Debian's containerd (``ctr images import/export``) both ways.

dockerd runs on temp ``--data-root``/``--exec-root``/socket/pidfile with no bridge, iptables or
masquerading, and its own managed containerd; teardown stops both and removes leftover mounts and
the temp tree even when a test fails.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.content import ContentStore
from seabox.images.archive import ArchiveImage, export_docker, export_oci, import_archive
from seabox.oci import image as oci
from seabox.oci.image import Platform
from seabox.snapshots.mount import unmount

pytestmark = [pytest.mark.interop]


def _tar_dir(path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in sorted(os.listdir(path)):
            tf.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def _mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


class Dockerd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": str(base / "cli")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.base / "cli").mkdir()
        cfg = self.base / "daemon.json"
        cfg.write_text("{}")
        log = open(self.base / "dockerd.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["dockerd", "--config-file", str(cfg), "--data-root", str(self.base / "data"),
             "--exec-root", str(self.base / "exec"), "-H", f"unix://{self.sock}",
             "--pidfile", str(self.base / "dockerd.pid"), "--bridge=none", "--iptables=false",
             "--ip-masq=false", "--userland-proxy=false", "--storage-driver=overlay2", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("dockerd did not start:\n" + (self.base / "dockerd.log").read_text()[-3000:])

    def docker(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, check=check, input=input,
                              timeout=120)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                for cid in self.docker("ps", "-aq", check=False).stdout.decode().split():
                    self.docker("rm", "-f", cid, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # the managed containerd (and any shim) lives in our session; make sure it is gone
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for mp in sorted(_mounts_under(str(self.base)), key=len, reverse=True):
            with contextlib.suppress(OSError):
                unmount(mp, detach=True)


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = Path(tempfile.mkdtemp(prefix="sbt-dk-", dir="/tmp"))
    d = Dockerd(base)
    try:
        d.start()
        yield d
    finally:
        d.stop()
        shutil.rmtree(base, ignore_errors=True)


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
    assert f"Loaded image: {name}:latest" in r.stdout.decode(), r
    try:
        r = dockerd.docker("run", "--rm", "--network", "none", f"{name}:latest", "echo", "ok")
        assert r.stdout.decode().strip() == "ok"
        # docker keeps the config byte for byte: its image ID is our config digest
        amd = oci.parse_manifest(store.read_bytes(next(i for i in images if i.ref_name == "amd64").target.digest))
        image_id = dockerd.docker("image", "inspect", "-f", "{{.Id}}", f"{name}:latest").stdout.decode().strip()
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


class Containerd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.address = str(base / "c.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cfg = self.base / "config.toml"
        cfg.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        log = open(self.base / "containerd.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["containerd", "-c", str(cfg), "--root", str(self.base / "root"), "--state", str(self.base / "state"),
             "--address", self.address, "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.address) and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("containerd did not start:\n" + (self.base / "containerd.log").read_text()[-3000:])

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "-a", self.address, "-n", "sbt", *args], capture_output=True, check=check,
                              timeout=120)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for mp in sorted(_mounts_under(str(self.base)), key=len, reverse=True):
            with contextlib.suppress(OSError):
                unmount(mp, detach=True)


@pytest.fixture
def containerd() -> Iterator[Containerd]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = Path(tempfile.mkdtemp(prefix="sbt-ctd-", dir="/tmp"))
    c = Containerd(base)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


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
    listed = containerd.ctr("images", "ls").stdout.decode()
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
        assert r.stdout.decode().strip() == "ok"
    finally:
        dockerd.docker("rmi", "-f", f"{name}:latest", check=False)
