"""Container logs kept by the shim: docker's json-file format with rotation, or a plain file.

Design reason: docker keeps logs in the daemon; seabox keeps them in the shim, so they go on
being written while seaboxd is down or restarting, and the daemon only reads the files.  The
format is docker's json-file driver: one ``{"log": "...\\n", "stream": "stdout", "time":
"<RFC3339Nano>"}`` object per line, one entry per line of output (a line longer than 16 KiB is
cut into several entries, as docker does; the tail of a stream without a final newline is
written at EOF).  Rotation follows ``max-size``/``max-file``: when the next entry would make
the file larger than ``max_size`` the file becomes ``<path>.1`` (``.1`` becomes ``.2`` ...) and
at most ``max_file`` files are kept, the current one included.
"""

from __future__ import annotations

import json
import os

from seabox.errdefs import InvalidArgument
from seabox.shim.state import rfc3339nano

MAX_ENTRY = 16 * 1024  # docker's maximum bytes per json-file entry


def parse_size(value: object) -> int:
    """Docker's size strings: ``10m``, ``1k``, ``2g``, ``512`` (bytes); 0 or "" means unlimited."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        if value < 0:
            raise InvalidArgument(f"log max-size {value!r}: must not be negative")
        return value
    v = str(value).strip().lower()
    if v.endswith("b"):
        v = v[:-1]
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    try:
        n = int(float(v[:-1]) * mult[v[-1]]) if v and v[-1] in mult else int(v)
    except ValueError:
        raise InvalidArgument(f"log max-size {value!r}: not a size (like 10m, 512k)")
    if n < 0:
        raise InvalidArgument(f"log max-size {value!r}: must not be negative")
    return n


class JsonFileLog:
    """One container's json-file log, shared by its stdout and stderr streams."""

    __slots__ = ("clock", "f", "max_file", "max_size", "partial", "path", "size")

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1, clock: object = None) -> None:
        if max_file < 1:
            raise InvalidArgument(f"log max-file {max_file}: must be at least 1")
        self.path = path
        self.max_size = max_size
        self.max_file = max_file
        self.clock = clock or rfc3339nano
        self.partial: dict[str, bytes] = {}
        self.f = open(path, "ab", buffering=0)  # noqa: SIM115 (closed in close())
        self.size = self.f.tell()

    def write(self, stream: str, data: bytes) -> None:
        """Append output of ``stream`` ("stdout"/"stderr"); complete lines become entries."""
        buf = self.partial.pop(stream, b"") + data
        while True:
            i = buf.find(b"\n")
            if i < 0 or i >= MAX_ENTRY:
                if len(buf) >= MAX_ENTRY:
                    self._entry(stream, buf[:MAX_ENTRY])
                    buf = buf[MAX_ENTRY:]
                    continue
                break
            self._entry(stream, buf[: i + 1])
            buf = buf[i + 1:]
        if buf:
            self.partial[stream] = buf

    def flush_stream(self, stream: str) -> None:
        """The stream ended: write what is left of its last line."""
        rest = self.partial.pop(stream, b"")
        if rest:
            self._entry(stream, rest)

    def _entry(self, stream: str, chunk: bytes) -> None:
        clock = self.clock
        line = json.dumps({"log": chunk.decode("utf-8", "replace"), "stream": stream,
                           "time": clock()},  # type: ignore[operator]
                          separators=(",", ":")).encode() + b"\n"
        if self.max_size and self.size and self.size + len(line) > self.max_size:
            self.rotate()
        self.f.write(line)
        self.size += len(line)

    def rotate(self) -> None:
        self.f.close()
        if self.max_file <= 1:
            self.f = open(self.path, "wb", buffering=0)  # noqa: SIM115
            self.size = 0
            return
        for n in range(self.max_file - 1, 0, -1):
            src = self.path if n == 1 else f"{self.path}.{n - 1}"
            try:
                os.replace(src, f"{self.path}.{n}")
            except FileNotFoundError:
                pass
        self.f = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self.size = 0

    def close(self) -> None:
        for stream in list(self.partial):
            self.flush_stream(stream)
        self.f.close()


class PlainFileLog:
    """Raw bytes of both streams appended to one file (``file://`` style)."""

    __slots__ = ("f",)

    def __init__(self, path: str) -> None:
        self.f = open(path, "ab", buffering=0)  # noqa: SIM115

    def write(self, stream: str, data: bytes) -> None:
        self.f.write(data)

    def flush_stream(self, stream: str) -> None:
        pass

    def close(self) -> None:
        self.f.close()


def open_log(cfg: dict | None) -> JsonFileLog | PlainFileLog | None:
    """``{"driver": "json-file", "path": ..., "max_size": "10m", "max_file": 3}`` or
    ``{"driver": "file", "path": ...}``; None or ``{}`` means no log."""
    if not cfg:
        return None
    driver = cfg.get("driver", "json-file")
    path = cfg.get("path")
    if not path or not isinstance(path, str):
        raise InvalidArgument("log: path is required")
    try:
        if driver == "json-file":
            try:
                raw = cfg.get("max_file")
                max_file = 1 if raw in (None, "") else int(raw)
            except (TypeError, ValueError):
                raise InvalidArgument(f"log max-file {cfg.get('max_file')!r}: not a number")
            return JsonFileLog(path, parse_size(cfg.get("max_size")), max_file)
        if driver == "file":
            return PlainFileLog(path)
    except OSError as e:
        raise InvalidArgument(f"log {path}: {e.strerror}")
    raise InvalidArgument(f"log driver {driver!r}: unknown (json-file or file)")
