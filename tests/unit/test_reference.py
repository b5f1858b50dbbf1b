"""References: docker's normalisation, familiar form, and malformed input."""

from __future__ import annotations

import pytest

from seabox import errdefs
from seabox.oci import reference

D = "sha256:" + "a" * 64

GOOD = [
    # input, normalised str, familiar, domain, path, tag, digest
    ("nginx", "docker.io/library/nginx", "nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.26", "docker.io/library/nginx:1.26", "nginx:1.26", "docker.io", "library/nginx", "1.26", None),
    ("library/nginx:1.26", "docker.io/library/nginx:1.26", "nginx:1.26", "docker.io", "library/nginx", "1.26", None),
    ("docker.io/nginx", "docker.io/library/nginx", "nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/nginx", "docker.io/library/nginx", "nginx", "docker.io", "library/nginx", None, None),
    ("user/app", "docker.io/user/app", "user/app", "docker.io", "user/app", None, None),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1", "docker.io", "user/app", "v1", None),
    ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b", "docker.io", "library/a/b", None, None),
    (f"nginx@{D}", f"docker.io/library/nginx@{D}", f"nginx@{D}", "docker.io", "library/nginx", None, D),
    (f"nginx:1.26@{D}", f"docker.io/library/nginx:1.26@{D}", f"nginx:1.26@{D}", "docker.io", "library/nginx", "1.26", D),
    ("localhost/x", "localhost/x", "localhost/x", "localhost", "x", None, None),
    ("localhost:5000/x:t", "localhost:5000/x:t", "localhost:5000/x:t", "localhost:5000", "x", "t", None),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io", "library/localhost", "5000", None),
    ("127.0.0.1:5000/library/busybox:latest", "127.0.0.1:5000/library/busybox:latest",
     "127.0.0.1:5000/library/busybox:latest", "127.0.0.1:5000", "library/busybox", "latest", None),
    ("registry.example.com/a/b/c:t", "registry.example.com/a/b/c:t", "registry.example.com/a/b/c:t",
     "registry.example.com", "a/b/c", "t", None),
    ("Example.COM/a", "Example.COM/a", "Example.COM/a", "Example.COM", "a", None, None),
    ("[::1]:5000/a", "[::1]:5000/a", "[::1]:5000/a", "[::1]:5000", "a", None, None),
    ("a.b/c__d-e.f--g", "a.b/c__d-e.f--g", "a.b/c__d-e.f--g", "a.b", "c__d-e.f--g", None, None),
    ("host:5000/x:TAG_with.dash-1", "host:5000/x:TAG_with.dash-1", "host:5000/x:TAG_with.dash-1",
     "host:5000", "x", "TAG_with.dash-1", None),
    ("ghcr.io/owner/repo@" + "sha512:" + "b" * 128, "ghcr.io/owner/repo@sha512:" + "b" * 128,
     "ghcr.io/owner/repo@sha512:" + "b" * 128, "ghcr.io", "owner/repo", None, "sha512:" + "b" * 128),
]


@pytest.mark.parametrize(("raw", "full", "familiar", "domain", "path", "tag", "digest"), GOOD)
def test_parse_normalises(raw: str, full: str, familiar: str, domain: str, path: str, tag: str | None,
                          digest: str | None) -> None:  # fmt: skip
    r = reference.parse(raw)
    assert str(r) == full
    assert r.familiar() == familiar
    assert (r.domain, r.path, r.tag, r.digest) == (domain, path, tag, digest)
    assert reference.parse(str(r)) == r  # normalised form is a fixed point


BAD = [
    ("", "empty"),
    ("Nginx", "lowercase"),
    ("user/App", "lowercase"),
    ("nginx:", "invalid tag"),
    ("nginx:-bad", "invalid tag"),
    ("nginx:" + "a" * 129, "invalid tag"),
    ("nginx@sha256:abc", "invalid digest"),
    ("nginx@sha256:" + "A" * 64, "digest"),
    ("nginx@md5:" + "a" * 32, "unsupported"),
    ("nginx@", "empty digest"),
    ("a" * 64, "64-byte"),
    ("-nginx", "invalid reference format"),
    ("nginx-", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("a/b/", "invalid reference format"),
    ("host:port/x", "invalid domain"),
    ("-host.com/x", "invalid domain"),
    ("nginx latest", "whitespace"),
    (" nginx", "whitespace"),
    ("a..b/c", "invalid domain"),
    ("x/" + "a" * 260, "longer than"),
    ("nginx:1.26:extra", "invalid"),
    ("registry.io/a___b", "invalid reference format"),
]


@pytest.mark.parametrize(("raw", "why"), BAD)
def test_malformed_references_name_the_input(raw: str, why: str) -> None:
    with pytest.raises(errdefs.InvalidArgument) as ei:
        reference.parse(raw)
    msg = str(ei.value)
    assert why in msg
    assert msg.startswith(f'reference "{raw}"')
    assert not reference.is_valid(raw)


def test_default_tag_only_without_tag_or_digest() -> None:
    assert str(reference.parse("busybox", default_tag=True)) == "docker.io/library/busybox:latest"
    assert reference.parse(f"busybox@{D}", default_tag=True).tag is None
    assert reference.parse("busybox:1", default_tag=True).tag == "1"


def test_object_and_with_helpers() -> None:
    r = reference.parse("127.0.0.1:5000/x/y:t")
    assert r.object == "t"
    assert r.name == "127.0.0.1:5000/x/y"
    assert r.with_digest(D).object == D
    assert str(r.with_tag("v2")) == "127.0.0.1:5000/x/y:v2"
    with pytest.raises(errdefs.InvalidArgument):
        r.with_tag("bad tag")


@pytest.mark.parametrize(
    ("name", "familiar"),
    [("docker.io/library/nginx", "nginx"), ("docker.io/library/a/b", "library/a/b"), ("docker.io/u/a", "u/a"),
     ("quay.io/library/x", "quay.io/library/x")],
)  # fmt: skip
def test_familiar_name(name: str, familiar: str) -> None:
    assert reference.familiar_name(name) == familiar
