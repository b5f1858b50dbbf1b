"""Test and benchmark helpers shipped with the library: a real containerd on temp dirs.

Debian's containerd is the oracle for seabox-ctr: :func:`containerd` starts one with its own
root, state, socket and config (the CRI plugin and the snapshotters that need other
filesystems disabled) and, on exit, kills what its shims left, stops it, unmounts and
removes everything under its directory, including the cgroups of ``namespace``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CONFIG = """version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{tmp}/c.sock"
[ttrpc]
  address = "{tmp}/c.sock.ttrpc"
[debug]
  address = "{tmp}/debug.sock"
  level = "info"
[metrics]
  address = ""
"""


@dataclass
class Containerd:
    dir: Path
    address: str
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        try:
            return (self.dir / "containerd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _ctr(address: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", address, "--namespace", namespace, *args], capture_output=True, text=True, timeout=60
    )


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
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd and int(d.name) != os.getpid():
            out.append(int(d.name))
    return out


def _rm_cgroups(name: str) -> None:
    base = Path("/sys/fs/cgroup")
    for top in list(base.glob(name)) + list(base.glob(f"*/{name}")):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def cleanup_namespace(address: str, namespace: str) -> None:
    """Kill and delete every task and container, remove every image, in ``namespace`` (with real ctr)."""
    res = _ctr(address, namespace, "task", "ls", "-q")
    for tid in res.stdout.split():
        _ctr(address, namespace, "task", "kill", "-s", "SIGKILL", "--all", tid)
    for tid in res.stdout.split():
        for _ in range(50):
            if _ctr(address, namespace, "task", "delete", "-f", tid).returncode == 0:
                break
            time.sleep(0.1)
    for cid in _ctr(address, namespace, "containers", "ls", "-q").stdout.split():
        _ctr(address, namespace, "containers", "delete", cid)
    for ref in _ctr(address, namespace, "images", "ls", "-q").stdout.split():
        _ctr(address, namespace, "images", "rm", ref)


@contextlib.contextmanager
def containerd(workdir: Path, namespaces: tuple[str, ...] = (), ready_within: float = 30.0) -> Iterator[Containerd]:
    """A containerd on ``workdir``; ``namespaces`` are emptied and their cgroups removed at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.toml").write_text(CONFIG.format(tmp=workdir))
    address = str(workdir / "c.sock")
    had_run_containerd = Path("/run/containerd").exists()
    log = open(workdir / "containerd.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["containerd", "--config", str(workdir / "config.toml")], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    c = Containerd(workdir, address, proc)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"containerd exited {proc.returncode}:\n{c.log()}")
            if Path(address).exists() and _ctr(address, "default", "version").returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not come up:\n{c.log()}")
            time.sleep(0.05)
        yield c
    finally:
        if proc.poll() is None:
            for ns in namespaces:
                with contextlib.suppress(Exception):
                    cleanup_namespace(address, ns)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        for pid in _pids_with(address):  # shims left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mp in sorted(_mounts_under(str(workdir)), key=len, reverse=True):
            with contextlib.suppress(OSError):
                from seabox.linux.syscalls import MNT_DETACH, LinuxSyscalls

                LinuxSyscalls().umount2(mp, MNT_DETACH)
        for ns in namespaces:
            _rm_cgroups(ns)
            shutil.rmtree(Path("/run/containerd/runc") / ns, ignore_errors=True)
        if not had_run_containerd:
            shutil.rmtree("/run/containerd", ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
