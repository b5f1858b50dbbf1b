"""Sizes, durations and memory units as docker prints and parses them (go-units' rules)."""

from __future__ import annotations

import time

from seabox import errdefs

_DEC = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BIN = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
_MULT = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _custom(size: float, base: float, units: list[str], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_size(size: float, precision: int = 3) -> str:
    """Decimal units: ``1.98MB`` (docker images)."""
    return _custom(float(size), 1000.0, _DEC, precision)


def bytes_size(size: float) -> str:
    """Binary units: ``64MiB`` (docker stats)."""
    return _custom(float(size), 1024.0, _BIN, 4)


def ram_in_bytes(text: str) -> int:
    """``64m``, ``1g``, ``512k``, ``1.5GB``, ``100`` → bytes (binary multiples, like docker)."""
    s = text.strip()
    low = s.lower()
    num_end = 0
    while num_end < len(low) and (low[num_end].isdigit() or low[num_end] == "."):
        num_end += 1
    num, unit = low[:num_end], low[num_end:].strip()
    if unit.endswith("b") and len(unit) > 1:
        unit = unit[:-1]
    if unit.endswith("i"):
        unit = unit[:-1]
    if not num or num.count(".") > 1 or unit not in _MULT:
        raise errdefs.InvalidArgument(f"invalid size: '{text}'")
    return int(float(num) * _MULT[unit])


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(ts: float, now: float | None = None) -> str:
    return human_duration((now if now is not None else time.time()) - ts) + " ago"


def go_time(ts: float) -> str:
    """``2026-11-25 18:30:00 +0000 UTC`` (Go's time.Time String in UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def parse_rfc3339(text: str) -> float:
    """``2026-11-25T18:30:00.123456789Z`` → epoch seconds (0 for Go's zero time)."""
    import calendar

    if not text or text.startswith("0001-"):
        return 0.0
    main, _, frac = text.partition(".")
    tz = 0
    rest = ""
    if frac:
        digits = ""
        for i, ch in enumerate(frac):
            if ch.isdigit():
                digits += ch
            else:
                rest = frac[i:]
                break
        fsec = float("0." + digits) if digits else 0.0
    else:
        fsec = 0.0
        if main.endswith("Z"):
            main, rest = main[:-1], "Z"
        elif len(main) > 19:
            main, rest = main[:19], main[19:]
    if rest and rest != "Z":
        sign = -1 if rest[0] == "-" else 1
        hh, _, mm = rest[1:].partition(":")
        tz = sign * (int(hh) * 3600 + int(mm or 0) * 60)
    t = time.strptime(main[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) - tz + fsec


def parse_since(text: str, now: float | None = None) -> str:
    """``--since``/``--until``: a duration (``10m``, ``1h30m``), a unix timestamp or an RFC 3339 time."""
    t = text.strip()
    if not t:
        return ""
    if t.replace(".", "", 1).isdigit():
        return t
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    total, num, i, ok, parsed = 0.0, "", 0, True, False
    while i < len(t):
        ch = t[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        u = t[i : i + 2] if t[i : i + 2] in units else ch
        if u not in units or not num:
            ok = False
            break
        total += float(num) * units[u]
        parsed = True
        num = ""
        i += len(u)
    if ok and not num and parsed:
        return f"{(now if now is not None else time.time()) - total:.9f}"
    try:
        return f"{parse_rfc3339(t if 'T' in t else t + 'T00:00:00Z'):.9f}"
    except ValueError:
        raise errdefs.InvalidArgument(f'invalid value "{text}" for time: use a duration, a timestamp or RFC 3339')
