"""The OCI runtime as the shim drives it: seabox's runtime library in a forked child, or any
runc-compatible binary.

Design reason: every runtime call runs in a *child* of the shim.  For the library that child
is a plain ``fork`` — no Python start-up, and with a pre-warmed launcher the runtime modules
are already imported — and it is what the runtime needs anyway: the container's init is forked
from the caller, inherits the caller's fds 0-2 as its stdio, and is reparented to the shim
(a child subreaper) when the child exits.  Running the library in a child also means a crash in
it cannot take the shim down, and the shim's own memory pages are never touched by it (they
stay shared with the launcher).  The one exception is ``start`` of a container without
poststart hooks (``LibraryRuntime.start_here``): it touches nothing but the exec FIFO, and the
fork and reap around it cost more than the call.  With ``binary`` set, the same calls exec that binary with
runc's command line (``--root``, ``--log --log-format json``, ``create --bundle --pid-file
--console-socket``, ``exec --detach --process``, ...), which is how the shim proves itself an
ordinary OCI-runtime client (tests drive real runc through it).
"""

from __future__ import annotations

import _socket
import array
import json
import os
import signal

from seabox.errdefs import FailedPrecondition, SeaboxError, subject
from seabox.shim import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/seabox-runc"

Stdio = tuple[int, int, int]


def _reset_child_signals() -> None:
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _dup_stdio(stdio: Stdio | None) -> None:
    if stdio is None:
        return
    fds = [os.dup(fd) for fd in stdio]  # above 2, so dup2 below cannot clobber a source
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)


def _library_call(root: str, op: str, args: dict) -> Any:
    """Runs in the forked child: one call into ``seabox.runtime``."""
    from pathlib import Path

    r = Path(root)
    cid = args["id"]
    if op == "create":
        from seabox.runtime.create import CreateOptions, create

        created = create(r, cid, CreateOptions(bundle=args["bundle"], pid_file=args.get("pid_file"),
                                               console_socket=args.get("console_socket") or None))
        return {"pid": created.state.pid, "warnings": created.warnings}
    if op == "start":
        from seabox.runtime.start import start

        return {"pid": start(r, cid).pid}
    if op == "exec":
        from seabox.oci.runtime_spec import parse_process
        from seabox.runtime.exec import ExecOptions, exec_process

        proc = parse_process(args["process"])
        exec_process(r, cid, proc, ExecOptions(detach=True, pid_file=args["pid_file"],
                                               console_socket=args.get("console_socket") or None))
        with open(args["pid_file"]) as f:
            return {"pid": int(f.read().strip())}
    if op == "kill":
        from seabox.runtime.kill import kill

        kill(r, cid, int(args["signal"]), all_processes=bool(args.get("all")))
        return {}
    if op == "delete":
        from seabox.runtime.delete import delete

        delete(r, cid, force=bool(args.get("force")))
        return {}
    if op in ("pause", "resume"):
        from seabox.runtime import pause as pause_mod

        getattr(pause_mod, op)(r, cid)
        return {}
    if op == "update":
        from seabox.runtime.update import update

        update(r, cid, args["resources"])
        return {}
    if op == "pids":
        from seabox.runtime.query import ps_pids

        return {"pids": ps_pids(r, cid)}
    if op == "stats":
        from seabox.runtime import state as st_mod
        from seabox.runtime.pause import manager_for

        return {"stats": manager_for(st_mod.load_state(r, cid)).stats()}
    raise SeaboxError(f"runtime: unknown call {op!r}")


def _serve_one(root: str, sock: _socket.socket) -> int:
    """In a pre-forked child: receive one call (JSON line, stdio fds), run it, answer."""
    buf = b""
    fds: list[int] = []
    while b"\n" not in buf:
        try:
            data, anc, _flags, _addr = sock.recvmsg(65536, _socket.CMSG_SPACE(3 * array.array("i").itemsize))
        except InterruptedError:
            continue
        for level, kind, payload in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
                fds.extend(a)
        if not data:
            return 0  # the shim went away, or let this child go unused
        buf += data
    req = protocol.decode(buf.split(b"\n", 1)[0])
    if len(fds) == 3:
        _dup_stdio((fds[0], fds[1], fds[2]))
    for fd in fds:
        os.close(fd)
    try:
        msg = protocol.reply(None, _library_call(root, str(req["op"]), dict(req["args"])))
    except BaseException as e:
        msg = protocol.error_reply(None, e)
    sock.sendall(protocol.encode(msg))
    return 0


