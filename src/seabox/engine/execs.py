"""Exec instances: ``exec`` create / start (hijacked stream) / inspect / resize.

Design reason: an exec is registered with the shim only at start (docker creates the
instance first and starts it with a second request); its stdio are FIFOs in the engine's state
dir, opened read-write on the engine's side before the shim opens them (so neither side blocks
on open), and pumped to the hijacked connection — stdcopy-framed unless it has a TTY.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.engine import stdcopy


class Execs:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.items: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def ids(self, cid: str) -> list[str]:
        with self.lock:
            return [k for k, v in self.items.items() if v["ContainerID"] == cid]

    def create(self, ns: str, ref: str, body: dict[str, Any]) -> str:
        rec = self.engine.containers.get(ns, ref)
        if not rec["State"]["Running"]:
            raise errdefs.FailedPrecondition(f"Container {rec['Id']} is not running")
        if rec["State"].get("Paused"):
            raise errdefs.FailedPrecondition(f"Container {rec['Id']} is paused, unpause the container before exec")
        cmd = body.get("Cmd") or []
        if not cmd:
            raise errdefs.InvalidArgument("No exec command specified")
        eid = secrets.token_hex(32)
        with self.lock:
            self.items[eid] = {"ID": eid, "ContainerID": rec["Id"], "Namespace": ns, "Running": False,
                               "ExitCode": None, "Pid": 0, "OpenStdin": bool(body.get("AttachStdin")),
                               "OpenStdout": bool(body.get("AttachStdout", True)),
                               "OpenStderr": bool(body.get("AttachStderr", True)), "CanRemove": False,
                               "DetachKeys": body.get("DetachKeys", ""),
                               "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0],
                                                 "arguments": list(cmd[1:]), "privileged": bool(body.get("Privileged")),
                                                 "user": body.get("User", "")},
                               "Body": body}
        return eid

    def get(self, eid: str) -> dict[str, Any]:
        with self.lock:
            e = self.items.get(eid)
        if e is None:
            raise errdefs.NotFound(f"No such exec instance: {eid}")
        return e

    def inspect(self, eid: str) -> dict[str, Any]:
        e = self.get(eid)
        return {k: v for k, v in e.items() if k not in ("Namespace", "Body")}

    def _process(self, ns: str, rec: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        import json

        from seabox.ctr import containers as ctrc
        from seabox.ctr import spec as ctrspec
        from seabox.engine.spec import merge_env

        c = ctrc.get(self.engine.client(ns), rec["Id"])
        spec = json.loads(c.spec.value)
        user = body.get("User") or ""
        passwd = group = None
        if user and not all(p.isdigit() for p in user.split(":") if p):
            _, passwd, group, _ = self.engine.containers._image_files(ns, {**rec, "RequestConfig": {"User": user}})
        p = ctrspec.exec_process(spec, list(body["Cmd"]), tty=bool(body.get("Tty")),
                                 cwd=body.get("WorkingDir") or "", user=user, passwd=passwd, group=group)
        if body.get("Env"):
            p["env"] = merge_env(p.get("env") or [], list(body["Env"]))
        if body.get("Privileged"):
            caps = list(ctrspec.ALL_CAPS)
            p["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
        return p

    def start(self, eid: str, conn: socket.socket | None, *, detach: bool = False, tty: bool = False) -> None:
        e = self.get(eid)
        ns, cid = e["Namespace"], e["ContainerID"]
        rec = self.engine.containers.get(ns, cid)
        body = e["Body"]
        tty = bool(body.get("Tty"))
        proc = self._process(ns, rec, body)
        d = Path(self.engine.settings.state) / "engine" / "exec" / eid[:24]
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths = {}
        fds = {}
        want = {"stdin": e["OpenStdin"] and not detach, "stdout": not detach, "stderr": not detach and not tty}
        for name, on in want.items():
            if on:
                p = d / name
                os.mkfifo(p, 0o600)
                paths[name] = str(p)
                fds[name] = os.open(p, os.O_RDWR | os.O_CLOEXEC)
        tasks = self.engine.tasks
        try:
            tasks.exec(ns, cid, eid[:24], proc, stdin=paths.get("stdin", ""), stdout=paths.get("stdout", ""),
                       stderr=paths.get("stderr", ""), terminal=tty)
            e["Pid"] = tasks.start(ns, cid, eid[:24])
            e["Running"] = True
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            shutil.rmtree(d, ignore_errors=True)
            raise
        done = threading.Event()

        def waiter() -> None:
            try:
                p = tasks.wait(ns, cid, eid[:24])
                e["ExitCode"] = p.exit_status
            except errdefs.SeaboxError:
                e["ExitCode"] = 137
            e["Running"] = False
            done.set()

        def cleanup() -> None:
            with contextlib.suppress(errdefs.SeaboxError):
                tasks.delete_process(ns, cid, eid[:24])
            shutil.rmtree(d, ignore_errors=True)

        threading.Thread(target=waiter, name=f"exec-{eid[:12]}", daemon=True).start()
        if detach or conn is None:
            def later() -> None:
                done.wait()
                cleanup()

            threading.Thread(target=later, daemon=True).start()
            return
        try:
            pump_streams(conn, fds, tty, done)
        finally:
            done.wait(5)
            cleanup()


def pump_streams(conn: socket.socket, fds: dict[str, int], tty: bool, done: threading.Event) -> None:
    """Copy stdout/stderr FIFOs to ``conn`` (framed unless tty) and ``conn`` to stdin until done."""
    import select

    lock = threading.Lock()
    if "stdin" in fds:
        def feed() -> None:
            fd = fds["stdin"]
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    os.write(fd, data)
            except OSError:
                pass

        threading.Thread(target=feed, daemon=True).start()
    outs = {fds[n]: (stdcopy.STDOUT if n == "stdout" else stdcopy.STDERR) for n in ("stdout", "stderr") if n in fds}
    for fd in outs:
        os.set_blocking(fd, False)
    idle_after_exit = 0
    try:
        while outs:
            r, _, _ = select.select(list(outs), [], [], 0.05)
            for fd in r:
                with contextlib.suppress(BlockingIOError):
                    data = os.read(fd, 65536)
                    if data:
                        with lock:
                            conn.sendall(data if tty else stdcopy.frame(outs[fd], data))
            if done.is_set():
                # the shim relays the last output after the exit: drain until quiet for 100 ms
                idle_after_exit = 0 if r else idle_after_exit + 1
                if idle_after_exit >= 2:
                    break
    except OSError:
        pass
    finally:
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
