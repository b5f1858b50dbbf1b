"""Debian's containerd (1.6) runs containers through seabox-runc (``ctr run --runc-binary``).

containerd runs on its own temp root/state/socket with the CRI plugin disabled; the
image is an OCI archive built here from the busybox rootfs of ``seabox.testing.bundle`` (no registry, no
fixtures needed) and imported with ``ctr images import``.  Covered: detached run,
exec, kill, delete, exit codes through ``ctr run --rm``, and a TTY driven through a
pty.  Teardown kills what is left, stops containerd and removes its mounts, cgroups,
shim sockets and temp dirs even when a test fails.

``SEABOX_INTEROP_RUNTIME=/usr/sbin/runc`` runs the same checks against runc (to tell
a test bug from a seabox bug).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import pty
import secrets
import select
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
IMAGE = "docker.io/library/sbt-busybox:latest"


# -- a busybox OCI image built from the host's static busybox --------------------------------


def _blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def busybox_layer(work: Path) -> bytes:
    """An uncompressed layer tar of the busybox root filesystem the runtime tests use."""
    rootfs = make_busybox_rootfs(work / "layer-rootfs")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(rootfs)
    return buf.getvalue()


def build_oci_layout(layout: Path, ref_name: str = "latest", image_name: str = IMAGE) -> Path:
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = busybox_layer(layout.parent)
    layer = _blob(blobs, gzip.compress(raw, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
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
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **man,
                "annotations": {
                    "io.containerd.image.name": image_name,
                    "org.opencontainers.image.ref.name": ref_name,
                },
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return layout


def oci_archive(layout: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(layout / name, arcname=name)
    return out


# -- containerd on its own dirs -----------------------------------------------------------------


@dataclass
class Containerd:
    tmp: Path
    address: str
    namespace: str
    runc_root: Path
    proc: subprocess.Popen

    def ctr(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["ctr", "--address", self.address, "--namespace", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}\n{self.log()}")
        return res

    def run_args(self) -> list[str]:
        return ["--runc-binary", RUNTIME, "--runc-root", str(self.runc_root)]

    def log(self) -> str:
        try:
            return (self.tmp / "containerd.log").read_text()[-3000:]
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


def _cgroup_dirs(name: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    return [p for p in base.glob(f"*/{name}")] + [p for p in base.glob(f"*/*/{name}")]


def _rm_cgroup_tree(path: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def _pids_with(needle: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd and int(d.name) != os.getpid():
            out.append(int(d.name))
    return out


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    if not Path(RUNTIME).exists():
        pytest.fail(f"{RUNTIME} is missing: run scripts/setup.sh")
    tmp = tmp_path_factory.mktemp("ctrd")
    ns = f"sbt-{secrets.token_hex(4)}"
    address = str(tmp / "c.sock")
    had_run_containerd = Path("/run/containerd").exists()
    config = f"""
version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{address}"
[ttrpc]
  address = "{address}.ttrpc"
[debug]
  address = "{tmp}/debug.sock"
  level = "info"
[metrics]
  address = ""
