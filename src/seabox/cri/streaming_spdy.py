"""SPDY/3.1 for the CRI streaming server: framing, header compression, a server connection.

kubelet, the API server's stream translation and crictl's default transport upgrade the
streaming URL to SPDY/3.1 (``Upgrade: SPDY/3.1``) rather than WebSocket, then open one SPDY
stream per channel (``streamType`` header: error, stdin, stdout, stderr, resize; for
port-forward error/data with ``port`` and ``requestID``).  This module speaks just enough of
SPDY/3.1 for that: every frame type is parsed; SYN_STREAM is answered with SYN_REPLY (Go's
spdystream drops data on a stream it opened until the reply arrives); PING is echoed.

Header blocks are zlib streams primed with SPDY/3's fixed dictionary, one compression context
per direction for the whole connection, flushed with Z_SYNC_FLUSH after each block.

Flow control: every received data frame is acknowledged with WINDOW_UPDATE (stream and
connection) once the relay has taken it, so a flow-controlling peer never stalls on us.  Our
sends respect the peer's windows only after the peer shows it does flow control (a
WINDOW_UPDATE or a SETTINGS INITIAL_WINDOW_SIZE); spdystream, kubelet's and crictl's library,
neither sends nor honours WINDOW_UPDATE, and waiting for one would hang every session past
64 KiB.  Design reason for writing it here: no maintained Python SPDY library exists, and the
subset is small.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
SETTINGS_INITIAL_WINDOW_SIZE = 7
INITIAL_WINDOW = 64 * 1024
MAX_DATA = 16 * 1024  # payload bytes per data frame we send
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5

# The SPDY/3 header compression dictionary (protocol data from the SPDY/3 specification, 1423 bytes).
DICTIONARY = bytes.fromhex(
    "000000076f7074696f6e73000000046865616400000004706f7374000000037075740000000664656c65746500000005"
    "7472616365000000066163636570740000000e6163636570742d636861727365740000000f6163636570742d656e636f"
    "64696e670000000f6163636570742d6c616e67756167650000000d6163636570742d72616e6765730000000361676500"
    "000005616c6c6f770000000d617574686f72697a6174696f6e0000000d63616368652d636f6e74726f6c0000000a636f"
    "6e6e656374696f6e0000000c636f6e74656e742d6261736500000010636f6e74656e742d656e636f64696e6700000010"
    "636f6e74656e742d6c616e67756167650000000e636f6e74656e742d6c656e67746800000010636f6e74656e742d6c6f"
    "636174696f6e0000000b636f6e74656e742d6d64350000000d636f6e74656e742d72616e67650000000c636f6e74656e"
    "742d74797065000000046461746500000004657461670000000665787065637400000007657870697265730000000466"
    "726f6d00000004686f73740000000869662d6d617463680000001169662d6d6f6469666965642d73696e63650000000d"
    "69662d6e6f6e652d6d617463680000000869662d72616e67650000001369662d756e6d6f6469666965642d73696e6365"
    "0000000d6c6173742d6d6f646966696564000000086c6f636174696f6e0000000c6d61782d666f727761726473000000"
    "06707261676d610000001270726f78792d61757468656e7469636174650000001370726f78792d617574686f72697a61"
    "74696f6e0000000572616e676500000007726566657265720000000b72657472792d6166746572000000067365727665"
    "7200000002746500000007747261696c6572000000117472616e736665722d656e636f64696e67000000077570677261"
    "64650000000a757365722d6167656e74000000047661727900000003766961000000077761726e696e67000000107777"
    "772d61757468656e746963617465000000066d6574686f64000000036765740000000673746174757300000006323030"
    "204f4b0000000776657273696f6e00000008485454502f312e310000000375726c000000067075626c69630000000a73"
    "65742d636f6f6b69650000000a6b6565702d616c697665000000066f726967696e313030313031323031323032323035"
    "323036333030333032333033333034333035333036333037343032343035343036343037343038343039343130343131"
    "343132343133343134343135343136343137353032353034353035323033204e6f6e2d417574686f7269746174697665"
    "20496e666f726d6174696f6e323034204e6f20436f6e74656e74333031204d6f766564205065726d616e656e746c7934"
    "303020426164205265717565737434303120556e617574686f72697a656434303320466f7262696464656e343034204e"
    "6f7420466f756e6435303020496e7465726e616c20536572766572204572726f72353031204e6f7420496d706c656d65"
    "6e746564353033205365727669636520556e617661696c61626c654a616e20466562204d617220417072204d6179204a"
    "756e204a756c204175672053657074204f6374204e6f76204465632030303a30303a3030204d6f6e2c205475652c2057"
    "65642c205468752c204672692c205361742c2053756e2c20474d546368756e6b65642c746578742f68746d6c2c696d61"
    "67652f706e672c696d6167652f6a70672c696d6167652f6769662c6170706c69636174696f6e2f786d6c2c6170706c69"
    "636174696f6e2f7868746d6c2b786d6c2c746578742f706c61696e2c746578742f6a6176617363726970742c7075626c"
    "6963707269766174656d61782d6167653d677a69702c6465666c6174652c73646368636861727365743d7574662d3863"
    "6861727365743d69736f2d383835392d312c7574662d2c2a2c656e713d302e"
)


# -- frames ----------------------------------------------------------------------------------------


@dataclass
class Frame:
    """One frame: ``kind`` is a control type, or 0 for data (then ``stream_id`` and ``data``)."""

    kind: int
    flags: int = 0
    stream_id: int = 0
    data: bytes = b""  # data payload, or a control frame's body after the fields parsed below
    headers: dict[str, list[str]] = field(default_factory=dict)
    assoc_id: int = 0
    priority: int = 0
    status: int = 0  # RST_STREAM / GOAWAY status
    delta: int = 0  # WINDOW_UPDATE
    ping_id: int = 0
    settings: dict[int, int] = field(default_factory=dict)


def encode_data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    if len(data) >= 1 << 24:
        raise ValueError("spdy: data frame too large")
    return struct.pack(">IB", stream_id & 0x7FFFFFFF, FLAG_FIN if fin else 0) + len(data).to_bytes(3, "big") + data


def encode_control(kind: int, body: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHB", 0x8000 | VERSION, kind, flags) + len(body).to_bytes(3, "big") + body


def pack_headers(headers: dict[str, list[str]]) -> bytes:
    """The uncompressed name/value block: lowercase names, several values joined by NUL."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n = name.lower().encode()
        v = b"\0".join(x.encode() for x in values)
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def unpack_headers(block: bytes) -> dict[str, list[str]]:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        off = 4
        out: dict[str, list[str]] = {}
        for _ in range(count):
            (ln,) = struct.unpack_from(">I", block, off)
            name = block[off + 4:off + 4 + ln].decode().lower()
            off += 4 + ln
            (lv,) = struct.unpack_from(">I", block, off)
            value = block[off + 4:off + 4 + lv]
            off += 4 + lv
            if len(value) != lv or not name:
                raise ValueError("truncated")
            out.setdefault(name, []).extend(value.decode().split("\0"))
        return out
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"spdy: bad header block: {e}") from None


