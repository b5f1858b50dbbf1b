"""A lean gRPC client over HTTP/2 on a unix socket, so seabox-ctr's hot commands need no grpcio.

``import grpc`` costs 55-110 ms here, more than a whole ``ctr run --rm`` on a warm daemon;
this module is the stdlib plus the generated protobuf classes.  It speaks just what a
containerd client needs: HTTP/2 framing (RFC 7540: preface, SETTINGS, HEADERS and
CONTINUATION, DATA, WINDOW_UPDATE both ways, PING, RST_STREAM, GOAWAY), HPACK (RFC 7541:
requests sent as literals without indexing; responses decoded fully, dynamic table and
Huffman strings included), and gRPC's wire protocol (length-prefixed messages, status in
trailers or in a trailers-only response).  Unary and server-streaming calls only; the caller
(seabox.ctr.client) falls back to grpcio for client/bidirectional streams.

No threads of its own: a call drives the connection (reads frames, hands each to its stream)
until its own stream is done, so a pending ``Wait`` future and a later ``Start`` share one
connection.  A lock serialises the reading and the writing, so another thread (signal
forwarding) can make a call at the same time.  The protocol pieces (:class:`Decoder`,
:func:`encode_headers`, :func:`frame`, :func:`huffman_decode`) are sans-IO and tested alone.
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` would add enum and selectors to every command
import _thread  # not threading (functools, collections, weakrefs): locks and idents are all we need
import os
import select
import struct
import time

TYPE_CHECKING = False  # typing costs ~5 ms to import; annotations are strings here
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterator
    from types import TracebackType
    from typing import Any
else:
    from _collections import deque  # the C type ``collections`` re-exports, without the package

# -- HTTP/2 framing (RFC 7540 section 4, 6) ------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 1, 2, 3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = 4, 5, 6
DEFAULT_WINDOW = 65535
DEFAULT_FRAME = 16384
MAX_WINDOW = (1 << 31) - 1
MAX_MESSAGE = 16 << 20  # as seabox-ctr's grpcio channel options


class ProtocolError(Exception):
    """The peer broke HTTP/2 or HPACK (a connection error)."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, kind, flags, stream_id & MAX_WINDOW) + payload


def parse_frame(buf: bytes | bytearray, offset: int = 0) -> tuple[int, int, int, bytes, int] | None:
    """``(type, flags, stream_id, payload, next_offset)`` for the frame at ``offset``, or None
    when ``buf`` does not hold all of it yet."""
    if len(buf) - offset < 9:
        return None
    hi, lo, kind, flags, sid = struct.unpack_from(">BHBBI", buf, offset)
    n = hi << 16 | lo
    end = offset + 9 + n
    if len(buf) < end:
        return None
    return kind, flags, sid & MAX_WINDOW, bytes(buf[offset + 9 : end]), end


def settings_payload(values: dict[int, int]) -> bytes:
    return b"".join(struct.pack(">HI", k, v) for k, v in values.items())


def parse_settings(payload: bytes) -> dict[int, int]:
    if len(payload) % 6:
        raise ProtocolError("SETTINGS frame with a length not a multiple of 6")
    return {k: v for k, v in struct.iter_unpack(">HI", payload)}


def strip_padding(flags: int, payload: bytes, priority: bool = False) -> bytes:
    """The fragment of a DATA/HEADERS payload without its padding (and priority fields)."""
    start, end = 0, len(payload)
    if flags & PADDED:
        if not payload:
            raise ProtocolError("padded frame without a pad length")
        pad = payload[0]
        start, end = 1, len(payload) - pad
    if priority and flags & PRIORITY_FLAG:
        start += 5
    if end < start:
        raise ProtocolError("padding longer than the frame")
    return payload[start:end]


# -- HPACK (RFC 7541) ----------------------------------------------------------------------------

STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
    (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
    (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
    ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
    ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""),
    ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
    ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""),
    ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
    ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""),
    ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
)  # fmt: skip

