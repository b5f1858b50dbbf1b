"""Rendering /etc/hosts and /etc/resolv.conf for containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from seabox.errdefs import InvalidArgument
from seabox.network import hostsfile as hf


def test_parse_add_host() -> None:
    assert hf.parse_add_host("gitlab.example.test:10.0.0.110") == ("gitlab.example.test", "10.0.0.110")
    assert hf.parse_add_host("gw:host-gateway") == ("gw", "host-gateway")
    assert hf.parse_add_host("v6:fd00::1") == ("v6", "fd00::1")
    assert hf.parse_add_host("v6:[fd00::1]") == ("v6", "fd00::1")
    assert hf.parse_add_host("x=10.0.0.1") == ("x", "10.0.0.1")
    for bad in ("noip", ":1.2.3.4", "h:999.1.1.1"):
        with pytest.raises(InvalidArgument, match=f'add-host "{bad}"'):
            hf.parse_add_host(bad)


def test_render_hosts() -> None:
    text = hf.render_hosts(hostname="jenkins.example.test", ip="10.4.1.2", name="jenkins", aliases=["ci"],
                           extra_hosts=[("gitlab.example.test", "10.0.0.110"), ("harbor.example.test", "10.0.0.185")],
                           peers=[hf.HostEntry("10.4.1.3", ("db", "database"))])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1] == "::1\tlocalhost ip6-localhost ip6-loopback"
    assert "10.0.0.110\tgitlab.example.test" in lines
    assert "10.0.0.185\tharbor.example.test" in lines
    assert "10.4.1.2\tjenkins.example.test jenkins ci" in lines
    assert "10.4.1.3\tdb database" in lines
    assert lines.index("10.0.0.110\tgitlab.example.test") < lines.index("10.4.1.2\tjenkins.example.test jenkins ci")
    assert text.endswith("\n")


def test_render_hosts_without_network() -> None:
    text = hf.render_hosts(hostname="box")
    assert "127.0.1.1\tbox" in text.splitlines()
    assert hf.render_hosts().count("\n") == len(hf.LOCALHOST_LINES)


def test_resolv_drops_loopback_and_falls_back() -> None:
    host = "# comment\nnameserver 127.0.0.53\nnameserver ::1\nsearch corp.example\noptions edns0 trust-ad\n"
    assert hf.render_resolv(host) == ("search corp.example\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
                                      "options edns0 trust-ad\n")
    host = "nameserver 10.255.255.53\nnameserver 127.0.0.1\n"
    assert hf.render_resolv(host) == "nameserver 10.255.255.53\n"


def test_resolv_flags_replace_their_part() -> None:
    host = "nameserver 192.0.2.53\nsearch a.example\noptions ndots:2\n"
    dns = hf.DNSConfig(servers=("9.9.9.9",), search=("b.example", "c.example"), options=("ndots:5", "timeout:1"))
    assert hf.render_resolv(host, dns) == ("search b.example c.example\nnameserver 9.9.9.9\n"
                                           "options ndots:5 timeout:1\n")
    assert hf.render_resolv(host, hf.DNSConfig(search=(".",))) == "nameserver 192.0.2.53\noptions ndots:2\n"
    with pytest.raises(InvalidArgument, match=r'dns "x\.y"'):
        hf.validate_dns(hf.DNSConfig(servers=("x.y",)))


def test_host_resolv_path_follows_systemd_resolved(tmp_path: Path) -> None:
    etc = tmp_path / "resolv.conf"
    upstream = tmp_path / "upstream.conf"
    etc.write_text("nameserver 127.0.0.53\noptions edns0\n")
    assert hf.host_resolv_path(str(etc), str(upstream)) == str(etc)
    upstream.write_text("nameserver 192.0.2.1\n")
    assert hf.host_resolv_path(str(etc), str(upstream)) == str(upstream)
    etc.write_text("nameserver 192.0.2.9\n")
    assert hf.host_resolv_path(str(etc), str(upstream)) == str(etc)
    assert hf.host_resolv_path(str(tmp_path / "missing"), str(upstream)) == str(tmp_path / "missing")
