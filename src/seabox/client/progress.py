"""Render docker's JSON progress streams (pull, push, load) like the docker CLI.

On a terminal every layer keeps its own line, rewritten in place with a progress bar; otherwise
each status change is one plain line (no bars, no cursor movement).  An ``error`` object in the
stream ends it with that error.
"""

from __future__ import annotations

from seabox import errdefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TextIO


def _bar(detail: dict[str, Any], width: int = 50) -> str:
    from seabox.client.units import human_size

    cur, total = detail.get("current") or 0, detail.get("total") or 0
    if total <= 0:
        return human_size(cur) if cur else ""
    pct = min(1.0, cur / total)
    n = int(pct * width)
    bar = "[" + "=" * max(n - 1, 0) + (">" if n else "") + " " * (width - n) + "]"
    return f"{bar} {human_size(cur)}/{human_size(total)}"


def render(stream: Iterable[dict[str, Any]], out: TextIO, tty: bool, quiet: bool = False) -> list[dict[str, Any]]:
    """Print ``stream``; returns its messages.  Raises on an ``error`` message."""
    lines: dict[str, int] = {}  # layer id -> line index (tty)
    count = 0
    seen: list[dict[str, Any]] = []
    for msg in stream:
        seen.append(msg)
        if msg.get("error") or msg.get("errorDetail"):
            err = msg.get("error") or (msg.get("errorDetail") or {}).get("message", "")
            raise errdefs.SeaboxError(str(err))
        if quiet:
            continue
        if "stream" in msg:
            out.write(msg["stream"])
            continue
        status = msg.get("status", "")
        ident = msg.get("id", "")
        prog = msg.get("progress") or (_bar(msg["progressDetail"]) if msg.get("progressDetail") else "")
        if not tty:
            if prog and ident:
                continue  # plain output skips the bars
            out.write(f"{ident}: {status}\n" if ident else f"{status}\n")
            continue
        text = f"{ident}: {status} {prog}".rstrip() if ident else status
        if ident and ident in lines:
            up = count - lines[ident]
            out.write(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
        else:
            if ident:
                lines[ident] = count
            out.write(text + "\n")
            count += 1
        out.flush()
    out.flush()
    return seen
