"""Container networking with the real CNI plugins: networks, attachments, ports, hosts/resolv files.

Public surface (see each module for the design reason):

* ``manager.Networks(Settings)`` — create/list/get/inspect/remove/prune networks,
  attach/detach containers, ``attachment``/``published_ports``;
* ``netns.create/remove/exists/list_names`` — named network namespaces;
* ``ports.parse_publish/publish_all/allocate`` — docker's ``-p``/``-P``;
* ``hostsfile.parse_add_host/render_hosts/render_resolv/DNSConfig``;
* ``cni.CNI`` — the plugin runner and result cache (CRI pods with their own conflists use it directly).
"""

from seabox.network.hostsfile import DNSConfig
from seabox.network.manager import Attachment, Network, Networks, Settings
from seabox.network.ports import PortMapping, parse_publish

__all__ = ["Attachment", "DNSConfig", "Network", "Networks", "PortMapping", "Settings", "parse_publish"]
