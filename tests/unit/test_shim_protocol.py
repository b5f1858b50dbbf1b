"""The shim's wire format: JSON lines, error kinds that survive the round trip."""

from __future__ import annotations

import pytest

from seabox import errdefs
from seabox.shim import protocol


def test_encode_decode_roundtrip_one_line() -> None:
    msg = {"id": 3, "op": "create", "bundle": "/b\nwith newline", "ü": [1, 2]}
    data = protocol.encode(msg)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert protocol.decode(data[:-1]) == msg


def test_line_buffer_reassembles_split_lines() -> None:
    buf = protocol.LineBuffer()
    assert buf.feed(b'{"a":') == []
    assert buf.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert buf.feed(b":2}\n\n") == [b'{"b":2}', b""]


def test_line_buffer_refuses_endless_lines() -> None:
    buf = protocol.LineBuffer(limit=16)
    with pytest.raises(protocol.ProtocolError):
        buf.feed(b"x" * 17)
    assert buf.feed(b"ok\n") == [b"ok"]  # usable again afterwards


@pytest.mark.parametrize("line", [b"not json", b"[1,2]", b'"text"', b"\xff\xfe"])
def test_decode_rejects_non_objects(line: bytes) -> None:
    with pytest.raises(errdefs.InvalidArgument):
        protocol.decode(line)


@pytest.mark.parametrize("exc", [errdefs.NotFound, errdefs.AlreadyExists, errdefs.InvalidArgument,
                                 errdefs.FailedPrecondition, errdefs.Unavailable])
def test_error_kinds_survive_the_round_trip(exc: type[errdefs.SeaboxError]) -> None:
    wire = protocol.decode(protocol.encode(protocol.error_reply(9, exc('container "c1": boom\nsecond line'))))
    assert wire == {"id": 9, "ok": False, "error": exc.__name__, "message": 'container "c1": boom'}
    with pytest.raises(exc, match='container "c1": boom'):
        protocol.raise_for(wire)


def test_unknown_errors_are_internal_and_subclasses_map_to_their_kind() -> None:
    assert protocol.error_reply(1, RuntimeError("x"))["error"] == "Internal"
    assert protocol.error_reply(1, protocol.ProtocolError("bad"))["error"] == "InvalidArgument"
    with pytest.raises(errdefs.SeaboxError):
        protocol.raise_for({"id": 1, "ok": False, "error": "Weird", "message": "m"})


def test_reply_envelope_keeps_result_fields_apart_from_the_request_id() -> None:
    r = protocol.reply(5, {"id": "container-id", "pid": 7})
    assert r["id"] == 5 and r["ok"] is True
    assert protocol.raise_for(r) == {"id": "container-id", "pid": 7}
