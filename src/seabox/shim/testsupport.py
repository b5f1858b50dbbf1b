"""A harness for driving shims in root tests: own temp dirs, unique ids, and a teardown that
leaves nothing behind.

Design reason (trio's habit of shipping test helpers with the library): every shim test needs
the same things — a short temp dir (unix socket paths are limited to 107 bytes), a launcher,
container ids ``sbt-<random>``, busybox bundles, FIFOs, and a teardown that kills and deletes
every container (through the shim if it is alive, through the runtime otherwise), shuts the
shims down, kills any shim still there and removes the dirs — even when the test failed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seabox.errdefs import SeaboxError
from seabox.shim.client import ShimClient
from seabox.shim.launcher import Launcher, ShimInfo
from seabox.shim.server import ShimConfig, process_start_time


def read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    """Read from ``fd`` until ``needle`` appears (or EOF / timeout); return what was read."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def read_to_eof(fd: int, timeout: float = 20.0) -> bytes:
    return read_until(fd, b"\0\0never\0\0", timeout)


def wait_for(pred: Any, timeout: float = 20.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def pid_alive(pid: int) -> bool:
    return bool(pid) and process_start_time(pid) != 0


class ShimHarness:
    def __init__(self, namespace: str | None = None, preload_runtime: bool = True) -> None:
        self.preload_runtime = preload_runtime
        self.tmp = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
        self.state = self.tmp / "s"
        self.namespace = namespace or f"sbt-{secrets.token_hex(3)}"
        self._launcher: Launcher | None = None
        self.shims: list[tuple[ShimConfig, ShimInfo]] = []
        self.runtime_roots: dict[str, tuple[str, str]] = {}  # cid -> (binary, root)
        self.clients: list[ShimClient] = []
        self._n = 0

    @property
    def launcher(self) -> Launcher:
        if self._launcher is None:
            self._launcher = Launcher(preload_runtime=self.preload_runtime)
        return self._launcher

    def new_id(self) -> str:
        return f"sbt-{secrets.token_hex(4)}"

    def config(self, cid: str | None = None, runtime_binary: str = "") -> ShimConfig:
        cid = cid or self.new_id()
        root = str(self.tmp / ("runc-root" if runtime_binary else "rt-root"))
        self.runtime_roots[cid] = (runtime_binary, root)
        return ShimConfig(self.namespace, cid, str(self.state / self.namespace / cid), runtime_binary, root)

    def spawn(self, cid: str | None = None, runtime_binary: str = "") -> tuple[ShimClient, ShimConfig, ShimInfo]:
        cfg = self.config(cid, runtime_binary)
        info = self.launcher.spawn(cfg)
        self.shims.append((cfg, info))
        client = ShimClient(info.address)
        self.clients.append(client)
        return client, cfg, info

    def adopt(self, cfg: ShimConfig, pid: int, address: str) -> None:
        """Track a shim started elsewhere (a fake daemon, the CLI) so the teardown removes it."""
        self.shims.append((cfg, ShimInfo(pid, address)))

    def bundle(self, args: list[str], **overrides: Any) -> Path:
        from seabox.testing.bundle import make_bundle

        self._n += 1
        return make_bundle(self.tmp / f"b{self._n}", args, **overrides)

    def fifo(self, name: str) -> str:
        p = self.tmp / name
        os.mkfifo(p)
        return str(p)

    def cleanup(self) -> None:
        for c in self.clients:
            c.close()
        for _cfg, info in self.shims:
            if pid_alive(info.pid):
                with contextlib.suppress(SeaboxError, OSError):
                    c = ShimClient(info.address, timeout=20)
                    with contextlib.suppress(SeaboxError):
                        c.kill(signal.SIGKILL, all=True)
                    with contextlib.suppress(SeaboxError):
                        c.delete(force=True)
                    with contextlib.suppress(SeaboxError):
                        c.shutdown(now=True)
                    c.close()
                wait_for(lambda info=info: not pid_alive(info.pid), 5)
                if pid_alive(info.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(info.pid, signal.SIGKILL)
        for cid, (binary, root) in self.runtime_roots.items():
            if not os.path.isdir(os.path.join(root, cid)):
                continue
            argv = ([binary] if binary else [sys.executable, "-m", "seabox.cli.runc"]) + \
                ["--root", root, "delete", "--force", cid]
            subprocess.run(argv, capture_output=True, timeout=60)
        if self._launcher is not None:
            self._launcher.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
