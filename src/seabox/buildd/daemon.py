"""Daemon wiring: open the engine, clean what a crash left behind, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from seabox import errdefs


def recover(engine: object) -> None:
    """Unmount leftover mountpoints and drop active/view snapshots of builds that died with a previous daemon."""
    from seabox.buildd.executor import Engine
    from seabox.snapshots.metadata import Kind
    from seabox.snapshots.mount import unmount

    assert isinstance(engine, Engine)
    for d in engine.state.glob("mnt-*"):
        with contextlib.suppress(OSError):
            unmount(d, detach=True)
            os.rmdir(d)
    for sub in ("runs", "runc"):
        shutil.rmtree(engine.state / sub, ignore_errors=True)
    for pat in ("secrets-*", "context-*", "heredoc-*", "empty-*"):
        for d in engine.state.glob(pat):
            shutil.rmtree(d, ignore_errors=True)
    with engine.snap_lock:
        stale = [i.name for i in engine.snapshotter.walk()
                 if i.kind != Kind.COMMITTED and i.name.startswith("buildd-")]
        for name in stale:
            with contextlib.suppress(errdefs.SeaboxError):
                engine.snapshotter.remove(name)


def serve(root: str, state: str, address: str, seaboxd_address: str, hosts_dir: str | None = None) -> int:
    from seabox.buildd.executor import Engine
    from seabox.buildd.server import BuildServer

    engine = Engine(Path(root), Path(state), hosts_dir)
    recover(engine)
    server = BuildServer(address, engine, seaboxd_address)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"seabox-buildd: serving on {address} (root {root})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.cancel_all()  # no build container outlives the daemon
        server.server_close()
        engine.close()
    return 0
