"""seabox.ctr.h2grpc without a daemon: framing, HPACK (RFC 7541 appendix C examples), flow
control and gRPC status handling, against a scripted peer on a socketpair."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from seabox.ctr import h2grpc as h
from seabox.ctr.client import describe

# -- framing -------------------------------------------------------------------------------------


def test_frame_roundtrip_and_partial() -> None:
    f = h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, 5, b"abc")
    assert f[:9] == bytes([0, 0, 3, h.HEADERS, 5, 0, 0, 0, 5])
    assert h.parse_frame(f) == (h.HEADERS, 5, 5, b"abc", 12)
    assert h.parse_frame(f[:11]) is None
    big = h.frame(h.DATA, 0, 1, b"x" * 70000)
    kind, _, sid, payload, end = h.parse_frame(big) or (0, 0, 0, b"", 0)
    assert (kind, sid, len(payload), end) == (h.DATA, 1, 70000, 70009)


def test_settings_and_padding() -> None:
    p = h.settings_payload({h.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20, h.SETTINGS_ENABLE_PUSH: 0})
    assert h.parse_settings(p) == {h.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20, h.SETTINGS_ENABLE_PUSH: 0}
    with pytest.raises(h.ProtocolError):
        h.parse_settings(b"\x00\x01\x00")
    assert h.strip_padding(h.PADDED, b"\x02data\x00\x00") == b"data"
    assert h.strip_padding(h.PADDED | h.PRIORITY_FLAG, b"\x01" + b"\x00" * 5 + b"hd\x00", priority=True) == b"hd"
    with pytest.raises(h.ProtocolError):
        h.strip_padding(h.PADDED, b"\x09ab")


# -- HPACK -----------------------------------------------------------------------------------------


def test_integers_rfc_c1() -> None:
    assert h.encode_int(10, 5) == bytes([0b01010])
    assert h.encode_int(1337, 5) == bytes([0b11111, 0b10011010, 0b00001010])
    assert h.encode_int(42, 8) == bytes([42])
    assert h.decode_int(bytes([0b11111, 0b10011010, 0b00001010]), 0, 5) == (1337, 3)
    with pytest.raises(h.ProtocolError):
        h.decode_int(bytes([0b11111, 0b10011010]), 0, 5)


def test_huffman_table_matches_rfc_appendix_b() -> None:
    codes = h.huffman_codes()
    assert codes[0] == (0x1FF8, 13)
    assert codes[1] == (0x7FFFD8, 23)
    assert codes[10] == (0x3FFFFFFC, 30)
    assert codes[ord("0")] == (0x0, 5)
    assert codes[ord("a")] == (0x3, 5)
    assert codes[ord(" ")] == (0x14, 6)
    assert codes[255] == (0x3FFFFEE, 26)
    assert codes[h.EOS] == (0x3FFFFFFF, 30)
    assert len({c for c in codes}) == 257


@pytest.mark.parametrize(
    ("text", "coded"),
    [  # RFC 7541 C.4.1-C.4.3 and C.6.1
        ("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
        ("no-cache", "a8eb10649cbf"),
        ("custom-key", "25a849e95ba97d7f"),
        ("custom-value", "25a849e95bb8e8b4bf"),
        ("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"),
        ("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"),
    ],
)
def test_huffman_rfc_examples(text: str, coded: str) -> None:
    assert h.huffman_decode(bytes.fromhex(coded)) == text.encode()
    assert h.huffman_encode(text.encode()).hex() == coded


def test_huffman_rejects_bad_padding_and_eos() -> None:
    with pytest.raises(h.ProtocolError):
        h.huffman_decode(bytes.fromhex("f1e3c2e5f23a6ba0ab90f4fe"))  # padding not all ones
    with pytest.raises(h.ProtocolError):
        h.huffman_decode(b"\xff\xff\xff\xff")  # EOS
    assert h.huffman_decode(bytes(range(256))[:0]) == b""
    every = bytes(range(256))
    assert h.huffman_decode(h.huffman_encode(every)) == every


def test_decoder_rfc_c3_requests_without_huffman() -> None:
    d = h.Decoder()
    first = d.decode(bytes.fromhex("828684410f7777772e6578616d706c652e636f6d"))
    assert first == [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")]
    assert d.size == 57
    second = d.decode(bytes.fromhex("828684be58086e6f2d6361636865"))
    assert second[-1] == ("cache-control", "no-cache") and second[3] == (":authority", "www.example.com")
    assert d.size == 110
    third = d.decode(bytes.fromhex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))
    assert third == [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"),
                     (":authority", "www.example.com"), ("custom-key", "custom-value")]  # fmt: skip
    assert d.size == 164


C6 = [
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
    "4883640effc1c0bf",
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f"
    "3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]


def test_decoder_rfc_c6_responses_huffman_with_eviction() -> None:
    d = h.Decoder(256)
    d.table_size = 256
    r1 = d.decode(bytes.fromhex(C6[0]))
    assert r1 == [(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                  ("location", "https://www.example.com")]  # fmt: skip
    assert d.size == 222 and len(d.table) == 4
    r2 = d.decode(bytes.fromhex(C6[1]))
    assert r2[0] == (":status", "307") and d.size == 222
    assert d.table[0] == (":status", "307") and ("location", "https://www.example.com") in d.table
    r3 = d.decode(bytes.fromhex(C6[2]))
    assert r3[-1] == ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")
    assert d.size == 215 and len(d.table) == 3  # three entries evicted to fit


def test_table_size_update() -> None:
    d = h.Decoder(4096)
    d.decode(bytes.fromhex("400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))
    assert d.size == 54
    assert d.decode(bytes([0x20]) + bytes.fromhex("82")) == [(":method", "GET")]  # size 0: evicts everything
    assert d.size == 0 and not d.table
    with pytest.raises(h.ProtocolError):
        d.decode(bytes([0x3F, 0xE2, 0x1F]))  # 4097 > our limit
    with pytest.raises(h.ProtocolError):
        d.decode(bytes([0x82, 0x20]))  # update after a field
    with pytest.raises(h.ProtocolError):
        d.decode(bytes([0xBE]))  # index 62: empty dynamic table


def test_encode_headers_decodes_back() -> None:
    hs = [(":path", "/containerd.services.version.v1.Version/Version"), ("containerd-namespace", "ns-1")]
    assert h.Decoder().decode(h.encode_headers(hs)) == hs


# -- gRPC status -------------------------------------------------------------------------------------


def test_status_from_trailers_and_trailers_only() -> None:
    ok = [(":status", "200"), ("content-type", "application/grpc")]
    assert h.status_of(ok, [("grpc-status", "0")]) == (0, "")
    only = [*ok, ("grpc-status", "5"), ("grpc-message", "container%20%22c1%22%3A not found")]
    assert h.status_of(only, []) == (5, 'container "c1": not found')
    assert h.status_of([(":status", "503")], [])[0] == 14
    assert h.status_of(ok, [])[0] == 13
    assert h.percent_decode("caf%C3%A9 100%") == "café 100%"


def test_timeout_header() -> None:
    assert h.timeout_header(1.5) == "1500000u"
    assert h.timeout_header(1e-9) == "1n"
    assert h.timeout_header(10**9).endswith("H") or h.timeout_header(10**9).endswith("M")


def test_rpc_error_maps_like_grpcio() -> None:
    e = h.RpcError(5, 'container "c1" in namespace "default"')
    assert e.code().name == "NOT_FOUND" and e.details() == 'container "c1" in namespace "default"'
    assert describe(e, "/x.sock") == 'container "c1" in namespace "default": not found'
    down = h.RpcError(14, "failed to connect to all addresses: connection refused")
    assert "cannot connect to seaboxd at /x.sock" in (describe(down, "/x.sock") or "")


# -- a scripted server on a socketpair ------------------------------------------------------------


class Peer:
    """The server side: reads our frames, answers what a test tells it to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.decoder = h.Decoder()

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def frame(self) -> tuple[int, int, int, bytes]:
        head = self.read_exact(9)
        n = head[0] << 16 | head[1] << 8 | head[2]
        payload = self.read_exact(n)
        return head[3], head[4], struct.unpack(">I", head[5:9])[0] & h.MAX_WINDOW, payload

    def expect(self, kind: int) -> tuple[int, int, bytes]:
        while True:
            k, flags, sid, payload = self.frame()
            if k == kind:
                return flags, sid, payload

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))


