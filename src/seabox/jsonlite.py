"""JSON through CPython's C accelerator ``_json``, without importing ``json``.

Design reason: ``import json`` pulls in ``re`` and ``enum`` (5-12 ms here), paid by every
short-lived command — seabox-runc's verbs, ``seabox-ctr run``, the ``seabox`` CLI — although
they only need the scanner and encoder that ``json`` itself wraps.  The results are json's:
``loads`` accepts and rejects what ``json.loads`` does (bytes with a BOM or in UTF-16/32 are
handed to json itself), ``dumps`` is ``json.dumps`` with either compact separators (the
default here, what Go's encoder and runc print) or json's own (``compact=False``), ASCII-only
unless ``ascii=False``; ``scan`` decodes one value at an offset (streams of concatenated
objects); ``dumps_indent`` is Go's ``MarshalIndent`` layout (``runc state``).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"  # json's whitespace


class _Context:
    """The attributes ``json.JSONDecoder()`` hands the C scanner."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]


class JSONError(ValueError):
    """What json.loads would raise a ValueError for."""


def skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def scan(s: str, i: int = 0) -> tuple[Any, int]:
    """One value starting at ``i`` (after whitespace) → (value, end); JSONError if incomplete or bad."""
    i = skip_ws(s, i)
    try:
        return _scan(s, i)
    except StopIteration as e:
        raise JSONError(f"Expecting value: char {e.value}") from None
    except ValueError as e:
        raise JSONError(str(e)) from None


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads(data)``."""
    if isinstance(data, (bytes, bytearray)):
        if data[:3] == b"\xef\xbb\xbf" or b"\x00" in data[:4]:
            import json  # a BOM or UTF-16/32: json's detection, rare enough to pay for it

            return json.loads(data)
        s = bytes(data).decode("utf-8", "surrogatepass")
    else:
        s = data
        if s.startswith("\ufeff"):
            raise JSONError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    obj, end = scan(s, 0)
    end = skip_ws(s, end)
    if end != len(s):
        raise JSONError(f"Extra data: char {end}")
    return obj


def _default(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, *, compact: bool = True, ascii: bool = True, sort_keys: bool = False) -> str:
    """``json.dumps(obj, separators=(",", ":") if compact else None, ensure_ascii=ascii, sort_keys=sort_keys)``."""
    quote = _json.encode_basestring_ascii if ascii else _json.encode_basestring
    if isinstance(obj, str):
        return str(quote(obj))
    item, key = (",", ":") if compact else (", ", ": ")
    # json's one-shot encoder: markers (circular check), default, quoting, no indent,
    # separators, unsorted, skipkeys off, NaN allowed; a new one per call, as json makes
    encoder = _json.make_encoder({}, _default, quote, None, key, item, sort_keys, False, True)
    return "".join(encoder(obj, 0))


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
