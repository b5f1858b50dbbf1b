"""Platforms: normalisation, parsing, host detection, matching and ranking."""

from __future__ import annotations

import os

import pytest

from seabox import errdefs
from seabox.oci import platform as P
from seabox.oci.image import Platform


@pytest.mark.parametrize(
    ("arch", "variant", "want"),
    [
        ("x86_64", "", ("amd64", "v1")),
        ("amd64", "", ("amd64", "v1")),
        ("aarch64", "", ("arm64", "v8")),
        ("arm64", "8", ("arm64", "v8")),
        ("arm64", "v8", ("arm64", "v8")),
        ("ARM64", "", ("arm64", "v8")),
        ("armhf", "", ("arm", "v7")),
        ("armv6l", "", ("arm", "v6")),
        ("arm", "", ("arm", "v7")),
        ("i686", "", ("386", "")),
        ("ppc64le", "", ("ppc64le", "")),
    ],
)
def test_normalize_arch(arch: str, variant: str, want: tuple[str, str]) -> None:
    assert P.normalize_arch(arch, variant) == want


def test_parse() -> None:
    assert P.parse("linux/arm64") == Platform("linux", "arm64", "v8")
    assert P.parse("linux/arm64/v8") == P.parse("linux/aarch64")
    assert P.parse("Linux/AMD64") == Platform("linux", "amd64", "v1")
    assert P.parse("linux/arm/v6") == Platform("linux", "arm", "v6")
    assert P.parse("arm64").architecture == "arm64"
    assert P.parse("linux").os == "linux"
    for bad in ("", "linux/", "a/b/c/d", "linux/am d64", "/amd64"):
        with pytest.raises(errdefs.InvalidArgument, match="platform"):
            P.parse(bad)


def test_display() -> None:
    assert P.display(P.parse("linux/amd64")) == "linux/amd64"
    assert P.display(P.parse("linux/aarch64")) == "linux/arm64/v8"


def test_host_matches_uname() -> None:
    h = P.host()
    assert h.os == os.uname().sysname.lower()
    assert h == P.normalize(Platform("linux", os.uname().machine))


def test_matching_amd64() -> None:
    m = P.only(P.parse("linux/amd64"))
    assert m.match(Platform("linux", "amd64"))
    assert m.match(Platform("linux", "x86_64"))
    assert m.match(Platform("linux", "386"))
    assert not m.match(Platform("linux", "arm64"))
    assert not m.match(Platform("windows", "amd64"))
    assert not m.match(Platform("linux", "amd64", "v3"))  # newer than the host
    best = m.best([Platform("linux", "386"), Platform("linux", "amd64"), Platform("linux", "arm64")])
    assert best == Platform("linux", "amd64")
    assert not P.exact(P.parse("linux/amd64")).match(Platform("linux", "386"))


def test_matching_arm64_variant_normalisation() -> None:
    m = P.only(P.parse("linux/arm64"))
    assert m.match(Platform("linux", "arm64"))  # no variant = v8
    assert m.match(Platform("linux", "arm64", "v8"))
    assert m.match(Platform("linux", "aarch64"))
    assert m.match(Platform("linux", "arm", "v7"))
    best = m.best([Platform("linux", "arm", "v7"), Platform("linux", "amd64"), Platform("linux", "arm64", "v8")])
    assert best == Platform("linux", "arm64", "v8")
    assert m.best([Platform("linux", "amd64")]) is None


def test_matching_arm_v7_prefers_v7_over_v6() -> None:
    m = P.only(P.parse("linux/arm/v7"))
    assert m.best([Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7")]) == Platform("linux", "arm", "v7")
    assert m.match(Platform("linux", "arm", "v5"))
    assert not m.match(Platform("linux", "arm", "v8"))