"""
    (tmp / "config.toml").write_text(config)
    log = open(tmp / "containerd.log", "w")  # noqa: SIM115 (closed in the teardown)
    proc = subprocess.Popen(
        ["containerd", "--config", str(tmp / "config.toml")], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    c = Containerd(tmp=tmp, address=address, namespace=ns, runc_root=tmp / "runc-root", proc=proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"containerd exited {proc.returncode}:\n{c.log()}")
            if Path(address).exists() and c.ctr("version", check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"containerd did not come up:\n{c.log()}")
            time.sleep(0.1)
        layout = build_oci_layout(tmp / "layout")
        c.ctr("images", "import", str(oci_archive(layout, tmp / "busybox-oci.tar")), timeout=120)
        yield c
    finally:
        # tasks and containers first (their shims), then the daemon, then what they leave behind
        res = c.ctr("task", "ls", "-q", check=False) if proc.poll() is None else None
        for tid in (res.stdout.split() if res else []):
            c.ctr("task", "kill", "-s", "SIGKILL", tid, check=False)
            time.sleep(0.2)
            c.ctr("task", "delete", "-f", tid, check=False)
        res = c.ctr("containers", "ls", "-q", check=False) if proc.poll() is None else None
        for cid in (res.stdout.split() if res else []):
            c.ctr("containers", "delete", cid, check=False)
        if proc.poll() is None:
            c.ctr("images", "rm", IMAGE, check=False)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        for pid in _pids_with(address):  # orphaned shims
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mp in sorted(_mounts_under(str(tmp)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        for d in _cgroup_dirs(ns):
            _rm_cgroup_tree(d)
        shutil.rmtree(Path("/run/containerd/runc") / ns, ignore_errors=True)
        if not had_run_containerd:
            shutil.rmtree("/run/containerd", ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _cid() -> str:
    return f"sbt-{secrets.token_hex(4)}"


# -- the tests ---------------------------------------------------------------------------------


def test_detached_exec_kill_delete(containerd: Containerd) -> None:
    c = containerd
    cid = _cid()
    script = "trap 'exit 0' TERM; echo started > /tmp/up; while true; do sleep 0.1; done"
    c.ctr("run", "-d", *c.run_args(), IMAGE, cid, "sh", "-c", script)
    try:
        tasks = c.ctr("task", "ls").stdout
        assert cid in tasks and "RUNNING" in tasks.split(cid, 1)[1].splitlines()[0]
        deadline = time.monotonic() + 10
        out = ""
        while time.monotonic() < deadline:
            out = c.ctr("task", "exec", "--exec-id", "e1", cid, "cat", "/tmp/up", check=False).stdout
            if "started" in out:
                break
            time.sleep(0.2)
        assert out.strip() == "started"
        res = c.ctr("task", "exec", "--exec-id", "e2", cid, "sh", "-c", "hostname; id -u; exit 5", check=False)
        assert res.returncode == 5, res.stderr
        assert res.stdout.split()[1] == "0"
        c.ctr("task", "pause", cid)  # the shim calls `<runtime> pause`
        line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
        assert line and "PAUSED" in line[0], line
        c.ctr("task", "resume", cid)
        line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
        assert line and "RUNNING" in line[0], line
        c.ctr("task", "kill", cid)  # SIGTERM: the trap exits 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = [ln for ln in c.ctr("task", "ls").stdout.splitlines() if ln.startswith(cid)]
            if not line or "STOPPED" in line[0]:
                break
            time.sleep(0.2)
        assert line and "STOPPED" in line[0], line
        c.ctr("task", "delete", cid)
        assert cid not in c.ctr("task", "ls").stdout
    finally:
        c.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        c.ctr("task", "delete", "-f", cid, check=False)
        c.ctr("containers", "delete", cid, check=False)
    assert not _cgroup_dirs(cid), "the container's cgroups were left behind"


def test_exit_codes(containerd: Containerd) -> None:
    c = containerd
    for code in (0, 7):
        cid = _cid()
        res = c.ctr("run", "--rm", *c.run_args(), IMAGE, cid, "sh", "-c", f"echo out-{code}; exit {code}", check=False)
        assert res.returncode == code, res.stderr
        assert res.stdout.strip() == f"out-{code}"
        assert cid not in c.ctr("containers", "ls", "-q").stdout


def test_tty(containerd: Containerd) -> None:
    c = containerd
    cid = _cid()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(
            "ctr",
            ["ctr", "--address", c.address, "--namespace", c.namespace, "run", "-t", "--rm", *c.run_args(), IMAGE, cid, "sh"],
        )
    out = b""
    try:
        os.write(fd, b"tty; echo calc-$((6*7)); exit 3\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
        c.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        c.ctr("task", "delete", "-f", cid, check=False)
        c.ctr("containers", "delete", cid, check=False)
    text = out.decode(errors="replace")
    assert "calc-42" in text, text
    assert "/dev/pts/0" in text, text  # the shell's stdin is the container's console
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, (status, text)


def test_containerd_default_seccomp_profile(containerd: Containerd) -> None:
    """``ctr run --seccomp`` puts containerd's default profile (300+ syscalls, arg filters) in the spec."""
    c = containerd
    cid = _cid()
    script = "echo allowed; unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-blocked"
    res = c.ctr("run", "--rm", "--seccomp", *c.run_args(), IMAGE, cid, "sh", "-c", script, check=False)
    assert res.returncode == 0, res.stderr
    # the profile refuses unshare(CLONE_NEWUSER) to a container without CAP_SYS_ADMIN
    assert res.stdout.split() == ["allowed", "unshare-blocked"], res.stdout
    # ... which the kernel alone would allow: the same command without the profile
    res = c.ctr("run", "--rm", *c.run_args(), IMAGE, _cid(), "sh", "-c", script, check=False)
    assert res.stdout.split() == ["allowed", "unshare-allowed"], res.stdout
