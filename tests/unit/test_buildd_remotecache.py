"""Parsing --cache-to/--cache-from specs and choosing what mode=min/max exports."""

from __future__ import annotations

import pytest

from seabox.buildd.cache import Layer, Record
from seabox.buildd.remotecache import check, parse_spec, select
from seabox.errdefs import InvalidArgument


def test_specs() -> None:
    assert parse_spec("r.example/app:cache", exporting=False) == {"type": "registry", "ref": "r.example/app:cache"}
    assert parse_spec("type=registry,ref=h/x:c,mode=max", exporting=True) == {
        "type": "registry", "ref": "h/x:c", "mode": "max"}
    assert parse_spec("type=local,dest=/d", exporting=True)["dest"] == "/d"
    assert parse_spec("ref=h/x:c", exporting=False)["type"] == "registry"
    for text, exporting, needle in (("type=gha", True, "unsupported type"), ("type=local,dest=/d", False, "src="),
                                    ("type=registry,ref=h/x,mode=full", True, "mode must be"),
                                    ("type=registry,,ref=x", True, "key=value")):
        with pytest.raises(InvalidArgument, match=needle):
            parse_spec(text, exporting=exporting)
    with pytest.raises(InvalidArgument, match="table of strings"):
        check({"type": 1}, exporting=True)  # type: ignore[dict-item]


def _layer(n: int) -> Layer:
    return Layer(f"sha256:{n:064x}", n, f"sha256:{n + 100:064x}", "application/vnd.docker.image.rootfs.diff.tar.gzip")


def test_min_keeps_only_prefixes_of_the_final_chain() -> None:
    base, a, b, other = _layer(1), _layer(2), _layer(3), _layer(4)
    recs = [Record("k1", "s1", [base, a]), Record("k2", "s2", [base, a, b]), Record("kx", "sx", [base, other])]
    assert [r.key for r in select(recs, [base, a, b], "min")] == ["k1", "k2"]
    assert [r.key for r in select(recs, [base, a, b], "max")] == ["k1", "k2", "kx"]

