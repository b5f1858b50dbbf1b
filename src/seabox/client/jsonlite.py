"""JSON through the C accelerator ``_json`` without importing ``json`` (which pulls in ``re`` and
``enum``: most of a CLI command's import time on a busy machine).  ``loads``/``dumps`` give the
same results as ``json.loads``/``json.dumps(separators=(",", ":"), ensure_ascii=False)``;
``scan`` decodes one value at an offset (streams of concatenated objects).  Indented output
(``inspect``) is rare and uses ``json`` itself.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Ctx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scanner = _json.make_scanner(_Ctx())  # type: ignore[arg-type]
_WS = " \t\n\r"


def _default(o: object) -> object:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encoder = _json.make_encoder(None, _default, _json.encode_basestring, None, ":", ",", False, False, True)


class JSONError(ValueError):
    pass


def skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def scan(s: str, i: int = 0) -> tuple[Any, int]:
    """One value starting at ``i`` (after whitespace) → (value, end); JSONError if incomplete/bad."""
    i = skip_ws(s, i)
    try:
        return _scanner(s, i)
    except StopIteration as e:
        raise JSONError(f"invalid JSON: expecting value at offset {e.value}") from None
    except ValueError as e:
        raise JSONError(f"invalid JSON: {e}") from None


def loads(data: str | bytes) -> Any:
    s = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    obj, end = scan(s, 0)
    end = skip_ws(s, end)
    if end != len(s):
        raise JSONError(f"invalid JSON: extra data at offset {end}")
    return obj


def dumps(obj: Any) -> str:
    return "".join(_encoder(obj, 0))
