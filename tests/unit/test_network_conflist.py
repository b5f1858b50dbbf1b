"""The conflist seabox writes for a bridge network."""

from __future__ import annotations

import ipaddress

import pytest

from seabox.errdefs import InvalidArgument
from seabox.network import conflist as cl


def make(**kw: object) -> dict:
    args: dict = dict(name="web", net_id="ab" * 32, bridge="sb-abababababab",
                      subnet=ipaddress.IPv4Network("10.4.1.0/24"), gateway=ipaddress.IPv4Address("10.4.1.1"),
                      ipam_dir="/state/ipam", admin_chain="SEABOX-ADMIN")
    args.update(kw)
    return cl.bridge_conflist(**args)


def test_plugin_chain() -> None:
    doc = make(labels={"a": "b"}, created="2026-01-01T00:00:00Z")
    assert doc["cniVersion"] == "1.0.0"
    assert doc["name"] == "web"
    assert doc["seaboxID"] == "ab" * 32
    assert doc["seaboxLabels"] == {"a": "b"}
    assert doc["seaboxCreated"] == "2026-01-01T00:00:00Z"
    assert "seaboxDefault" not in doc
    assert [p["type"] for p in doc["plugins"]] == ["bridge", "portmap", "firewall", "tuning"]
    bridge, portmap, firewall, _ = doc["plugins"]
    assert bridge["bridge"] == "sb-abababababab"
    assert bridge["isGateway"] and bridge["ipMasq"] and bridge["hairpinMode"]
    assert bridge["capabilities"] == {"ips": True}
    assert bridge["ipam"] == {"type": "host-local", "ranges": [[{"subnet": "10.4.1.0/24", "gateway": "10.4.1.1"}]],
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/state/ipam"}
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}
    assert firewall == {"type": "firewall", "backend": "iptables", "iptablesAdminChainName": "SEABOX-ADMIN"}
    assert make(default=True)["seaboxDefault"] is True


def test_ip_range() -> None:
    doc = make(ip_range=ipaddress.IPv4Network("10.4.1.128/25"))
    rng = cl.first_range(doc)
    assert rng["rangeStart"] == "10.4.1.128"
    assert rng["rangeEnd"] == "10.4.1.254"
    doc = make(ip_range=ipaddress.IPv4Network("10.4.1.0/24"))
    assert cl.first_range(doc)["rangeStart"] == "10.4.1.1"
    with pytest.raises(InvalidArgument, match="not inside subnet"):
        make(ip_range=ipaddress.IPv4Network("10.4.2.0/25"))


def test_bridge_plugin_missing() -> None:
    with pytest.raises(InvalidArgument, match='network "x": no bridge plugin'):
        cl.bridge_plugin({"name": "x", "plugins": [{"type": "ptp"}]})


def test_optional_plugins() -> None:
    assert [p["type"] for p in make(firewall=False, tuning=False)["plugins"]] == ["bridge", "portmap"]
    assert [p["type"] for p in make(tuning=False)["plugins"]] == ["bridge", "portmap", "firewall"]
