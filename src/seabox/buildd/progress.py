"""Renderers of buildd's progress events: plain lines (BuildKit's ``--progress=plain``) or a live TTY view.

Plain: ``#3 [stage-1 2/4] RUN make`` when a step starts, its output as
``#3 0.512 <line>``, then ``#3 CACHED`` / ``#3 DONE 0.4s`` / ``#3 ERROR: <message>``.
TTY: one line per step, redrawn in place, with a running clock for active steps
and the last few output lines of the most recent running step.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO


class PlainProgress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started: dict[int, float] = {}

    def __call__(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        if t == "step":
            vid = ev["id"]
            st = ev.get("status")
            if vid not in self.started:
                self.started[vid] = ev.get("started") or time.time()
                self.out.write(f"#{vid} {ev['name']}\n")
            if st == "done" and ev.get("cached"):
                self.out.write(f"#{vid} CACHED\n\n")
            elif st == "done":
                self.out.write(f"#{vid} DONE {ev.get('completed', 0) - ev.get('started', 0):.1f}s\n\n")
            elif st == "error":
                self.out.write(f"#{vid} ERROR: {ev.get('error', '')}\n\n")
        elif t == "log":
            vid = ev["id"]
            self.out.write(f"#{vid} {time.time() - self.started.get(vid, time.time()):.3f} {ev['line']}\n")
        elif t == "status":
            self.out.write(f"#0 {ev['message']}\n")
        self.out.flush()

    def close(self) -> None:
        pass


class TtyProgress:
    """A live view: the block of step lines is redrawn (cursor up + clear) at most 10 times a second."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.steps: dict[int, dict[str, Any]] = {}
        self.logs: dict[int, list[str]] = {}
        self.lines_drawn = 0
        self.t0 = time.time()
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self.lock:
            t = ev.get("type")
            if t == "step":
                self.steps.setdefault(ev["id"], {}).update(ev)
            elif t == "log":
                self.logs.setdefault(ev["id"], []).append(ev["line"])
            now = time.time()
            if now - self.last > 0.1 or (t == "step" and ev.get("status") != "start"):
                self.draw()
                self.last = now

    def draw(self) -> None:
        lines = [f"[+] Building {time.time() - self.t0:.1f}s "
                 f"({sum(1 for s in self.steps.values() if s.get('status') != 'start')}/{len(self.steps)})"]
        running = None
        for vid, s in sorted(self.steps.items()):
            st = s.get("status")
            if st == "start":
                lines.append(f" => {s['name']}  {time.time() - s.get('started', time.time()):.1f}s")
                running = vid
            elif st == "error":
                lines.append(f" => ERROR {s['name']}")
            elif s.get("cached"):
                lines.append(f" => CACHED {s['name']}")
            else:
                lines.append(f" => {s['name']}  {s.get('completed', 0) - s.get('started', 0):.1f}s")
        if running is not None:
            lines.extend(f" => => # {x}" for x in self.logs.get(running, [])[-6:])
        if self.lines_drawn:
            self.out.write(f"\x1b[{self.lines_drawn}F")
        for line in lines:
            self.out.write("\x1b[2K" + line[:200] + "\n")
        self.lines_drawn = len(lines)
        self.out.flush()

    def close(self) -> None:
        with self.lock:
            self.draw()


class QuietProgress:
    def __call__(self, ev: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass
