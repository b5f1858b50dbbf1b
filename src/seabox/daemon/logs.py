"""Structured logs for seaboxd: one line per record, key=value (text) or JSON.

Records carry fields through ``extra={"fields": {...}}``; the text form quotes values that
need it, so a line can be parsed back (``time=... level=info msg="serving" address=...``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO

_LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL, "panic": logging.CRITICAL}
_NAMES = {5: "trace", logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
          logging.ERROR: "error", logging.CRITICAL: "fatal"}


def _stamp(created: float) -> str:
    frac = f"{created % 1:.9f}"[1:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + frac + "Z"


def _quote(v: object) -> str:
    s = str(v)
    if s and all(c.isalnum() or c in "-._/:@+" for c in s):
        return s
    return json.dumps(s)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [f"time={_stamp(record.created)}", f"level={_NAMES.get(record.levelno, 'info')}",
                 f"msg={_quote(record.getMessage())}"]
        for k, v in getattr(record, "fields", {}).items():
            parts.append(f"{k}={_quote(v)}")
        if record.exc_info:
            parts.append(f"error={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, object] = {"time": _stamp(record.created), "level": _NAMES.get(record.levelno, "info"),
                                  "msg": record.getMessage()}
        obj.update(getattr(record, "fields", {}))
        if record.exc_info:
            obj["error"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)


def setup(level: str = "info", fmt: str = "text", stream: IO[str] | None = None) -> logging.Logger:
    """Configure the ``seabox`` logger tree; returns it."""
    logger = logging.getLogger("seabox")
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False
    return logger
