"""``json.loads`` and ``json.dumps`` (default arguments) for ``seabox-ctr run``, straight on
the C accelerator :mod:`_json` that json itself uses.

json's Python layer imports re (and with it enum, about 5 ms here) for its whitespace and
number patterns; ``run`` only needs the default codec, which is all C: the scanner from
``_json.make_scanner`` and the encoder from ``_json.make_encoder``, given the same settings
json's defaults give them.  Where _json lacks either (not CPython), json is used.  Results
are json's own (tests/unit/test_ctr_jsonlite.py compares them).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json

    _C = hasattr(_json, "make_scanner") and hasattr(_json, "make_encoder")
except ImportError:  # pragma: no cover - CPython has it
    _C = False

_WS = " \t\n\r"  # json's WHITESPACE


class _Context:
    """The attributes json.JSONDecoder() hands the C scanner."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict[str, str] = {}


_scan: Any = None


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``; ValueError for what json rejects (and, for bytes, for anything
    not plain UTF-8: json's other encodings are left to json)."""
    global _scan
    if not _C:
        import json

        return json.loads(data)
    if isinstance(data, bytes | bytearray):
        if data[:3] == b"\xef\xbb\xbf" or b"\x00" in data[:4]:
            import json

            return json.loads(data)
        s = bytes(data).decode("utf-8", "surrogatepass")
    else:
        s = data
        if s.startswith("\ufeff"):
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    if _scan is None:
        _scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
    idx = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, idx)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    end += len(s[end:]) - len(s[end:].lstrip(_WS))
    if end != len(s):
        raise ValueError(f"Extra data: char {end}")
    return obj


def _default(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any) -> str:
    """``json.dumps(obj)``."""
    if not _C:
        import json

        return json.dumps(obj)
    if isinstance(obj, str):
        return str(_json.encode_basestring_ascii(obj))
    # json's one-shot encoder: markers (circular check), default, ensure_ascii, no indent,
    # ": " and ", ", unsorted, skipkeys off, NaN allowed; a new one per call, as json makes
    encoder = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return "".join(encoder(obj, 0))
