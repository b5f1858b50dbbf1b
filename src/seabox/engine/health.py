"""Health checks: docker's ``HEALTHCHECK`` / ``--health-*`` probes of a running container.

Design reason: the probe is an exec like any other (``Execs``: the shim runs it in the
container's namespaces with its spec's user, env and cwd), so the health monitor is only a
timer per running container and a state machine on the record's ``State.Health``, as docker
keeps it: ``starting`` until the first success, ``healthy`` after a success, ``unhealthy``
after ``Retries`` failures in a row — failures inside the start period do not count.  Each probe
gets ``Timeout`` (then it is killed and counts as a failure); its output (first 4 KiB) and exit
code are kept in the last five ``Log`` entries.  A change of status is an event
(``health_status: healthy``), and ``ps`` shows it after the uptime.  The monitor starts with
the container's exit monitor (start, restart, daemon recovery) and stops at its exit.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from seabox import errdefs

SECOND = 1_000_000_000
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0, "Retries": 3,
            "StartInterval": 5 * SECOND}
MAX_OUTPUT = 4096
MAX_LOG = 5


def merge(image: dict[str, Any] | None, container: dict[str, Any] | None) -> dict[str, Any] | None:
    """The effective check: the container's fields where set, the image's otherwise (docker's
    merge); None when there is no test or it is ``NONE``."""
    out = dict(image or {})
    for k, v in (container or {}).items():
        if v:
            out[k] = v
    test = list(out.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] not in ("CMD", "CMD-SHELL"):
        raise errdefs.InvalidArgument(f"healthcheck: unknown test type {test[0]!r} (CMD, CMD-SHELL or NONE)")
    return out


def argv(check: dict[str, Any], shell: list[str] | None = None) -> list[str]:
    test = list(check["Test"])
    if test[0] == "CMD-SHELL":
        return [*(shell or ["/bin/sh", "-c"]), " ".join(test[1:])]
    return test[1:]


def _nanos(check: dict[str, Any], key: str) -> int:
    v = int(check.get(key) or 0)
    return v if v > 0 else int(DEFAULTS[key])


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def status_suffix(state: dict[str, Any]) -> str:
    """What ``ps`` adds to "Up 5 seconds": ``(healthy)``, ``(unhealthy)``, ``(health: starting)``."""
    h = (state.get("Health") or {}).get("Status")
    if not h:
        return ""
    return " (health: starting)" if h == "starting" else f" ({h})"


class Monitor:
    def __init__(self, containers: Any) -> None:
        self.c = containers
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def watch(self, ns: str, cid: str) -> None:
        """Start probing ``cid`` if its config has a check (again after a restart: ``starting``)."""
        rec = self.c.records.items.get(cid)
        check = (rec or {}).get("Config", {}).get("Healthcheck")
        if rec is None or not check:
            return
        with self._lock:
            old = self._stops.pop(cid, None)
            if old is not None:
                old.set()
            stop = self._stops[cid] = threading.Event()
        with self.c.lock(cid):
            rec["State"]["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
            self.c.records.save(rec)
        threading.Thread(target=self._run, args=(ns, cid, dict(check), stop), name=f"health-{cid[:12]}",
                         daemon=True).start()

    def stop(self, cid: str) -> None:
        with self._lock:
            ev = self._stops.pop(cid, None)
        if ev is not None:
            ev.set()

    def close(self) -> None:
        with self._lock:
            evs = list(self._stops.values())
            self._stops.clear()
        for ev in evs:
            ev.set()

    def _run(self, ns: str, cid: str, check: dict[str, Any], stop: threading.Event) -> None:
        begun = time.monotonic()
        start_period = _nanos(check, "StartPeriod") / SECOND
        while True:
            rec = self.c.records.items.get(cid)
            starting = rec is not None and (rec["State"].get("Health") or {}).get("Status") == "starting"
            in_start = time.monotonic() - begun < start_period
            wait = _nanos(check, "StartInterval" if starting and in_start and check.get("StartInterval")
                          else "Interval") / SECOND
            if stop.wait(wait):
                return
            t0 = time.time()
            code, output = self.probe(ns, cid, check)
            if stop.is_set():
                return
            self._record(ns, cid, check, t0, code, output, time.monotonic() - begun < start_period)

    def probe(self, ns: str, cid: str, check: dict[str, Any]) -> tuple[int, str]:
        """Run the test once in the container: (exit code, output); -1 when it timed out."""
        ex = self.c.engine.execs
        try:
            eid = ex.create(ns, cid, {"Cmd": argv(check), "AttachStdout": True, "AttachStderr": True})
        except errdefs.SeaboxError as e:
            return -1, str(e)
        ours, theirs = socket.socketpair()
        out = bytearray()
        done = threading.Event()

        def run() -> None:
            try:
                ex.start(eid, theirs)
            except Exception as e:  # reported as the probe's output
                out.extend(f"{e}\n".encode())
            finally:
                theirs.close()
                done.set()

        threading.Thread(target=run, name=f"health-exec-{cid[:12]}", daemon=True).start()
        deadline = time.monotonic() + _nanos(check, "Timeout") / SECOND
        timed_out = False
        ours.settimeout(0.2)
        try:
            while True:
                try:
                    chunk = ours.recv(65536)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        timed_out = True
                        break
                    continue
                if not chunk:
                    break
                if len(out) < 8 * MAX_OUTPUT:
                    out.extend(chunk)
        finally:
            ours.close()
        item = ex.items.get(eid) or {}
        if timed_out:
            with contextlib.suppress(errdefs.SeaboxError):
                self.c.tasks.kill(ns, cid, 9, exec_id=eid[:24])
        done.wait(5)
        with ex.lock:
            ex.items.pop(eid, None)
        if timed_out:
            secs = _nanos(check, "Timeout") / SECOND
            return -1, f"Health check exceeded timeout ({secs:g}s)"
        from seabox.engine.stdcopy import deframe

        frames, _rest = deframe(bytes(out))
        text = b"".join(data for _stream, data in frames).decode(errors="replace")
        code = item.get("ExitCode")
        return (int(code) if code is not None else -1), text[:MAX_OUTPUT]

    def _record(self, ns: str, cid: str, check: dict[str, Any], t0: float, code: int, output: str,
                in_start: bool) -> None:
        with self.c.lock(cid):
            rec = self.c.records.items.get(cid)
            if rec is None or not rec["State"].get("Running"):
                return
            h = rec["State"].setdefault("Health", {"Status": "starting", "FailingStreak": 0, "Log": []})
            old = h.get("Status")
            h["Log"] = [*h.get("Log", []), {"Start": _iso(t0), "End": _iso(time.time()), "ExitCode": code,
                                            "Output": output}][-MAX_LOG:]
            if code == 0:
                h["FailingStreak"] = 0
                h["Status"] = "healthy"
            elif not (in_start and old == "starting"):  # failures while starting up do not count
                h["FailingStreak"] = int(h.get("FailingStreak", 0)) + 1
                if h["FailingStreak"] >= _nanos(check, "Retries"):
                    h["Status"] = "unhealthy"
            self.c.records.save(rec)
            new = h["Status"]
            name = rec["Name"][1:]
        if new != old:
            self.c.engine.emit(ns, "container", f"health_status: {new}", cid, {"name": name})
