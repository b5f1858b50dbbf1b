"""ctr's output formatting: Go's tabwriter layout, byte sizes, ages, Go durations and labels.

ctr writes rows as ``cell\\tcell\\t\\n`` through ``tabwriter.NewWriter(w, 1, 8, 1, ' ', 0)``:
every tab-terminated cell is padded to its column's widest cell plus one space, so even
the last column carries trailing spaces.  :func:`tabwrite` reproduces that byte for byte.
"""

from __future__ import annotations

import time

from seabox.client.units import human_duration  # docker/go-units HumanDuration, as `content ls` shows ages

TYPE_CHECKING = False  # collections.abc and re are loaded only when needed: seabox-ctr starts for every command
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Mapping


def tabwrite(lines: Iterable[str], *, minwidth: int = 1, padding: int = 1, padchar: str = " ", tabwidth: int = 8) -> str:
    """``lines`` (each ``cell\\tcell\\t...``, without the newline) laid out as Go's
    ``tabwriter.NewWriter(w, minwidth, 8, padding, ' ', 0)`` does.

    A tab terminates a cell; the text after a line's last tab is trailing and belongs to no
    column.  A column's width holds for a block of consecutive lines that all have a
    terminated cell there, as in Go's algorithm (it recurses into each block).
    """
    rows = [ln.split("\t") for ln in lines]
    widths: list[list[int]] = [[] for _ in rows]

    def fmt(column: int, line0: int, line1: int) -> None:
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                this += 1
                continue
            last = this
            width = minwidth
            while last < line1 and column < len(rows[last]) - 1:
                width = max(width, len(rows[last][column]) + padding)
                last += 1
            for i in range(this, last):
                widths[i].append(width)
            fmt(column + 1, this, last)
            this = last

    fmt(0, 0, len(rows))
    def pad(text: str, cellw: int) -> str:
        if padchar != "\t":
            return text.ljust(cellw)
        cellw = (cellw + tabwidth - 1) // tabwidth * tabwidth  # Go pads with whole tabs
        return text + "\t" * ((cellw - len(text) + tabwidth - 1) // tabwidth)

    out = []
    for row, ws in zip(rows, widths, strict=True):
        cells = [pad(row[j], ws[j]) for j in range(len(row) - 1)]
        out.append("".join(cells) + row[-1] + "\n")
    return "".join(out)


_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def human_bytes(n: int | float) -> str:
    """containerd's progress.Bytes: ``0.0 B``, ``427.0 B``, ``2.1 MiB``."""
    f = float(n)
    i = 0
    while f >= 1024 and i < len(_UNITS) - 1:
        f /= 1024
        i += 1
    return f"{f:.1f} {_UNITS[i]}"


def human_size_decimal(n: int | float) -> str:
    """docker/go-units HumanSize (decimal, 3 significant digits), as ``snapshots usage`` prints."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    f = float(n)
    i = 0
    while f >= 1000 and i < len(units) - 1:
        f /= 1000
        i += 1
    return f"{f:.4g}{units[i]}"


def age(ts_seconds: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - ts_seconds)


def labels_string(labels: Mapping[str, str]) -> str:
    """``k=v,k2=v2`` sorted, or ``-`` when empty (ctr's LABELS columns)."""
    if not labels:
        return "-"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


_DURATION: re.Pattern[str] | None = None
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (``10s``, ``1m30s``, ``24h``, ``0``) in seconds; ValueError when malformed."""
    t = text.strip()
    if t in ("0", "", "0s"):
        return 0.0
    sign = 1.0
    if t[0] in "+-":
        sign = -1.0 if t[0] == "-" else 1.0
        t = t[1:]
    global _DURATION
    if _DURATION is None:
        import re

        _DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """``k=v`` arguments (``k`` alone means an empty value, which clears a label on update)."""
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def rfc3339(ts_seconds: float) -> str:
    """Go's time.RFC3339Nano in UTC as containerd prints timestamps (``2024-01-02T03:04:05.123456789Z``)."""
    whole = int(ts_seconds)
    frac = ts_seconds - whole
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if frac:
        digits = f"{frac:.9f}"[2:].rstrip("0")
        if digits:
            base += "." + digits
    return base + "Z"


def rfc3339_pb(ts: object) -> str:
    """A protobuf Timestamp as Go's RFC3339Nano in UTC, exact to the nanosecond."""
    seconds, nanos = int(getattr(ts, "seconds", 0)), int(getattr(ts, "nanos", 0))
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        base += "." + f"{nanos:09d}".rstrip("0")
    return base + "Z"


def ts_seconds(ts: object) -> float:
    """A protobuf Timestamp as seconds since the epoch."""
    return float(getattr(ts, "seconds", 0)) + float(getattr(ts, "nanos", 0)) / 1e9
