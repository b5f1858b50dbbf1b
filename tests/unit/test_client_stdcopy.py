"""docker's multiplexed stream frames, fed in arbitrary pieces."""

from __future__ import annotations

from seabox.client.stdcopy import STDERR, STDOUT, Demuxer, frame


def test_frames_roundtrip_in_pieces() -> None:
    data = frame(STDOUT, b"hello\n") + frame(STDERR, b"oops\n") + frame(STDOUT, b"") + frame(STDOUT, b"x" * 70000)
    for step in (1, 3, 8, 9, 4096, len(data)):
        d = Demuxer()
        got = []
        for i in range(0, len(data), step):
            got.extend(d.feed(data[i : i + step]))
        assert got == [(STDOUT, b"hello\n"), (STDERR, b"oops\n"), (STDOUT, b""), (STDOUT, b"x" * 70000)]
        assert d.pending == 0


def test_header_layout() -> None:
    assert frame(STDERR, b"ab") == b"\x02\x00\x00\x00\x00\x00\x00\x02ab"
    d = Demuxer()
    assert d.feed(b"\x01\x00\x00\x00\x00\x00\x00\x05abc") == []
    assert d.pending == 11
