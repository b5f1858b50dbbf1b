"""CNI network configuration lists for seabox's bridge networks (pure: dicts in, dicts out).

Design reason: the conflist file *is* the network's record, as with nerdctl: the CNI library
reads it to run the plugins, and seabox keeps its own identity in top-level keys the plugins
never see (``seaboxID``, ``seaboxLabels``, ``seaboxCreated``; nerdctl uses ``nerdctlID`` and
``nerdctlLabels``).  One file per network, ``<conf_dir>/<prefix><name>.conflist``, in seabox's
own conf dir so other runtimes' /etc/cni/net.d is never touched.

The chain per network:

* ``bridge`` — isGateway (the bridge holds the gateway address), ipMasq (outbound NAT),
  hairpinMode (a container can reach itself through a published port), with
  ``host-local`` IPAM whose ``dataDir`` is under seabox's state dir (not /var/lib/cni) and
  the ``ips`` capability for a static ``--ip``;
* ``portmap`` — the ``portMappings`` capability, ``snat: true`` so a port published on
  127.0.0.1 works (the plugin then masquerades localhost-sourced traffic and turns on
  ``route_localnet`` on the bridge);
* ``firewall`` — iptables backend (never firewalld), with seabox's own admin chain name;
* ``tuning`` — no options; kept so sysctls can be set per container later.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from seabox.errdefs import InvalidArgument

CNI_VERSION = "1.0.0"
KEY_ID = "seaboxID"
KEY_LABELS = "seaboxLabels"
KEY_CREATED = "seaboxCreated"
KEY_DEFAULT = "seaboxDefault"


def ip_range_bounds(ip_range: ipaddress.IPv4Network,
                    subnet: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """host-local's rangeStart/rangeEnd for docker's ``--ip-range`` (a sub-CIDR of the subnet)."""
    if not ip_range.subnet_of(subnet):
        raise InvalidArgument(f'ip-range "{ip_range}": not inside subnet {subnet}')
    start = max(ip_range.network_address, subnet.network_address + 1)
    end = min(ip_range.broadcast_address, subnet.broadcast_address - 1)
    if start > end:
        raise InvalidArgument(f'ip-range "{ip_range}": holds no usable address')
    return start, end


def bridge_conflist(*, name: str, net_id: str, bridge: str, subnet: ipaddress.IPv4Network,
                    gateway: ipaddress.IPv4Address, ipam_dir: str, admin_chain: str,
                    ip_range: ipaddress.IPv4Network | None = None, labels: dict[str, str] | None = None,
                    created: str = "", default: bool = False, mtu: int = 0,
                    firewall: bool = True, tuning: bool = True) -> dict[str, Any]:
    """The conflist (as a dict) of one seabox bridge network (``firewall``/``tuning`` drop those plugins)."""
    rng: dict[str, str] = {"subnet": str(subnet), "gateway": str(gateway)}
    if ip_range is not None:
        start, end = ip_range_bounds(ip_range, subnet)
        rng["rangeStart"], rng["rangeEnd"] = str(start), str(end)
    bridge_plugin: dict[str, Any] = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": True,
        "hairpinMode": True,
        "capabilities": {"ips": True},
        "ipam": {
            "type": "host-local",
            "ranges": [[rng]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": ipam_dir,
        },
    }
    if mtu:
        bridge_plugin["mtu"] = mtu
    doc: dict[str, Any] = {
        "cniVersion": CNI_VERSION,
        "name": name,
        KEY_ID: net_id,
        KEY_LABELS: dict(labels or {}),
        KEY_CREATED: created,
        "plugins": [
            bridge_plugin,
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    if firewall:
        doc["plugins"].append({"type": "firewall", "backend": "iptables", "iptablesAdminChainName": admin_chain})
    if tuning:
        doc["plugins"].append({"type": "tuning"})
    if default:
        doc[KEY_DEFAULT] = True
    return doc


def bridge_plugin(conflist: dict[str, Any]) -> dict[str, Any]:
    for p in conflist.get("plugins", []):
        if p.get("type") == "bridge":
            return dict(p)
    raise InvalidArgument(f'network "{conflist.get("name", "?")}": no bridge plugin in its conflist')


def first_range(conflist: dict[str, Any]) -> dict[str, str]:
    ipam = bridge_plugin(conflist).get("ipam", {})
    ranges = ipam.get("ranges") or [[{"subnet": ipam.get("subnet", "")}]]
    return dict(ranges[0][0])
