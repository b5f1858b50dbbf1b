"""The shim process: a control socket, the container's processes, their stdio and exits.

Design reason: one single-threaded loop (``loop.Loop``) serves everything — control
connections, stdio relays, SIGCHLD (through ``signal.set_wakeup_fd``), the OOM eventfd — so
the shim needs no threads and no locks, and an idle shim is one process asleep in ``poll``.
Runtime calls (``runtime``) run in a child and are waited for synchronously: they are short,
and a ``wait`` request never blocks the loop (it is answered when the exit is reaped).

The shim is a child subreaper from its first instruction on, so the container's init — and
every exec process — becomes its child when the runtime's create or exec exits; it reaps them
and records exit status and time (``state.Task``).  Exits and other events are numbered and
kept until a client acknowledges them, so a daemon that reconnects after a restart learns of
exits it missed.  Files under the shim's state dir (``shim.sock``, ``shim.pid``,
``shim.json``) let a restarted daemon find it again (``client.discover``).
"""

from __future__ import annotations

import _signal
import _socket
import os
import signal
import sys

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SeaboxError, subject
from seabox.shim import protocol, unixaddr
from seabox.shim import state as stm
from seabox.shim.loop import Loop
from seabox.shim.runtime import LibraryRuntime, cgroup_paths, open_runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from seabox.shim.stdio import ProcessIO

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15
SOCKET_NAME = "shim.sock"
PID_NAME = "shim.pid"
INFO_NAME = "shim.json"
MAX_PENDING = 8 << 20


class ShimConfig:
    """Where the shim lives and which runtime it drives.  ``state_dir`` is the shim's own
    directory (``<state>/<namespace>/<id>``); the socket is ``<state_dir>/shim.sock``."""

    __slots__ = ("id", "namespace", "runtime_binary", "runtime_root", "state_dir")

    def __init__(self, namespace: str, id: str, state_dir: str, runtime_binary: str = "",
                 runtime_root: str = "") -> None:
        self.namespace = namespace
        self.id = id
        self.state_dir = state_dir
        self.runtime_binary = runtime_binary
        self.runtime_root = runtime_root

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict) -> ShimConfig:
        return cls(str(d["namespace"]), str(d["id"]), str(d["state_dir"]), str(d.get("runtime_binary") or ""),
                   str(d.get("runtime_root") or ""))

    @property
    def address(self) -> str:
        return os.path.join(self.state_dir, SOCKET_NAME)


_prctl: object = None


def load_prctl() -> object:
    """libc's prctl through ctypes; the launcher calls this before forking, so shims share it."""
    global _prctl
    if _prctl is None:
        import ctypes

        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    return _prctl


def set_child_subreaper() -> None:
    prctl = load_prctl()
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:  # type: ignore[operator]
        import ctypes

        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(e)}")
    prctl(PR_SET_NAME, b"seabox-shim", 0, 0, 0)  # type: ignore[operator]  # ps shows it by name


def process_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (0 if gone): tells a live shim from a reused pid."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 4096)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return int(data[data.rindex(b")") + 2:].split()[19])


class Conn:
    __slots__ = ("buf", "out", "sock", "subscribed")

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = protocol.LineBuffer()
        self.out = bytearray()
        self.subscribed = False