# RFC 7541 Appendix B, as the code length of each symbol 0..255 (then EOS, 30 bits).  The
# table is a canonical Huffman code: codes of one length are consecutive in symbol order and
# each length's first code follows the previous length's last, so the lengths determine it.
_HUFFMAN_LENGTHS = (
    "13 23 28 28 28 28 28 28 28 24 30 28 28 30 28 28 28 28 28 28 28 28 30 28 28 28 28 28 28 28 28 28 "
    "6 10 10 12 13 6 8 11 10 10 8 11 8 6 6 6 5 5 5 6 6 6 6 6 6 6 7 8 15 6 12 10 "
    "13 6 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 8 7 8 13 19 13 14 6 "
    "15 5 6 5 6 5 6 6 6 5 7 7 6 6 6 5 6 7 6 5 5 6 7 7 7 7 7 15 11 14 13 28 "
    "20 22 20 20 22 22 22 23 22 23 23 23 23 23 24 23 24 24 22 23 24 23 23 23 23 21 22 23 22 23 23 24 "
    "22 21 20 22 22 23 23 21 23 22 22 24 21 22 23 23 21 21 22 21 23 22 23 23 20 22 22 22 23 22 22 23 "
    "26 26 20 19 22 23 22 25 26 26 26 27 27 26 24 25 19 21 26 27 27 26 27 24 21 21 26 26 28 27 27 27 "
    "20 24 20 21 22 21 21 23 22 22 25 25 24 24 26 23 26 27 26 26 27 27 27 27 27 28 27 27 27 27 27 26 "
    "30"
)
EOS = 256


def huffman_codes() -> list[tuple[int, int]]:
    """``(code, length)`` for symbols 0..256 (256 is EOS), built from the canonical lengths."""
    lengths = [int(x) for x in _HUFFMAN_LENGTHS.split()]
    if len(lengths) != 257:
        raise AssertionError("HPACK Huffman table must have 257 entries")
    codes: list[tuple[int, int]] = [(0, 0)] * 257
    code, prev = 0, min(lengths)
    for sym in sorted(range(257), key=lambda s: (lengths[s], s)):
        code <<= lengths[sym] - prev
        prev = lengths[sym]
        codes[sym] = (code, prev)
        code += 1
    return codes


_DECODE_TABLE: dict[tuple[int, int], int] | None = None