class HeaderCodec:
    """The two compression contexts of one connection (ours for sending, the peer's for receiving)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: dict[str, list[str]]) -> bytes:
        return self._deflate.compress(pack_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ValueError(f"spdy: header block does not decompress: {e}") from None
        return unpack_headers(raw)


def syn_stream(codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]], fin: bool = False,
               priority: int = 0) -> bytes:
    body = struct.pack(">IIBB", stream_id, 0, (priority & 7) << 5, 0) + codec.compress(headers)
    return encode_control(SYN_STREAM, body, FLAG_FIN if fin else 0)


def syn_reply(codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]], fin: bool = False) -> bytes:
    return encode_control(SYN_REPLY, struct.pack(">I", stream_id) + codec.compress(headers), FLAG_FIN if fin else 0)


def rst_stream(stream_id: int, status: int) -> bytes:
    return encode_control(RST_STREAM, struct.pack(">II", stream_id, status))


def window_update(stream_id: int, delta: int) -> bytes:
    return encode_control(WINDOW_UPDATE, struct.pack(">II", stream_id, delta))


def settings(values: dict[int, int]) -> bytes:
    body = struct.pack(">I", len(values)) + b"".join(struct.pack(">II", k & 0xFFFFFF, v) for k, v in values.items())
    return encode_control(SETTINGS, body)


def ping(ping_id: int) -> bytes:
    return encode_control(PING, struct.pack(">I", ping_id))


def goaway(last_id: int, status: int = 0) -> bytes:
    return encode_control(GOAWAY, struct.pack(">II", last_id, status))


def _exact(rf: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = rf.read(n - len(data))
        if not chunk:
            raise EOFError("spdy: connection closed")
        data += chunk
    return data


def read_frame(rf: Any, codec: HeaderCodec) -> Frame:
    """The next frame from a buffered reader; header blocks are decompressed with ``codec``."""
    head = _exact(rf, 8)
    length = int.from_bytes(head[5:8], "big")
    flags = head[4]
    body = _exact(rf, length) if length else b""
    if not head[0] & 0x80:
        return Frame(0, flags, struct.unpack_from(">I", head)[0] & 0x7FFFFFFF, body)
    version, kind = struct.unpack_from(">HH", head)
    version &= 0x7FFF
    if version != VERSION:
        raise ValueError(f"spdy: unsupported version {version}")
    f = Frame(kind, flags)
    try:
        if kind == SYN_STREAM:
            sid, assoc, pri = struct.unpack_from(">IIB", body)
            f.stream_id, f.assoc_id, f.priority = sid & 0x7FFFFFFF, assoc & 0x7FFFFFFF, pri >> 5
            f.headers = codec.decompress(body[10:])
        elif kind in (SYN_REPLY, HEADERS):
            f.stream_id = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            f.headers = codec.decompress(body[4:])
        elif kind == RST_STREAM:
            sid, f.status = struct.unpack_from(">II", body)
            f.stream_id = sid & 0x7FFFFFFF
        elif kind == SETTINGS:
            (n,) = struct.unpack_from(">I", body)
            for i in range(n):
                k, v = struct.unpack_from(">II", body, 4 + 8 * i)
                f.settings[k & 0xFFFFFF] = v
        elif kind == PING:
            (f.ping_id,) = struct.unpack_from(">I", body)
        elif kind == GOAWAY:
            sid, f.status = struct.unpack_from(">II", body[:8].ljust(8, b"\0"))
            f.stream_id = sid & 0x7FFFFFFF
        elif kind == WINDOW_UPDATE:
            sid, delta = struct.unpack_from(">II", body)
            f.stream_id, f.delta = sid & 0x7FFFFFFF, delta & 0x7FFFFFFF
        else:
            f.data = body  # unknown control frames are ignored (SPDY/3 says so)
    except struct.error:
        raise ValueError(f"spdy: control frame type {kind} too short") from None
    return f


# -- a server connection -----------------------------------------------------------------------------


class Stream:
    """One peer-opened stream: its headers, its inbound data, our send window."""

    def __init__(self, conn: SpdyConn, stream_id: int, headers: dict[str, list[str]], fin: bool) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self._in: queue.Queue[bytes | None] = queue.Queue()
        self.remote_closed = fin
        self.local_closed = False
        self.window = conn.initial_window
        if fin:
            self._in.put(None)

    def header(self, name: str) -> str:
        return (self.headers.get(name.lower()) or [""])[0]

    def read(self) -> bytes | None:
        """The next data the peer sent, None at its FIN (or a reset/closed connection)."""
        data = self._in.get()
        if data:
            self.conn._consumed(self.id, len(data))
        return data

    def write(self, data: bytes, fin: bool = False) -> None:
        self.conn._send_data(self, data, fin)

    def close(self) -> None:
        """Half-close our side (an empty data frame with FIN)."""
        if not self.local_closed:
            self.conn._send_data(self, b"", True)


class SpdyConn:
    """The server side of a SPDY/3.1 session: a reader thread, thread-safe writes, accepted streams."""

    def __init__(self, sock: socket.socket, rfile: Any) -> None:
        self.sock = sock
        self.rfile = rfile
        self.codec = HeaderCodec()
        self.initial_window = INITIAL_WINDOW
        self.conn_window = INITIAL_WINDOW
        self.peer_flow_control = False
        self.streams: dict[int, Stream] = {}
        self.accepted: queue.Queue[Stream | None] = queue.Queue()
        self.closed = False
        self._wlock = threading.Lock()
        self._cond = threading.Condition()
        self._last_id = 0
        self._reader = threading.Thread(target=self._read_loop, name="cri-spdy-read", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def _write(self, raw: bytes) -> None:
        with self._wlock:
            if self.closed:
                return
            try:
                self.sock.sendall(raw)
            except OSError:
                self.closed = True

    def _read_loop(self) -> None:
        try:
            while True:
                f = read_frame(self.rfile, self.codec)
                self._dispatch(f)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()
            for s in list(self.streams.values()):
                if not s.remote_closed:
                    s.remote_closed = True
                    s._in.put(None)
            self.accepted.put(None)

    def _dispatch(self, f: Frame) -> None:
        if f.kind == 0:
            s = self.streams.get(f.stream_id)
            if s is None or s.remote_closed:
                self._write(rst_stream(f.stream_id, RST_INVALID_STREAM))
                return
            if f.data:
                s._in.put(f.data)
            if f.flags & FLAG_FIN:
                s.remote_closed = True
                s._in.put(None)
        elif f.kind == SYN_STREAM:
            if f.stream_id in self.streams or f.stream_id % 2 == 0 or f.stream_id <= self._last_id:
                self._write(rst_stream(f.stream_id, RST_PROTOCOL_ERROR))
                return
            self._last_id = f.stream_id
            s = Stream(self, f.stream_id, f.headers, bool(f.flags & FLAG_FIN))
            if f.flags & FLAG_UNIDIRECTIONAL:
                s.local_closed = True
            self.streams[f.stream_id] = s
            with self._wlock:  # header blocks must go out in compression order
                if not self.closed:
                    try:
                        self.sock.sendall(syn_reply(self.codec, f.stream_id, {}))
                    except OSError:
                        self.closed = True
            self.accepted.put(s)
        elif f.kind == RST_STREAM:
            s = self.streams.get(f.stream_id)
            if s is not None:
                s.local_closed = True
                if not s.remote_closed:
                    s.remote_closed = True
                    s._in.put(None)
                with self._cond:
                    self._cond.notify_all()
        elif f.kind == SETTINGS:
            if SETTINGS_INITIAL_WINDOW_SIZE in f.settings:
                with self._cond:
                    new = f.settings[SETTINGS_INITIAL_WINDOW_SIZE]
                    for s in self.streams.values():
                        s.window += new - self.initial_window
                    self.initial_window = new
                    self.peer_flow_control = True
                    self._cond.notify_all()
        elif f.kind == PING:
            self._write(ping(f.ping_id))
        elif f.kind == WINDOW_UPDATE:
            with self._cond:
                self.peer_flow_control = True
                if f.stream_id == 0:
                    self.conn_window += f.delta
                elif f.stream_id in self.streams:
                    self.streams[f.stream_id].window += f.delta
                self._cond.notify_all()
        elif f.kind == GOAWAY:
            raise EOFError("spdy: peer went away")
        # SYN_REPLY, HEADERS and unknown control frames: nothing to do for a server

    def _consumed(self, stream_id: int, n: int) -> None:
        self._write(window_update(stream_id, n) + window_update(0, n))

    def _send_data(self, s: Stream, data: bytes, fin: bool) -> None:
        if s.local_closed:
            return
        off = 0
        while True:
            chunk = data[off:off + MAX_DATA]
            if chunk:
                with self._cond:
                    while self.peer_flow_control and not self.closed and not s.local_closed and \
                            min(s.window, self.conn_window) <= 0:
                        self._cond.wait()
                    if self.closed or s.local_closed:
                        return
                    if self.peer_flow_control:
                        chunk = chunk[:min(s.window, self.conn_window)]
                        s.window -= len(chunk)
                        self.conn_window -= len(chunk)
            off += len(chunk)
            last = off >= len(data)
            self._write(encode_data(s.id, chunk, fin and last))
            if last:
                break
        if fin:
            s.local_closed = True

    def accept(self, timeout: float | None = None) -> Stream | None:
        """The next stream the peer opens; None when the connection ended (or on timeout)."""
        try:
            return self.accepted.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self, linger: float = 5.0) -> None:
        """GOAWAY and our half-close; the peer gets ``linger`` seconds to read it all and hang up."""
        self._write(goaway(self._last_id))
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(linger)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
