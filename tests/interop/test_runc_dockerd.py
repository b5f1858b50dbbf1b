"""Debian's dockerd (20.10) runs containers with seabox-runc registered as an extra runtime.

dockerd gets its own temp --data-root/--exec-root/socket/pidfile, its own managed
containerd (under the exec root), a unique --cgroup-parent, and no host networking
(--bridge=none, --iptables=false, --ip-forward=false, --ip-masq=false); containers run
with --network none.  The image is a docker-archive made with skopeo from an OCI layout
built here from the busybox rootfs of ``seabox.testing.bundle``.  Teardown removes containers, stops dockerd
and its containerd, unmounts whatever is left under the temp dirs and removes them.

``SEABOX_INTEROP_RUNTIME=/usr/sbin/runc`` runs the same checks against runc.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.testing.bundle import make_busybox_rootfs

pytestmark = [pytest.mark.root, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
RUNTIME = os.environ.get("SEABOX_INTEROP_RUNTIME", str(REPO / ".venv" / "bin" / "seabox-runc"))
IMAGE = "sbt-busybox:latest"


def _blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(work: Path) -> bytes:
    rootfs = make_busybox_rootfs(work / "layer-rootfs")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(rootfs)
    return buf.getvalue()


def docker_archive(tmp: Path) -> Path:
    """An OCI layout of a busybox image, converted by skopeo into a docker-archive tarball."""
    layout = tmp / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = _layer(tmp)
    layer = _blob(blobs, gzip.compress(raw, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    cfg = _blob(blobs, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    man = _blob(blobs, json.dumps(manifest).encode())
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        **man,
                        "annotations": {"org.opencontainers.image.ref.name": "latest"},
                    }
                ],
            }
        )
    )
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    out = tmp / "busybox-docker.tar"
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}:latest", f"docker-archive:{out}:{IMAGE}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


@dataclass
class Dockerd:
    tmp: Path
    host: str
    proc: subprocess.Popen
    cgroup_parent: str

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}\n{self.log()}")
        return res

    def log(self) -> str:
        try:
            return (self.tmp / "dockerd.log").read_text()[-3000:]
        except OSError:
            return ""


def _mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


def _pids_with(needle: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmd:
                out.append(int(d.name))
    return out


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    if not Path(RUNTIME).exists():
        pytest.fail(f"{RUNTIME} is missing: run scripts/setup.sh")
    tmp = tmp_path_factory.mktemp("dockerd")
    parent = f"sbt-{secrets.token_hex(4)}"
    data_root, exec_root = tmp / "data", Path(f"/run/sbt-docker-{secrets.token_hex(4)}")  # short: socket paths
    host = f"unix://{tmp}/docker.sock"
    existed = {
        p: Path(p).exists() for p in ("/etc/docker/key.json", "/run/containerd", "/var/lib/docker", "/run/docker")
    }
    (tmp / "daemon.json").write_text("{}")
    log = open(tmp / "dockerd.log", "w")  # noqa: SIM115 (closed in the teardown)
    proc = subprocess.Popen(
        [
            "dockerd", "--config-file", str(tmp / "daemon.json"), "--data-root", str(data_root),
            "--exec-root", str(exec_root), "-H", host, "--pidfile", str(tmp / "dockerd.pid"),
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
            "--userland-proxy=false", "--cgroup-parent", f"/{parent}", "--exec-opt", "native.cgroupdriver=cgroupfs",
            "--add-runtime", f"seabox={RUNTIME}", "--storage-driver", "overlay2",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    d = Dockerd(tmp=tmp, host=host, proc=proc, cgroup_parent=parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited {proc.returncode}:\n{d.log()}")
            if d.docker("version", check=False, timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd did not come up:\n{d.log()}")
            time.sleep(0.2)
        d.docker("load", "-i", str(docker_archive(tmp)))
        yield d
    finally:
        if proc.poll() is None:
            ids = d.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                d.docker("rm", "-f", *ids, check=False, timeout=60)
            d.docker("rmi", "-f", IMAGE, check=False, timeout=30)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        for pid in _pids_with(str(exec_root)) + _pids_with(str(data_root)):  # containerd, shims
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        for root in (data_root, exec_root, tmp):
            for mp in sorted(_mounts_under(str(root)), key=len, reverse=True):
                subprocess.run(["umount", "-l", mp], check=False)
        for cg in Path("/sys/fs/cgroup").glob(f"*/{parent}"):
            for dirpath, _d, _f in sorted(os.walk(cg), key=lambda t: -len(t[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        for p, was in existed.items():
            if not was:
                with contextlib.suppress(OSError):
                    if Path(p).is_dir():
                        shutil.rmtree(p)
                    else:
                        Path(p).unlink()
        shutil.rmtree(exec_root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_run_echo(dockerd: Dockerd) -> None:
    res = dockerd.docker("run", "--rm", "--runtime", "seabox", "--network", "none", IMAGE, "echo", "hi")
    assert res.stdout == "hi\n"


def test_exit_code(dockerd: Dockerd) -> None:
    res = dockerd.docker(
        "run", "--rm", "--runtime", "seabox", "--network", "none", IMAGE, "sh", "-c", "exit 7", check=False
    )
    assert res.returncode == 7, res.stderr


def _start_detached(dockerd: Dockerd) -> str:
    name = f"sbt-{secrets.token_hex(4)}"
    dockerd.docker(
        "run", "-d", "--name", name, "--runtime", "seabox", "--network", "none", "--memory", "64m", "--pids-limit", "50",
        IMAGE, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    )  # fmt: skip
    return name


def test_detached_stop(dockerd: Dockerd) -> None:
    name = _start_detached(dockerd)
    try:
        inspect = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert inspect["HostConfig"]["Runtime"] == "seabox"
        assert inspect["State"]["Running"] is True
        stats = json.loads(dockerd.docker("stats", "--no-stream", "--format", "{{json .}}", name).stdout)
        assert stats["MemUsage"].endswith("64MiB"), stats  # the limit, read back through `events --stats`
        assert stats["PIDs"] == "2", stats  # sh and sleep
        dockerd.docker("stop", "-t", "10", name)
        inspect = json.loads(dockerd.docker("inspect", name).stdout)[0]
        assert inspect["State"]["Running"] is False and inspect["State"]["ExitCode"] == 0
    finally:
        dockerd.docker("rm", "-f", name, check=False)


def test_exec(dockerd: Dockerd) -> None:
    name = _start_detached(dockerd)
    try:
        out = dockerd.docker("exec", name, "cat", "/proc/self/cgroup")
        assert f"pids:/{dockerd.cgroup_parent}/" in out.stdout, out.stdout
        res = dockerd.docker("exec", name, "sh", "-c", "exit 4", check=False)
        assert res.returncode == 4, res.stderr
    finally:
        dockerd.docker("rm", "-f", name, check=False)
