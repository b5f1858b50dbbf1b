"""Container networking with the real CNI plugins: networks, attachments, ports, hosts/resolv files.

Public surface (each module gives its design reason):

* ``manager.Networks(Settings)`` — create/list/get/inspect/remove/prune networks, attach/detach
  containers, ``attachment``/``attachments``/``published_ports``;
* ``netns.create/remove/exists/is_netns/list_names`` — named network namespaces;
* ``ports.parse_publish/publish_all/allocate`` — docker's ``-p``/``-P``;
* ``hostsfile.parse_add_host/render_hosts/render_resolv/DNSConfig``;
* ``cni.CNI`` — the plugin runner and result cache; ``setup``/``teardown`` run whole config lists
  (``ctr run --cni`` and CRI pods with their own conf dir, read by ``cni.network_configs``);
* ``iptables.remove_idle_chains`` — drop the plugins' shared chains once nothing uses them.

How seaboxd uses it for ``seabox run -p 8888:80 --name web IMAGE``::

    nets = Networks(Settings(...paths from the daemon config...))
    path = netns.create(container_id, nets.settings.netns_dir)        # before the task starts
    att = nets.attach(container_id, path, ["bridge"], name="web", hostname=...,
                      port_mappings=parse_publish("8888:80"), extra_hosts=[...], dns=DNSConfig(...))
    # OCI spec: linux.namespaces network path=path; bind mounts /etc/hosts <- att.hosts_path,
    # /etc/resolv.conf <- att.resolv_path, /etc/hostname <- att.hostname_path
    ...
    nets.detach(container_id); netns.remove(path)                     # on rm (restarts keep both)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seabox.network.hostsfile import DNSConfig, parse_add_host
    from seabox.network.manager import Attachment, Network, Networks, Settings
    from seabox.network.ports import PortMapping, parse_publish, publish_all

# Lazy: the CLI imports seabox.network.ports to parse -p without paying for the manager.
_EXPORTS = {
    "Attachment": "manager", "Network": "manager", "Networks": "manager", "Settings": "manager",
    "DNSConfig": "hostsfile", "parse_add_host": "hostsfile",
    "PortMapping": "ports", "parse_publish": "ports", "publish_all": "ports",
}

__all__ = ["Attachment", "DNSConfig", "Network", "Networks", "PortMapping", "Settings", "parse_add_host",
           "parse_publish", "publish_all"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seabox.network' has no attribute {name!r}")
    return getattr(importlib.import_module(f"seabox.network.{module}"), name)
