"""The CRI streaming server: Exec, Attach and PortForward over WebSocket.

Kubelet (or crictl) calls ``Exec``/``Attach``/``PortForward``; the reply is a one-shot URL on
this server (``http://127.0.0.1:<port>/exec/<token>``) that the client opens with an HTTP
upgrade.  Protocols spoken (Kubernetes' ``wsstream``, binary framing, first payload byte =
channel):

* exec/attach: ``v5.channel.k8s.io``, ``v4.channel.k8s.io``, ``channel.k8s.io`` — channel 0
  stdin, 1 stdout, 2 stderr, 3 error (a ``metav1.Status`` JSON, sent once at the end: Success,
  or Failure with reason NonZeroExitCode and an ExitCode cause), 4 resize (``{"Width": w,
  "Height": h}``); v5 adds 255 close (payload = the channel closed, 0 = stdin EOF);
* port-forward: ``portforward.k8s.io`` / ``v4.channel.k8s.io`` with ``?port=N`` query
  parameters — for the i-th port, channel 2i carries data and 2i+1 errors; the first frame
  the server sends on each is the port as two little-endian bytes.

The same URLs also accept ``Upgrade: SPDY/3.1`` (kubelet's and crictl's default transport):
``streaming_spdy`` holds the framing and the connection, and ``SpdyChannels`` below presents
the streams as the same (channel, bytes) pipe the WebSocket relays use, so exec and attach
share one relay; port-forward over SPDY pairs error/data streams per ``requestID``.  Design
reason for one small stdlib server: no dependency, and every stream is a pair of threads copying between a
socket and FIFOs (exec/attach) or a TCP connection made inside the pod's network namespace
(port-forward: a thread enters the namespace with setns, connects, and leaves).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import queue
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("seabox.cri.streaming")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
PF_PROTOCOLS = ("portforward.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(payload: bytes, opcode: int = 2, mask: bytes | None = None) -> bytes:
    """One final frame; ``mask`` for client frames (tests), none for the server's."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 1 << 16:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def _recv_exact(rf: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = rf.read(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def read_frame(rf: Any) -> tuple[int, bytes, bool]:
    """(opcode, payload, fin) of the next frame from a buffered reader."""
    b0, b1 = _recv_exact(rf, 2)
    fin, opcode = bool(b0 & 0x80), b0 & 0x0F
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _recv_exact(rf, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _recv_exact(rf, 8))[0]
    mask = _recv_exact(rf, 4) if b1 & 0x80 else None
    payload = _recv_exact(rf, n) if n else b""
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload, fin


def read_message(rf: Any, on_control: Any = None) -> tuple[int, bytes]:
    """A whole message (continuations joined); control frames go to ``on_control``."""
    parts: list[bytes] = []
    first = 0
    while True:
        op, payload, fin = read_frame(rf)
        if op >= 8:
            if op == 8:
                return 8, payload
            if on_control is not None:
                on_control(op, payload)
            continue
        if op != 0:
            first = op
        parts.append(payload)
        if fin:
            return first, b"".join(parts)


class WSConn:
    """Server side of one WebSocket: thread-safe sends, a blocking message reader."""

    def __init__(self, sock: socket.socket, rfile: Any) -> None:
        self.sock = sock
        self.rfile = rfile
        self._wlock = threading.Lock()
        self.closed = False

    def send(self, channel: int, data: bytes) -> None:
        with self._wlock:
            if self.closed:
                return
            try:
                self.sock.sendall(encode_frame(bytes([channel]) + data))
            except OSError:
                self.closed = True

    def _control(self, op: int, payload: bytes) -> None:
        if op == 9:
            with self._wlock, contextlib.suppress(OSError):
                self.sock.sendall(encode_frame(payload, 0xA))

    def recv(self) -> tuple[int, bytes] | None:
        """(channel, data) of the next data message; None once the client closed."""
        while True:
            try:
                op, payload = read_message(self.rfile, self._control)
            except (EOFError, OSError, ValueError):
                return None
            if op == 8:
                return None
            if payload:
                return payload[0], payload[1:]

    def close(self, code: int = 1000) -> None:
        with self._wlock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.sendall(encode_frame(struct.pack(">H", code), 8))


