"""The parent/child synchronisation channel used during create and exec.

Design reason: the runtime process and the container's set-up processes must take turns
(the parent writes uid/gid maps and cgroup membership, runs runtime-namespace hooks; the child
reports its pid, readiness or an error).  Two close-on-exec pipes carry newline-delimited JSON
messages; when the child execs or dies, its ends close and the parent reads EOF, so a crash is
never mistaken for success.
"""

from __future__ import annotations

import os

from seabox import jsonlite as json
from seabox.oci import Record

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any


class ChannelClosed(Exception):
    pass


class Channel(Record):
    rfd: int
    wfd: int
    _buf: bytearray

    def __init__(self, rfd: int, wfd: int, _buf: bytearray | None = None) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = bytearray() if _buf is None else _buf


    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def recv(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise ChannelClosed("peer closed the channel")
            self._buf += chunk
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        msg: dict[str, Any] = json.loads(line.decode())
        return msg

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def channel_pair() -> tuple[Channel, Channel]:
    """(parent side, child side); every fd is close-on-exec."""
    c2p_r, c2p_w = os.pipe()
    p2c_r, p2c_w = os.pipe()
    return Channel(c2p_r, p2c_w), Channel(p2c_r, c2p_w)
