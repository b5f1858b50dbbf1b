"""WWW-Authenticate parsing, scope merging, and the Authorizer's token cache/refresh."""

from __future__ import annotations

import pytest

from seabox import errdefs
from seabox.images.registry import auth
from seabox.images.registry.auth import Challenge, parse_www_authenticate
from seabox.images.registry.errors import error_from_response


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
         [Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                               "scope": "repository:library/busybox:pull"})]),
        ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
        ('BASIC realm=r', [Challenge("basic", {"realm": "r"})]),
        ('Bearer realm="a,b", scope="repository:x:pull,push"',
         [Challenge("bearer", {"realm": "a,b", "scope": "repository:x:pull,push"})]),
        ('Bearer realm="q\\"uote"', [Challenge("bearer", {"realm": 'q"uote'})]),
        ('Basic realm="x", Bearer realm="y",service=s', [Challenge("basic", {"realm": "x"}),
                                                         Challenge("bearer", {"realm": "y", "service": "s"})]),
        ('Negotiate abc==, Basic realm="r"', [Challenge("negotiate", {"token68": "abc=="}), Challenge("basic", {"realm": "r"})]),
        ('Bearer  realm = "spaced" ,  service = "svc"', [Challenge("bearer", {"realm": "spaced", "service": "svc"})]),
        ("Basic", [Challenge("basic", {})]),
        ("", []),
        ('Bearer realm="unterminated', [Challenge("bearer", {})]),
        ('Bearer error="invalid_token", realm="r"', [Challenge("bearer", {"error": "invalid_token", "realm": "r"})]),
    ],
)  # fmt: skip
def test_parse_www_authenticate(header: str, want: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == want


def test_merge_scopes() -> None:
    assert auth.merge_scopes(["repository:a:pull"], "repository:a:push repository:b:pull") == [
        "repository:a:pull,push",
        "repository:b:pull",
    ]
    assert auth.merge_scopes([], "registry:catalog:*") == ["registry:catalog:*"]


class FakeTokens:
    def __init__(self, expires_in: int = 300) -> None:
        self.calls: list[tuple[str, list[str], tuple[str, str] | None]] = []
        self.expires_in = expires_in

    def __call__(self, ch: Challenge, scopes: list[str], creds: tuple[str, str] | None) -> tuple[str, int]:
        self.calls.append((ch.realm, scopes, creds))
        return f"tok{len(self.calls)}", self.expires_in


BEARER = ['Bearer realm="http://auth/token",service="reg",scope="repository:x:pull"']


def test_bearer_token_cached_per_host_and_scope() -> None:
    toks = FakeTokens()
    a = auth.Authorizer(lambda h: ("u", "p"), toks)
    assert a.header("reg:1", ["repository:x:pull"]) is None  # never challenged: anonymous first
    assert a.on_unauthorized("reg:1", BEARER, ["repository:x:pull"], had_auth=False) == "Bearer tok1"
    assert toks.calls == [("http://auth/token", ["repository:x:pull"], ("u", "p"))]
    assert a.header("reg:1", ["repository:x:pull"]) == "Bearer tok1"
    assert len(toks.calls) == 1
    assert a.header("reg:1", ["repository:y:pull"]) == "Bearer tok2"  # another scope, another token
    assert a.header("reg:2", ["repository:x:pull"]) is None  # another host was never challenged


def test_token_refreshed_on_expiry_and_on_401() -> None:
    now = [1000.0]
    toks = FakeTokens(expires_in=60)
    a = auth.Authorizer(lambda h: None, toks, clock=lambda: now[0])
    a.on_unauthorized("r", BEARER, ["repository:x:pull"], had_auth=False)
    assert a.header("r", ["repository:x:pull"]) == "Bearer tok1"
    now[0] += 55  # within the refresh margin
    assert a.header("r", ["repository:x:pull"]) == "Bearer tok2"
    # a 401 although we sent a token: fetch a fresh one rather than reuse the cached one
    assert a.on_unauthorized("r", BEARER, ["repository:x:pull"], had_auth=True) == "Bearer tok3"
    assert toks.calls[0][2] is None  # anonymous token request


def test_challenge_scope_merged_with_ours() -> None:
    toks = FakeTokens()
    a = auth.Authorizer(lambda h: None, toks)
    a.on_unauthorized("r", ['Bearer realm="http://t",scope="repository:x:push"'], ["repository:x:pull"], False)
    assert toks.calls[0][1] == ["repository:x:pull,push"]


def test_basic_challenge() -> None:
    a = auth.Authorizer(lambda h: ("admin", "Harbor12345") if h == "r" else None, FakeTokens())
    hdr = a.on_unauthorized("r", ['Basic realm="x"'], [], had_auth=False)
    assert hdr == "Basic YWRtaW46SGFyYm9yMTIzNDU="
    assert a.header("r", []) == hdr
    with pytest.raises(auth.NoCredentials):
        a.on_unauthorized("r", ['Basic realm="x"'], [], had_auth=True)  # rejected credentials
    with pytest.raises(auth.NoCredentials):
        a.on_unauthorized("other", ['Basic realm="x"'], [], had_auth=False)


def test_no_usable_challenge() -> None:
    a = auth.Authorizer(lambda h: None, FakeTokens())
    with pytest.raises(errdefs.Unauthorized, match="no usable"):
        a.on_unauthorized("r", ["Negotiate abc"], [], had_auth=False)


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', errdefs.Unauthorized,
         "unauthorized: authentication required for 127.0.0.1:5001/infra/busybox"),
        (403, b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
         errdefs.Unauthorized, "denied: requested access to the resource is denied for 127.0.0.1:5001/infra/busybox"),
        (404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', errdefs.NotFound,
         "127.0.0.1:5001/infra/busybox: not found"),
        (404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', errdefs.NotFound, "not found"),
        (400, b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match"}]}',
         errdefs.InvalidArgument, "provided digest did not match"),
        (429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', errdefs.Unavailable, "slow down"),
        (503, b"<html>oops</html>", errdefs.Unavailable, "HTTP 503"),
        (404, b"", errdefs.NotFound, "not found"),
    ],
)  # fmt: skip
def test_error_bodies_map_to_errdefs(status: int, body: bytes, kind: type, text: str) -> None:
    e = error_from_response(status, body, "127.0.0.1:5001/infra/busybox")
    assert type(e) is kind
    assert text in str(e)