def _decode_table() -> dict[tuple[int, int], int]:
    global _DECODE_TABLE
    if _DECODE_TABLE is None:
        _DECODE_TABLE = {(length, code): sym for sym, (code, length) in enumerate(huffman_codes())}
    return _DECODE_TABLE


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string literal (RFC 7541 section 5.2): the padding must be the
    most significant bits of EOS (all ones) and shorter than 8 bits; EOS itself is an error."""
    table = _decode_table()
    out = bytearray()
    code = n = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code = code << 1 | (byte >> shift) & 1
            n += 1
            sym = table.get((n, code))
            if sym is not None:
                if sym == EOS:
                    raise ProtocolError("HPACK: EOS in a Huffman string")
                out.append(sym)
                code = n = 0
            elif n > 30:
                raise ProtocolError("HPACK: invalid Huffman code")
    if n > 7 or code != (1 << n) - 1:
        raise ProtocolError("HPACK: invalid Huffman padding")
    return bytes(out)


def huffman_encode(data: bytes) -> bytes:
    """The Huffman coding of ``data`` (for tests and completeness; requests are sent raw)."""
    codes = huffman_codes()
    acc = nbits = 0
    for b in data:
        code, length = codes[b]
        acc = acc << length | code
        nbits += length
    pad = -nbits % 8
    acc = acc << pad | (1 << pad) - 1
    return acc.to_bytes((nbits + pad) // 8, "big")


def encode_int(value: int, prefix: int, first: int = 0) -> bytes:
    """An HPACK integer with an N-bit prefix (section 5.1); ``first`` holds the flag bits."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_int(buf: bytes, pos: int, prefix: int) -> tuple[int, int]:
    limit = (1 << prefix) - 1
    if pos >= len(buf):
        raise ProtocolError("HPACK: truncated integer")
    value = buf[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolError("HPACK: truncated integer")
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        if shift > 56:
            raise ProtocolError("HPACK: integer too large")


def decode_string(buf: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(buf):
        raise ProtocolError("HPACK: truncated string")
    huff = buf[pos] & 0x80
    n, pos = decode_int(buf, pos, 7)
    if pos + n > len(buf):
        raise ProtocolError("HPACK: truncated string")
    raw = buf[pos : pos + n]
    return (huffman_decode(raw) if huff else raw).decode("latin-1"), pos + n


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """A header block of literals without indexing, new names, no Huffman (section 6.2.2)."""
    out = bytearray()
    for name, value in headers:
        n, v = name.encode("latin-1"), value.encode("latin-1")
        out += b"\x00" + encode_int(len(n), 7) + n + encode_int(len(v), 7) + v
    return bytes(out)


class Decoder:
    """HPACK decoding context: the dynamic table (newest first) and its size limit."""

    def __init__(self, max_size: int = 4096) -> None:
        self.max_size = max_size  # what we allow (SETTINGS_HEADER_TABLE_SIZE)
        self.table_size = max_size  # what the encoder chose (size updates)
        self.table: deque[tuple[str, str]] = deque()
        self.size = 0

    def _evict(self) -> None:
        while self.size > self.table_size and self.table:
            n, v = self.table.pop()
            self.size -= len(n) + len(v) + 32

    def _add(self, name: str, value: str) -> None:
        self.table.appendleft((name, value))
        self.size += len(name.encode("latin-1")) + len(value.encode("latin-1")) + 32
        self._evict()

    def _get(self, index: int) -> tuple[str, str]:
        if index <= 0:
            raise ProtocolError("HPACK: index 0")
        if index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        i = index - len(STATIC_TABLE) - 1
        if i >= len(self.table):
            raise ProtocolError(f"HPACK: index {index} beyond the dynamic table")
        return self.table[i]

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        first = True
        while pos < len(block):
            b = block[pos]
            if b & 0x80:  # indexed field
                index, pos = decode_int(block, pos, 7)
                out.append(self._get(index))
            elif b & 0x40:  # literal with incremental indexing
                index, pos = decode_int(block, pos, 6)
                name, pos = (self._get(index)[0], pos) if index else decode_string(block, pos)
                value, pos = decode_string(block, pos)
                self._add(name, value)
                out.append((name, value))
            elif b & 0x20:  # dynamic table size update: only at the start of a block
                if not first:
                    raise ProtocolError("HPACK: table size update after a field")
                size, pos = decode_int(block, pos, 5)
                if size > self.max_size:
                    raise ProtocolError(f"HPACK: table size {size} above the limit {self.max_size}")
                self.table_size = size
                self._evict()
                continue
            else:  # literal without indexing (0000) or never indexed (0001)
                index, pos = decode_int(block, pos, 4)
                name, pos = (self._get(index)[0], pos) if index else decode_string(block, pos)
                value, pos = decode_string(block, pos)
                out.append((name, value))
            first = False
        return out


# -- gRPC ----------------------------------------------------------------------------------------

CODES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)  # fmt: skip


class StatusCode:
    """A gRPC status code with grpcio's ``.name``/``.value`` shape (``code().name`` is what
    seabox.ctr.client reads)."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.name = CODES[value] if 0 <= value < len(CODES) else "UNKNOWN"

    def __repr__(self) -> str:
        return f"StatusCode.{self.name}"


class RpcError(Exception):
    """A call that ended with a non-OK status: ``code()`` and ``details()`` as grpcio's errors."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(f"{CODES[code] if 0 <= code < len(CODES) else code}: {details}")
        self._code = StatusCode(code)
        self._details = details

    def code(self) -> StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def percent_decode(s: str) -> str:
    """grpc-message is percent-encoded UTF-8 (invalid escapes are kept as they are)."""
    if "%" not in s:
        return s
    raw = s.encode("latin-1")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(b: bytes) -> bool:
    return len(b) == 2 and all(c in b"0123456789abcdefABCDEF" for c in b)


_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


def status_of(headers: list[tuple[str, str]], trailers: list[tuple[str, str]]) -> tuple[int, str]:
    """The call's (code, message) from its trailers, or from a trailers-only response's headers."""
    h = dict(headers)
    http = h.get(":status", "")
    if http and http != "200":
        code = _HTTP_TO_GRPC.get(int(http) if http.isdigit() else 0, 2)
        return code, f"unexpected HTTP status code received from server: {http}"
    t = dict(trailers) if trailers else h
    raw = t.get("grpc-status")
    if raw is None:
        return 13, "server closed the stream without sending trailers"
    try:
        code = int(raw)
    except ValueError:
        return 2, f"invalid grpc-status {raw!r}"
    return code, percent_decode(t.get("grpc-message", ""))


def timeout_header(seconds: float) -> str:
    """grpc-timeout: at most 8 digits, with a unit."""
    for unit, scale in (("n", 1e9), ("u", 1e6), ("m", 1e3), ("S", 1), ("M", 1 / 60), ("H", 1 / 3600)):
        v = int(seconds * scale + 0.999999)
        if v < 100_000_000:
            return f"{max(v, 1)}{unit}"
    return "99999999H"


# -- the connection ------------------------------------------------------------------------------


class _Stream:
    __slots__ = ("buf", "consumed", "ended", "headers", "id", "messages", "reset", "send_window", "trailers")

    def __init__(self, sid: int, window: int) -> None:
        self.id = sid
        self.headers: list[tuple[str, str]] | None = None
        self.trailers: list[tuple[str, str]] = []
        self.buf = bytearray()
        self.messages: deque[bytes] = deque()
        self.ended = False
        self.reset: int | None = None
        self.send_window = window
        self.consumed = 0


class _Busy:
    """The context of :meth:`Connection._busy`: counts this thread in and out."""

    __slots__ = ("inside", "me")

    def __init__(self, inside: dict[int, int]) -> None:
        self.inside = inside
        self.me = _thread.get_ident()

    def __enter__(self) -> None:
        self.inside[self.me] = self.inside.get(self.me, 0) + 1

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.inside[self.me] -= 1


class Connection:
    """One HTTP/2 connection carrying gRPC calls.  ``window`` is the receive window per stream
    (and the connection's), replenished once half of it is consumed."""

    def __init__(self, path: str, *, window: int = 4 << 20, connect_timeout: float | None = None,
                 sock: _socket.socket | None = None) -> None:  # fmt: skip
        if sock is None:  # ``sock``: an already connected socket (tests hand one end of a socketpair)
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.settimeout(connect_timeout)
                sock.connect(path)
                sock.settimeout(None)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.window = window
        self.decoder = Decoder()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_max_frame = DEFAULT_FRAME
        self.send_window = DEFAULT_WINDOW  # connection-level, ours to spend
        self.recv_consumed = 0  # connection-level, not yet given back
        self.goaway: int | None = None
        self.closed = False
        self._buf = bytearray()
        self._header_sid = 0  # a header block in progress (CONTINUATION expected)
        self._header_flags = 0
        self._header_frag = bytearray()
        self._read_lock = _thread.allocate_lock()  # one thread reads at a time; the others wait for it
        self._inside: dict[int, int] = {}
        self._write_lock = _thread.allocate_lock()
        hello = PREFACE + frame(SETTINGS, 0, 0, settings_payload({
            SETTINGS_ENABLE_PUSH: 0, SETTINGS_INITIAL_WINDOW_SIZE: window, SETTINGS_MAX_HEADER_LIST_SIZE: 1 << 20,
        }))  # fmt: skip
        if window > DEFAULT_WINDOW:
            hello += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", window - DEFAULT_WINDOW))
        self._send(hello)

    # -- writing -------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        with self._busy(), self._write_lock:
            self.sock.sendall(data)

    def _busy(self) -> _Busy:
        """Marks this thread as inside the connection (holding, or about to hold, a lock)."""
        return _Busy(self._inside)

    def reentered(self) -> bool:
        """True in a signal handler that interrupted this thread inside the connection: a call
        made there must not wait for the locks this thread holds."""
        return self._inside.get(_thread.get_ident(), 0) > 0

    def open(self, path: str, metadata: list[tuple[str, str]], timeout: float | None) -> _Stream:
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                   ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "seabox-ctr-h2")]  # fmt: skip
        if timeout is not None:
            headers.append(("grpc-timeout", timeout_header(timeout)))
        headers += [(k.lower(), v) for k, v in metadata]
        block = encode_headers(headers)
        with self._busy(), self._write_lock:  # stream ids must reach the wire in order
            if self.goaway is not None or self.closed:
                raise RpcError(14, "connection closed by the server (GOAWAY)")
            sid = self.next_id
            self.next_id += 2
            st = self.streams[sid] = _Stream(sid, self.peer_initial_window)
            size = self.peer_max_frame
            chunks = [block[i : i + size] for i in range(0, len(block), size)] or [b""]
            out = [frame(HEADERS, END_HEADERS if len(chunks) == 1 else 0, sid, chunks[0])]
            for i, c in enumerate(chunks[1:], 2):
                out.append(frame(CONTINUATION, END_HEADERS if i == len(chunks) else 0, sid, c))
            self.sock.sendall(b"".join(out))
        return st

    def send_message(self, st: _Stream, msg: bytes, *, end: bool, deadline: float | None = None) -> None:
        """A gRPC message (5-byte prefix) as DATA frames within both send windows."""
        data = b"\x00" + struct.pack(">I", len(msg)) + msg
        pos = 0
        while True:
            with self._busy(), self._write_lock:
                if st.ended or self.closed:
                    return  # the server answered already (an error status): finish() reports it
                n = min(len(data) - pos, self.peer_max_frame, self.send_window, st.send_window)
                if n > 0 or pos == len(data):
                    last = pos + n == len(data)
                    self.sock.sendall(frame(DATA, END_STREAM if end and last else 0, st.id, data[pos : pos + n]))
                    self.send_window -= n
                    st.send_window -= n
                    pos += n
                    if last:
                        return
                    continue
            self.pump(_remaining(deadline, 1.0))  # window exhausted: wait for WINDOW_UPDATE

    def cancel(self, st: _Stream) -> None:
        if not st.ended and not self.closed:
            st.ended = True
            st.reset = 8
            try:
                self._send(frame(RST_STREAM, 0, st.id, struct.pack(">I", 8)))  # CANCEL
            except OSError:
                pass
        self.streams.pop(st.id, None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
            except OSError:
                pass
            self.sock.close()

    # -- reading -------------------------------------------------------------------------------

    def pump(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for bytes, then handle every complete frame received."""
        if self.closed:
            raise RpcError(14, "connection closed")
        with self._busy():
            self._pump(timeout)

    def _pump(self, timeout: float | None) -> None:
        lock = self._read_lock
        if not lock.acquire(False):
            # another thread reads: wait until it has handled its batch of frames (our
            # stream's among them, perhaps), then let the caller look at its stream again
            if timeout is None:
                got = lock.acquire()
            else:
                got = lock.acquire(True, timeout) if timeout > 0 else lock.acquire(False)
            if got:
                lock.release()
            return
        try:
            self._read(timeout)
        finally:
            lock.release()

    def _read(self, timeout: float | None) -> None:
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return
        try:
            chunk = self.sock.recv(1 << 18)
        except OSError as e:
            self._fail(f"connection error: {e}")
            return
        if not chunk:
            self._fail("connection closed by the server")
            return
        self._buf += chunk
        pos = 0
        while True:
            f = parse_frame(self._buf, pos)
            if f is None:
                break
            kind, flags, sid, payload, pos = f
            try:
                self._handle(kind, flags, sid, payload)
            except ProtocolError as e:  # a connection error: GOAWAY, and every call fails with it
                code = 9 if "HPACK" in str(e) else 1  # COMPRESSION_ERROR, PROTOCOL_ERROR
                try:
                    self._send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, code)))
                except OSError:
                    pass
                self._fail(str(e), 13)
                return
        del self._buf[:pos]

    def _fail(self, why: str, code: int = 14) -> None:
        self.closed = True
        for st in self.streams.values():
            if not st.ended:
                st.ended = True
                st.reset = -1
                st.trailers = [("grpc-status", str(code)), ("grpc-message", why)]
        self.sock.close()

    def _handle(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        if self._header_sid and kind != CONTINUATION:
            raise ProtocolError("expected CONTINUATION")
        if kind == DATA:
            self._on_data(flags, sid, payload)
        elif kind == HEADERS:
            self._header_sid, self._header_flags = sid, flags
            self._header_frag = bytearray(strip_padding(flags, payload, priority=True))
            if flags & END_HEADERS:
                self._end_headers()
        elif kind == CONTINUATION:
            if sid != self._header_sid:
                raise ProtocolError("CONTINUATION on another stream")
            self._header_frag += payload
            if flags & END_HEADERS:
                self._end_headers()
        elif kind == SETTINGS:
            if flags & ACK:
                return
            values = parse_settings(payload)
            if SETTINGS_INITIAL_WINDOW_SIZE in values:
                delta = values[SETTINGS_INITIAL_WINDOW_SIZE] - self.peer_initial_window
                self.peer_initial_window = values[SETTINGS_INITIAL_WINDOW_SIZE]
                for st in self.streams.values():
                    st.send_window += delta
            if SETTINGS_MAX_FRAME_SIZE in values:
                self.peer_max_frame = values[SETTINGS_MAX_FRAME_SIZE]
            self._send(frame(SETTINGS, ACK, 0))
        elif kind == WINDOW_UPDATE:
            (inc,) = struct.unpack(">I", payload[:4])
            inc &= MAX_WINDOW
            if sid == 0:
                self.send_window += inc
            elif sid in self.streams:
                self.streams[sid].send_window += inc
        elif kind == PING:
            if not flags & ACK:
                self._send(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            rs = self.streams.get(sid)
            if rs is not None:
                (rs.reset,) = struct.unpack(">I", payload[:4])
                rs.ended = True
        elif kind == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = code
            for s, st in self.streams.items():
                if s > last & MAX_WINDOW and not st.ended:
                    st.ended = True
                    st.reset = -1
                    st.trailers = [("grpc-status", "14"), ("grpc-message", "connection closed by the server (GOAWAY)")]
        elif kind == PUSH_PROMISE:
            raise ProtocolError("PUSH_PROMISE although push is disabled")
        # PRIORITY and unknown frame types are ignored (section 4.1, 5.5)

    def _end_headers(self) -> None:
        sid, flags = self._header_sid, self._header_flags
        self._header_sid = 0
        fields = self.decoder.decode(bytes(self._header_frag))  # always: keeps the HPACK context in step
        st = self.streams.get(sid)
        if st is None:
            return
        if st.headers is None:
            st.headers = fields
        else:
            st.trailers = fields
        if flags & END_STREAM:
            st.ended = True

    def _on_data(self, flags: int, sid: int, payload: bytes) -> None:
        self.recv_consumed += len(payload)
        updates = b""
        if self.recv_consumed >= self.window // 2:
            updates += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.recv_consumed))
            self.recv_consumed = 0
        st = self.streams.get(sid)
        if st is not None:
            st.buf += strip_padding(flags, payload)
            st.consumed += len(payload)
            if st.consumed >= self.window // 2 and not flags & END_STREAM:
                updates += frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", st.consumed))
                st.consumed = 0
            while len(st.buf) >= 5:
                compressed, n = struct.unpack_from(">BI", st.buf)
                if n > MAX_MESSAGE:
                    raise ProtocolError(f"message of {n} bytes above the limit {MAX_MESSAGE}")
                if len(st.buf) < 5 + n:
                    break
                if compressed:
                    raise ProtocolError("compressed gRPC message (no grpc-encoding was offered)")
                st.messages.append(bytes(st.buf[5 : 5 + n]))
                del st.buf[: 5 + n]
            if flags & END_STREAM:
                st.ended = True
        if updates:
            self._send(updates)

    # -- calls ---------------------------------------------------------------------------------

    def wait(self, st: _Stream, deadline: float | None, *, message: bool = False) -> bool:
        """Drive the connection until ``st`` ends (or, with ``message``, has a message);
        False when ``deadline`` came first."""
        while not st.ended and not (message and st.messages):
            left = _remaining(deadline, None)
            if left is not None and left <= 0:
                return False
            self.pump(left)
        return True

    def finish(self, st: _Stream) -> None:
        """Raise the call's error status, if any; forget the stream."""
        self.streams.pop(st.id, None)
        if st.reset is not None and st.reset >= 0 and not st.trailers and st.headers is None:
            raise RpcError(13 if st.reset != 8 else 1, f"stream reset by the server (error code {st.reset})")
        code, msg = status_of(st.headers or [], st.trailers)
        if code != 0:
            raise RpcError(code, msg)
        if st.buf:
            raise RpcError(13, "truncated gRPC message at the end of the stream")


def _remaining(deadline: float | None, default: float | None) -> float | None:
    if deadline is None:
        return default
    return max(deadline - time.monotonic(), 0.0)


# -- stubs ---------------------------------------------------------------------------------------


class Future:
    """A unary call in flight, as grpcio's ``.future()``: ``result(timeout)`` drives the
    connection; a timeout there raises TimeoutError and leaves the call running."""

    def __init__(self, conn: Connection, st: _Stream, response: Any, deadline: float | None) -> None:
        self._conn, self._st, self._response, self._deadline = conn, st, response, deadline
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def result(self, timeout: float | None = None) -> Any:
        if not self._done:
            stop = None if timeout is None else time.monotonic() + timeout
            deadline = self._deadline if stop is None else min(stop, self._deadline or stop)
            if not self._conn.wait(self._st, deadline):
                if self._deadline is None or time.monotonic() < self._deadline:
                    raise TimeoutError("the call is still running")
                self._conn.cancel(self._st)
                self._done, self._error = True, RpcError(4, "Deadline Exceeded")
            else:
                self._done = True
                try:
                    self._conn.finish(self._st)
                    self._value = self._response.FromString(self._st.messages[0]) if self._st.messages else None
                    if self._value is None:
                        raise RpcError(13, "no response message for a unary call")
                except RpcError as e:
                    self._error = e
        if self._error is not None:
            raise self._error
        return self._value

    def done(self) -> bool:
        return self._done or self._st.ended

    def cancel(self) -> bool:
        if self._done:
            return False
        self._conn.cancel(self._st)
        self._done, self._error = True, RpcError(1, "Locally cancelled by application!")
        return True


class ResponseStream:
    """A server-streaming call's responses, as grpcio's iterator (``cancel()`` included)."""

    def __init__(self, conn: Connection, st: _Stream, response: Any, deadline: float | None) -> None:
        self._conn, self._st, self._response, self._deadline = conn, st, response, deadline
        self._finished = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        st = self._st
        if self._finished:
            raise StopIteration
        if not st.messages and not self._conn.wait(st, self._deadline, message=True):
            self.cancel()
            raise RpcError(4, "Deadline Exceeded")
        if st.messages:
            return self._response.FromString(st.messages.popleft())
        self._finished = True
        self._conn.finish(st)
        raise StopIteration

    def cancel(self) -> None:
        if not self._finished:
            self._finished = True
            self._conn.cancel(self._st)


class Method:
    """One unary or server-streaming method: call it, or ``.future(request)``."""

    def __init__(self, channel: Channel, path: str, response: Any, streaming: bool) -> None:
        self.channel, self.path, self.response, self.streaming = channel, path, response, streaming

    def _start(self, request: Any, timeout: float | None, metadata: Any) -> tuple[Connection, _Stream, float | None]:
        conn = self.channel.connection()
        timeout = timeout if timeout is not None else self.channel.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        md = list(self.channel.metadata()) + list(metadata or ())
        st = conn.open(self.path, md, timeout)
        conn.send_message(st, request.SerializeToString(), end=True, deadline=deadline)
        return conn, st, deadline

    def __call__(self, request: Any, timeout: float | None = None, metadata: Any = None) -> Any:
        if not self.streaming and self.channel.reentered():
            # a signal handler (SIGWINCH -> ResizePty) interrupted this thread inside the
            # connection: the call goes from a thread, its answer is not waited for (None)
            _thread.start_new_thread(self._quiet, (request, timeout, metadata))
            return None
        conn, st, deadline = self._start(request, timeout, metadata)
        if self.streaming:
            return ResponseStream(conn, st, self.response, deadline)
        return Future(conn, st, self.response, deadline).result()

    def _quiet(self, request: Any, timeout: float | None, metadata: Any) -> None:
        try:
            self(request, timeout, metadata)
        except Exception:
            pass

    def future(self, request: Any, timeout: float | None = None, metadata: Any = None) -> Future:
        conn, st, deadline = self._start(request, timeout, metadata)
        return Future(conn, st, self.response, deadline)


class Stub:
    """The unary and server-streaming methods of one service, from its descriptor; other
    methods come from ``fallback(method)`` (grpcio)."""

    def __init__(self, channel: Channel, service: Any, fallback: Any = None) -> None:
        self._channel, self._service, self._fallback = channel, service, fallback

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        m = self._service.methods_by_name.get(name)
        if m is None:
            raise AttributeError(f"{self._service.full_name} has no method {name}")
        if m.client_streaming:
            if self._fallback is None:
                raise NotImplementedError(f"{self._service.full_name}/{name}: client streaming needs grpcio")
            return self._fallback(name)
        from google.protobuf import message_factory

        method = Method(self._channel, f"/{self._service.full_name}/{name}",
                        message_factory.GetMessageClass(m.output_type), m.server_streaming)  # fmt: skip
        setattr(self, name, method)
        return method


class Channel:
    """The lazily opened connection plus what every call carries (metadata, default timeout)."""

    def __init__(self, path: str, metadata: Any = list, timeout: float | None = None, *, window: int = 4 << 20) -> None:
        self.path = path
        self.metadata = metadata  # a callable: the headers at call time (the lease may change)
        self.timeout = timeout
        self.window = window
        self._conn: Connection | None = None
        self._lock = _thread.allocate_lock()

    def connection(self) -> Connection:
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.goaway is not None:
                try:
                    self._conn = Connection(self.path, window=self.window)
                except FileNotFoundError as e:
                    raise RpcError(14, f"failed to connect to all addresses: {e}") from None
                except ConnectionRefusedError as e:
                    raise RpcError(14, f"failed to connect to all addresses: connection refused ({e})") from None
            return self._conn

    def reentered(self) -> bool:
        return self._conn is not None and self._conn.reentered()

    def stub(self, service: Any, fallback: Any = None) -> Stub:
        return Stub(self, service, fallback)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def unix_path(target: str) -> str | None:
    """The socket path of a ``unix:`` target (or a bare path), None for other schemes."""
    if target.startswith("unix://"):
        return target[7:]
    if target.startswith("unix:"):
        return target[5:]
    if ":" in target.split("/", 1)[0]:
        return None
    return os.path.abspath(target)
