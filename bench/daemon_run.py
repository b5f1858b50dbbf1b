"""seaboxd vs Debian's containerd, both driven by the same real ``ctr`` binary.

* ``ctr run --rm <busybox> id true`` against each daemon, interleaved (``bench.harness.compare``):
  the daemon side of a whole container life (create container, snapshot, task create through
  a shim, start, wait, delete), since the client is the same Go binary for both.
* idle RSS of each daemon (after the image pull, before any container; and again after the
  runs), from /proc/<pid>/status.
* 50 containers started in a row (``ctr run -d ... sleep 1000``): total time, the daemon's RSS
  afterwards, and the summed PSS of the per-container shims (seabox-shim forked from the warm
  launcher vs containerd-shim-runc-v2).

Each daemon runs in its own temp root/state/socket and namespace; everything is removed at
the end.  Usage: ``python -m bench.daemon_run [RUNS] [N_CONTAINERS]`` (root only).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Contender, compare, pss_kib, rss_kib, save


def fixture_image() -> str:
    path = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures")) / "fixtures.json"
    return str(json.loads(path.read_text())["images"]["busybox"]["ref"])


def ctr_argv(address: str, ns: str, *args: str) -> list[str]:
    return ["ctr", "--address", address, "-n", ns, *args]


def ctr(address: str, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(ctr_argv(address, ns, *args), capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"ctr {' '.join(args)}: {p.stderr.strip()[-300:]}")
    return p


def pids_by_name(name: str, needle: str = "") -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            comm = (d / "comm").read_text().strip()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if comm.startswith(name[:15]) and needle in cmd:
            out.append(int(d.name))
    return out


def parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def start_many(address: str, ns: str, image: str, n: int, shim_pids: object) -> dict:
    each = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        ctr(address, ns, "run", "-d", image, f"m{i}", "sleep", "1000")
        each.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    k = max(1, n // 5)
    pids = shim_pids()  # type: ignore[operator]
    pss = sum(pss_kib(p) for p in pids)
    return {"n": n, "total_s": total, "per_container_ms": total / n * 1000,
            "first_fifth_median_ms": statistics.median(each[:k]), "last_fifth_median_ms": statistics.median(each[-k:]),
            "shims": len(pids),
            "shims_pss_kib_total": pss, "shim_pss_kib_mean": pss / max(1, len(pids))}


def stop_many(address: str, ns: str, n: int) -> None:
    for i in range(n):
        subprocess.run(ctr_argv(address, ns, "task", "kill", "-s", "SIGKILL", f"m{i}"), capture_output=True)
    for i in range(n):
        for _ in range(100):
            if subprocess.run(ctr_argv(address, ns, "task", "rm", f"m{i}"), capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        subprocess.run(ctr_argv(address, ns, "c", "rm", f"m{i}"), capture_output=True)


def main(runs: int = 20, n: int = 50) -> dict:
    from seabox.daemon.tasks.testing import purge, remove_tree
    from seabox.daemon.tasks.testing import shim_pids as seabox_shims
    from seabox.daemon.testing import seaboxd
    from seabox.testing.peers import containerd

    image = fixture_image()
    work = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
    ns = f"sbt-{secrets.token_hex(4)}"
    out: dict = {"image": image}
    try:
        with seaboxd(work / "d") as sd, containerd(work / "c", namespace=f"sbt-{secrets.token_hex(4)}") as cd:
            sa, ca = str(sd.address), cd.address
            ctr(sa, ns, "images", "pull", "--plain-http", image)
            ctr(ca, cd.namespace, "images", "pull", "--plain-http", image)
            assert cd.proc is not None
            time.sleep(1)
            out["idle_rss_kib"] = {"seaboxd": rss_kib(sd.proc.pid), "containerd": rss_kib(cd.proc.pid)}
            out["run_rm"] = compare("daemon_run_rm", [
                Contender("seaboxd (real ctr)", ctr_argv(sa, ns, "run", "--rm", image, "id", "true")),
                Contender("containerd (real ctr)", ctr_argv(ca, cd.namespace, "run", "--rm", image, "id", "true")),
            ], runs=runs, warmup=3, baseline="containerd (real ctr)")
            out["rss_after_runs_kib"] = {"seaboxd": rss_kib(sd.proc.pid), "containerd": rss_kib(cd.proc.pid)}
            launcher = [p for p in pids_by_name("python", "seabox.shim.launcher") if parent(p) == sd.proc.pid]
            out["launcher_pss_kib"] = sum(pss_kib(p) for p in launcher)
            out["start_many"] = {
                "seaboxd": start_many(sa, ns, image, n, lambda: seabox_shims(sd.state)),
                "containerd": start_many(ca, cd.namespace, image, n,
                                         lambda: pids_by_name("containerd-shim-runc-v2", ca)),
            }
            out["rss_after_many_kib"] = {"seaboxd": rss_kib(sd.proc.pid), "containerd": rss_kib(cd.proc.pid)}
            stop_many(sa, ns, n)
            stop_many(ca, cd.namespace, n)
    finally:
        purge(work / "d" / "state", [ns])
        remove_tree(work)
    save("daemon_run", out)
    print(json.dumps({k: v for k, v in out.items() if k != "run_rm"}, indent=2))
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
