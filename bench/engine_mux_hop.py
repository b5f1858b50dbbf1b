"""The mux's bare hop: round trips of a small message over a unix socket, direct vs through
``seabox.engine.mux`` (splice threads, and recv/sendall threads), each side in its own process
so no GIL is shared.  Isolates the proxy's per-message cost from gRPC's own.

Usage: ``.venv/bin/python -m bench.engine_mux_hop`` (no root needed).
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from pathlib import Path

from bench.harness import Contender, compare

ROUND_TRIPS = 500
MSG = b"x" * 200  # about a small gRPC request frame


def _echo_server(path: Path) -> int:
    pid = os.fork()
    if pid == 0:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(16)
        while True:
            c, _ = srv.accept()
            if os.fork() == 0:
                while True:
                    d = c.recv(65536)
                    if not d:
                        os._exit(0)
                    c.sendall(d)
            c.close()
    return pid


def _mux_process(public: Path, upstream: Path, splice: bool) -> int:
    pid = os.fork()
    if pid == 0:
        from seabox.engine.mux import Mux

        m = Mux(public, upstream, lambda c: c.close(), use_splice=splice)
        m.start()
        signal.pause()
        os._exit(0)
    return pid


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def main() -> int:
    from seabox.engine.mux import PREFACE

    d = Path(tempfile.mkdtemp(prefix="sbt-hop-"))
    pids = [_echo_server(d / "echo.sock")]
    _wait_for(d / "echo.sock")
    pids.append(_mux_process(d / "splice.sock", d / "echo.sock", True))
    pids.append(_mux_process(d / "copy.sock", d / "echo.sock", False))
    _wait_for(d / "splice.sock")
    _wait_for(d / "copy.sock")
    try:
        conns = {}
        for name, p in (("direct", "echo.sock"), ("mux splice", "splice.sock"), ("mux copy", "copy.sock")):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d / p))
            s.sendall(PREFACE)
            got = b""
            while len(got) < len(PREFACE):
                got += s.recv(65536)
            conns[name] = s

        def rtts(s: socket.socket) -> None:
            for _ in range(ROUND_TRIPS):
                s.sendall(MSG)
                n = 0
                while n < len(MSG):
                    n += len(s.recv(65536))

        summary = compare("engine_mux_hop_rtt_x500", [
            Contender(f"{k} x{ROUND_TRIPS}", (lambda s=s: rtts(s))) for k, s in conns.items()
        ], runs=15, warmup=2, baseline=f"direct x{ROUND_TRIPS}")
        base = summary["results"][f"direct x{ROUND_TRIPS}"]["median"]
        for k, r in summary["results"].items():
            print(f"  {k}: {r['median'] / ROUND_TRIPS * 1000:.1f} µs per round trip "
                  f"(+{(r['median'] - base) / ROUND_TRIPS * 1000:.1f} µs)")
        for s in conns.values():
            s.close()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
