"""SPDY/3.1 framing, header compression and flow control of the CRI streaming server (no root)."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import zlib
from typing import Any

import pytest
from tests.unit.test_cri_spdy_client import SpdyClient

from seabox.cri import streaming_spdy as spdy
from seabox.cri.streaming import Request, StreamServer


def test_dictionary_is_the_spdy3_one() -> None:
    d = spdy.DICTIONARY
    assert len(d) == 1423
    # it opens with length-prefixed method names and carries the header and status words
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post")
    for word in (b"accept-encoding", b"user-agent", b"200 OK", b"HTTP/1.1", b"text/html", b"utf-8",
                 b"chunked", b"gzip,deflate,sdch", b"public", b"keep-alive"):
        assert word in d, word
    assert d.endswith(b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    # a header block carries the dictionary's id (its Adler-32) in the zlib header
    block = spdy.HeaderCodec().compress({"a": ["b"]})
    assert block[1] & 0x20 and struct.unpack(">I", block[2:6])[0] == zlib.adler32(d)


def test_header_blocks_round_trip_through_one_context_per_direction() -> None:
    tx, rx = spdy.HeaderCodec(), spdy.HeaderCodec()
    blocks = [{"streamtype": ["error"]}, {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]},
              {"x-multi": ["one", "two"], "empty": [""]}, {}]
    sent = [tx.compress(h) for h in blocks]
    assert [rx.decompress(b) for b in sent] == blocks
    # later blocks lean on the shared window: decoding one alone, without its predecessors, fails
    assert len(sent[1]) < len(spdy.HeaderCodec().compress(blocks[1])) + 8
    with pytest.raises(ValueError):
        spdy.HeaderCodec().decompress(sent[2][:-3] + b"\xff\xff\xff")
    # names are lowercased on the wire, several values are NUL-joined
    raw = spdy.pack_headers({"StreamType": ["stdin"], "V": ["a", "b"]})
    assert raw == (struct.pack(">I", 2) + struct.pack(">I", 10) + b"streamtype" + struct.pack(">I", 5) + b"stdin"
                   + struct.pack(">I", 1) + b"v" + struct.pack(">I", 3) + b"a\0b")
    assert spdy.unpack_headers(raw) == {"streamtype": ["stdin"], "v": ["a", "b"]}
    with pytest.raises(ValueError):
        spdy.unpack_headers(raw[:-2])


def test_a_block_without_the_dictionary_is_refused() -> None:
    z = zlib.compressobj()
    plain = z.compress(spdy.pack_headers({"a": ["b"]})) + z.flush(zlib.Z_SYNC_FLUSH)
    assert spdy.HeaderCodec().decompress(plain) == {"a": ["b"]}  # zlib without FDICT is still zlib
    other = zlib.compressobj(zdict=b"not the spdy dictionary")
    wrong = other.compress(spdy.pack_headers({"a": ["b"]})) + other.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(ValueError):
        spdy.HeaderCodec().decompress(wrong)


def _parse(raw: bytes, codec: spdy.HeaderCodec | None = None) -> spdy.Frame:
    return spdy.read_frame(io.BufferedReader(io.BytesIO(raw)), codec or spdy.HeaderCodec())  # type: ignore[arg-type]


def test_frames_round_trip() -> None:
    tx, rx = spdy.HeaderCodec(), spdy.HeaderCodec()
    f = _parse(spdy.syn_stream(tx, 5, {"streamtype": ["stdout"]}, fin=True, priority=3), rx)
    assert (f.kind, f.stream_id, f.flags, f.priority, f.headers) == (spdy.SYN_STREAM, 5, spdy.FLAG_FIN, 3,
                                                                     {"streamtype": ["stdout"]})
    f = _parse(spdy.syn_reply(tx, 5, {}), rx)
    assert (f.kind, f.stream_id, f.headers) == (spdy.SYN_REPLY, 5, {})
    f = _parse(spdy.encode_data(7, b"payload", fin=True))
    assert (f.kind, f.stream_id, f.flags, f.data) == (0, 7, spdy.FLAG_FIN, b"payload")
    raw = spdy.encode_data(0x7FFFFFFF, b"")
    assert raw == b"\x7f\xff\xff\xff\x00\x00\x00\x00"
    f = _parse(spdy.rst_stream(9, spdy.RST_CANCEL))
    assert (f.kind, f.stream_id, f.status) == (spdy.RST_STREAM, 9, spdy.RST_CANCEL)
    f = _parse(spdy.settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1000, 4: 100}))
    assert (f.kind, f.settings) == (spdy.SETTINGS, {7: 1000, 4: 100})
    f = _parse(spdy.ping(42))
    assert (f.kind, f.ping_id) == (spdy.PING, 42)
    f = _parse(spdy.goaway(11, 2))
    assert (f.kind, f.stream_id, f.status) == (spdy.GOAWAY, 11, 2)
    f = _parse(spdy.window_update(3, 65536))
    assert (f.kind, f.stream_id, f.delta) == (spdy.WINDOW_UPDATE, 3, 65536)
    # the control header: C bit, version 3, type, flags, 24-bit length
    assert spdy.ping(1)[:8] == b"\x80\x03\x00\x06\x00\x00\x00\x04"
    with pytest.raises(ValueError):
        _parse(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # SPDY/2
    with pytest.raises(EOFError):
        _parse(spdy.ping(1)[:-1])
    with pytest.raises(ValueError):
        spdy.encode_data(1, b"x" * (1 << 24))


def _pair() -> tuple[SpdyClient, spdy.SpdyConn]:
    a, b = socket.socketpair()
    server = spdy.SpdyConn(b, b.makefile("rb"))
    server.start()
    return SpdyClient(a, a.makefile("rb")), server


def _wait(pred: Any, what: str) -> None:
    ev = threading.Event()
    for _ in range(500):
        if pred():
            return
        ev.wait(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def test_server_acknowledges_consumed_data_with_window_updates_and_answers_ping() -> None:
    client, server = _pair()
    try:
        sid = client.open({"streamType": "stdin"})
        st = server.accept(timeout=10)
        assert st is not None
        client.write(sid, b"a" * 1000)
        client.write(sid, b"b" * 500)
        assert client.window_updates == []  # nothing consumed yet
        assert st.read() == b"a" * 1000
        assert st.read() == b"b" * 500
        _wait(lambda: len(client.window_updates) == 4, "window updates")
        assert sorted(client.window_updates) == [(0, 500), (0, 1000), (sid, 500), (sid, 1000)]
        client.send_control(spdy.PING, struct.pack(">I", 7))
        _wait(lambda: client.pings == [7], "the ping echo")
    finally:
        server.close(linger=0)
        client.close()


def test_sends_respect_the_window_of_a_flow_controlling_peer() -> None:
    client, server = _pair()
    try:
        client.send_control(spdy.SETTINGS, struct.pack(">III", 1, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 1000))
        sid = client.open({"streamType": "stdout"})
        st = server.accept(timeout=10)
        assert st is not None
        _wait(lambda: server.peer_flow_control, "the settings")
        done = threading.Event()

        def write() -> None:
            st.write(b"z" * 3000, fin=True)
            done.set()

        threading.Thread(target=write, daemon=True).start()
        got = client.read(sid)
        assert got == b"z" * 1000
        assert not done.wait(0.3)  # blocked: the stream window is spent
        client.send_control(spdy.WINDOW_UPDATE, struct.pack(">II", sid, 1500))
        assert client.read(sid) == b"z" * 1500
        client.send_control(spdy.WINDOW_UPDATE, struct.pack(">II", sid, 5000))
        assert client.read(sid) == b"z" * 500
        assert client.read(sid) is None and done.wait(10)
    finally:
        server.close(linger=0)
        client.close()


def test_sends_are_not_limited_for_a_peer_without_flow_control() -> None:
    """spdystream never sends WINDOW_UPDATE: waiting for one would hang every session past 64 KiB."""
    client, server = _pair()
    try:
        sid = client.open({"streamType": "stdout"})
        st = server.accept(timeout=10)
        assert st is not None
        big = bytes(range(256)) * 1024  # 256 KiB, four initial windows
        threading.Thread(target=lambda: st.write(big, fin=True), daemon=True).start()
        assert client.read_all(sid) == big
    finally:
        server.close(linger=0)
        client.close()


def test_bad_frames_get_resets() -> None:
    client, server = _pair()
    try:
        client.write(99, b"nobody")  # data on a stream never opened
        _wait(lambda: client.resets.get(99) == spdy.RST_INVALID_STREAM, "the reset of stream 99")
        client.open({"streamType": "x"})
        client.open({"streamType": "y"})
        assert server.accept(timeout=10) is not None and server.accept(timeout=10) is not None
        client._next = 1
        client.open({"streamType": "again"})  # stream ids must grow
        _wait(lambda: client.resets.get(1) == spdy.RST_PROTOCOL_ERROR, "the reset of the reused id")
        assert not client.ended.is_set()
    finally:
        server.close(linger=0)
        client.close()


# -- the HTTP upgrade and port-forward over SPDY, with a fake backend -------------------------------


class FakeBackend:
    def _sandbox(self, sid: str) -> dict:
        assert sid == "pod1"
        return {"netns": ""}  # no namespace: the port is on the host's loopback


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return

            def one(c: socket.socket = c) -> None:
                with c:
                    while data := c.recv(65536):
                        c.sendall(data.upper())

            threading.Thread(target=one, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_portforward_over_spdy_pairs_streams_by_request_id() -> None:
    srv, port = _echo_server()
    ss = StreamServer(FakeBackend())
    ss.start()
    try:
        url = ss.url(Request("portforward", "pod1"))
        c = SpdyClient.dial(url, ["portforward.k8s.io"])
        assert c.protocol == "portforward.k8s.io"
        ids = {}
        for rid in ("0", "1"):
            e = c.open({"streamType": "error", "port": str(port), "requestID": rid})
            c.write(e, b"", fin=True)  # as kubectl does: the client never writes on the error stream
            d = c.open({"streamType": "data", "port": str(port), "requestID": rid})
            ids[rid] = (e, d)
        c.write(ids["1"][1], b"second", fin=True)
        c.write(ids["0"][1], b"first " * 20000, fin=True)  # 120 KB: past the initial window
        assert c.read_all(ids["1"][1]) == b"SECOND"
        assert c.read_all(ids["0"][1]) == b"FIRST " * 20000
        assert c.read_all(ids["0"][0]) == b"" and c.read_all(ids["1"][0]) == b""
        assert sum(d for s, d in c.window_updates if s == 0) == len(b"second") + 120000
        # a closed port: the error stream says so
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        e = c.open({"streamType": "error", "port": str(dead_port), "requestID": "2"})
        d = c.open({"streamType": "data", "port": str(dead_port), "requestID": "2"})
        assert f"localhost:{dead_port}".encode() in c.read_all(e)
        assert c.read_all(d) == b""
        c.close()
    finally:
        ss.close()
        srv.close()


def test_spdy_upgrade_answers() -> None:
    ss = StreamServer(FakeBackend())
    ss.start()
    try:
        with pytest.raises(ConnectionError, match="404"):
            SpdyClient.dial(f"http://127.0.0.1:{ss.port}/exec/nope", ["v4.channel.k8s.io"])
        url = ss.url(Request("exec", "c1", ["true"]))
        with pytest.raises(ConnectionError, match=r"403.*v9\.channel\.k8s\.io"):
            SpdyClient.dial(url, ["v9.channel.k8s.io"])
        with pytest.raises(ConnectionError, match=r"400.*X-Stream-Protocol-Version"):
            SpdyClient.dial(url, [])
        c = SpdyClient.dial(url, ["v2.channel.k8s.io", "v5.channel.k8s.io"])  # the client's preference wins
        assert c.protocol == "v2.channel.k8s.io"
        c.close()
        url = ss.url(Request("portforward", "pod1"))
        with pytest.raises(ConnectionError, match="403"):
            SpdyClient.dial(url, ["v4.channel.k8s.io"])
        c = SpdyClient.dial(url, ["portforward.k8s.io"])  # the refusals kept the session
        assert c.protocol == "portforward.k8s.io"
        c.close()
        # neither websocket nor SPDY
        s = socket.create_connection(("127.0.0.1", ss.port))
        s.sendall(f"GET {url[url.index('/portforward'):]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 400")
        s.close()
    finally:
        ss.close()


def test_exec_status_before_v4_is_the_message_only() -> None:
    from seabox.cri.streaming import SpdyChannels, status_json

    for proto, code, want in (("v5.channel.k8s.io", 3, "NonZeroExitCode"), ("v4.channel.k8s.io", 3, "NonZeroExitCode"), ("v3.channel.k8s.io", 3, "exit status 3"),
                              ("v3.channel.k8s.io", 0, "")):
        client, server = _pair()
        try:
            chans = SpdyChannels(server, proto)
            err = client.open({"streamType": "error"})
            assert chans.wait_for({"error"}, 10)
            chans.send(3, status_json(code))
            chans.close()
            got = client.read_all(err).decode()
            assert (want in got) if want else got == ""
            if proto.startswith(("v4", "v5")):
                assert json.loads(got)["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
        finally:
            server.close(linger=0)
            client.close()
