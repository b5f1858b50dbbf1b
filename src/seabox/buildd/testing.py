"""A seabox-buildd process for tests: temp root/state/socket, always stopped and cleaned.

The context manager starts ``python -m seabox.cli.buildd`` with everything under
one temp dir, waits for the socket to answer, and on exit sends SIGTERM (SIGKILL
after a grace period), then unmounts anything left under the state dir and removes
the tree — builds leave overlay mounts only while a step runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunningBuildd:
    address: str
    root: Path
    state: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def buildd(
    workdir: Path, *, seaboxd_address: str = "", hosts_dir: str = "", ready_within: float = 30.0
) -> Iterator[RunningBuildd]:
    """``hosts_dir`` defaults to an empty dir of the test's own, so the host's mirrors never apply."""
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "buildd.sock"
    d = RunningBuildd(f"unix://{sock}", workdir / "root", workdir / "state", workdir / "buildd.log",
                      None)  # type: ignore[arg-type]
    logf = open(d.log, "wb")  # noqa: SIM115
    d.proc = subprocess.Popen(
        [sys.executable, "-m", "seabox.cli.buildd", "--root", str(d.root), "--state", str(d.state),
         "--address", d.address, "--seaboxd-address", seaboxd_address or str(workdir / "no-seaboxd.sock"),
         "--hosts-dir", hosts_dir or str(workdir / "certs.d")],
        stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        from seabox.buildd.client import Client

        deadline = time.monotonic() + ready_within
        c = Client(d.address)
        while not c.ping():
            if d.proc.poll() is not None:
                raise RuntimeError(f"seabox-buildd exited early: {d.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"seabox-buildd not ready: {d.log_text()}")
            time.sleep(0.05)
        yield d
    finally:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
            try:
                d.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(d.proc.pid, signal.SIGKILL)
                d.proc.wait()
        logf.close()
        from seabox.testing.peers import unmount_under

        unmount_under(workdir.resolve())
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def temp_buildd(prefix: str = "sbt-bd-", **kw: Any) -> Iterator[RunningBuildd]:
    """``buildd`` in a fresh temp dir under /tmp (short socket paths), removed afterwards."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        with buildd(base / "d", **kw) as d:
            yield d
    finally:
        shutil.rmtree(base, ignore_errors=True)
