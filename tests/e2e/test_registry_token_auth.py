"""Bearer-token auth end to end: a local token realm + proxy in front of a private docker-registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.push import push
from seabox.images.registry.client import RegistryClient, login, logout
from seabox.images.registry.credentials import CredentialStore
from seabox.images.registry.testing import LocalRegistry, TokenAuthProxy, build_layout, skopeo_push
from seabox.oci import reference

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with LocalRegistry() as reg:
        b = build_layout(tmp_path_factory.mktemp("layout") / "img")
        skopeo_push(b.layout, "latest", f"{reg.host}/team/app:v1")
        yield reg


@pytest.fixture
def proxy(upstream: LocalRegistry) -> Iterator[TokenAuthProxy]:
    with TokenAuthProxy(upstream.host, users={"alice": "s3cret"}, anonymous_pull=True) as p:
        yield p


def test_anonymous_pull_gets_and_caches_a_token(proxy: TokenAuthProxy, tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "c")
    with RegistryClient(plain_http=True) as c:
        img = pull(f"{proxy.host}/team/app:v1", content_store=store, client=c)
        assert len(img.manifest.layers) == 2
        # resolve, manifest, config and two layers were all served with one token
        assert proxy.token_requests == 1
        assert proxy.scopes_requested == [["repository:team/app:pull"]]
        # the registry forgets its tokens: the next request gets 401 and one fresh token fixes it
        proxy.expire_all()
        assert c.resolve(reference.parse(f"{proxy.host}/team/app:v1")).descriptor == img.target
        assert proxy.token_requests == 2


def test_push_needs_credentials_then_works_with_cross_repo_mount(proxy: TokenAuthProxy, tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "c")
    img = pull(f"{proxy.host}/team/app:v1", content_store=store, plain_http=True)
    with pytest.raises(errdefs.Unauthorized) as ei:
        push(f"{proxy.host}/team/copy:v1", img.target, content_store=store, plain_http=True)
    assert f"unauthorized: authentication required for {proxy.host}/team/copy" in str(ei.value)
    bad = CredentialStore(tmp_path / "bad.json")
    bad.store(proxy.host, "alice", "wrong")
    with pytest.raises(errdefs.Unauthorized, match="incorrect username or password"):
        push(f"{proxy.host}/team/copy:v1", img.target, content_store=store, plain_http=True, credentials=bad)
    creds = CredentialStore(tmp_path / "good.json")
    creds.store(proxy.host, "alice", "s3cret")
    res = push(f"{proxy.host}/team/copy:v1", img.target, content_store=store, plain_http=True, credentials=creds)
    # layers came from team/app on this registry (pull labelled them): mounted, not uploaded
    assert set(res.mounted) == {x.digest for x in img.manifest.layers} | {img.manifest.config.digest}
    assert res.uploaded == ()
    assert any("repository:team/app:pull" in s for s in proxy.scopes_requested[-1])
    again = pull(f"{proxy.host}/team/copy:v1", content_store=ContentStore(tmp_path / "c2"), plain_http=True)
    assert again.target.digest == img.target.digest


def test_login_and_logout_against_token_realm(proxy: TokenAuthProxy, tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    with pytest.raises(errdefs.Unauthorized, match="incorrect username or password"):
        login(proxy.host, "alice", "nope", config_path=cfg, plain_http=True)
    assert not cfg.exists()
    login(proxy.host, "alice", "s3cret", config_path=cfg, plain_http=True)
    assert (cfg.stat().st_mode & 0o777) == 0o600
    assert proxy.host in json.loads(cfg.read_text())["auths"]
    assert logout(proxy.host, config_path=cfg)
    assert json.loads(cfg.read_text())["auths"] == {}


def test_anonymous_denied_registry(upstream: LocalRegistry, tmp_path: Path) -> None:
    with TokenAuthProxy(upstream.host, users={"alice": "s3cret"}, anonymous_pull=False) as p:
        with pytest.raises(errdefs.Unauthorized) as ei:
            pull(f"{p.host}/team/app:v1", content_store=ContentStore(tmp_path / "c"), plain_http=True)
        assert f"unauthorized: authentication required for {p.host}/team/app:v1" in str(ei.value)
        img = pull(f"{p.host}/team/app:v1", content_store=ContentStore(tmp_path / "c"), plain_http=True,
                   credentials=lambda h: ("alice", "s3cret"))  # fmt: skip
        assert img.target.size > 0


def test_identity_token_used_as_oauth_refresh_token(proxy: TokenAuthProxy, tmp_path: Path) -> None:
    proxy.refresh_tokens["rt-123"] = "alice"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"auths": {proxy.host: {"auth": "", "identitytoken": "rt-123"}}}))
    store = ContentStore(tmp_path / "c")
    img = pull(f"{proxy.host}/team/app:v1", content_store=store, plain_http=True)
    res = push(f"{proxy.host}/team/idt:v1", img.target, content_store=store, plain_http=True,
               credentials=CredentialStore(cfg))  # fmt: skip
    assert res.descriptor.digest == img.target.digest
    cfg.write_text(json.dumps({"auths": {proxy.host: {"identitytoken": "revoked"}}}))
    with pytest.raises(errdefs.Unauthorized, match="incorrect username or password"):
        push(f"{proxy.host}/team/idt:v2", img.target, content_store=store, plain_http=True,
             credentials=CredentialStore(cfg))  # fmt: skip
