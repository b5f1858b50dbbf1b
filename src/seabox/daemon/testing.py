"""A seaboxd process for tests: temp root/state/socket, started and always stopped.

Tests of the real daemon (e2e, interop with ctr) share this so that every one of them
waits for readiness the same way and never leaks a process or a socket: the context
manager sends SIGTERM, waits, and escalates to SIGKILL only if the daemon hangs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningDaemon:
    address: Path
    root: Path
    state: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _ready(address: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(address))
        return True
    except OSError:
        return False
    finally:
        s.close()


@contextmanager
def seaboxd(workdir: Path, *extra: str, ready_within: float = 30.0) -> Iterator[RunningDaemon]:
    """Run ``python -m seabox.cli.seaboxd`` with everything under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    d = RunningDaemon(workdir / "seaboxd.sock", workdir / "root", workdir / "state", workdir / "seaboxd.log",
                      None)  # type: ignore[arg-type]
    logf = open(d.log, "wb")  # noqa: SIM115
    d.proc = subprocess.Popen(
        [sys.executable, "-m", "seabox.cli.seaboxd", "--root", str(d.root), "--state", str(d.state),
         "--address", str(d.address), "--config", os.devnull, *extra],
        stdout=logf, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + ready_within
        while not (_ready(d.address) and "serving" in d.log_text()):
            if d.proc.poll() is not None:
                raise RuntimeError(f"seaboxd exited with {d.proc.returncode}: {d.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"seaboxd not serving on {d.address} after {ready_within}s: {d.log_text()}")
            time.sleep(0.02)
        yield d
    finally:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
            try:
                d.proc.wait(20)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
        logf.close()