@pytest.fixture
def pair() -> Iterator[tuple[h.Connection, Peer]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = h.Connection("", window=h.DEFAULT_WINDOW, sock=a)
    peer = Peer(b)
    assert peer.read_exact(len(h.PREFACE)) == h.PREFACE
    k, _flags, sid, payload = peer.frame()
    assert (k, sid) == (h.SETTINGS, 0) and h.parse_settings(payload)[h.SETTINGS_ENABLE_PUSH] == 0
    try:
        yield conn, peer
    finally:
        a.close()
        b.close()


def _grpc(msg: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(msg)) + msg


def _lit(name: str, value: str) -> bytes:
    return h.encode_headers([(name, value)])


class _Msg:
    """A stand-in for a generated message class (bytes through unchanged)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializeToString(self) -> bytes:
        return self.data

    @classmethod
    def FromString(cls, data: bytes) -> _Msg:
        return cls(data)


def test_unary_call_with_headers_data_trailers(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    st = conn.open("/pkg.Svc/M", [("containerd-namespace", "ns1")], 2.0)
    conn.send_message(st, b"req", end=True)
    _, sid, block = peer.expect(h.HEADERS)
    hs = dict(peer.decoder.decode(block))
    assert hs[":path"] == "/pkg.Svc/M" and hs["content-type"] == "application/grpc" and hs["te"] == "trailers"
    assert hs["containerd-namespace"] == "ns1" and hs["grpc-timeout"].endswith("u")
    flags, _, data = peer.expect(h.DATA)
    assert data == _grpc(b"req") and flags & h.END_STREAM
    # response: HEADERS with a dynamic-table entry (incremental indexing), a PING, DATA split in
    # two frames, trailers split into HEADERS + CONTINUATION
    resp = bytes([0x88, 0x5F, 16]) + b"application/grpc"  # content-type, incremental indexing
    trailers = _lit("grpc-status", "0") + _lit("grpc-message", "")
    body = _grpc(b"hello")
    peer.send(
        h.frame(h.SETTINGS, 0, 0, h.settings_payload({h.SETTINGS_MAX_FRAME_SIZE: 32768})),
        h.frame(h.HEADERS, h.END_HEADERS, sid, resp),
        h.frame(h.PING, 0, 0, b"12345678"),
        h.frame(h.DATA, 0, sid, body[:3]),
        h.frame(h.DATA, h.PADDED, sid, bytes([2]) + body[3:] + b"\x00\x00"),
        h.frame(h.HEADERS, h.END_STREAM, sid, trailers[:5]),
        h.frame(h.CONTINUATION, h.END_HEADERS, sid, trailers[5:]),
    )
    got = h.Future(conn, st, _Msg, None).result()
    assert got.data == b"hello"
    assert conn.peer_max_frame == 32768
    assert peer.expect(h.SETTINGS)[0] & h.ACK
    flags, _, payload = peer.expect(h.PING)
    assert flags & h.ACK and payload == b"12345678"
    assert conn.decoder.table[0] == ("content-type", "application/grpc")


def test_trailers_only_error(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    st = conn.open("/pkg.Svc/M", [], None)
    conn.send_message(st, b"", end=True)
    _, sid, _ = peer.expect(h.HEADERS)
    block = bytes([0x88]) + _lit("content-type", "application/grpc") + _lit("grpc-status", "6") + \
        _lit("grpc-message", "image %22busybox%22: already exists")
    peer.send(h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, sid, block))
    with pytest.raises(h.RpcError) as e:
        h.Future(conn, st, _Msg, None).result()
    assert e.value.code().name == "ALREADY_EXISTS"
    assert describe(e.value) == 'image "busybox": already exists'


def test_rst_stream_and_goaway(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    s1 = conn.open("/pkg.Svc/A", [], None)
    conn.send_message(s1, b"", end=True)
    s3 = conn.open("/pkg.Svc/B", [], None)
    conn.send_message(s3, b"", end=True)
    peer.send(h.frame(h.RST_STREAM, 0, 1, struct.pack(">I", 2)), h.frame(h.GOAWAY, 0, 0, struct.pack(">II", 1, 0)))
    with pytest.raises(h.RpcError) as e1:
        h.Future(conn, s1, _Msg, None).result()
    assert e1.value.code().name == "INTERNAL"
    with pytest.raises(h.RpcError) as e3:
        h.Future(conn, s3, _Msg, None).result()
    assert e3.value.code().name == "UNAVAILABLE"
    with pytest.raises(h.RpcError):
        conn.open("/pkg.Svc/C", [], None)


def test_future_timeout_leaves_the_call_running(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    st = conn.open("/pkg.Svc/Wait", [], None)
    conn.send_message(st, b"", end=True)
    fut = h.Future(conn, st, _Msg, None)
    with pytest.raises(TimeoutError):
        fut.result(timeout=0.05)
    _, sid, _ = peer.expect(h.HEADERS)
    peer.send(h.frame(h.HEADERS, h.END_HEADERS, sid, bytes([0x88])), h.frame(h.DATA, 0, sid, _grpc(b"done")),
              h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, sid, _lit("grpc-status", "0")))  # fmt: skip
    assert fut.result(timeout=5).data == b"done"


def test_flow_control_both_ways(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    # sending: 100000 bytes against the default 65535 windows must wait for WINDOW_UPDATEs
    st = conn.open("/pkg.Svc/Put", [], None)
    sent: list[bytes] = []

    def server() -> None:
        got = 0
        _, sid, _ = peer.expect(h.HEADERS)
        while got < 100005:
            _flags, _s, payload = peer.expect(h.DATA)
            assert len(payload) <= h.DEFAULT_FRAME
            got += len(payload)
            sent.append(payload)
            if got == 65535:  # windows exhausted: open both again
                peer.send(h.frame(h.WINDOW_UPDATE, 0, 0, struct.pack(">I", 50000)),
                          h.frame(h.WINDOW_UPDATE, 0, sid, struct.pack(">I", 50000)))  # fmt: skip

    t = threading.Thread(target=server)
    t.start()
    conn.send_message(st, b"y" * 100000, end=True, deadline=None)
    t.join(10)
    assert not t.is_alive() and sum(map(len, sent)) == 100005
    assert conn.send_window == 65535 + 50000 - 100005
    # receiving: 3 x 40000-byte messages on 65535-byte windows: we must give credit back
    big = b"z" * 40000
    payload = _grpc(big) * 3
    updates: list[tuple[int, int]] = []

    def sender() -> None:
        credit = {0: 65535, st.id: 65535}
        peer.send(h.frame(h.HEADERS, h.END_HEADERS, st.id, bytes([0x88])))
        pos = 0
        while pos < len(payload):
            n = min(h.DEFAULT_FRAME, credit[0], credit[st.id], len(payload) - pos)
            if n == 0:
                kind, _, sid, inc = peer.frame()
                if kind == h.WINDOW_UPDATE:
                    credit[sid] += struct.unpack(">I", inc)[0]
                    updates.append((sid, struct.unpack(">I", inc)[0]))
                continue
            peer.send(h.frame(h.DATA, 0, st.id, payload[pos : pos + n]))
            credit[0] -= n
            credit[st.id] -= n
            pos += n
        peer.send(h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, st.id, _lit("grpc-status", "0")))

    t = threading.Thread(target=sender)
    t.start()
    import time

    got = [m.data for m in h.ResponseStream(conn, st, _Msg, time.monotonic() + 10)]
    t.join(10)
    assert got == [big] * 3
    assert {sid for sid, _ in updates} == {0, st.id}


def test_protocol_error_fails_the_call(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    st = conn.open("/pkg.Svc/M", [], None)
    conn.send_message(st, b"", end=True)
    _, sid, _ = peer.expect(h.HEADERS)
    peer.send(h.frame(h.HEADERS, h.END_HEADERS, sid, bytes([0xC0])))  # index 64: not in any table
    with pytest.raises(h.RpcError) as e:
        h.Future(conn, st, _Msg, None).result()
    assert e.value.code().name == "INTERNAL" and "HPACK" in e.value.details()
    assert peer.expect(h.GOAWAY)[2][4:8] == struct.pack(">I", 9)  # COMPRESSION_ERROR


def test_call_from_a_signal_handler_inside_the_connection_does_not_block(pair: tuple[h.Connection, Peer]) -> None:
    conn, peer = pair
    ch = h.Channel("unused", lambda: [("containerd-namespace", "n")])
    ch._conn = conn
    method = h.Method(ch, "/pkg.Tasks/ResizePty", _Msg, False)
    import threading as _t

    me = _t.get_ident()
    conn._inside[me] = 1  # as if SIGWINCH interrupted this thread in pump()
    try:
        assert method(_Msg(b"size")) is None  # sent from a thread, not waited for
    finally:
        conn._inside[me] = 0
    _, sid, block = peer.expect(h.HEADERS)
    assert dict(peer.decoder.decode(block))[":path"] == "/pkg.Tasks/ResizePty"
    assert peer.expect(h.DATA)[2] == _grpc(b"size")
    peer.send(h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, sid, bytes([0x88]) + _lit("grpc-status", "0")))
    # outside a handler the same method waits for its answer
    def reply() -> None:
        peer.expect(h.HEADERS)
        peer.send(h.frame(h.HEADERS, h.END_HEADERS | h.END_STREAM, 3, bytes([0x88]) + _lit("grpc-status", "5")))

    st_reply = _t.Thread(target=reply)
    st_reply.start()
    with pytest.raises(h.RpcError):
        method(_Msg(b"again"), timeout=10)
    st_reply.join(5)
