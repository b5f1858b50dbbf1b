"""jsonfast: the same results as the json module, through _json, without importing json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seabox.runtime import jsonfast

DOCS = [
    {"a": [1, 2.5, None, True, False, "x\u00e9\"\\\n"], "b": {"c": {}}, "d": [], "e": -1e300, "f": 2**70},
    [],
    "plain",
    0,
    {"nested": [{"k": [[]]}], "unicode": "\u2603 \U0001f600"},
]


@pytest.mark.parametrize("doc", DOCS)
def test_round_trips_like_json(doc: object) -> None:
    assert json.loads(jsonfast.dumps(doc)) == doc
    assert jsonfast.loads(json.dumps(doc, indent=3)) == doc
    assert json.loads(jsonfast.dumps_indent(doc)) == doc


def test_indent_matches_go_style() -> None:
    assert jsonfast.dumps_indent({"a": 1, "b": [1]}) == '{\n  "a": 1,\n  "b": [\n    1\n  ]\n}'
    assert jsonfast.dumps_indent({}) == "{}"


@pytest.mark.parametrize("bad", ["", "{", "{} x", "nul", "[1,]", "{'a': 1}"])
def test_errors_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        jsonfast.loads(bad)


def test_does_not_import_json() -> None:
    code = "import sys, seabox.runtime.jsonfast as j; j.loads(j.dumps({'a': [1]})); print('json' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "False"


def test_state_command_imports_stay_lean() -> None:
    code = ("import sys; import seabox.cli.runc, seabox.runtime.query, seabox.runtime.start, seabox.runtime.delete;"
            "print(sorted(m for m in ('json', 're', 'typing', 'dataclasses', 'argparse', 'pathlib', 'enum')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "[]"
