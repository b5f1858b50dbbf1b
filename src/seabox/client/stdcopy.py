"""docker's multiplexed stream framing ("stdcopy").

Without a TTY, attach/logs/exec answers interleave stdout and stderr in frames: an 8-byte header
``[stream, 0, 0, 0, size (uint32 big-endian)]`` and ``size`` bytes (stream 0 stdin, 1 stdout,
2 stderr, 3 a daemon-side error message).  ``Demuxer`` is sans-IO: feed bytes, get frames.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


class Demuxer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out: list[tuple[int, bytes]] = []
        while len(self.buf) >= 8:
            stream = self.buf[0]
            (size,) = struct.unpack(">I", self.buf[4:8])
            if len(self.buf) < 8 + size:
                break
            out.append((stream, bytes(self.buf[8 : 8 + size])))
            del self.buf[: 8 + size]
        return out

    @property
    def pending(self) -> int:
        return len(self.buf)
