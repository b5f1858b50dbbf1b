"""Pull/push/load progress: plain lines off a terminal, one rewritten line per layer on one."""

from __future__ import annotations

import io

import pytest

from seabox import jsonlite
from seabox.client import progress
from seabox.errdefs import SeaboxError

STREAM = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "id": "aaa"},
    {"status": "Pulling fs layer", "id": "bbb"},
    {"status": "Downloading", "id": "aaa", "progressDetail": {"current": 500, "total": 1000}},
    {"status": "Download complete", "id": "aaa"},
    {"status": "Pull complete", "id": "bbb"},
    {"status": "Digest: sha256:abc"},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


def test_plain_lines() -> None:
    out = io.StringIO()
    progress.render(iter(STREAM), out, tty=False)
    assert out.getvalue().splitlines() == [
        "latest: Pulling from library/busybox", "aaa: Pulling fs layer", "bbb: Pulling fs layer",
        "aaa: Download complete", "bbb: Pull complete", "Digest: sha256:abc",
        "Status: Downloaded newer image for busybox:latest"]  # fmt: skip


def test_tty_rewrites_layer_lines_with_a_bar() -> None:
    out = io.StringIO()
    progress.render(iter(STREAM), out, tty=True)
    text = out.getvalue()
    assert "aaa: Downloading [========================>                         ] 500B/1kB" in text
    assert "\x1b[2A\r\x1b[2Kaaa: Download complete\r\x1b[2B" in text  # two lines up, rewritten, back down
    assert text.endswith("Status: Downloaded newer image for busybox:latest\n")


def test_error_message_ends_the_stream() -> None:
    with pytest.raises(SeaboxError, match="pull access denied"):
        progress.render(iter([{"status": "x"}, {"errorDetail": {"message": "pull access denied"}, "error": "pull access denied"}]),
                        io.StringIO(), tty=False)  # fmt: skip


def test_load_stream_lines_and_quiet() -> None:
    out = io.StringIO()
    progress.render(iter([{"stream": "Loaded image: a:b\n"}]), out, tty=False)
    assert out.getvalue() == "Loaded image: a:b\n"
    out = io.StringIO()
    progress.render(iter(STREAM), out, tty=True, quiet=True)
    assert out.getvalue() == ""


def test_jsonlite_matches_json() -> None:
    import json

    for v in ({"a": [1, 2.5, None, True, 'é"\n\t'], "b": {}}, [], "x", 10**20, -0.5):
        assert jsonlite.dumps(v, ascii=False) == json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        assert jsonlite.loads(jsonlite.dumps(v, ascii=False)) == v
    assert jsonlite.scan('{"a":1} {"b":2}', 7) == ({"b": 2}, 15)
    for bad in ('{"a":', "[1,]", "1 2", ""):
        with pytest.raises(ValueError):
            jsonlite.loads(bad)
