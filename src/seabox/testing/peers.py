"""Real peers (Debian's containerd and dockerd) started in a throw-away root for tests and benchmarks.

The one place that starts them: interop tests, seabox-ctr's oracle (``seabox.ctr.testing``) and
the benchmarks all come here, so that every peer gets the same isolation and the same clean-up.

A containerd gets its own root, state and socket under a temp dir and a namespace of its own;
a dockerd its own data root, a short exec root under /run, socket, pidfile, a unique cgroup
parent and no host networking (no bridge, iptables, forwarding or masquerading).  Everything
they leave (containers, shims, mounts, cgroups, /run/containerd/runc/<ns>, files dockerd
creates on the host) is removed when the context exits, even after a failure.

Also here: a busybox image (OCI layout, OCI archive, docker archive) built from the host's
static busybox, for peers to import without a registry or fixtures.

This is test code: it runs the real binaries (containerd, ctr, dockerd, docker, skopeo, umount)
on purpose, as oracles and anchors.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_DISABLED = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
]

# what dockerd creates on the host even with its own data and exec roots; removed if it was not there before
_DOCKERD_HOST_PATHS = ("/etc/docker/key.json", "/run/containerd", "/var/lib/docker", "/run/docker")


# -- finding and removing what a peer left -------------------------------------------------------


def mounts_under(prefix: str | Path) -> list[str]:
    """Mount points at or below ``prefix`` (this process's mount namespace)."""
    prefix = str(prefix)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


def pids_mentioning(needle: str) -> list[int]:
    """Processes (other than this one) whose command line contains ``needle``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            out.append(int(d.name))
    return out


def cgroup_dirs(name: str) -> list[Path]:
    """Cgroup directories called ``name`` at the top of the hierarchy (v2) or of a controller (v1)."""
    base = Path("/sys/fs/cgroup")
    return [*base.glob(name), *base.glob(f"*/{name}"), *base.glob(f"*/*/{name}")]


def remove_cgroups(name: str) -> None:
    for top in cgroup_dirs(name):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def unmount_under(*roots: Path) -> None:
    """Lazily unmount everything at or below ``roots``, deepest first (seabox's umount2, not umount(8))."""
    from seabox.snapshots.mount import unmount

    for root in roots:
        for mp in sorted(mounts_under(root), key=len, reverse=True):
            with contextlib.suppress(OSError):
                unmount(mp, detach=True)


def _start(argv: list[str], log_path: Path) -> subprocess.Popen:
    """Start a daemon in a session of its own (so its whole group can be signalled), logging to ``log_path``."""
    with open(log_path, "w") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(
    proc: subprocess.Popen, ready: Callable[[], bool], timeout: float, log: Callable[[], str]
) -> None:
    name = os.path.basename(str(proc.args[0]))  # type: ignore[index]
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode}: {log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not come up within {timeout}s: {log()}")
        time.sleep(0.05)


def _stop_group(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group of ``proc`` (a session leader); SIGKILL it after ``timeout``."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError):  # children that outlived it in its group
        os.killpg(proc.pid, signal.SIGKILL)


def _run(
    argv: list[str],
    *,
    check: bool,
    timeout: float,
    log: Callable[[], str],
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a peer's CLI; with ``check``, a failure raises with its stderr and the daemon's log tail."""
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, input=input)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()[-1000:]}\n{log()}")
    return res


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


# -- containerd -------------------------------------------------------------------------------


@dataclass
class Containerd:
    tmp: Path
    address: str
    namespace: str
    proc: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()  # more namespaces emptied (tasks, containers, images, cgroups) at exit

    @property
    def dir(self) -> Path:
        return self.tmp

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 120, namespace: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = ["ctr", "--address", self.address, "--namespace", namespace or self.namespace, *args]
        return _run(argv, check=check, timeout=timeout, log=self.log)

    def log(self) -> str:
        return _tail(self.tmp / "containerd.log")

    def empty_namespace(self, namespace: str | None = None) -> None:
        """Kill and delete every task and container and remove every image in ``namespace``."""
        ns = namespace or self.namespace
        tasks = self.ctr("task", "ls", "-q", check=False, namespace=ns).stdout.split()
        for tid in tasks:
            self.ctr("task", "kill", "-s", "SIGKILL", "--all", tid, check=False, namespace=ns)
        for tid in tasks:
            for _ in range(50):  # the task is deletable once its processes are reaped
                if self.ctr("task", "delete", "-f", tid, check=False, namespace=ns).returncode == 0:
                    break
                time.sleep(0.1)
        for cid in self.ctr("containers", "ls", "-q", check=False, namespace=ns).stdout.split():
            self.ctr("containers", "delete", cid, check=False, namespace=ns)
        for ref in self.ctr("images", "ls", "-q", check=False, namespace=ns).stdout.split():
            self.ctr("images", "rm", ref, check=False, namespace=ns)


@contextlib.contextmanager
def containerd(
    tmp: Path, *, namespace: str | None = None, namespaces: tuple[str, ...] = (), start_timeout: float = 30
) -> Iterator[Containerd]:
    """Run Debian's containerd rooted in ``tmp`` (which must be empty or absent).

    ``namespace`` (default: a fresh ``sbt-`` name) is what :meth:`Containerd.ctr` uses; it and
    ``namespaces`` are emptied and their cgroups removed at exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    ns = namespace or f"sbt-{secrets.token_hex(4)}"
    address = str(tmp / "c.sock")
    had_run_containerd = Path("/run/containerd").exists()
    disabled = ", ".join(f'"{p}"' for p in _DISABLED)
    (tmp / "config.toml").write_text(
        f'version = 2\nroot = "{tmp}/root"\nstate = "{tmp}/state"\ndisabled_plugins = [{disabled}]\n'
        f'[grpc]\n  address = "{address}"\n[ttrpc]\n  address = "{address}.ttrpc"\n'
        f'[debug]\n  address = "{tmp}/debug.sock"\n  level = "info"\n[metrics]\n  address = ""\n'
    )
    c = Containerd(tmp=tmp, address=address, namespace=ns, namespaces=tuple(n for n in namespaces if n != ns))
    try:
        c.proc = _start(["containerd", "--config", str(tmp / "config.toml")], tmp / "containerd.log")
        _wait_ready(
            c.proc,
            lambda: Path(address).exists() and c.ctr("version", check=False).returncode == 0,
            start_timeout,
            c.log,
        )
        yield c
    finally:
        _stop_containerd(c, had_run_containerd)


def _stop_containerd(c: Containerd, had_run_containerd: bool) -> None:
    all_ns = (c.namespace, *c.namespaces)
    if c.proc is not None:
        if c.proc.poll() is None:
            for ns in all_ns:
                with contextlib.suppress(Exception):
                    c.empty_namespace(ns)
        _stop_group(c.proc, timeout=20)
    _kill(pids_mentioning(c.address))  # orphaned shims
    unmount_under(c.tmp)
    for ns in all_ns:
        remove_cgroups(ns)
        shutil.rmtree(Path("/run/containerd/runc") / ns, ignore_errors=True)
    if not had_run_containerd:
        shutil.rmtree("/run/containerd", ignore_errors=True)
    shutil.rmtree(c.tmp, ignore_errors=True)


# -- dockerd ----------------------------------------------------------------------------------


@dataclass
class Dockerd:
    tmp: Path
    exec_root: Path
    cgroup_parent: str
    proc: subprocess.Popen | None = None

    @property
    def sock(self) -> Path:
        return self.tmp / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def data_root(self) -> Path:
        return self.tmp / "data"

    @property
    def env(self) -> dict[str, str]:
        """An environment for the docker CLI (or docker-py): this daemon, a private client config."""
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.tmp / "cli")}

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run(
            ["docker", *args],
            check=check,
            timeout=timeout,
            log=self.log,
            env=self.env,
            input=input,
        )

    def log(self) -> str:
        return _tail(self.tmp / "dockerd.log")


@contextlib.contextmanager
def dockerd(
    tmp: Path,
    *,
    runtimes: Mapping[str, str] | None = None,
    bridge: str = "none",
    config: Mapping[str, object] | None = None,
    start_timeout: float = 60,
) -> Iterator[Dockerd]:
    """Run Debian's dockerd (and its managed containerd) on ``tmp`` (which must be empty or absent).

    ``runtimes`` are registered with ``--add-runtime name=path``; ``config`` is its daemon.json;
    ``bridge`` names an existing bridge device for its default network (published ports then go
    through docker-proxy, never iptables); with "none" containers need ``--network none``.
    Containers go under a unique cgroup parent (cgroupfs driver) that is removed at exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "cli").mkdir(exist_ok=True)
    d = Dockerd(
        tmp=tmp,
        exec_root=Path(f"/run/sbt-docker-{secrets.token_hex(4)}"),  # short: socket paths live under it
        cgroup_parent=f"sbt-{secrets.token_hex(4)}",
    )
    existed = {p: Path(p).exists() for p in _DOCKERD_HOST_PATHS}
    (tmp / "daemon.json").write_text(json.dumps(dict(config or {})))
    argv = [
        "dockerd", "--config-file", str(tmp / "daemon.json"), "--data-root", str(d.data_root),
        "--exec-root", str(d.exec_root), "-H", d.host, "--pidfile", str(tmp / "dockerd.pid"),
        f"--bridge={bridge}", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        f"--userland-proxy={'false' if bridge == 'none' else 'true'}", "--cgroup-parent", f"/{d.cgroup_parent}",
        "--exec-opt", "native.cgroupdriver=cgroupfs", "--storage-driver", "overlay2",
    ]  # fmt: skip
    for name, path in (runtimes or {}).items():
        argv += ["--add-runtime", f"{name}={path}"]
    try:
        d.proc = _start(argv, tmp / "dockerd.log")
        _wait_ready(
            d.proc,
            lambda: d.sock.exists() and d.docker("version", check=False, timeout=10).returncode == 0,
            start_timeout,
            d.log,
        )
        yield d
    finally:
        _stop_dockerd(d, existed)


def _stop_dockerd(d: Dockerd, existed: dict[str, bool]) -> None:
    if d.proc is not None:
        if d.proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = d.docker("ps", "-aq", check=False, timeout=30).stdout.split()
                if ids:
                    d.docker("rm", "-f", *ids, check=False, timeout=60)
        _stop_group(d.proc, timeout=30)
    _kill(pids_mentioning(str(d.exec_root)) + pids_mentioning(str(d.data_root)))  # its containerd, shims
    time.sleep(0.2)
    unmount_under(d.data_root, d.exec_root, d.tmp)
    remove_cgroups(d.cgroup_parent)
    for p, was in existed.items():
        if not was:
            with contextlib.suppress(OSError):
                if Path(p).is_dir():
                    shutil.rmtree(p)
                else:
                    Path(p).unlink()
    shutil.rmtree(d.exec_root, ignore_errors=True)
    shutil.rmtree(d.tmp, ignore_errors=True)


# -- a busybox image to give them -------------------------------------------------------------

BUSYBOX_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def busybox_layer(work: Path) -> bytes:
    """An uncompressed layer tar of the busybox root filesystem the runtime tests use."""
    from seabox.testing.bundle import make_busybox_rootfs

    rootfs = make_busybox_rootfs(work / "layer-rootfs")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(rootfs)
    return buf.getvalue()


def busybox_oci_layout(layout: Path, *, image_name: str | None = None, ref_name: str = "latest") -> Path:
    """An OCI image layout at ``layout`` (absent) holding one busybox image tagged ``ref_name``;
    ``image_name`` is also recorded for containerd (``io.containerd.image.name``)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = busybox_layer(layout.parent)
    layer = _blob(blobs, gzip.compress(raw, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [BUSYBOX_PATH], "Cmd": ["sh"]},
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
    annotations = {"org.opencontainers.image.ref.name": ref_name}
    if image_name:
        annotations["io.containerd.image.name"] = image_name
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", **man, "annotations": annotations}
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return layout


def oci_archive(layout: Path, out: Path) -> Path:
    """``layout`` as an OCI archive tarball (what ``ctr images import`` takes)."""
    with tarfile.open(out, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(layout / name, arcname=name)
    return out


def docker_archive(layout: Path, out: Path, name: str, ref_name: str = "latest") -> Path:
    """The ``ref_name`` image of ``layout`` as a docker-archive named ``name`` (made by skopeo; for ``docker load``)."""
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}:{ref_name}", f"docker-archive:{out}:{name}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out
