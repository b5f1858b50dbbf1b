"""seabox.jsonlite gives json's results (it drives the same C codec without json's Python layer):
the default compact form, json's own separators (``compact=False``), non-ASCII output, Go's
indented form, and the lean imports of the commands that use it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from seabox import jsonlite
from seabox.ctr import spec as specs

DOCS = [
    {}, [], 0, -1, 1.5, 1e300, True, None, "x", "ünï\u2028\x00\"\\", [1, [2, [3, {"a": None}]]],
    {"k": "v", "n": 3, "f": -0.25, "l": [True, False], "u": "é", "e": {}},
    specs.build("ns", "c1", {"Env": ["A=1"], "Cmd": ["sh"], "User": "0"}, specs.SpecOptions(args=["x", "ü"])),
]  # fmt: skip


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_dumps_and_loads_match_json(doc: object) -> None:
    assert jsonlite.dumps(doc, compact=False) == json.dumps(doc)
    assert jsonlite.dumps(doc) == json.dumps(doc, separators=(",", ":"))
    assert jsonlite.dumps(doc, ascii=False) == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(jsonlite.dumps_indent(doc)) == doc
    assert jsonlite.dumps(doc, sort_keys=True) == json.dumps(doc, separators=(",", ":"), sort_keys=True)
    text = json.dumps(doc)
    assert jsonlite.loads(text) == json.loads(text)
    assert jsonlite.loads(text.encode()) == json.loads(text.encode())
    pretty = json.dumps(doc, indent=2, ensure_ascii=False)
    assert jsonlite.loads(f" \n\t{pretty}\r\n ".encode()) == json.loads(f" \n\t{pretty}\r\n ".encode())


def test_special_values() -> None:
    assert jsonlite.dumps([math.inf, -math.inf], compact=False) == json.dumps([math.inf, -math.inf])
    got = jsonlite.loads("[NaN, Infinity, -Infinity, 12345678901234567890, 1.0e2]")
    assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf, 12345678901234567890, 100.0]
    assert jsonlite.loads(b"\xef\xbb\xbf{}") == json.loads(b"\xef\xbb\xbf{}")  # a BOM: left to json
    assert jsonlite.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}


@pytest.mark.parametrize("bad", ["", "  ", "{", "[1,]", "{} {}", "{'a': 1}", "tru", '"\x01"', "\ufeff{}", "01"])
def test_rejects_what_json_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        jsonlite.loads(bad)


def test_not_serializable_and_circular() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonlite.dumps({"a": object()})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        jsonlite.dumps(loop)


def test_does_not_import_json_or_re() -> None:
    src = str(Path(jsonlite.__file__).parents[1])
    code = (f"import sys; sys.path.insert(0, {src!r}); from seabox import jsonlite; "
            "jsonlite.loads(jsonlite.dumps({'a': [1.5]})); print(sorted(m for m in sys.modules if m in ('json', 're', 'enum')))")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def test_indent_matches_go_style() -> None:
    assert jsonlite.dumps_indent({"a": 1, "b": [1]}) == '{\n  "a": 1,\n  "b": [\n    1\n  ]\n}'
    assert jsonlite.dumps_indent({}) == "{}"


def test_scan_a_stream() -> None:
    assert jsonlite.scan('{"a":1} {"b":2}', 7) == ({"b": 2}, 15)
    with pytest.raises(jsonlite.JSONError):
        jsonlite.scan('{"a":', 0)


def test_state_command_imports_stay_lean() -> None:
    code = ("import sys; import seabox.cli.runc, seabox.runtime.query, seabox.runtime.start, seabox.runtime.delete;"
            "print(sorted(m for m in ('json', 're', 'typing', 'dataclasses', 'argparse', 'pathlib', 'enum')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "[]"
