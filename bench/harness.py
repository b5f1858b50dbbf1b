"""Side-by-side timing of a seabox command and its anchors.

Runs are interleaved (A B C, then B C A, ...) after a warm-up so that drift in the
machine's load hits every contender alike; results are medians with ratios against a
chosen baseline, printed as a table and written as JSON under bench/results/.  Timing
lives here and never in tests: a test asserts behaviour, a benchmark reports numbers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(os.environ.get("SEABOX_BENCH_RESULTS", Path(__file__).parent / "results"))

Action = Callable[[], object] | Sequence[str]


@dataclass
class Contender:
    label: str
    action: Action
    before: Callable[[], object] | None = None  # untimed, runs before each timed run
    after: Callable[[], object] | None = None  # untimed, runs after each timed run


@dataclass
class Result:
    label: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.samples) if len(self.samples) > 1 else 0.0


def _run(action: Action) -> None:
    if callable(action):
        action()
        return
    res = subprocess.run(list(action), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(action)} exited {res.returncode}: {res.stderr.decode()[-300:]}")


def compare(
    name: str,
    contenders: Sequence[Contender],
    *,
    runs: int = 20,
    warmup: int = 3,
    baseline: str | None = None,
    unit: str = "ms",
) -> dict:
    """Time every contender ``runs`` times, interleaved; return and save the summary."""
    results = {c.label: Result(c.label) for c in contenders}
    order = list(contenders)
    for i in range(warmup + runs):
        for c in order:
            if c.before:
                c.before()
            t0 = time.perf_counter()
            _run(c.action)
            dt = time.perf_counter() - t0
            if c.after:
                c.after()
            if i >= warmup:
                results[c.label].samples.append(dt)
        order = order[1:] + order[:1]
    base = baseline or contenders[-1].label
    scale = 1000.0 if unit == "ms" else 1.0
    summary = {
        "name": name,
        "runs": runs,
        "warmup": warmup,
        "baseline": base,
        "unit": unit,
        "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": {
            r.label: {
                "median": r.median * scale,
                "stdev": r.stdev * scale,
                "min": min(r.samples) * scale,
                "max": max(r.samples) * scale,
                "ratio": r.median / results[base].median,
            }
            for r in results.values()
        },
    }
    print_table(summary)
    save(name, summary)
    return summary


def print_table(summary: dict) -> None:
    unit = summary["unit"]
    print(f"\n{summary['name']}  ({summary['runs']} runs each, interleaved; ratio vs {summary['baseline']})")
    print(f"  {'contender':<28} {'median':>10} {'stdev':>9} {'ratio':>7}")
    for label, r in summary["results"].items():
        print(f"  {label:<28} {r['median']:>8.1f}{unit} {r['stdev']:>7.1f}{unit} {r['ratio']:>7.2f}")


def save(name: str, summary: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def pss_kib(pid: int) -> int:
    """Proportional set size of one process in KiB (what it really costs the machine)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid}: no Pss in smaps_rollup")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid}: no VmRSS")
