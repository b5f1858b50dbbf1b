"""Starting shims: a pre-warmed launcher ("zygote") that forks them, detached from the daemon.

Design reason: a shim lives as long as its container, so what it costs is paid once per
container, twice over — Python's start-up on every ``run`` (about 10 ms for the bare
interpreter, more with imports) and the interpreter's private memory for the container's whole
life.  The launcher is one Python process, started once by the daemon, that has already
imported the shim and (optionally) the runtime library, collected and frozen its heap
(``gc.freeze``: the collector in a child never writes to those objects), and then only
forks.  A shim forked from it starts in well under a millisecond of Python work and shares all
of those pages copy-on-write with the launcher and with every other shim; only the pages it
writes become its own, which is why the PSS of an idle shim is a fraction of a fresh
interpreter's.  The daemon itself is not used as the zygote: it is multi-threaded (gRPC) and
big, and forking it would copy locks held by other threads and share the wrong pages.

Each shim is started by a double fork with ``setsid`` in between: the shim is not the
launcher's (nor the daemon's) child, has its own session, and is reparented to init, so
SIGKILLing the daemon — or its process group — leaves every shim and container running.  The
launcher exits when the daemon's end of its pipe closes.

Wire: the daemon writes ``{"config": {...ShimConfig...}}`` lines on the launcher's stdin and
reads ``{"ok": true, "pid": N, "address": "..."}`` (or ``{"ok": false, "message": ...}``) lines.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
import time

from seabox.errdefs import FailedPrecondition, SeaboxError, Unavailable, subject
from seabox.shim.server import ShimConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import NoReturn


class ShimInfo:
    __slots__ = ("address", "pid")

    def __init__(self, pid: int, address: str) -> None:
        self.pid = pid
        self.address = address

    def __repr__(self) -> str:
        return f"ShimInfo(pid={self.pid}, address={self.address!r})"


def _become_shim(cfg: ShimConfig, ready_w: int) -> NoReturn:
    """In the first child: new session, fork the shim, exit (so the shim is reparented to init)."""
    code = 1
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(os.path.join(cfg.state_dir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(log, 2)
        os.dup2(ready_w, 3)
        os.closerange(4, 1 << 16)
        gc.enable()
        from seabox.shim import server

        code = server.run(cfg, 3)
    except BaseException as e:
        try:
            os.write(3 if ready_w != 3 else ready_w, f"error {e}\n".encode())
        except OSError:
            pass
    os._exit(code)


def fork_shim(cfg: ShimConfig, timeout: float = 30.0) -> ShimInfo:
    """Fork a detached shim from this process and wait until its socket is listening.

    The caller must be single-threaded (the launcher, or the ``seabox-shim start`` command)."""
    os.makedirs(cfg.state_dir, mode=0o711, exist_ok=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _become_shim(cfg, w)
    os.close(w)
    try:
        os.waitpid(pid, 0)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise Unavailable(subject("shim", f"{cfg.namespace}/{cfg.id}", "did not become ready"))
            chunk = os.read(r, 4096)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
    line = buf.decode(errors="replace").strip()
    if not line.startswith("ok "):
        raise FailedPrecondition(subject("shim", f"{cfg.namespace}/{cfg.id}",
                                         line[6:] if line.startswith("error ") else f"failed to start: {line!r}"))
    return ShimInfo(int(line.split()[1]), cfg.address)


# -- the launcher process --------------------------------------------------------------------------


def preload(runtime: bool = True) -> None:
    """Import what shims (and their runtime children) need, then freeze the heap."""
    import seabox.shim.logs
    import seabox.shim.stdio
    from seabox.shim.server import load_prctl

    load_prctl()
    if runtime:
        import seabox.linux.console
        import seabox.linux.seccomp  # ctypes and libseccomp loaded once here, not in every create's child
        import seabox.oci.runtime_spec
        import seabox.runtime.create
        import seabox.runtime.delete
        import seabox.runtime.exec
        import seabox.runtime.kill
        import seabox.runtime.pause
        import seabox.runtime.query
        import seabox.runtime.start
        import seabox.runtime.update
        try:
            import seabox.runtime.cgroups.v1
            import seabox.runtime.cgroups.v2  # noqa: F401
        except ImportError:
            pass
    gc.collect()
    gc.freeze()


def serve_launcher(rfd: int = 0, wfd: int = 1, runtime: bool = True) -> int:
    """The launcher's loop: one spawn request per line on ``rfd``, one reply per line on ``wfd``."""
    gc.disable()
    preload(runtime)
    buf = b""
    while True:
        try:
            chunk = os.read(rfd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            return 0
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                req = json.loads(line)
                info = fork_shim(ShimConfig.from_dict(req["config"]))
                reply = {"ok": True, "pid": info.pid, "address": info.address}
            except SeaboxError as e:
                reply = {"ok": False, "message": str(e)}
            except Exception as e:
                reply = {"ok": False, "message": f"{type(e).__name__}: {e}"}
            data = (json.dumps(reply) + "\n").encode()
            while data:
                data = data[os.write(wfd, data):]


class Launcher:
    """The daemon's handle on its launcher process (thread-safe)."""

    def __init__(self, python: str = sys.executable, preload_runtime: bool = True,
                 env: dict[str, str] | None = None) -> None:
        import threading  # here, not at the top: the launcher process itself never needs it

        self._argv = [python, "-m", "seabox.shim.launcher"] + ([] if preload_runtime else ["--no-runtime"])
        self._env = env
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        import subprocess  # as threading: only the daemon side uses it

        return subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._env,
                                close_fds=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def spawn(self, cfg: ShimConfig) -> ShimInfo:
        """Fork a shim for ``cfg`` and wait until it listens (thread-safe)."""
        with self._lock:
            if self.proc.poll() is not None:  # the launcher died: start a new one (shims are unaffected)
                self.proc = self._start()
            stdin, stdout = self.proc.stdin, self.proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write((json.dumps({"config": cfg.to_dict()}) + "\n").encode())
                stdin.flush()
                line = stdout.readline()
            except OSError as e:
                raise Unavailable(f"shim launcher: {e}")
        if not line:
            raise Unavailable(f"shim launcher exited ({self.proc.poll()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise FailedPrecondition(str(reply.get("message")))
        return ShimInfo(int(reply["pid"]), str(reply["address"]))

    def close(self) -> None:
        import subprocess

        with self._lock:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spawn_direct(cfg: ShimConfig, python: str = sys.executable, timeout: float = 30.0) -> ShimInfo:
    """Start one shim without a launcher: ``seabox-shim start`` in a fresh interpreter."""
    import subprocess

    argv = [python, "-m", "seabox.cli.shim", "start", "--namespace", cfg.namespace, "--id", cfg.id,
            "--state-dir", cfg.state_dir]
    if cfg.runtime_binary:
        argv += ["--runtime-binary", cfg.runtime_binary]
    if cfg.runtime_root:
        argv += ["--runtime-root", cfg.runtime_root]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise FailedPrecondition(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "seabox-shim start failed")
    doc = json.loads(res.stdout)
    return ShimInfo(int(doc["pid"]), str(doc["address"]))


if __name__ == "__main__":
    sys.exit(serve_launcher(0, 1, runtime="--no-runtime" not in sys.argv[1:]))
