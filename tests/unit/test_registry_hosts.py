"""hosts.toml parsing and endpoint ordering (containerd's hosts directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seabox import errdefs
from seabox.images.registry.hosts import ALL_CAPABILITIES, TLSContexts, is_loopback, resolve_hosts


def write(d: Path, host: str, text: str) -> Path:
    (d / host).mkdir(parents=True, exist_ok=True)
    p = d / host / "hosts.toml"
    p.write_text(text)
    return p


def test_no_config_defaults(tmp_path: Path) -> None:
    [h] = resolve_hosts("docker.io", tmp_path)
    assert (h.scheme, h.netloc, h.path, h.mirror) == ("https", "registry-1.docker.io", "/v2", False)
    assert h.capabilities == ALL_CAPABILITIES
    [h] = resolve_hosts("quay.io", None)
    assert (h.url, h.http_fallback) == ("https://quay.io", False)
    [h] = resolve_hosts("127.0.0.1:5000", None)
    assert (h.url, h.http_fallback) == ("https://127.0.0.1:5000", True)
    [h] = resolve_hosts("127.0.0.1:5000", None, plain_http=True)
    assert h.url == "http://127.0.0.1:5000"
    [h] = resolve_hosts("r.example", None, skip_verify=True)
    assert h.skip_verify


def test_docker_io_mirror_order_and_capabilities(tmp_path: Path) -> None:
    write(tmp_path, "docker.io", '''
server = "https://registry-1.docker.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example:8443/prefix"]
  capabilities = ["pull"]
  skip_verify = true
  ca = "ca.pem"
  client = [["c.pem", "k.pem"]]
  [host."https://mirror.example:8443/prefix".header]
    x-token = ["a", "b"]

[host."https://raw.example/api"]
  override_path = true
''')
    hs = resolve_hosts("docker.io", tmp_path)
    assert [h.base for h in hs] == [
        "http://127.0.0.1:5000/v2",
        "https://mirror.example:8443/prefix/v2",
        "https://raw.example/api",
        "https://registry-1.docker.io/v2",
    ]
    assert hs[0].capabilities == {"pull", "resolve"}
    assert hs[0].mirror and hs[0].registry == "docker.io"
    assert hs[1].skip_verify and hs[1].ca == (str(tmp_path / "docker.io" / "ca.pem"),)
    assert hs[1].client == ((str(tmp_path / "docker.io" / "c.pem"), str(tmp_path / "docker.io" / "k.pem")),)
    assert hs[1].header == (("x-token", "a"), ("x-token", "b"))
    assert not hs[3].mirror and hs[3].capabilities == ALL_CAPABILITIES


def test_server_settings_at_top_level(tmp_path: Path) -> None:
    write(tmp_path, "127.0.0.1:5002", 'server = "https://127.0.0.1:5002"\nca = "/etc/ca.pem"\nskip_verify = false\n')
    [h] = resolve_hosts("127.0.0.1:5002", tmp_path)
    assert (h.url, h.ca, h.skip_verify, h.mirror) == ("https://127.0.0.1:5002", ("/etc/ca.pem",), False, False)


def test_plain_http_server(tmp_path: Path) -> None:
    write(tmp_path, "myreg:5000", 'server = "http://myreg:5000"\n')
    [h] = resolve_hosts("myreg:5000", tmp_path)
    assert h.url == "http://myreg:5000" and not h.http_fallback


def test_default_dir_and_underscore_port_form(tmp_path: Path) -> None:
    write(tmp_path, "_default", '[host."http://127.0.0.1:5000"]\n')
    hs = resolve_hosts("quay.io", tmp_path)
    assert [h.url for h in hs] == ["http://127.0.0.1:5000", "https://quay.io"]
    write(tmp_path, "reg_5000_", 'server = "http://reg:5000"\n')
    assert [h.url for h in resolve_hosts("reg:5000", tmp_path)] == ["http://reg:5000"]


def test_docker_certs_dir_without_hosts_toml(tmp_path: Path) -> None:
    d = tmp_path / "r.example:5000"
    d.mkdir()
    (d / "ca.crt").write_text("x")
    (d / "client.cert").write_text("x")
    (d / "client.key").write_text("x")
    [h] = resolve_hosts("r.example:5000", tmp_path)
    assert h.ca == (str(d / "ca.crt"),)
    assert h.client == ((str(d / "client.cert"), str(d / "client.key")),)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("server = [1]", '"server" must be a string'),
        ('[host."ftp://x"]', "invalid host URL"),
        ('[host."http://x"]\ncapabilities = ["fly"]', "unknown capability"),
        ('[host."http://x"]\nskip_verify = "yes"', "skip_verify"),
        ("this is = not toml =", "invalid TOML"),
        ('[host."http://x"]\nbogus = 1', "unknown key"),
        ('[host."http://x"]\nclient = [[1, 2]]', "client"),
    ],
)
def test_bad_hosts_toml_names_the_file(tmp_path: Path, text: str, why: str) -> None:
    p = write(tmp_path, "r.example", text)
    with pytest.raises(errdefs.InvalidArgument) as ei:
        resolve_hosts("r.example", tmp_path)
    assert why in str(ei.value)
    assert str(p) in str(ei.value)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5000")
    assert not is_loopback("10.0.0.1:5000") and not is_loopback("registry.example")


def test_tls_context_bad_ca_file(tmp_path: Path) -> None:
    write(tmp_path, "r.example", f'ca = "{tmp_path / "missing.pem"}"\n')
    [h] = resolve_hosts("r.example", tmp_path)
    with pytest.raises(errdefs.InvalidArgument, match="TLS configuration"):
        TLSContexts().for_host(h)
