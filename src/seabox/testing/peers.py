"""Real peers (Debian's containerd) started in a throw-away root for tests and benchmarks.

A peer gets its own root, state and socket under a temp dir and a namespace of its own,
and everything it leaves (shims, mounts, cgroups, /run/containerd/runc/<ns>) is removed
when the context exits, even after a failure.  This is test code: it runs the real
binaries (containerd, ctr, umount) on purpose, as oracles and anchors.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
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


@dataclass
class Containerd:
    tmp: Path
    address: str
    namespace: str
    proc: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["ctr", "--address", self.address, "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} exited {res.returncode}: {res.stderr.strip()[-500:]}")
        return res

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


def _pids_mentioning(needle: str) -> list[int]:
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


def _remove_cgroups(name: str) -> None:
    base = Path("/sys/fs/cgroup")
    for top in [*base.glob(f"*/{name}"), *base.glob(f"*/*/{name}")]:
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


@contextlib.contextmanager
def containerd(tmp: Path, *, namespace: str | None = None, start_timeout: float = 30) -> Iterator[Containerd]:
    """Run Debian's containerd rooted in ``tmp`` (which must be empty or absent)."""
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
    c = Containerd(tmp=tmp, address=address, namespace=ns)
    with open(tmp / "containerd.log", "w") as log:
        c.proc = subprocess.Popen(
            ["containerd", "--config", str(tmp / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not (Path(address).exists() and c.ctr("version", check=False).returncode == 0):
                if c.proc.poll() is not None:
                    raise RuntimeError(f"containerd exited {c.proc.returncode}: {c.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"containerd did not come up: {c.log()}")
                time.sleep(0.05)
            yield c
        finally:
            _stop(c, had_run_containerd)


def _stop(c: Containerd, had_run_containerd: bool) -> None:
    proc = c.proc
    if proc is not None and proc.poll() is None:
        tasks = c.ctr("task", "ls", "-q", check=False).stdout.split()
        for tid in tasks:
            c.ctr("task", "kill", "-s", "SIGKILL", tid, check=False)
        if tasks:
            time.sleep(0.2)
        for tid in tasks:
            c.ctr("task", "delete", "-f", tid, check=False)
        for cid in c.ctr("containers", "ls", "-q", check=False).stdout.split():
            c.ctr("containers", "delete", cid, check=False)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for pid in _pids_mentioning(c.address):  # orphaned shims
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for mp in sorted(_mounts_under(str(c.tmp)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)
    _remove_cgroups(c.namespace)
    shutil.rmtree(Path("/run/containerd/runc") / c.namespace, ignore_errors=True)
    if not had_run_containerd:
        shutil.rmtree("/run/containerd", ignore_errors=True)
    shutil.rmtree(c.tmp, ignore_errors=True)