def _read_message(fd: int) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _reaped(pid: int) -> bool:
    """Reap ``pid`` if it already exited."""
    while True:
        try:
            return os.waitpid(pid, os.WNOHANG)[0] != 0
        except InterruptedError:
            continue
        except ChildProcessError:
            return True


def _waitpid(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


class LibraryRuntime:
    """seabox's runtime library, each call in a forked child of the shim."""

    name = "seabox"

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root
        # children that answered but had not exited yet: the caller's reaper collects them (the
        # shim reaps all its children anyway), so a call returns without waiting for the exit
        self.unreaped: set[int] = set()
        self._helper: tuple[int, _socket.socket] | None = None  # prefork's child and its socket

    def prefork(self) -> None:
        """Fork the child of the next call now, while the shim is idle: it waits on a socket for
        the call (and its stdio, passed as SCM_RIGHTS), so the fork and the child's set-up are
        off that call's path.  The shim does this once, right after it is ready: the next call
        is the container's create, which the daemon sends a few ms later."""
        if self._helper is not None:
            return
        parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError:
            parent.close()
            child.close()
            return
        if pid == 0:
            code = 0
            try:
                parent.close()
                _reset_child_signals()
                code = _serve_one(self.root, child)
            except BaseException:
                code = 1
            os._exit(code)
        child.close()
        self._helper = (pid, parent)

    def close(self) -> None:
        """Let an unused pre-forked child go (it exits on EOF; the shim reaps it)."""
        if self._helper is not None:
            pid, sock = self._helper
            self._helper = None
            sock.close()
            self.unreaped.add(pid)

    def call(self, op: str, args: dict, stdio: Stdio | None = None) -> dict:
        if self._helper is not None:
            return self._call_helper(op, args, stdio)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                _reset_child_signals()
                _dup_stdio(stdio)
                try:
                    msg = protocol.reply(None, _library_call(self.root, op, args))
                except BaseException as e:
                    msg = protocol.error_reply(None, e)
                os.write(w, protocol.encode(msg))
            except BaseException:
                code = 1
            os._exit(code)
        os.close(w)
        data = b""
        try:
            data = _read_message(r)
        finally:
            os.close(r)
            self._collect(pid, data)
        return self._result(op, args, data)

    def _call_helper(self, op: str, args: dict, stdio: Stdio | None) -> dict:
        assert self._helper is not None
        pid, sock = self._helper
        self._helper = None
        data = b""
        try:
            req = protocol.encode({"op": op, "args": args})
            fds = list(stdio) if stdio is not None else []
            sock.sendmsg([req], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])
            data = _read_message(sock.fileno())
        except OSError:
            pass
        finally:
            sock.close()
            self._collect(pid, data)
        return self._result(op, args, data)

    def _collect(self, pid: int, data: bytes) -> None:
        if b"\n" in data and not _reaped(pid):
            self.unreaped.add(pid)  # it answered: its exit (unmapping a big heap) is not waited for
        else:
            _waitpid(pid)

    def _result(self, op: str, args: dict, data: bytes) -> dict:
        if not data:
            raise FailedPrecondition(subject("container", str(args.get("id")), f"runtime {op}: child died"))
        return protocol.raise_for(protocol.decode(data.split(b"\n", 1)[0]))

    def start_here(self, cid: str) -> dict:
        """``start`` in the shim's own process, without the child: it only opens the exec FIFO,
        reads the init's byte and removes the FIFO — no namespace, cgroup or mount of the caller
        changes, and the shim would block waiting for a child anyway.  Saves a fork and a reap
        (several ms, more on a busy machine).  Only for containers without poststart hooks: a
        hook is a process, and the shim reaps every child it has."""
        try:
            msg = protocol.reply(None, _library_call(self.root, "start", {"id": cid}))
        except Exception as e:
            msg = protocol.error_reply(None, e)
        return protocol.raise_for(msg)

    def state_file(self, cid: str) -> str:
        return os.path.join(self.root, cid, "state.json")