def status_json(exit_code: int | None, error: str = "") -> bytes:
    if error:
        doc: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError",
                               "code": 500}
    elif exit_code:
        doc = {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: "
               f"error executing command, exit status {exit_code}", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
    else:
        doc = {"metadata": {}, "status": "Success"}
    return json.dumps(doc).encode()


def connect_in_netns(netns_path: str, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """A TCP connection made from inside a network namespace (a thread enters it, connects)."""
    from seabox.network.netns import run_in

    s = run_in(netns_path, lambda: socket.create_connection((host, port), timeout=timeout), "cri-pf-connect")
    s.settimeout(None)
    return s


class Channels(Protocol):
    """What the exec/attach relays need from a transport: WebSocket (``WSConn``) or SPDY."""

    def send(self, channel: int, data: bytes) -> None: ...

    def recv(self) -> tuple[int, bytes] | None: ...


SPDY_EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
SPDY_PF_PROTOCOLS = ("portforward.k8s.io",)
STATUS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")  # a metav1.Status on the error stream
SPDY_TYPES = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR, "resize": RESIZE}
STREAM_WAIT = 30.0  # how long an exec/attach waits for the client to open its streams


class SpdyChannels:
    """SPDY streams seen as the (channel, bytes) pipe of ``WSConn``, so exec/attach share the relay.

    ``recv`` yields stdin data, resize events (one JSON object each) and (CLOSE, b"\\0") at the
    stdin stream's FIN, and None when the connection ends.  Streams the client opens late are
    taken by a background acceptor.
    """

    def __init__(self, conn: Any, proto: str) -> None:
        self.conn = conn
        self.proto = proto
        self.streams: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._in: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self._feeders = 0
        threading.Thread(target=self._accept_loop, name="cri-spdy-accept", daemon=True).start()

    def types(self) -> set[str]:
        names = {v: k for k, v in SPDY_TYPES.items()}
        with self._cond:
            return {names[c] for c in self.streams}

    def _accept_loop(self) -> None:
        while (st := self.conn.accept()) is not None:
            ch = SPDY_TYPES.get(st.header("streamType"))
            if ch is None or ch in self.streams:
                st.close()
                continue
            with self._cond:
                self.streams[ch] = st
                self._cond.notify_all()
            if ch in (STDIN, RESIZE):
                threading.Thread(target=self._feed, args=(ch, st), name="cri-spdy-in", daemon=True).start()
        self._in.put(None)
        with self._cond:
            self._cond.notify_all()

    def _feed(self, ch: int, st: Any) -> None:
        buf = ""
        dec = json.JSONDecoder()
        while (data := st.read()) is not None:
            if ch == STDIN:
                self._in.put((STDIN, data))
                continue
            buf += data.decode(errors="replace")
            while buf.strip():
                try:
                    obj, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                self._in.put((RESIZE, json.dumps(obj).encode()))
        if ch == STDIN:
            self._in.put((CLOSE, b"\x00"))

    def wait_for(self, types: set[str], timeout: float) -> bool:
        chans = {SPDY_TYPES[t] for t in types}
        with self._cond:
            return self._cond.wait_for(lambda: chans <= set(self.streams) or self.conn.closed, timeout) and \
                chans <= set(self.streams)

    def send(self, channel: int, data: bytes) -> None:
        st = self.streams.get(channel)
        if st is None:
            return
        if channel == ERROR and self.proto not in STATUS_PROTOCOLS:
            doc = json.loads(data)  # before v4 the error stream carries only a failure's message
            if doc.get("status") == "Success":
                return
            data = doc.get("message", "").encode()
        st.write(data)

    def recv(self) -> tuple[int, bytes] | None:
        msg = self._in.get()
        if msg is None:
            self._in.put(None)  # stays ended for every later reader
        return msg

    def close(self) -> None:
        for st in list(self.streams.values()):
            st.close()


@dataclass
class Request:
    kind: str  # exec, attach, portforward
    target: str  # container or sandbox id
    cmd: list[str] = field(default_factory=list)
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    ports: list[int] = field(default_factory=list)
    expires: float = 0.0


class StreamServer:
    """Serves the URLs that ``Exec``/``Attach``/``PortForward`` hand out."""

    def __init__(self, backend: Any, address: str = "127.0.0.1", port: int = 0, idle_timeout: float = 0.0) -> None:
        self.backend = backend  # a seabox.cri.service.CRI
        self.idle_timeout = idle_timeout  # a session with no client frame for this long is closed (0 = never)
        self._reqs: dict[str, Request] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("stream request", extra={"fields": {"line": fmt % args}})

            def do_GET(self) -> None:
                server._handle(self)

            do_POST = do_GET

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        self.address = address
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="cri-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, req: Request) -> str:
        token = secrets.token_urlsafe(12)
        req.expires = time.monotonic() + TOKEN_TTL
        with self._lock:
            now = time.monotonic()
            for k in [k for k, r in self._reqs.items() if r.expires < now]:
                del self._reqs[k]
            self._reqs[token] = req
        host = self.address if ":" not in self.address else f"[{self.address}]"
        return f"http://{host}:{self.port}/{req.kind}/{token}"

    def _take(self, kind: str, token: str) -> Request | None:
        with self._lock:
            r = self._reqs.pop(token, None)
        if r is None or r.kind != kind or r.expires < time.monotonic():
            return None
        return r

    # -- HTTP ------------------------------------------------------------------------------------

    def _reply(self, h: BaseHTTPRequestHandler, code: int, msg: str) -> None:
        body = (msg + "\n").encode()
        h.send_response(code)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)
        h.close_connection = True

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("exec", "attach", "portforward"):
            self._reply(h, 404, "not found")
            return
        kind, token = parts
        upgrade = (h.headers.get("Upgrade") or "").lower()
        if upgrade == "spdy/3.1":
            self._handle_spdy(h, kind, token, url.query)
            return
        if upgrade != "websocket":
            self._reply(h, 400, f"{kind}: upgrade to websocket or SPDY/3.1 required")
            return
        req = self._take(kind, token)
        if req is None:
            self._reply(h, 404, f"{kind}: unknown or expired session")
            return
        offered = [p.strip() for p in (h.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        wanted = PF_PROTOCOLS if kind == "portforward" else EXEC_PROTOCOLS
        proto = next((p for p in offered if p in wanted), "")
        if offered and not proto:
            self._reply(h, 400, f"{kind}: none of the subprotocols {offered} is supported ({', '.join(wanted)})")
            return
        h.send_response(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept_key(h.headers.get("Sec-WebSocket-Key", "")))
        if proto:
            h.send_header("Sec-WebSocket-Protocol", proto)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        if self.idle_timeout > 0:
            h.connection.settimeout(self.idle_timeout)
        ws = WSConn(h.connection, h.rfile)
        try:
            if kind == "portforward":
                ports = [int(p) for p in parse_qs(url.query).get("port", [])] or req.ports
                self._portforward(ws, req.target, ports)
            elif kind == "exec":
                self._exec(ws, req, proto)
            else:
                self._attach(ws, req, proto)
        except Exception as e:
            log.warning("stream failed", extra={"fields": {"kind": kind, "error": str(e)}})
            ws.send(ERROR, status_json(None, str(e)))
        finally:
            ws.close()

    # -- SPDY ------------------------------------------------------------------------------------

    def _handle_spdy(self, h: BaseHTTPRequestHandler, kind: str, token: str, query: str) -> None:
        from seabox.cri import streaming_spdy as spdy

        offered = [p.strip() for v in (h.headers.get_all("X-Stream-Protocol-Version") or [])
                   for p in v.split(",") if p.strip()]
        wanted = SPDY_PF_PROTOCOLS if kind == "portforward" else SPDY_EXEC_PROTOCOLS
        if not offered:  # as Kubernetes' handshake: no version negotiation, no upgrade
            self._reply(h, 400, f"{kind}: SPDY upgrade without X-Stream-Protocol-Version ({', '.join(wanted)})")
            return
        proto = next((p for p in offered if p in wanted), "")
        if not proto:
            self._reply(h, 403, f"{kind}: none of the stream protocols {offered} is supported ({', '.join(wanted)})")
            return
        req = self._take(kind, token)
        if req is None:
            self._reply(h, 404, f"{kind}: unknown or expired session")
            return
        h.send_response(101, "Switching Protocols")
        h.send_header("Connection", "Upgrade")
        h.send_header("Upgrade", "SPDY/3.1")
        h.send_header("X-Stream-Protocol-Version", proto)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        if self.idle_timeout > 0:
            h.connection.settimeout(self.idle_timeout)
        conn = spdy.SpdyConn(h.connection, h.rfile)
        conn.start()
        try:
            if kind == "portforward":
                self._portforward_spdy(conn, req.target)
                return
            chans = SpdyChannels(conn, proto)
            want = {"error"}
            if req.stdin:
                want.add("stdin")
            if req.stdout:
                want.add("stdout")
            if req.stderr and not (req.tty and proto != "channel.k8s.io"):
                want.add("stderr")
            if req.tty and proto in (*STATUS_PROTOCOLS, "v3.channel.k8s.io"):
                want.add("resize")
            if not chans.wait_for(want, STREAM_WAIT):
                log.warning("spdy streams missing", extra={"fields": {"kind": kind, "have": sorted(chans.types())}})
                chans.send(ERROR, status_json(None, f"{kind}: timed out waiting for streams {sorted(want)}"))
                return
            try:
                if kind == "exec":
                    self._exec(chans, req, proto)
                else:
                    self._attach(chans, req, proto)
            except Exception as e:
                log.warning("stream failed", extra={"fields": {"kind": kind, "error": str(e)}})
                chans.send(ERROR, status_json(None, str(e)))
            finally:
                chans.close()
        finally:
            conn.close()

    def _portforward_spdy(self, conn: Any, sandbox_id: str) -> None:
        rec = self.backend._sandbox(sandbox_id)
        netns_path = rec.get("netns") or ""
        pairs: dict[str, dict[str, Any]] = {}
        socks: list[socket.socket] = []

        def forward(err: Any, data: Any, port: int) -> None:
            try:
                s = connect_in_netns(netns_path, port) if netns_path else socket.create_connection(("127.0.0.1", port))
            except (OSError, ValueError) as e:
                err.write(f"failed to connect to localhost:{port} inside the pod: {e}".encode())
                err.close()
                data.close()
                return
            socks.append(s)

            def upstream() -> None:
                while (chunk := data.read()) is not None:
                    try:
                        s.sendall(chunk)
                    except OSError:
                        break
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_WR)

            threading.Thread(target=upstream, name="cri-spdy-pf-up", daemon=True).start()
            while True:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                data.write(chunk)
            data.close()
            err.close()

        while (st := conn.accept()) is not None:
            rid = st.header("requestID") or st.header("port")
            kind = st.header("streamType")
            if kind not in ("error", "data"):
                st.close()
                continue
            pair = pairs.setdefault(rid, {})
            pair[kind] = st
            if "error" in pair and "data" in pair:
                try:
                    port = int(pair["data"].header("port") or pair["error"].header("port"))
                    if not 0 < port < 65536:
                        raise ValueError(port)
                except ValueError:
                    pair["error"].write(f"invalid port {pair['data'].header('port')!r}".encode())
                    pair["error"].close()
                    pair["data"].close()
                    continue
                threading.Thread(target=forward, args=(pair["error"], pair["data"], port), name="cri-spdy-pf",
                                 daemon=True).start()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    # -- exec / attach ---------------------------------------------------------------------------

    def _stdin_loop(self, ws: Channels, stdin_fd: int | None, on_resize: Any, on_eof: Any) -> None:
        while True:
            msg = ws.recv()
            if msg is None:
                break
            ch, data = msg
            if ch == STDIN and stdin_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(stdin_fd, data)
            elif ch == RESIZE:
                with contextlib.suppress(Exception):
                    size = json.loads(data)
                    on_resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
            elif ch == CLOSE and data[:1] == b"\x00":
                on_eof()

    def _exec(self, ws: Channels, req: Request, proto: str) -> None:
        from seabox.cri.service import NS, _drain_to

        b = self.backend
        cid, eid, fifos = b.exec_prepare(req.target, req.tty, req.stdin)
        fds = {n: os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC) for n, p in fifos.items() if n != "stdin"}
        readers = []
        for n, fd in fds.items():
            ch = STDOUT if n == "stdout" else STDERR
            t = threading.Thread(target=_drain_to, args=(fd, lambda d, ch=ch: ws.send(ch, d)), daemon=True)
            readers.append(t)
            t.start()
        try:
            b.exec_run(cid, eid, req.cmd, fifos, req.tty)
        except BaseException:
            with contextlib.suppress(Exception):
                b.tasks.delete_process(NS, cid, eid)
            for n in fds:  # a writer that comes and goes ends each reader
                with contextlib.suppress(OSError):
                    os.close(os.open(fifos[n], os.O_WRONLY | os.O_NONBLOCK))
            for t in readers:
                t.join(5)
            import shutil

            shutil.rmtree(os.path.dirname(fifos["stdout"]), ignore_errors=True)
            raise
        stdin_fd = None
        if "stdin" in fifos:
            stdin_fd = os.open(fifos["stdin"], os.O_WRONLY | os.O_CLOEXEC)

        def eof() -> None:
            nonlocal stdin_fd
            with contextlib.suppress(Exception):
                b.tasks.close_io(NS, cid, eid)
            if stdin_fd is not None:
                os.close(stdin_fd)
                stdin_fd = None

        t_in = threading.Thread(target=self._stdin_loop, daemon=True, args=(
            ws, stdin_fd, lambda w, hgt: b.tasks.resize(NS, cid, w, hgt, eid), eof))
        t_in.start()
        code, _ = b.exec_finish(cid, eid, None)
        for t in readers:
            t.join(5)
        if stdin_fd is not None:
            with contextlib.suppress(OSError):
                os.close(stdin_fd)
        ws.send(ERROR, status_json(code))

    def _attach(self, ws: Channels, req: Request, proto: str) -> None:
        from seabox.cri.service import NS

        b = self.backend
        rec = b._running(req.target)
        cid = rec["id"]
        relay = b.relays.get(cid)
        if relay is None:
            raise RuntimeError(f'container "{cid}": no output relay')

        def sub(stream: str, data: bytes) -> None:
            if (stream == "stdout" and req.stdout) or (stream == "stderr" and req.stderr):
                ws.send(STDOUT if stream == "stdout" else STDERR, data)

        relay.subscribe(sub)
        stdin_fd = None
        fifo = b._io_dir(cid) / "stdin"
        if req.stdin and fifo.exists():
            stdin_fd = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC)
        done = threading.Event()

        def waiter() -> None:
            with contextlib.suppress(Exception):
                b.tasks.wait(NS, cid)
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        def pump_stdin() -> None:
            self._stdin_loop(ws, stdin_fd, lambda w, hgt: b.tasks.resize(NS, cid, w, hgt), lambda: None)
            done.set()

        t_in = threading.Thread(target=pump_stdin, daemon=True)
        t_in.start()
        done.wait()
        relay.unsubscribe(sub)
        if stdin_fd is not None:
            with contextlib.suppress(OSError):
                os.close(stdin_fd)
        ws.send(ERROR, status_json(0))

    # -- port-forward ----------------------------------------------------------------------------

    def _portforward(self, ws: WSConn, sandbox_id: str, ports: list[int]) -> None:
        b = self.backend
        rec = b._sandbox(sandbox_id)
        netns_path = rec.get("netns") or ""
        if not ports:
            raise ValueError("port-forward: no port given")
        conns: dict[int, socket.socket] = {}
        for i, port in enumerate(ports):
            head = struct.pack("<H", port)
            ws.send(2 * i, head)
            ws.send(2 * i + 1, head)
            try:
                s = connect_in_netns(netns_path, port) if netns_path else socket.create_connection(("127.0.0.1", port))
            except OSError as e:
                ws.send(2 * i + 1, f"failed to connect to localhost:{port} inside the pod: {e}".encode())
                continue
            conns[i] = s

            def pump(s: socket.socket = s, ch: int = 2 * i) -> None:
                while True:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    ws.send(ch, data)
                ws.close()

            threading.Thread(target=pump, daemon=True).start()
        try:
            while True:
                msg = ws.recv()
                if msg is None:
                    break
                ch, data = msg
                if ch % 2 == 0 and ch // 2 in conns and data:
                    try:
                        conns[ch // 2].sendall(data)
                    except OSError:
                        break
        finally:
            for s in conns.values():
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
