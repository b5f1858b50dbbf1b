"""Docker's multiplexed stream framing (``application/vnd.docker.multiplexed-stream``).

Without a TTY, attach/logs/exec carry stdout and stderr on one byte stream: each chunk gets
an 8-byte header ``[stream, 0, 0, 0, size (big-endian uint32)]`` (stream 0 stdin, 1 stdout,
2 stderr).  With a TTY the stream is raw.  Pure functions, no I/O.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def deframe(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split ``buf`` into complete frames; returns them and the incomplete rest."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while len(buf) - i >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buf, i)
        if len(buf) - i - _HEADER.size < size:
            break
        out.append((stream, buf[i + _HEADER.size:i + _HEADER.size + size]))
        i += _HEADER.size + size
    return out, buf[i:]