class BinaryRuntime:
    """A runc-compatible binary, run with runc's command line."""

    def __init__(self, binary: str, root: str, work_dir: str) -> None:
        self.binary = binary
        self.root = root
        self.work_dir = work_dir  # where log, pid and process files go
        self.name = os.path.basename(binary)

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, "--log", os.path.join(self.work_dir, "runtime.log"),
                "--log-format", "json", *args]

    def _run(self, cid: str, what: str, argv: list[str], stdio: Stdio | None = None) -> str:
        """Run the binary; return its stdout.  Errors name the container and carry the binary's message."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        fds = stdio if stdio is not None else (null, out_w, err_w)
        actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(fds)]
        try:
            pid = os.posix_spawn(self.binary, argv, os.environ, file_actions=actions,
                                 setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGTERM,
                                            signal.SIGINT, signal.SIGHUP))
        except OSError as e:
            for fd in (out_r, out_w, err_r, err_w, null):
                os.close(fd)
            raise FailedPrecondition(subject("container", cid, f"runtime {self.binary}: {e.strerror}"))
        for fd in (out_w, err_w, null):
            os.close(fd)
        out = _read_all(out_r)
        err = _read_all(err_r)
        status = _waitpid(pid)
        if status != 0:
            msg = self._log_error() or err.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
            text = msg if isinstance(msg, str) else msg[0]
            raise FailedPrecondition(subject("container", cid, f"{self.name} {what}: {text}"))
        return out.decode(errors="replace")

    def _log_error(self) -> str:
        path = os.path.join(self.work_dir, "runtime.log")
        try:
            with open(path, "rb") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("level") in ("error", "fatal"):
                return str(doc.get("msg", ""))
        return ""

    def _truncate_log(self) -> None:
        try:
            os.truncate(os.path.join(self.work_dir, "runtime.log"), 0)
        except OSError:
            pass

    def call(self, op: str, args: dict, stdio: Stdio | None = None) -> dict:
        cid = str(args["id"])
        self._truncate_log()
        if op == "create":
            argv = self._argv("create", "--bundle", args["bundle"], "--pid-file", args["pid_file"])
            if args.get("console_socket"):
                argv += ["--console-socket", args["console_socket"]]
            self._run(cid, op, [*argv, cid], stdio)
            return {"pid": _read_pid(args["pid_file"]), "warnings": []}
        if op == "start":
            self._run(cid, op, self._argv("start", cid))
            return {}
        if op == "exec":
            pfile = os.path.join(self.work_dir, f"process-{os.getpid()}.json")
            with open(pfile, "w") as f:
                json.dump(args["process"], f)
            argv = self._argv("exec", "--detach", "--process", pfile, "--pid-file", args["pid_file"])
            if args.get("console_socket"):
                argv += ["--console-socket", args["console_socket"]]
            try:
                self._run(cid, op, [*argv, cid], stdio)
            finally:
                os.unlink(pfile)
            return {"pid": _read_pid(args["pid_file"])}
        if op == "kill":
            argv = self._argv("kill", *(["--all"] if args.get("all") else []), cid, str(int(args["signal"])))
            self._run(cid, op, argv)
            return {}
        if op == "delete":
            self._run(cid, op, self._argv("delete", *(["--force"] if args.get("force") else []), cid))
            return {}
        if op in ("pause", "resume"):
            self._run(cid, op, self._argv(op, cid))
            return {}
        if op == "update":
            rfile = os.path.join(self.work_dir, "resources.json")
            with open(rfile, "w") as f:
                json.dump(args["resources"], f)
            try:
                self._run(cid, op, self._argv("update", "--resources", rfile, cid))
            finally:
                os.unlink(rfile)
            return {}
        if op == "pids":
            out = self._run(cid, op, self._argv("ps", "--format", "json", cid))
            return {"pids": json.loads(out or "[]") or []}
        if op == "stats":
            out = self._run(cid, op, self._argv("events", "--stats", cid))
            return {"stats": (json.loads(out or "{}") or {}).get("data", {})}
        raise SeaboxError(f"runtime: unknown call {op!r}")

    def state_file(self, cid: str) -> str:
        return os.path.join(self.root, cid, "state.json")


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while True:
            try:
                b = os.read(fd, 65536)
            except InterruptedError:
                continue
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_pid(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def open_runtime(binary: str = "", root: str = "", work_dir: str = "") -> LibraryRuntime | BinaryRuntime:
    if binary:
        return BinaryRuntime(binary, root or "/run/runc", work_dir)
    return LibraryRuntime(root or DEFAULT_ROOT)


def cgroup_paths(state_file: str) -> dict[str, str]:
    """The container's cgroup directories as the runtime recorded them (seabox and runc both
    write ``cgroup_paths`` in state.json); {} if unknown."""
    try:
        fd = os.open(state_file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = b""
            while chunk := os.read(fd, 1 << 20):
                data += chunk
        finally:
            os.close(fd)
        doc = protocol.decode(data)
    except (OSError, SeaboxError):
        return {}
    paths = doc.get("cgroup_paths") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in paths.items()} if isinstance(paths, dict) else {}
