"""seabox's networks and container attachments: what seaboxd calls for ``run``, ``network *`` and CRI pods.

Design reason: nerdctl's model — a network is a CNI conflist file in seabox's conf dir, the
real plugins do the kernel work, and seabox keeps only what the plugins do not: which
containers are attached where (an endpoint record per container under the state dir), the
ports they publish, and their managed hosts/resolv.conf files.  Every path and every name
(conf dir, plugin dirs, state dir, netns dir, bridge names, the firewall admin chain, the
first candidate subnet) comes from ``Settings`` so tests run beside a real daemon without
touching it.

State dir layout::

    <state>/lock                         flock serialising changes across processes
    <state>/results/<net>-<cid>-<if>     CNI ADD results (libcni's cache shape), for DEL
    <state>/ipam/<net>/                  host-local's allocations (its dataDir)
    <state>/containers/<cid>/endpoint.json, hosts, resolv.conf, hostname

Changes hold one lock (a thread lock plus flock on ``<state>/lock``) for their whole length,
plugin runs included: the plugins check-then-create their shared iptables chains, which races
between concurrent ADDs, and the port check must not interleave with another reservation.

Ports go to the first network's portmap only (one DNAT per host port).  Name resolution:
members of the same *user-defined* network see each other in /etc/hosts (by name, aliases and
hostname); the default ``bridge`` network does not link names, as with docker.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SeaboxError
from seabox.network import conflist as cl
from seabox.network import hostsfile, iptables, netlink, netns, subnets
from seabox.network.cni import CNI, InterfaceResult, RuntimeConf, summarize
from seabox.network.ports import PortMapping, allocate

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
RESERVED = ("host", "none", "default", "container")
MAX_IFNAME = 15


@dataclass(frozen=True)
class Settings:
    """Every path and name the network library uses (defaults are seaboxd's)."""

    conf_dir: str = "/etc/seabox/cni/net.d"
    bin_dirs: tuple[str, ...] = ("/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni")
    state_dir: str = "/run/seabox/network"
    netns_dir: str = "/run/seabox/netns"
    default_network: str = "bridge"
    default_bridge: str = "seabox0"
    bridge_prefix: str = "sb-"
    file_prefix: str = "seabox-"
    admin_chain: str = "SEABOX-ADMIN"
    subnet_start: str = "10.4.0.0/24"
    route_table: str = "/proc/net/route"
    etc_resolv: str = "/etc/resolv.conf"
    etc_hosts: str = "/etc/hosts"
    resolved_upstream: str = hostsfile.RESOLVED_UPSTREAM
    iptables: str = "iptables"  # for clean-ups the plugins miss; "" turns them off (unit tests)
    # plugins of new networks: the firewall plugin only matters when FORWARD's policy drops
    # (it costs ~35 ms per ADD and per DEL here); tuning is a no-op without options
    firewall_plugin: bool = True
    tuning_plugin: bool = True


@dataclass
class Network:
    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str
    ip_range: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    default: bool = False
    driver: str = "bridge"
    path: str = ""
    conflist: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_conflist(cls, doc: dict[str, Any], path: str) -> Network:
        rng = cl.first_range(doc)
        ip_range = ""
        if rng.get("rangeStart") and rng.get("rangeEnd"):
            start = ipaddress.IPv4Address(rng["rangeStart"])
            end = ipaddress.IPv4Address(rng["rangeEnd"])
            nets = list(ipaddress.summarize_address_range(start, end))
            ip_range = str(nets[0]) if len(nets) == 1 else f"{start}-{end}"
        subnet = rng.get("subnet", "")
        gateway = rng.get("gateway", "")
        if not gateway and subnet:
            gateway = str(ipaddress.IPv4Network(subnet).network_address + 1)
        return cls(name=doc["name"], id=str(doc.get(cl.KEY_ID, "")), bridge=cl.bridge_plugin(doc).get("bridge", ""),
                   subnet=subnet, gateway=gateway, ip_range=ip_range, labels=dict(doc.get(cl.KEY_LABELS) or {}),
                   created=str(doc.get(cl.KEY_CREATED, "")), default=bool(doc.get(cl.KEY_DEFAULT)),
                   path=path, conflist=doc)


@dataclass
class Attachment:
    """A container's networking: one interface per network, its ports and its managed files."""

    container_id: str
    netns: str
    interfaces: list[InterfaceResult]
    ports: list[PortMapping]
    hosts_path: str
    resolv_path: str
    hostname_path: str
    name: str = ""
    hostname: str = ""
    aliases: tuple[str, ...] = ()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    tmp = f"{path}.tmp{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _in_place(path: str, text: str) -> None:
    """Rewrite a file keeping its inode: the hosts file is bind-mounted into running containers."""
    if os.path.exists(path):
        with open(path, "r+") as f:
            f.write(text)
            f.truncate()
    else:
        _write_atomic(path, text)


_NetList = list[Network]
_DictList = list[dict[str, Any]]
_StrList = list[str]
_PortList = list[PortMapping]
_NO_DNS = hostsfile.DNSConfig()


class Networks:
    """The network library's one object: create/list/inspect/remove networks, attach/detach containers."""

    def __init__(self, settings: Settings | None = None, cni: CNI | None = None) -> None:
        self.settings = settings or Settings()
        self.cni = cni or CNI(self.settings.bin_dirs, self.settings.state_dir)
        self._tlock = threading.RLock()
        self._depth = 0
        self._lockfd = -1

    # ---- locking ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._tlock:
            if self._depth == 0:
                os.makedirs(self.settings.state_dir, mode=0o711, exist_ok=True)
                self._lockfd = os.open(os.path.join(self.settings.state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._lockfd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._lockfd)
                    self._lockfd = -1

    # ---- networks -----------------------------------------------------------------------
    def _file(self, name: str) -> str:
        return os.path.join(self.settings.conf_dir, f"{self.settings.file_prefix}{name}.conflist")

    def _ipam_dir(self) -> str:
        return os.path.join(self.settings.state_dir, "ipam")

    def list(self) -> _NetList:
        """Every seabox network in the conf dir (files with seabox's prefix and a seabox ID)."""
        out: _NetList = []
        try:
            names = sorted(os.listdir(self.settings.conf_dir))
        except FileNotFoundError:
            return out
        for fn in names:
            if not (fn.startswith(self.settings.file_prefix) and fn.endswith(".conflist")):
                continue
            path = os.path.join(self.settings.conf_dir, fn)
            try:
                with open(path) as f:
                    doc = json.load(f)
                if cl.KEY_ID not in doc:
                    continue
                out.append(Network.from_conflist(doc, path))
            except (OSError, ValueError, KeyError, SeaboxError):
                continue
        return out

    def get(self, ref: str, *, create_default: bool = True) -> Network:
        """A network by name, full ID or unique ID prefix; the default network is created on first use."""
        nets = self.list()
        for n in nets:
            if n.name == ref or n.id == ref:
                return n
        if ref == self.settings.default_network and create_default:
            return self.ensure_default()
        matches = [n for n in nets if len(ref) >= 3 and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f'network "{ref}": ambiguous ID prefix')
        raise NotFound(f'network "{ref}": not found')

    def _used_subnets(self) -> builtins.list[ipaddress.IPv4Network]:
        used = subnets.host_routes(self.settings.route_table)
        for n in self.list():
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(n.subnet))
        return used

    def _write_network(self, name: str, *, bridge: str, subnet: ipaddress.IPv4Network,
                       gateway: ipaddress.IPv4Address, ip_range: ipaddress.IPv4Network | None,
                       labels: dict[str, str], default: bool) -> Network:
        net_id = os.urandom(32).hex()
        if not bridge:
            bridge = (self.settings.bridge_prefix + net_id)[:MAX_IFNAME]
        doc = cl.bridge_conflist(name=name, net_id=net_id, bridge=bridge, subnet=subnet, gateway=gateway,
                                 ipam_dir=self._ipam_dir(), admin_chain=self.settings.admin_chain,
                                 ip_range=ip_range, labels=labels, created=_now(), default=default,
                                 firewall=self.settings.firewall_plugin, tuning=self.settings.tuning_plugin)
        os.makedirs(self.settings.conf_dir, mode=0o755, exist_ok=True)
        path = self._file(name)
        _write_atomic(path, json.dumps(doc, indent=2) + "\n")
        return Network.from_conflist(doc, path)

    def ensure_default(self) -> Network:
        with self._locked():
            for n in self.list():
                if n.name == self.settings.default_network:
                    return n
            subnet = subnets.pick_subnet(self._used_subnets(),
                                         subnets.candidates(ipaddress.IPv4Network(self.settings.subnet_start)))
            return self._write_network(self.settings.default_network, bridge=self.settings.default_bridge,
                                       subnet=subnet, gateway=subnet.network_address + 1, ip_range=None,
                                       labels={}, default=True)

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, labels: dict[str, str] | None = None,
               driver: str = "bridge") -> Network:
        """``network create``: a bridge network with its own ``<prefix><id>`` bridge and subnet."""
        if driver != "bridge":
            raise InvalidArgument(f'network "{name}": driver "{driver}" is not supported (only bridge)')
        if not NAME_RE.match(name) or len(name) > 200:
            raise InvalidArgument(f'network "{name}": invalid name (want [a-zA-Z0-9][a-zA-Z0-9_.-]*)')
        if name in RESERVED or name == self.settings.default_network:
            raise InvalidArgument(f'network "{name}": is a pre-defined network name')
        with self._locked():
            if any(n.name == name for n in self.list()):
                raise AlreadyExists(f'network "{name}": already exists')
            if subnet:
                net = subnets.parse_subnet(subnet)
                for other in self.list():
                    if other.subnet and net.overlaps(ipaddress.IPv4Network(other.subnet)):
                        raise FailedPrecondition(
                            f'network "{name}": subnet {net} overlaps network "{other.name}" ({other.subnet})')
            else:
                if gateway or ip_range:
                    raise InvalidArgument(f'network "{name}": --gateway and --ip-range need --subnet')
                start = ipaddress.IPv4Network(self.settings.subnet_start)
                net = subnets.pick_subnet(self._used_subnets(), subnets.candidates(start))
            gw = subnets.check_in_subnet("gateway", gateway, net) if gateway else net.network_address + 1
            rng = None
            if ip_range:
                try:
                    rng = ipaddress.IPv4Network(ip_range, strict=True)
                except ValueError as e:
                    raise InvalidArgument(f'ip-range "{ip_range}": {e}')
            return self._write_network(name, bridge="", subnet=net, gateway=gw, ip_range=rng,
                                       labels=dict(labels or {}), default=False)

    def in_use_by(self, net: Network) -> _StrList:
        return sorted(ep["id"] for ep in self._endpoints()
                      if any(i["network"] == net.name for i in ep.get("interfaces", [])))

    def remove(self, ref: str, *, allow_default: bool = False) -> Network:
        """``network rm``: refuse while containers are attached; delete file, bridge and IPAM state."""
        with self._locked():
            net = self.get(ref, create_default=False)
            if net.default and not allow_default:
                raise FailedPrecondition(f'network "{net.name}": is a pre-defined network and cannot be removed')
            users = self.in_use_by(net)
            if users:
                raise FailedPrecondition(
                    f'network "{net.name}": in use by container(s) {", ".join(u[:12] for u in users)}')
            with contextlib.suppress(FileNotFoundError):
                os.unlink(net.path)
            if net.bridge and netlink.is_bridge(net.bridge):
                netlink.delete_link(net.bridge)
            shutil.rmtree(os.path.join(self._ipam_dir(), net.name), ignore_errors=True)
            return net

    def prune(self) -> _StrList:
        """``network prune``: remove every user network no container uses; return their names."""
        removed: _StrList = []
        with self._locked():
            for net in self.list():
                if net.default or self.in_use_by(net):
                    continue
                self.remove(net.name)
                removed.append(net.name)
        return removed

    def inspect(self, ref: str) -> dict[str, Any]:
        """Docker's ``network inspect`` shape."""
        net = self.get(ref)
        containers: dict[str, Any] = {}
        for ep in self._endpoints():
            for itf in ep.get("interfaces", []):
                if itf["network"] == net.name:
                    containers[ep["id"]] = {
                        "Name": ep.get("name") or ep["id"][:12],
                        "EndpointID": f"{ep['id']}-{itf['ifname']}",
                        "MacAddress": itf.get("mac", ""),
                        "IPv4Address": f"{itf['ip']}/{itf['prefixlen']}" if itf.get("ip") else "",
                        "IPv6Address": "",
                    }
        ipam_conf: dict[str, str] = {"Subnet": net.subnet, "Gateway": net.gateway}
        if net.ip_range:
            ipam_conf["IPRange"] = net.ip_range
        return {
            "Name": net.name,
            "Id": net.id,
            "Created": net.created,
            "Scope": "local",
            "Driver": net.driver,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam_conf]},
            "Internal": False,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": net.bridge},
            "Labels": dict(net.labels),
        }

    # ---- endpoints ----------------------------------------------------------------------
    def _cdir(self, container_id: str) -> str:
        if not NAME_RE.match(container_id):
            raise InvalidArgument(f'container "{container_id}": invalid ID')
        return os.path.join(self.settings.state_dir, "containers", container_id)

    def _endpoints(self) -> _DictList:
        base = os.path.join(self.settings.state_dir, "containers")
        out: _DictList = []
        try:
            ids = sorted(os.listdir(base))
        except FileNotFoundError:
            return out
        for cid in ids:
            try:
                with open(os.path.join(base, cid, "endpoint.json")) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
        return out

    def _endpoint(self, container_id: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self._cdir(container_id), "endpoint.json")) as f:
                doc: dict[str, Any] = json.load(f)
                return doc
        except (FileNotFoundError, ValueError):
            return None

    def published_ports(self) -> _PortList:
        out: _PortList = []
        for ep in self._endpoints():
            out += [PortMapping(**{**p, "host_range": tuple(p.get("host_range", (0, 0)))}) for p in ep.get("ports", [])]
        return out

    def attachments(self) -> builtins.list[Attachment]:
        """Every attached container (seaboxd reconciles them with live containers at start-up)."""
        return [self._to_attachment(ep) for ep in self._endpoints()]

    def attachment(self, container_id: str) -> Attachment | None:
        ep = self._endpoint(container_id)
        return self._to_attachment(ep) if ep else None

    def _to_attachment(self, ep: dict[str, Any]) -> Attachment:
        d = self._cdir(ep["id"])
        return Attachment(
            container_id=ep["id"], netns=ep.get("netns", ""),
            interfaces=[InterfaceResult(**i) for i in ep.get("interfaces", [])],
            ports=[PortMapping(**{**p, "host_range": tuple(p.get("host_range", (0, 0)))}) for p in ep.get("ports", [])],
            hosts_path=os.path.join(d, "hosts"), resolv_path=os.path.join(d, "resolv.conf"),
            hostname_path=os.path.join(d, "hostname"), name=ep.get("name", ""),
            hostname=ep.get("hostname", ""), aliases=tuple(ep.get("aliases", [])))

    def attach(self, container_id: str, netns_path: str, networks: Sequence[str], *,
               port_mappings: Sequence[PortMapping] = (), static_ip: str | None = None,
               hostname: str = "", name: str = "", aliases: Sequence[str] = (),
               extra_hosts: Sequence[tuple[str, str]] = (), dns: hostsfile.DNSConfig = _NO_DNS,
               cni_args: Sequence[tuple[str, str]] = (), host_network: bool = False) -> Attachment:
        """Connect a container's netns to ``networks`` (eth0, eth1, ... in order) and write its files.

        ``port_mappings`` (host ports 0 or ranges are chosen here; a port in use fails with
        ``port N is already in use``) and ``static_ip`` apply to the first network.  With no
        networks (``--network none``) only hosts/resolv.conf/hostname are written; ``host_network``
        (``--network host``) starts them from the host's /etc/hosts and resolv.conf.
        ``extra_hosts`` are (name, ip) pairs; ip ``host-gateway`` becomes the first network's gateway.
        """
        hostsfile.validate_dns(dns)
        with self._locked():
            if self._endpoint(container_id) is not None:
                raise AlreadyExists(f'container "{container_id}": already attached to networks')
            nets: _NetList = []
            for ref in networks:
                net = self.get(ref)
                if any(n.name == net.name for n in nets):
                    raise InvalidArgument(f'network "{net.name}": given twice')
                nets.append(net)
            if static_ip:
                if not nets:
                    raise InvalidArgument(f'ip "{static_ip}": needs a network')
                subnets.check_in_subnet("ip", static_ip, ipaddress.IPv4Network(nets[0].subnet))
                if static_ip == nets[0].gateway:
                    raise InvalidArgument(f'ip "{static_ip}": is the gateway of network "{nets[0].name}"')
            if host_network and (nets or port_mappings or static_ip):
                raise InvalidArgument("--network host takes no other network, published port or --ip")
            if nets and not netns_path:
                raise InvalidArgument(f'container "{container_id}": attaching to networks needs a netns path')
            if port_mappings and not nets:
                raise InvalidArgument("published ports need a network (not --network none or host)")
            ports = allocate(port_mappings, taken=self.published_ports())
            resolved_hosts: builtins.list[tuple[str, str]] = []
            for host, ip in extra_hosts:
                if ip == hostsfile.HOST_GATEWAY:
                    if not nets:
                        raise InvalidArgument(f'add-host "{host}:{ip}": host-gateway needs a network')
                    ip = nets[0].gateway
                resolved_hosts.append((host, ip))
            results: builtins.list[InterfaceResult] = []
            done: builtins.list[tuple[Network, RuntimeConf]] = []
            try:
                for i, net in enumerate(nets):
                    caps: dict[str, Any] = {}
                    if i == 0 and ports:
                        caps["portMappings"] = [p.to_cni() for p in ports]
                    if i == 0 and static_ip:
                        caps["ips"] = [f"{static_ip}/{ipaddress.IPv4Network(net.subnet).prefixlen}"]
                    args: builtins.list[tuple[str, str]] = [("IgnoreUnknown", "1"), *cni_args]
                    rt = RuntimeConf(container_id, netns_path, f"eth{i}", args, caps)
                    res = self.cni.add(net.conflist, rt)
                    done.append((net, rt))
                    results.append(summarize(net.name, rt.ifname, res))
            except BaseException:
                for net, rt in reversed(done):
                    with contextlib.suppress(SeaboxError):
                        self.cni.delete(net.conflist, rt)
                raise
            ep: dict[str, Any] = {
                "id": container_id, "name": name, "hostname": hostname or container_id[:12],
                "aliases": builtins.list(aliases),
                "netns": netns_path, "extra_hosts": [[h, ip] for h, ip in resolved_hosts],
                "dns": {"servers": [*dns.servers], "search": [*dns.search], "options": [*dns.options]},
                "ports": [{"container_port": p.container_port, "host_port": p.host_port, "protocol": p.protocol,
                           "host_ip": p.host_ip} for p in ports],
                "interfaces": [r.to_dict() for r in results],
                "host_network": host_network,
                "created": _now(),
            }
            d = self._cdir(container_id)
            os.makedirs(d, mode=0o755, exist_ok=True)
            _write_atomic(os.path.join(d, "endpoint.json"), json.dumps(ep, indent=2) + "\n", 0o600)
            self._write_resolv(ep)
            _in_place(os.path.join(d, "hostname"), ep["hostname"] + "\n")
            self._refresh_hosts({r.network for r in results}, also=container_id)
            return self._to_attachment(ep)

    def detach(self, container_id: str, netns_path: str | None = None) -> None:
        """Undo ``attach``: DEL through every network's chain (veth, IP, portmap and firewall rules),
        drop the container's files and rewrite its peers' hosts files.  Idempotent."""
        with self._locked():
            ep = self._endpoint(container_id)
            netns_path = netns_path if netns_path is not None else (ep or {}).get("netns", "")
            todo: dict[tuple[str, str], dict[str, Any] | None] = {}
            for itf in (ep or {}).get("interfaces", []):
                # DEL with the config ADD used (cached); the current file only when no cache is left
                conf = None
                if self.cni.cached(itf["network"], container_id, itf["ifname"]) is None:
                    with contextlib.suppress(SeaboxError):
                        conf = self.get(itf["network"], create_default=False).conflist
                todo[(itf["network"], itf["ifname"])] = conf
            for doc in self._cached_for(container_id):
                todo.setdefault((doc["networkName"], doc["ifName"]), None)
            # a namespace that is gone (or a stale file) is passed as "": the plugins then skip
            # the in-namespace part, which died with it
            live = bool(netns_path) and netns.is_netns(netns_path or "")
            errors: builtins.list[SeaboxError] = []
            for (net_name, ifname), conf in todo.items():
                rt = RuntimeConf(container_id, netns_path if live and netns_path else "", ifname,
                                 [("IgnoreUnknown", "1")])
                try:
                    self.cni.delete(conf, rt, network=net_name)
                except SeaboxError as e:
                    errors.append(e)
                    continue
                if not live:
                    iptables.remove_masquerade_leftovers(net_name, container_id, self.settings.iptables)
            if errors:
                raise errors[0]
            shutil.rmtree(self._cdir(container_id), ignore_errors=True)
            self._refresh_hosts({n for n, _ in todo})

    def _cached_for(self, container_id: str) -> _DictList:
        base = os.path.join(self.settings.state_dir, "results")
        out: _DictList = []
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return out
        for fn in names:
            if f"-{container_id}-" not in fn or fn.endswith(".tmp"):
                continue
            try:
                with open(os.path.join(base, fn)) as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                continue
            if doc.get("containerId") == container_id:
                out.append(doc)
        return out

    # ---- managed files ------------------------------------------------------------------
    def _write_resolv(self, ep: dict[str, Any]) -> None:
        src = hostsfile.host_resolv_path(self.settings.etc_resolv, self.settings.resolved_upstream)
        try:
            with open(src) as f:
                host_text = f.read()
        except FileNotFoundError:
            host_text = ""
        dns = hostsfile.DNSConfig(tuple(ep["dns"]["servers"]), tuple(ep["dns"]["search"]), tuple(ep["dns"]["options"]))
        if ep.get("host_network") and dns == _NO_DNS:
            text = host_text
        else:
            text = hostsfile.render_resolv(host_text, dns, keep_loopback=bool(ep.get("host_network")))
        _in_place(os.path.join(self._cdir(ep["id"]), "resolv.conf"), text)

    def _refresh_hosts(self, networks: set[str], also: str = "") -> None:
        """Rewrite the hosts file of every container on ``networks`` (and of ``also``)."""
        eps = self._endpoints()
        user_nets = {n.name for n in self.list() if not n.default}
        for ep in eps:
            mine = {i["network"] for i in ep.get("interfaces", [])}
            if ep["id"] != also and not (mine & networks):
                continue
            peers: builtins.list[hostsfile.HostEntry] = []
            for other in eps:
                if other["id"] == ep["id"]:
                    continue
                for itf in other.get("interfaces", []):
                    if itf["network"] in mine and itf["network"] in user_nets and itf.get("ip"):
                        names = hostsfile.own_names(other.get("hostname", ""), other.get("name", ""),
                                                    other.get("aliases", []))
                        peers.append(hostsfile.HostEntry(itf["ip"], names))
            first = (ep.get("interfaces") or [{}])[0]
            base = None
            if ep.get("host_network"):
                try:
                    with open(self.settings.etc_hosts) as f:
                        base = f.read()
                except FileNotFoundError:
                    base = ""
            text = hostsfile.render_hosts(hostname=ep.get("hostname", ""), ip=first.get("ip", ""),
                                          name=ep.get("name", ""), aliases=ep.get("aliases", []),
                                          extra_hosts=[(h[0], h[1]) for h in ep.get("extra_hosts", [])],
                                          peers=peers, base=base)
            _in_place(os.path.join(self._cdir(ep["id"]), "hosts"), text)
