"""containerd's filter syntax, as the metadata lists and the event exchange use it."""

from __future__ import annotations

import pytest

from seabox.errdefs import InvalidArgument
from seabox.metadata.filters import Selector, parse_all, parse_one


def adaptor(fields: dict[str, str]):  # type: ignore[no-untyped-def]
    def get(path: tuple[str, ...]) -> tuple[str, bool]:
        key = ".".join(path)
        return (fields[key], True) if key in fields else ("", False)

    return get


def test_parse_shapes() -> None:
    assert parse_one('topic=="/tasks/exit"') == (Selector(("topic",), "==", "/tasks/exit"),)
    assert parse_one("namespace==k8s.io,topic~=/^\\/tasks\\//") == (
        Selector(("namespace",), "==", "k8s.io"),
        Selector(("topic",), "~=", "^/tasks/"),
    )
    assert parse_one('labels."io.cri.kind"==sandbox') == (Selector(("labels", "io.cri.kind"), "==", "sandbox"),)
    assert parse_one("labels.app") == (Selector(("labels", "app"), ""),)
    assert parse_one(" id != web ") == (Selector(("id",), "!=", "web"),)


@pytest.mark.parametrize("bad", ['topic=="/x', "==x", "a==b,", "id~=/(/", "a b"])
def test_parse_errors(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="filter"):
        parse_one(bad)


def test_match_semantics() -> None:
    obj = adaptor({"topic": "/tasks/exit", "namespace": "default", "labels.a.b": "x"})
    assert parse_all([]).match(obj)
    assert parse_all(['topic=="/tasks/exit"']).match(obj)
    assert not parse_all(['topic=="/tasks/start"']).match(obj)
    assert parse_all(['topic=="/tasks/start"', "namespace==default"]).match(obj)  # OR of strings
    assert not parse_all(['topic=="/tasks/exit",namespace==k8s.io']).match(obj)  # AND within one
    assert parse_all(['labels."a.b"==x']).match(obj)
    assert parse_all(["missing!=1"]).match(obj)
    assert parse_all(["topic~=exit$"]).match(obj)
