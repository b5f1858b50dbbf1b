"""JSON encoding and decoding through the C accelerator ``_json``, without importing ``json``.

Design reason: ``import json`` pulls in ``re`` and ``enum`` (~12 ms), paid by every
seabox-runc command although state.json, the sync messages and ``state`` output only need the
C scanner and encoder that ``json`` itself wraps.  Same results as ``json.loads``/``dumps``
(compact separators); ``dumps_indent`` gives runc's two-space indented output.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
_WS = " \t\n\r"


def _default(o: object) -> object:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def loads(s: str) -> Any:
    n = len(s)
    i = 0
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise ValueError(f"invalid JSON: expecting value at offset {e.value}") from None
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"invalid JSON: extra data at offset {end}")
    return obj


def dumps(obj: Any) -> str:
    return "".join(_encode(obj, 0))


def dumps_indent(obj: Any, indent: str = "  ", level: int = 0) -> str:
    """Indented like Go's json.MarshalIndent (what ``runc state`` prints)."""
    pad = indent * (level + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{dumps(str(k))}: {dumps_indent(v, indent, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(obj, list) and obj:
        items = [f"{pad}{dumps_indent(v, indent, level + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + indent * level + "]"
    return dumps(obj)