class Shim:
    def __init__(self, cfg: ShimConfig) -> None:
        self.cfg = cfg
        self.task = stm.Task(cfg.id, cfg.namespace)
        self.runtime = open_runtime(cfg.runtime_binary, cfg.runtime_root, cfg.state_dir)
        self.loop = Loop()
        self.loop.on_error = self._log_error
        self.listener: _socket.socket | None = None
        self.conns: dict[int, Conn] = {}
        self.waiters: dict[str, list[tuple[Conn, object]]] = {}
        self.oom_fd = -1
        self.wake_r = -1
        self.console_n = 0
        self.orphan_exits: dict[int, int] = {}
        self.after_reply: list[Callable[[], object]] = []
        self.poststart: bool | None = None  # the spec's poststart hooks: None = not known

    # -- setup and teardown --------------------------------------------------------------------

    def listen(self) -> None:
        d = self.cfg.state_dir
        if not os.path.isdir(d):
            os.makedirs(d, mode=0o711, exist_ok=True)
        addr = self.cfg.address
        try:
            os.unlink(addr)
        except FileNotFoundError:
            pass
        # _socket, not socket: the plain C type (socket.socket's Python layer adds pages per shim)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        old = os.umask(0o077)
        try:
            unixaddr.bind(sock, addr)  # through the dir's fd when longer than sun_path
        finally:
            os.umask(old)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock
        self.loop.add_reader(sock.fileno(), self._accept)
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.wake_r = r
        _signal.signal(signal.SIGCHLD, _noop)  # _signal: no enum conversions
        _signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        self.loop.add_reader(r, self._sigchld)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            _signal.signal(sig, _signal.SIG_IGN)
        self._write_files()

    def _write_files(self, bundle: str = "") -> None:
        d = self.cfg.state_dir
        info = {**self.cfg.to_dict(), "pid": os.getpid(), "start_time": process_start_time(os.getpid()),
                "address": self.cfg.address, "bundle": bundle or self.task.bundle}
        for name, data in ((INFO_NAME, protocol.encode(info)), (PID_NAME, f"{os.getpid()}\n".encode())):
            tmp = os.path.join(d, f".{name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, os.path.join(d, name))

    def remove_files(self) -> None:
        d = self.cfg.state_dir
        for name in (SOCKET_NAME, PID_NAME, INFO_NAME, "runtime.log", "init.pid", "shim.log"):
            try:
                os.unlink(os.path.join(d, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass

    def serve(self) -> None:
        prefork = getattr(self.runtime, "prefork", None)
        if prefork is not None and self.task.procs.get(stm.INIT) is None:
            prefork()  # the create's child, forked while the daemon still builds the bundle
        self.loop.run()
        close = getattr(self.runtime, "close", None)
        if close is not None:
            close()
        for c in list(self.conns.values()):
            self._flush_blocking(c)
            self._drop(c)
        if self.listener is not None:
            self.listener.close()
        self.remove_files()

    def _log_error(self, e: BaseException) -> None:
        try:
            sys.stderr.write(f"seabox-shim {self.cfg.namespace}/{self.cfg.id}: {type(e).__name__}: {e}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    # -- connections ---------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                fd, _ = self.listener._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            c = Conn(sock)
            self.conns[sock.fileno()] = c
            self.loop.add_reader(sock.fileno(), lambda c=c: self._readable(c))  # type: ignore[misc]

    def _readable(self, c: Conn) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)
            return
        try:
            lines = c.buf.feed(data)
        except protocol.ProtocolError as e:
            self._send(c, protocol.error_reply(None, e))
            self._flush_blocking(c)
            self._drop(c)
            return
        for line in lines:
            if line.strip():
                self._request(c, line)

    def _request(self, c: Conn, line: bytes) -> None:
        req_id: object = None
        try:
            msg = protocol.decode(line)
            req_id = msg.get("id")
            op = msg.get("op")
            handler = getattr(self, f"op_{op}", None) if isinstance(op, str) and op.isidentifier() else None
            if handler is None:
                raise InvalidArgument(subject("shim", self.cfg.id, f"unknown op {op!r}"))
            result = handler(c, req_id, msg)
            if result is not None:
                self._send(c, protocol.reply(req_id, result))
        except SeaboxError as e:
            self._send(c, protocol.error_reply(req_id, e))
        except (KeyError, TypeError, ValueError) as e:
            self._send(c, protocol.error_reply(req_id, InvalidArgument(
                subject("container", self.cfg.id, f"bad request: {type(e).__name__}: {e}"))))
        except OSError as e:
            self._send(c, protocol.error_reply(req_id, FailedPrecondition(
                subject("container", self.cfg.id, str(e)))))
        except Exception as e:
            self._log_error(e)
            self._send(c, protocol.error_reply(req_id, SeaboxError(
                subject("container", self.cfg.id, f"internal error: {type(e).__name__}: {e}"))))
        finally:
            self._run_after_reply()

    def _run_after_reply(self) -> None:
        """Book-keeping an operation deferred until its reply was sent (``self.after_reply``):
        it still runs before the next request is read, so nothing can overtake it."""
        while self.after_reply:
            fn = self.after_reply.pop(0)
            try:
                fn()
            except Exception as e:
                self._log_error(e)

    def _send(self, c: Conn, msg: dict) -> None:
        if c.sock.fileno() < 0:
            return
        c.out += protocol.encode(msg)
        self._flush(c)

    def _flush(self, c: Conn) -> None:
        try:
            while c.out:
                n = c.sock.send(c.out)
                del c.out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(c)
            return
        fd = c.sock.fileno()
        if c.out:
            if len(c.out) > MAX_PENDING:
                self._drop(c)
                return
            self.loop.add_writer(fd, lambda: self._flush(c))
        else:
            self.loop.remove_writer(fd)

    def _flush_blocking(self, c: Conn) -> None:
        if c.out and c.sock.fileno() >= 0:
            try:
                c.sock.setblocking(True)
                c.sock.settimeout(2)
                c.sock.sendall(bytes(c.out))
            except OSError:
                pass
            c.out.clear()

    def _drop(self, c: Conn) -> None:
        fd = c.sock.fileno()
        if fd >= 0:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
            self.conns.pop(fd, None)
        c.sock.close()
        for lst in self.waiters.values():
            lst[:] = [w for w in lst if w[0] is not c]

    # -- events and exits ----------------------------------------------------------------------

    def _publish(self, ev: dict) -> None:
        for c in list(self.conns.values()):
            if c.subscribed:
                self._send(c, ev)

    def _sigchld(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self.reap()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            self.on_exit(pid, status)

    def on_exit(self, pid: int, status: int) -> None:
        unreaped = getattr(self.runtime, "unreaped", None)
        if unreaped and pid in unreaped:  # a runtime child that answered before it exited
            unreaped.discard(pid)
            return
        p = self.task.exited(pid, status)
        if p is None:
            if len(self.orphan_exits) > 256:
                self.orphan_exits.clear()
            self.orphan_exits[pid] = status
            return
        io: ProcessIO | None = p.io  # type: ignore[assignment]
        if io is not None:
            io.exited()
        ev = self.task.publish_exit(p)
        self._publish(ev)
        result = self._exit_result(p)
        for c, req_id in self.waiters.pop(p.exec_id, []):
            self._send(c, protocol.reply(req_id, result))

    def _exit_result(self, p: stm.Proc) -> dict:
        return {"id": self.task.id, "exec_id": p.exec_id, "pid": p.pid, "exit_status": p.exit_status,
                "exited_at": p.exited_at}

    def _claim_early_exit(self, p: stm.Proc) -> None:
        """A process that exited (and was reaped) before its pid was known."""
        status = self.orphan_exits.pop(p.pid, None)
        if status is not None:
            self.on_exit(p.pid, status)

    def _read_hooks(self, bundle: str) -> None:
        """Whether the spec has poststart hooks (``start`` runs in a child then)."""
        try:
            with open(os.path.join(bundle, "config.json"), "rb") as f:
                spec = protocol.decode(f.read())
            self.poststart = bool((spec.get("hooks") or {}).get("poststart"))
        except (OSError, protocol.ProtocolError, AttributeError):
            self.poststart = None

    def _oom_watch(self) -> None:
        mem = cgroup_paths(self.runtime.state_file(self.task.id)).get("memory")
        if not mem:
            return
        efd = -1
        try:
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            ofd = os.open(os.path.join(mem, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                cfd = os.open(os.path.join(mem, "cgroup.event_control"), os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(cfd, f"{efd} {ofd}".encode())
                finally:
                    os.close(cfd)
            finally:
                os.close(ofd)
        except OSError:
            if efd >= 0:
                os.close(efd)
            return
        self.oom_fd = efd
        self.loop.add_reader(efd, self._oom)

    def _oom(self) -> None:
        try:
            os.read(self.oom_fd, 8)
        except BlockingIOError:
            return
        except OSError:
            self._oom_unwatch()
            return
        if stm.INIT not in self.task.procs:
            return
        self._publish(self.task.events.append("oom", id=self.task.id))

    def _oom_unwatch(self) -> None:
        if self.oom_fd >= 0:
            self.loop.remove_reader(self.oom_fd)
            os.close(self.oom_fd)
            self.oom_fd = -1

    # -- helpers --------------------------------------------------------------------------------

    def _new_io(self, msg: dict, what: str) -> ProcessIO:
        from seabox.shim.stdio import ProcessIO

        terminal = bool(msg.get("terminal"))
        console = ""
        if terminal:
            self.console_n += 1
            console = os.path.join(self.cfg.state_dir, f"console-{self.console_n}.sock")
        log = msg.get("log") or None
        if log is not None and not isinstance(log, dict):
            raise InvalidArgument(subject(what, self.cfg.id, "log must be an object"))
        return ProcessIO(self.loop, stdin=str(msg.get("stdin") or ""), stdout=str(msg.get("stdout") or ""),
                         stderr=str(msg.get("stderr") or ""), terminal=terminal, log=log, console_path=console)

    def _exec_id(self, msg: dict) -> str:
        e = msg.get("exec_id") or ""
        if not isinstance(e, str):
            raise InvalidArgument(subject("container", self.cfg.id, "exec_id must be a string"))
        return e

    def _rt(self, op: str, stdio: tuple[int, int, int] | None = None, **args: object) -> dict:
        return self.runtime.call(op, {"id": self.task.id, **args}, stdio)

    # -- operations: each returns the reply's fields, or None when it answers later -----------------

    def op_ping(self, c: Conn, req_id: object, msg: dict) -> dict:
        return {"pid": os.getpid(), "id": self.task.id, "namespace": self.task.namespace,
                "runtime": self.runtime.name, "address": self.cfg.address}

    def op_create(self, c: Conn, req_id: object, msg: dict) -> dict:
        bundle = msg.get("bundle")
        if not isinstance(bundle, str) or not bundle:
            raise InvalidArgument(subject("container", self.cfg.id, "create: bundle is required"))
        io = self._new_io(msg, "container")
        p = self.task.add_init(bundle, terminal=io.terminal, stdin=str(msg.get("stdin") or ""),
                               stdout=str(msg.get("stdout") or ""), stderr=str(msg.get("stderr") or ""))
        p.io = io
        pid_file = os.path.join(self.cfg.state_dir, "init.pid")
        try:
            res = self._rt("create", io.child_stdio(), bundle=os.path.abspath(bundle), pid_file=pid_file,
                           console_socket=io.console_address() if io.terminal else "")
            io.spawned()
        except BaseException:
            io.close()
            self.task.procs.pop(stm.INIT, None)
            raise
        self.task.created(p, int(res["pid"]))
        # the state files (for recovery) and the OOM watch after the reply: the init cannot run
        # (nor be OOM-killed) before a ``start``, which this loop reads only after them
        self.after_reply += [lambda: self._write_files(bundle), self._oom_watch, lambda: self._read_hooks(bundle)]
        self._claim_early_exit(p)
        return {"pid": p.pid, "warnings": res.get("warnings", [])}

    def op_start(self, c: Conn, req_id: object, msg: dict) -> dict:
        exec_id = self._exec_id(msg)
        p = self.task.check_start(exec_id)
        if exec_id == stm.INIT:
            if self.poststart is False and isinstance(self.runtime, LibraryRuntime):
                self.runtime.start_here(self.task.id)
            else:
                self._rt("start")
            self.task.started(p, p.pid)
        else:
            io: ProcessIO = p.io  # type: ignore[assignment]
            spec = dict(p.spec or {})
            spec["terminal"] = p.terminal
            pid_file = os.path.join(self.cfg.state_dir, f"exec-{exec_id}.pid")
            try:
                res = self._rt("exec", io.child_stdio(), process=spec, pid_file=pid_file,
                               console_socket=io.console_address() if io.terminal else "")
                io.spawned()
            except BaseException:
                io.close()
                p.status = stm.STOPPED
                p.exit_status = 255
                p.exited_at = stm.rfc3339nano()
                raise
            finally:
                try:
                    os.unlink(pid_file)
                except FileNotFoundError:
                    pass
            self.task.started(p, int(res["pid"]))
        self._publish(self.task.events.events[-1])
        self._claim_early_exit(p)
        return {"pid": p.pid}

    def op_exec(self, c: Conn, req_id: object, msg: dict) -> dict:
        exec_id = self._exec_id(msg)
        spec = msg.get("process")
        if exec_id in self.task.procs:
            raise AlreadyExists(subject("exec", exec_id, f"already exists in container {self.task.id!r}"))
        self.task.init()
        if not isinstance(spec, dict) or not spec.get("args"):
            raise InvalidArgument(subject("exec", exec_id, "process spec with args is required"))
        io = self._new_io(msg, "exec")
        try:
            p = self.task.add_exec(exec_id, spec, terminal=io.terminal, stdin=str(msg.get("stdin") or ""),
                                   stdout=str(msg.get("stdout") or ""), stderr=str(msg.get("stderr") or ""))
        except BaseException:
            io.close()
            raise
        p.io = io
        ev = self.task.events.append("exec_added", id=self.task.id, exec_id=exec_id)
        self._publish(ev)
        return {}

    def op_state(self, c: Conn, req_id: object, msg: dict) -> dict:
        p = self.task.get(self._exec_id(msg))
        return {**p.view(self.task.id), "bundle": self.task.bundle, "namespace": self.task.namespace}

    def op_list(self, c: Conn, req_id: object, msg: dict) -> dict:
        return {"processes": [p.view(self.task.id) for p in self.task.procs.values()]}

    def op_kill(self, c: Conn, req_id: object, msg: dict) -> dict:
        exec_id = self._exec_id(msg)
        sig = msg.get("signal", signal.SIGTERM)
        if not isinstance(sig, int) or not 0 < sig < 65:
            raise InvalidArgument(subject("container", self.task.id, f"kill: invalid signal {sig!r}"))
        if exec_id == stm.INIT and msg.get("all") and self.task.get().status == stm.STOPPED:
            self._rt("kill", signal=sig, all=True)
            return {}
        p = self.task.check_kill(exec_id)
        if exec_id == stm.INIT:
            self._rt("kill", signal=sig, all=bool(msg.get("all")))
        else:
            try:
                os.kill(p.pid, sig)  # our child: its pid cannot be reused before we reap it
            except ProcessLookupError:
                raise NotFound(subject("exec", exec_id, "process already finished"))
        return {}

    def op_wait(self, c: Conn, req_id: object, msg: dict) -> dict | None:
        exec_id = self._exec_id(msg)
        p = self.task.get(exec_id)
        if p.status == stm.STOPPED:
            return self._exit_result(p)
        self.waiters.setdefault(exec_id, []).append((c, req_id))
        return None

    def op_resize(self, c: Conn, req_id: object, msg: dict) -> dict:
        exec_id = self._exec_id(msg)
        p = self.task.get(exec_id)
        io: ProcessIO | None = p.io  # type: ignore[assignment]
        if io is None or not p.terminal:
            raise FailedPrecondition(subject("exec" if exec_id else "container", exec_id or self.task.id,
                                             "resize: the process has no terminal"))
        io.resize(int(msg.get("width", 0)), int(msg.get("height", 0)))
        return {}

    def op_close_io(self, c: Conn, req_id: object, msg: dict) -> dict:
        p = self.task.get(self._exec_id(msg))
        io: ProcessIO | None = p.io  # type: ignore[assignment]
        if io is not None:
            io.close_stdin()
        return {}

    def op_pids(self, c: Conn, req_id: object, msg: dict) -> dict:
        if not self.task.live():
            return {"pids": []}
        pids = [int(x) for x in self._rt("pids").get("pids", [])]
        execs = {p.pid: p.exec_id for p in self.task.procs.values() if p.status != stm.STOPPED and p.pid}
        return {"pids": [{"pid": pid, "exec_id": execs.get(pid, "")} for pid in pids]}

    def op_pause(self, c: Conn, req_id: object, msg: dict) -> dict:
        self.task.init()
        if self.task.init().status not in (stm.RUNNING, stm.CREATED):
            raise FailedPrecondition(subject("container", self.task.id,
                                             f"cannot pause a {self.task.init().status} container"))
        self._rt("pause")
        self.task.set_paused(True)
        self._publish(self.task.events.events[-1])
        return {}

    def op_resume(self, c: Conn, req_id: object, msg: dict) -> dict:
        if self.task.init().status != stm.PAUSED:
            raise FailedPrecondition(subject("container", self.task.id, "container not paused"))
        self._rt("resume")
        self.task.set_paused(False)
        self._publish(self.task.events.events[-1])
        return {}

    def op_update(self, c: Conn, req_id: object, msg: dict) -> dict:
        res = msg.get("resources")
        if not isinstance(res, dict):
            raise InvalidArgument(subject("container", self.task.id, "update: resources must be an object"))
        self.task.init()
        self._rt("update", resources=res)
        return {}

    def op_stats(self, c: Conn, req_id: object, msg: dict) -> dict:
        if not self.task.live():
            raise FailedPrecondition(subject("container", self.task.id, "is not running"))
        return {"stats": self._rt("stats").get("stats", {})}

    def op_delete(self, c: Conn, req_id: object, msg: dict) -> dict:
        exec_id = self._exec_id(msg)
        force = bool(msg.get("force"))
        if exec_id != stm.INIT:
            p = self.task.check_delete(exec_id)
            if p.status != stm.STOPPED and p.pid:
                raise FailedPrecondition(subject("exec", exec_id, f"cannot delete a {p.status} process"))
            if p.io is not None:
                p.io.close()  # type: ignore[attr-defined]
            self.task.removed(exec_id)
            return self._exit_result(p)
        p = self.task.init()
        if p.status in (stm.RUNNING, stm.PAUSED) and not force:
            raise FailedPrecondition(subject("container", self.task.id, f"cannot delete a {p.status} task"))
        self._oom_unwatch()  # before the cgroup goes: its removal also signals the eventfd
        self._rt("delete", force=force or p.status != stm.STOPPED)
        if p.status != stm.STOPPED:
            self._reap_now(p)
        for other in list(self.task.procs.values()):
            if other.io is not None:
                other.io.close()  # type: ignore[attr-defined]
                other.io = None
        self.task.removed(stm.INIT)
        for eid in [e for e in self.task.procs]:
            self.task.procs.pop(eid)
        self._publish(self.task.events.events[-1])
        return self._exit_result(p)

    def _reap_now(self, p: stm.Proc) -> None:
        """After a forced delete, wait (briefly) for the killed init so its exit is recorded."""
        import time

        deadline = time.monotonic() + 10
        while p.status != stm.STOPPED and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(p.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.on_exit(pid, status)
                return
            time.sleep(0.005)
        if p.status != stm.STOPPED:
            p.status = stm.STOPPED
            p.exit_status = 128 + signal.SIGKILL
            p.exited_at = stm.rfc3339nano()

    def op_shutdown(self, c: Conn, req_id: object, msg: dict) -> dict:
        if self.task.live() and not msg.get("now"):
            raise FailedPrecondition(subject("container", self.task.id, "shutdown: the container is still running"))
        self.loop.running = False
        return {"pid": os.getpid()}

    def op_subscribe(self, c: Conn, req_id: object, msg: dict) -> None:
        since = msg.get("since")
        self._send(c, protocol.reply(req_id, {"seq": self.task.events.seq}))
        c.subscribed = True
        for ev in self.task.events.since(int(since) if since is not None else None):
            self._send(c, ev)
        return None

    def op_events(self, c: Conn, req_id: object, msg: dict) -> dict:
        since = msg.get("since")
        return {"events": self.task.events.since(int(since) if since is not None else None),
                "seq": self.task.events.seq}

    def op_ack(self, c: Conn, req_id: object, msg: dict) -> dict:
        self.task.events.ack(int(msg["seq"]))
        return {}


def _noop(*_: object) -> None:
    pass


def run(cfg: ShimConfig, ready_fd: int = -1) -> int:
    """Serve until shutdown; report readiness (``ok <pid>`` or ``error <msg>``) on ``ready_fd``."""
    shim = Shim(cfg)
    try:
        set_child_subreaper()
        shim.listen()
    except (OSError, SeaboxError) as e:
        if ready_fd >= 0:
            os.write(ready_fd, f"error {e}\n".encode())
            os.close(ready_fd)
        else:
            sys.stderr.write(f"seabox-shim: {e}\n")
        return 1
    if ready_fd >= 0:
        os.write(ready_fd, f"ok {os.getpid()}\n".encode())
        os.close(ready_fd)
    shim.serve()
    return 0
