"""The shim's control protocol: one JSON object per line over a unix stream socket.

Design reason: the shim must stay small (its memory is paid once per container) and must
never crash on a bad client, so the wire format is the simplest one the standard library
speaks without extra imports — newline-delimited JSON (``json.dumps`` never emits a raw
newline).  This module is sans-IO: it turns bytes into messages and messages into bytes, so
the parser is unit-tested without sockets.

Request:  ``{"id": 7, "op": "state", "exec_id": ""}``
Reply:    ``{"id": 7, "ok": true, "result": {...}}``
Error:    ``{"id": 7, "ok": false, "error": "NotFound", "message": "exec \\"e1\\": not found"}``
Event (only on a connection that sent ``subscribe``): ``{"event": "exit", "seq": 3, ...}``

Errors carry the kind of ``seabox.errdefs`` error they were raised as, and the client raises
the same kind again, so a caller cannot tell a local failure from a remote one.  Error kinds:
NotFound, AlreadyExists, InvalidArgument, FailedPrecondition, Unavailable, Internal.

Operations (``exec_id`` "" or absent means the container's init; ``client.ShimClient`` has one
method per operation):

=========  ==========================================================  =====================================
op         request fields                                              result fields
=========  ==========================================================  =====================================
ping       -                                                           pid, id, namespace, runtime, address
create     bundle, stdin, stdout, stderr (FIFO paths, optional),       pid, warnings
           terminal, log ({driver: json-file|file, path, max_size,
           max_file})
start      exec_id                                                     pid
exec       exec_id, process (OCI process object), stdin, stdout,       -
           stderr, terminal, log   (registers; ``start`` runs it)
state      exec_id                                                     id, exec_id, pid, status (created|
                                                                       running|paused|stopped), exit_status,
                                                                       exited_at, terminal, stdin, stdout,
                                                                       stderr, bundle, namespace
list       -                                                           processes: [state...]
kill       exec_id, signal (int), all (bool)                           -
wait       exec_id   (answered when the process exits)                 id, exec_id, pid, exit_status, exited_at
resize     exec_id, width, height                                      -
close_io   exec_id   (forward pending stdin, then close it)            -
pids       -                                                           pids: [{pid, exec_id}]
pause      -                                                           -
resume     -                                                           -
update     resources (OCI linux.resources)                             -
stats      -                                                           stats (runc ``events --stats`` data)
delete     exec_id, force   (init: runtime delete)                     id, exec_id, pid, exit_status, exited_at
shutdown   now   (refused while the container runs, unless now)        pid   (then the shim exits)
events     since (optional seq)                                        events: [...], seq
ack        seq   (events up to seq are consumed)                       -
subscribe  since (optional seq)                                        seq; then events pushed on this
                                                                       connection, missed ones first
=========  ==========================================================  =====================================

Events: ``{"event": topic, "seq": n, "timestamp": ..., "id": container id, ...}`` with topics
create, start, exec_added, exec_started, exit (exec_id, pid, exit_status, exited_at), oom,
paused, resumed, delete.  Without ``since``, ``events``/``subscribe`` return the events not yet
acknowledged, so a daemon that acks what it has handled sees, after a restart, exactly what it
missed.  Exit status is 128+signal for a process killed by a signal; times are RFC 3339 UTC
with nanoseconds.
"""

from __future__ import annotations

import json

from seabox import errdefs

try:  # the C encoder and scanner, called directly: no Python-level json frames per message, which
    # keeps the pages a shim touches (and so its private memory) small
    from _json import make_encoder as _make_encoder

    def _no_default(o: object) -> object:
        raise TypeError(f"{type(o).__name__} is not JSON serializable")

    _c_encode = _make_encoder(None, _no_default, json.encoder.encode_basestring_ascii, None, ":", ",", False,
                              False, True)

    def _dumps(msg: dict) -> str:
        return "".join(_c_encode(msg, 0))
except ImportError:  # pragma: no cover (CPython always has _json)
    def _dumps(msg: dict) -> str:
        return json.dumps(msg, separators=(",", ":"))

_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_WS = " \t\r\n"

MAX_LINE = 1 << 20  # a request longer than this is refused and the connection dropped

ERROR_KINDS: dict[str, type[errdefs.SeaboxError]] = {
    "NotFound": errdefs.NotFound,
    "AlreadyExists": errdefs.AlreadyExists,
    "InvalidArgument": errdefs.InvalidArgument,
    "FailedPrecondition": errdefs.FailedPrecondition,
    "Unavailable": errdefs.Unavailable,
    "Internal": errdefs.SeaboxError,
}


class ProtocolError(errdefs.InvalidArgument):
    """A line that is not a JSON object, or is too long."""


def encode(msg: dict) -> bytes:
    return _dumps(msg).encode() + b"\n"


def decode(line: bytes) -> dict:
    try:
        text = line.decode("utf-8").strip(_WS)
        msg, end = _scan(text, 0)
        if end != len(text):
            raise ValueError(f"extra data at char {end}")
    except StopIteration as e:
        raise ProtocolError(f"shim protocol: malformed JSON at char {e.value}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"shim protocol: malformed JSON: {e}")
    if not isinstance(msg, dict):
        raise ProtocolError("shim protocol: a message must be a JSON object")
    return msg


class LineBuffer:
    """Accumulates received bytes and yields complete lines (without the newline)."""

    __slots__ = ("buf", "limit")

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.buf = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        lines: list[bytes] = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            lines.append(bytes(self.buf[:i]))
            del self.buf[: i + 1]
        if len(self.buf) > self.limit:
            self.buf.clear()
            raise ProtocolError(f"shim protocol: line longer than {self.limit} bytes")
        return lines


def reply(req_id: object, result: dict | None = None) -> dict:
    return {"id": req_id, "ok": True, "result": result or {}}


def error_reply(req_id: object, exc: BaseException) -> dict:
    kind = "Internal"
    for name, cls in ERROR_KINDS.items():
        if type(exc) is cls:
            kind = name
            break
    else:
        for name, cls in ERROR_KINDS.items():
            if name != "Internal" and isinstance(exc, cls):
                kind = name
                break
    message = str(exc) or type(exc).__name__
    return {"id": req_id, "ok": False, "error": kind, "message": message.splitlines()[0] if message else kind}


def raise_for(msg: dict) -> dict:
    """Return a successful reply's result, or raise the errdefs error an error reply carries."""
    if msg.get("ok"):
        result = msg.get("result")
        return result if isinstance(result, dict) else {}
    cls = ERROR_KINDS.get(str(msg.get("error")), errdefs.SeaboxError)
    raise cls(str(msg.get("message") or msg.get("error") or "shim error"))
