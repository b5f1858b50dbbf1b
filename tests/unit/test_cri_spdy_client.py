"""A small SPDY/3.1 client for the CRI streaming tests (stdlib only, its own framing).

It is written apart from ``seabox.cri.streaming_spdy`` (only the protocol's dictionary bytes
are shared) so the server's framing is checked against a second reading of the spec; the Go
interop test checks it against spdystream.  The tests in this file run the client against
the server's ``SpdyConn`` over a socket pair.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import struct
import threading
import zlib
from typing import Any
from urllib.parse import urlsplit

from seabox.cri.streaming_spdy import DICTIONARY, SpdyConn


class ClientStream:
    def __init__(self, sid: int) -> None:
        self.id = sid
        self.data: queue.Queue[bytes | None] = queue.Queue()
        self.replied = threading.Event()


class SpdyClient:
    """Opens streams (odd ids), writes data, collects what the server sends per stream."""

    def __init__(self, sock: socket.socket, rfile: Any, protocol: str = "") -> None:
        self.sock = sock
        self.rf = rfile
        self.protocol = protocol
        self._z = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY)
        self._unz = zlib.decompressobj(zdict=DICTIONARY)
        self._next = 1
        self._lock = threading.Lock()
        self.streams: dict[int, ClientStream] = {}
        self.window_updates: list[tuple[int, int]] = []
        self.resets: dict[int, int] = {}
        self.pings: list[int] = []
        self.goaway = threading.Event()
        self.ended = threading.Event()
        threading.Thread(target=self._reader, daemon=True).start()

    @classmethod
    def dial(cls, url: str, protocols: list[str], extra_query: str = "") -> SpdyClient:
        u = urlsplit(url)
        sock = socket.create_connection((u.hostname, u.port), timeout=60)
        path = u.path + (f"?{u.query}" if u.query else "") + extra_query
        lines = [f"POST {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Connection: Upgrade",
                 "Upgrade: SPDY/3.1", "Content-Length: 0"] + [f"X-Stream-Protocol-Version: {p}" for p in protocols]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        rf = sock.makefile("rb")
        status = rf.readline().decode()
        headers: dict[str, str] = {}
        while True:
            line = rf.readline().decode().strip()
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if " 101 " not in status:
            body = rf.read(int(headers.get("content-length", "0") or 0)).decode(errors="replace")
            sock.close()
            raise ConnectionError(f"{status.strip()}: {body.strip()}")
        assert headers["upgrade"].lower() == "spdy/3.1" and headers["connection"].lower() == "upgrade"
        return cls(sock, rf, headers.get("x-stream-protocol-version", ""))

    # -- wire --------------------------------------------------------------------------------------

    def _send(self, raw: bytes) -> None:
        with self._lock:
            self.sock.sendall(raw)

    @staticmethod
    def _control(kind: int, body: bytes, flags: int = 0) -> bytes:
        return struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(body)) + body

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v)) + v.encode()
        return self._z.compress(raw) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def open(self, headers: dict[str, str], fin: bool = False) -> int:
        with self._lock:
            sid = self._next
            self._next += 2
            self.streams[sid] = ClientStream(sid)
            body = struct.pack(">IIH", sid, 0, 0) + self._block(headers)
            self.sock.sendall(self._control(1, body, 1 if fin else 0))
        return sid

    def write(self, sid: int, data: bytes, fin: bool = False) -> None:
        self._send(struct.pack(">II", sid, ((1 if fin else 0) << 24) | len(data)) + data)

    def send_control(self, kind: int, body: bytes) -> None:
        self._send(self._control(kind, body))

    def _exact(self, n: int) -> bytes:
        b = self.rf.read(n)
        if len(b) != n:
            raise EOFError
        return b

    def _reader(self) -> None:
        try:
            while True:
                w1, w2 = struct.unpack(">II", self._exact(8))
                flags, length = w2 >> 24, w2 & 0xFFFFFF
                body = self._exact(length)
                if not w1 & 0x80000000:
                    st = self.streams[w1]
                    if body:
                        st.data.put(body)
                    if flags & 1:
                        st.data.put(None)
                    continue
                kind = w1 & 0xFFFF
                if kind == 2:  # SYN_REPLY
                    sid = struct.unpack_from(">I", body)[0]
                    raw = self._unz.decompress(body[4:])
                    assert struct.unpack_from(">I", raw)[0] == 0  # the server replies with no headers
                    self.streams[sid].replied.set()
                    if flags & 1:
                        self.streams[sid].data.put(None)
                elif kind == 3:
                    sid, code = struct.unpack(">II", body)
                    self.resets[sid] = code
                    if sid in self.streams:
                        self.streams[sid].data.put(None)
                elif kind == 6:
                    self.pings.append(struct.unpack(">I", body)[0])
                elif kind == 7:
                    self.goaway.set()
                elif kind == 9:
                    self.window_updates.append(struct.unpack(">II", body))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.ended.set()
            for st in self.streams.values():
                st.data.put(None)

    # -- reading ----------------------------------------------------------------------------------

    def read(self, sid: int, timeout: float = 60) -> bytes | None:
        return self.streams[sid].data.get(timeout=timeout)

    def read_all(self, sid: int, timeout: float = 60) -> bytes:
        out = b""
        while (b := self.read(sid, timeout)) is not None:
            out += b
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # ends the reader, which holds the file's lock
        self.ended.wait(10)
        self.rf.close()
        self.sock.close()


# -- the client against the server's connection, over a socket pair ------------------------------


def _pair() -> tuple[SpdyClient, SpdyConn]:
    a, b = socket.socketpair()
    server = SpdyConn(b, b.makefile("rb"))
    server.start()
    return SpdyClient(a, a.makefile("rb")), server


def test_client_opens_streams_and_exchanges_data_both_ways() -> None:
    client, server = _pair()
    try:
        sid = client.open({"streamType": "stdout", "x-many": "a"})
        st = server.accept(timeout=10)
        assert st is not None and st.id == sid == 1 and st.header("streamtype") == "stdout"
        assert client.streams[sid].replied.wait(10)
        sid2 = client.open({"streamType": "stdin"})
        st2 = server.accept(timeout=10)
        assert st2 is not None and st2.id == 3 and st2.header("streamType") == "stdin"
        client.write(sid2, b"hello", fin=True)
        assert st2.read() == b"hello" and st2.read() is None
        st.write(b"x" * 40000)
        st.close()
        assert client.read_all(sid) == b"x" * 40000
    finally:
        server.close(linger=0)
        client.close()


def test_resize_json_split_across_frames_and_stdin_eof_reach_the_relay() -> None:
    from seabox.cri.streaming import CLOSE, RESIZE, STDIN, SpdyChannels

    client, server = _pair()
    try:
        chans = SpdyChannels(server, "v4.channel.k8s.io")
        err = client.open({"streamType": "error"})
        rs = client.open({"streamType": "resize"})
        si = client.open({"streamType": "stdin"})
        assert chans.wait_for({"error", "resize", "stdin"}, 10)
        client.write(rs, b'{"Width":80,"Hei')
        client.write(rs, b'ght":24}{"Width":100,"Height":30}')
        got = [chans.recv(), chans.recv()]
        assert [(c, json.loads(d)) for c, d in got if True] == [
            (RESIZE, {"Width": 80, "Height": 24}), (RESIZE, {"Width": 100, "Height": 30})]
        client.write(si, b"abc", fin=True)
        assert chans.recv() == (STDIN, b"abc")
        assert chans.recv() == (CLOSE, b"\x00")
        chans.send(3, b'{"metadata":{},"status":"Success"}')
        chans.close()
        assert json.loads(client.read_all(err))["status"] == "Success"
    finally:
        server.close(linger=0)
        client.close()
