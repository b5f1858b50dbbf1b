"""``run --rm <busybox> id true``: seabox-ctr vs Debian's ctr, on containerd and on seaboxd.

Contenders (interleaved by ``bench.harness.compare``, 3 warm-ups, then
``SEABOX_BENCH_RUNS`` (default 20) timed runs each), one whole command each — client
start-up, container create (spec, snapshot), task create/start/wait, delete:

- ``seabox-ctr → containerd`` and ``ctr → containerd``: Debian's containerd 1.6 on temp
  dirs (seabox.ctr.testing.containerd), runc as its runtime: the client's cost on the same daemon;
- ``seabox-ctr → seaboxd`` and ``ctr → seaboxd``: seaboxd on temp dirs
  (seabox.daemon.testing.seaboxd): the whole seabox stack vs the whole containerd stack.

The baseline is ``ctr → containerd``.  The fixture busybox is pulled into both daemons first
(plain HTTP from the fixture registry).  Run: ``.venv/bin/python -m bench.run ctr_run`` (root).
JSON: bench/results/ctr_run.json.  The load average is printed before and after: on this
shared 2-core machine it moves every median, so compare ratios from the same run.

``ctr → seaboxd`` against ``seabox-ctr → seaboxd`` separates the client's cost (Python start,
imports, encoding) from the daemon's; seabox-ctr's ``run`` takes seabox.ctr.leanrun, which
needs no protobuf runtime.  With ``SEABOX_BENCH_TIMELINE=1`` one more seabox-ctr run per
daemon is traced afterwards: when each RPC started (ms after the interpreter began importing
seabox) and how long it took, i.e. where the client waits on the daemon.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.harness import Contender, compare

REPO = Path(__file__).resolve().parents[1]
SEABOX_CTR = str(REPO / ".venv" / "bin" / "seabox-ctr")
FIXTURES = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures")) / "fixtures.json"


def _cmd(argv: list[str]) -> None:
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.decode()[-400:]}")


def _runner(prog: str, address: str, ns: str, image: str, cid: str, fifo: str) -> Contender:
    extra = ["--fifo-dir", fifo] if prog == SEABOX_CTR else []
    argv = [prog, "--address", address, "--namespace", ns, "run", "--rm", *extra, image, cid, "true"]
    label = f"{'seabox-ctr' if prog == SEABOX_CTR else 'ctr'} -> "
    return Contender(label, lambda: _cmd(argv))


_TRACE = r"""
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from seabox.cli import ctr
from seabox.ctr import h2grpc
imported = time.perf_counter()
log = []
call, future = h2grpc.Method.__call__, h2grpc.Method.future
def traced(self, req, timeout=None, metadata=None):
    t = time.perf_counter()
    r = call(self, req, timeout, metadata)
    r = list(r) if self.streaming else r
    log.append((t, time.perf_counter(), self.path))
    return r
def traced_future(self, req, timeout=None, metadata=None):
    t = time.perf_counter()
    f = future(self, req, timeout, metadata)
    log.append((t, time.perf_counter(), self.path + " (sent; answer taken later)"))
    return f
h2grpc.Method.__call__, h2grpc.Method.future = traced, traced_future
rc = ctr.main(sys.argv[2:])
end = time.perf_counter()
print(f"  imports of seabox.cli.ctr: {1000 * (imported - t0):.1f} ms")
for a, b, path in log:
    print(f"  at {1000 * (a - t0):6.1f} ms  {1000 * (b - a):6.1f} ms  {path.rsplit('.', 1)[-1]}")
print(f"  done at {1000 * (end - t0):.1f} ms, exit {rc}")
"""


def timeline(address: str, ns: str, image: str, fifo: str) -> str:
    """One traced ``seabox-ctr run --rm`` (see the module docstring)."""
    py = str(REPO / ".venv" / "bin" / "python3")
    argv = ["--address", address, "--namespace", ns, "run", "--rm", "--fifo-dir", fifo, image, f"t-{secrets.token_hex(3)}", "true"]
    res = subprocess.run([py, "-IS", "-c", _TRACE, str(REPO / "src"), *argv], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, env={**os.environ, "SEABOX_CTR_NORMAL_EXIT": "1"})  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"traced run failed: {res.stderr[-400:]}")
    return res.stdout


def main() -> None:
    from seabox.ctr import testing
    from seabox.daemon.testing import seaboxd

    image = json.loads(FIXTURES.read_text())["images"]["busybox"]["ref"]
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))
    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    ns = f"sbt-{secrets.token_hex(4)}"
    fifo = work / "fifo"
    fifo.mkdir()
    problems: list[str] = []
    try:
        with testing.containerd(work / "ctrd", namespaces=(ns,)) as ctrd, seaboxd(work / "d") as sd:
            contenders = []
            for name, address in (("containerd", ctrd.address), ("seaboxd", str(sd.address))):
                _cmd([SEABOX_CTR, "--address", address, "--namespace", ns, "images", "pull", "--plain-http", image])
                for prog in (SEABOX_CTR, shutil.which("ctr") or "ctr"):
                    c = _runner(prog, address, ns, image, f"b-{secrets.token_hex(3)}", str(fifo))
                    c.label += name
                    contenders.append(c)
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            compare("ctr_run", contenders, runs=runs, warmup=3, baseline="ctr -> containerd")
            print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            if os.environ.get("SEABOX_BENCH_TIMELINE") == "1":
                for name, address in (("containerd", ctrd.address), ("seaboxd", str(sd.address))):
                    print(f"seabox-ctr run --rm -> {name}, per RPC:")
                    print(timeline(address, ns, image, str(fifo)), end="")
    finally:
        from seabox.daemon.tasks.testing import purge, remove_tree

        problems = purge(work / "d" / "state", [ns])
        remove_tree(work)
    if problems:
        print("cleanup problems:", problems)


if __name__ == "__main__":
    main()
