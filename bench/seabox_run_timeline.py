"""Where the time of `seabox run --rm busybox true` goes: client and daemon steps on one clock.

A private seaboxd runs with ``--log-level debug``; its log lines carry wall-clock stamps and the
step timings the engine, task manager and HTTP server already log (``created``, ``started``,
``task created``, ``exited``, ``removed``, one line per answered request).  The client is the
real CLI, run through a tiny tracer (``python -I -S -c ...``: only ``time`` is added) that stamps
the end of its imports and each request it sends and each answer head it reads.  Every step is
reported as milliseconds since the parent spawned the client process; medians over the runs.

Usage: ``sudo .venv/bin/python -m bench.seabox_run_timeline [runs]`` (needs root and the fixtures).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.seabox_run import REPO, seabox_env

TRACER = r"""
import time, sys
T = [("exec", time.time())]
sys.path.insert(0, SRC)
from seabox.client import http
from seabox.cli import seabox as cli
import seabox.client.containers, seabox.client.runopts, seabox.client.context
T.append(("imports", time.time()))
_send, _resp = http.Client.send, http.Client.response
def send(self, method, path, **kw):
    T.append((f"send {method} {path.split('/')[-1] or path}", time.time()))
    return _send(self, method, path, **kw)
def response(self, s, **kw):
    r = _resp(self, s, **kw)
    T.append((f"answer {r.status}", time.time()))
    return r
http.Client.send, http.Client.response = send, response
try:
    rc = cli.main(ARGV)
finally:
    T.append(("exit", time.time()))
    with open(OUT, "w") as f:
        f.write("".join(f"{k}\t{t!r}\n" for k, t in T))
"""

LINE = re.compile(r"time=(\S+) level=(\S+) msg=(\"(?:[^\"\\]|\\.)*\"|\S+)(.*)")


def _wall(stamp: str) -> float:
    base, frac = stamp.rstrip("Z").split(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)


def daemon_events(log_text: str, t0: float, t1: float) -> list[tuple[str, float]]:
    out = []
    for line in log_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t = _wall(m.group(1))
        if not t0 <= t <= t1 + 1.0:
            continue
        msg = json.loads(m.group(3)) if m.group(3).startswith('"') else m.group(3)
        fields = m.group(4).strip()
        if msg.startswith('"') and " HTTP/" in msg:  # the server's request line: "POST /v1.41/... HTTP/1.1" 204 -
            method, path = msg.strip('"').split()[:2]
            msg = f"answered {method} {path.split('?')[0].split('/')[-1]} {msg.split()[-2]}"
        out.append((f"seaboxd {msg} {fields}".strip(), t))
    return out


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with seabox_env("--log-level", "debug") as env:
        out = env.work / "trace.txt"
        argv = [*env.sb[1:], "run", "--rm", "--network", "none", "busybox", "true"]
        code = TRACER.replace("SRC", repr(str(REPO / "src"))).replace("ARGV", repr(argv)).replace("OUT", repr(str(out)))
        rows: dict[str, list[float]] = {}
        order: list[str] = []
        examples: list[list[tuple[str, float]]] = []
        for i in range(runs + 2):
            mark = env.daemon.log.stat().st_size
            t0 = time.time()
            subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
            t1 = time.time()
            time.sleep(0.3)  # let the background removal log its line
            client = [(k, float(t)) for k, t in (line.split("\t") for line in out.read_text().splitlines())]
            with open(env.daemon.log, "rb") as f:
                f.seek(mark)
                dlog = f.read().decode(errors="replace")
            events = sorted([("spawn", t0), *client, *daemon_events(dlog, t0, t1), ("client exited (parent)", t1)],
                            key=lambda e: e[1])  # fmt: skip
            if i < 2:
                continue
            examples.append(events)
            seen: dict[str, int] = {}
            for label, t in events:
                key = re.sub(r"=[0-9.]+", "=", re.sub(r"id=\S+ ?|namespace=\S+ ?", "", label)).strip()
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > 1:
                    key = f"{key} #{seen[key]}"
                if key not in rows:
                    order.append(key)
                rows.setdefault(key, []).append((t - t0) * 1000)
        print(f"median over {runs} runs, ms since spawn (load average {os.getloadavg()})")
        for key in sorted(order, key=lambda k: statistics.median(rows[k])):
            print(f"{statistics.median(rows[key]):8.1f}  {key}  (n={len(rows[key])})")
        print("\nlast run, with the daemon's step fields:")
        for label, t in examples[-1]:
            print(f"{(t - examples[-1][0][1]) * 1000:8.1f}  {label}")
        Path(REPO / "bench" / "results").mkdir(exist_ok=True)
        (REPO / "bench" / "results" / "seabox_run_timeline.json").write_text(json.dumps(
            {"runs": runs, "loadavg": os.getloadavg(), "median_ms": {k: statistics.median(rows[k]) for k in order},
             "last": [(label, (t - examples[-1][0][1]) * 1000) for label, t in examples[-1]]}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
