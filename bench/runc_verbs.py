"""Where the lifecycle's time goes: ``create``, ``start``, the wait and ``delete`` timed one by one.

The same bundle and runtimes as ``bench.runc_lifecycle`` (seabox-runc, runc, crun), interleaved
per run, a fresh single-level cgroupsPath per container; the medians of each verb are printed
next to a bare interpreter start (``/usr/bin/python3 -IS -c pass``), which each seabox-runc
command pays.  Complements the lifecycle ratio; nothing here is asserted.

Run: ``.venv/bin/python -m bench.run runc_verbs`` (root; ``SEABOX_BENCH_RUNS``, default 20).
JSON: bench/results/runc_verbs.json.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.runc_lifecycle import PR_SET_CHILD_SUBREAPER, REPO, Lifecycle, _crun_preexec, make_bundle

VERBS = ("create", "start", "wait", "delete")


def _timed_lifecycle(lc: Lifecycle, cgroup: str) -> dict[str, float]:
    cfg_path = lc.bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["linux"]["cgroupsPath"] = cgroup
    cfg_path.write_text(json.dumps(cfg, indent=1))
    lc.n += 1
    cid = f"sbt-verbs-{lc.label}-{lc.n}"
    pid_file = lc.tmp / f"{cid}.pid"
    t0 = time.perf_counter()
    lc._cmd("create", "--bundle", str(lc.bundle), "--pid-file", str(pid_file), cid)
    t1 = time.perf_counter()
    pid = int(pid_file.read_text())
    lc._cmd("start", cid)
    t2 = time.perf_counter()
    os.waitpid(pid, 0)
    t3 = time.perf_counter()
    lc._cmd("delete", cid)
    t4 = time.perf_counter()
    pid_file.unlink()
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    return dict(zip(VERBS, ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3), strict=True))


def _python_start(n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["/usr/bin/python3", "-IS", "-c", "pass"], check=True)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    if os.geteuid() != 0:
        print("runc_verbs: needs root", file=sys.stderr)
        raise SystemExit(2)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    import compileall

    compileall.compile_dir(str(REPO / "src" / "seabox"), quiet=1)
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))
    prefix = f"sbt-{secrets.token_hex(3)}"
    runtimes = [
        ("seabox-runc", str(REPO / ".venv" / "bin" / "seabox-runc"), None),
        ("runc", shutil.which("runc") or "/usr/sbin/runc", None),
        ("crun", shutil.which("crun") or "/usr/bin/crun", _crun_preexec()),
    ]
    samples: dict[str, dict[str, list[float]]] = {label: {v: [] for v in VERBS} for label, _, _ in runtimes}
    with tempfile.TemporaryDirectory(prefix="sbt-bench-") as t:
        tmp = Path(t)
        lifecycles = []
        for label, binary, preexec in runtimes:
            bundle = tmp / f"bundle-{label}"
            make_bundle(bundle, f"/{prefix}-{label}")
            lifecycles.append(Lifecycle(label, binary, tmp, bundle, preexec))
        try:
            for i in range(runs + 3):
                for lc in lifecycles:
                    got = _timed_lifecycle(lc, f"/{prefix}-{lc.label}-{i}")
                    if i >= 3:  # warm-up
                        for verb, ms in got.items():
                            samples[lc.label][verb].append(ms)
        finally:
            for lc in lifecycles:
                lc.cleanup()
            for label, _, _ in runtimes:
                for cg in Path("/sys/fs/cgroup").glob(f"*/{prefix}-{label}*"):
                    with contextlib.suppress(OSError):
                        os.rmdir(cg)
    py = _python_start(runs)
    medians = {label: {v: statistics.median(x) for v, x in verbs.items()} for label, verbs in samples.items()}
    print(f"\nrunc_verbs  ({runs} runs each, interleaved; medians in ms; python3 -IS -c pass: {py:.1f} ms)")
    print(f"  {'runtime':<14}" + "".join(f"{v:>9}" for v in (*VERBS, "sum")))
    for label, m in medians.items():
        print(f"  {label:<14}" + "".join(f"{m[v]:9.1f}" for v in VERBS) + f"{sum(m.values()):9.1f}")
    out = REPO / "bench" / "results" / "runc_verbs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"name": "runc_verbs", "runs": runs, "unit": "ms", "python_start_ms": py,
                               "medians": medians, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                              indent=1) + "\n")


if __name__ == "__main__":
    main()
