"""Reading json-file logs written by the shim: tail, since/until, follow, stdcopy framing.

Design reason: the shim writes (and rotates) ``<id>-json.log``; the engine only reads, so
``logs -f`` works across seaboxd restarts.  Rotated files are ``<path>.N`` … ``<path>.1``, oldest
first.  Following polls the file (every 50 ms) and notices rotation by the inode changing.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from seabox.engine import stdcopy

POLL = 0.05


@dataclass
class LogOptions:
    stdout: bool = True
    stderr: bool = True
    since: float = 0.0
    until: float = 0.0
    timestamps: bool = False
    tail: int = -1  # -1: all
    follow: bool = False
    tty: bool = False  # raw stream (no stdcopy framing)


def parse_time(text: str) -> float:
    """RFC 3339 with nanoseconds → seconds since the epoch."""
    base, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def parse_since(v: str) -> float:
    """Docker's since/until query: unix seconds, possibly with a fraction ("1700000000.5")."""
    if not v:
        return 0.0
    try:
        return float(v)
    except ValueError:
        return parse_time(v)


def files(path: str) -> list[str]:
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + ([path] if os.path.exists(path) else [])


def _entries(path: str) -> Iterator[dict]:
    for p in files(path):
        try:
            with open(p, "rb") as f:
                for line in f:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
        except FileNotFoundError:
            continue


def render(e: dict, opts: LogOptions) -> bytes | None:
    stream = e.get("stream", "stdout")
    if (stream == "stdout" and not opts.stdout) or (stream == "stderr" and not opts.stderr):
        return None
    t = e.get("time", "")
    if opts.since or opts.until:
        ts = parse_time(t) if t else 0.0
        if opts.since and ts < opts.since:
            return None
        if opts.until and ts > opts.until:
            return None
    data = str(e.get("log", "")).encode()
    if opts.timestamps:
        data = t.encode() + b" " + data
    if opts.tty:
        return data
    return stdcopy.frame(stdcopy.STDERR if stream == "stderr" else stdcopy.STDOUT, data)


def read(path: str, opts: LogOptions, running: Callable[[], bool] = lambda: False,
         nap: Callable[[float], object] = time.sleep) -> Iterator[bytes]:
    """The log as docker's stream; with ``follow`` keeps reading while ``running()``.

    ``nap(seconds)`` waits between polls; the engine passes one that also returns as soon as
    the container exits, so a follower ends without waiting out a poll interval."""
    src: Iterator[dict] = _entries(path)
    if opts.tail >= 0:
        src = iter(deque(src, maxlen=opts.tail) if opts.tail else [])
    for e in src:
        out = render(e, opts)
        if out:
            yield out
    if not opts.follow:
        return
    # follow: from the current end of the live file
    f = None
    ino = -1
    pos = os.path.getsize(path) if os.path.exists(path) else 0
    buf = b""
    try:
        while True:
            if f is None and os.path.exists(path):
                f = open(path, "rb")  # noqa: SIM115
                ino = os.fstat(f.fileno()).st_ino
                f.seek(pos)
            got = False
            if f is not None:
                chunk = f.read()
                if chunk:
                    got = True
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        try:
                            e = json.loads(line)
                        except ValueError:
                            continue
                        out = render(e, opts)
                        if out:
                            yield out
                else:
                    try:
                        if os.stat(path).st_ino != ino:  # rotated: read the new file from its start
                            f.close()
                            f, pos = None, 0
                            continue
                    except FileNotFoundError:
                        pass
            if not got:
                if not running():
                    return
                nap(POLL)
    finally:
        if f is not None:
            f.close()
