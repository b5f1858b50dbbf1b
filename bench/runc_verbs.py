"""Where the lifecycle's time goes: ``create``, ``start``, the wait and ``delete`` timed one by one.

The same bundle and runtimes as ``bench.runc_lifecycle`` (seabox-runc, runc, crun), interleaved
per run, a fresh single-level cgroupsPath per container; the medians of each verb are printed
next to a bare interpreter start (``/usr/bin/python3 -IS -c pass``), which each seabox-runc
command pays.  Complements the lifecycle ratio; nothing here is asserted.

Run: ``.venv/bin/python -m bench.run runc_verbs`` (root; ``SEABOX_BENCH_RUNS``, default 20).
JSON: bench/results/runc_verbs.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from bench.runc_lifecycle import REPO, VERBS, lifecycles, prepare_host


def _python_start(n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["/usr/bin/python3", "-IS", "-c", "pass"], check=True)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    prepare_host("runc_verbs")
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))
    with lifecycles() as pairs:
        samples: dict[str, dict[str, list[float]]] = {lc.label: {v: [] for v in VERBS} for lc, _ in pairs}
        for i in range(runs + 3):
            for lc, before in pairs:
                before()
                got = lc.timed()
                if i >= 3:  # warm-up
                    for verb, ms in got.items():
                        samples[lc.label][verb].append(ms)
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
