"""TLS with client certificates (mutual TLS) configured through hosts.toml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.images.registry.client import RegistryClient
from seabox.images.registry.testing import LocalRegistry
from seabox.oci import reference

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mtls() -> Iterator[LocalRegistry]:
    with LocalRegistry(client_certs=True) as r:
        yield r


def _hosts(tmp_path: Path, reg: LocalRegistry, body: str) -> Path:
    d = tmp_path / "hosts" / reg.host
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text(f'server = "https://{reg.host}"\nca = "{reg.ca}"\n{body}')
    return tmp_path / "hosts"


def test_client_certificate_pair(mtls: LocalRegistry, tmp_path: Path) -> None:
    cert, key = mtls.client_pair
    hosts = _hosts(tmp_path, mtls, f'client = [["{cert}", "{key}"]]\n')
    with RegistryClient(hosts_dir=hosts) as c:
        c.ping(mtls.host)
        with pytest.raises(errdefs.NotFound):
            c.resolve(reference.parse(f"{mtls.host}/none/here:v1"))


def test_without_client_certificate_the_handshake_fails(mtls: LocalRegistry, tmp_path: Path) -> None:
    hosts = _hosts(tmp_path, mtls, "")
    with RegistryClient(hosts_dir=hosts) as c, pytest.raises(errdefs.Unavailable) as ei:
        c.ping(mtls.host)
    assert f"registry {mtls.host}" in str(ei.value) and "client certificate" in str(ei.value)


def test_without_ca_the_certificate_is_refused(mtls: LocalRegistry) -> None:
    with RegistryClient() as c, pytest.raises(errdefs.Unavailable, match="certificate verification failed"):
        c.ping(mtls.host)
