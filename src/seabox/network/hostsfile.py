"""A container's /etc/hosts and /etc/resolv.conf, rendered from typed inputs (pure functions).

Design reason: the files are the whole of seabox's name service (no embedded DNS server, as
nerdctl without its DNS): containers on the same user network find each other because each
member's managed hosts file lists the others, and the network manager rewrites every member's
file when one joins or leaves.  Rendering is pure so every rule is tested without root:

* hosts: the localhost lines docker writes, then ``--add-host`` entries (``host-gateway`` is
  replaced by the caller with the network's gateway), the container's own address with its
  hostname (and the short name of an FQDN), its name and aliases, then the peers;
* resolv.conf: the host's file (systemd-resolved's upstream file when the host's points at the
  127.0.0.53 stub), loopback nameservers dropped — they mean nothing inside the container's
  network namespace — and public defaults written as text only when nothing is left;
  ``--dns``, ``--dns-search`` and ``--dns-option`` each replace their part.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from seabox.errdefs import InvalidArgument

HOST_GATEWAY = "host-gateway"
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
RESOLVED_STUB = "127.0.0.53"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"

LOCALHOST_LINES = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)


@dataclass(frozen=True)
class HostEntry:
    ip: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class DNSConfig:
    """``--dns``, ``--dns-search``, ``--dns-option``; empty means "as the host"."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_add_host(spec: str) -> tuple[str, str]:
    """``name:ip`` (docker also takes ``name=ip``; IPv6 may contain colons) → (name, ip or host-gateway)."""
    if "=" in spec:
        name, _, ip = spec.partition("=")
    else:
        name, _, ip = spec.partition(":")
    name, ip = name.strip(), ip.strip()
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if not name or not ip:
        raise InvalidArgument(f'add-host "{spec}": want name:ip')
    if ip != HOST_GATEWAY:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise InvalidArgument(f'add-host "{spec}": invalid IP address "{ip}"')
    return name, ip


def _uniq(names: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return tuple(out)


def own_names(hostname: str, name: str = "", aliases: Sequence[str] = ()) -> tuple[str, ...]:
    short = hostname.split(".", 1)[0] if hostname else ""
    return _uniq([hostname, short, name, *aliases])


def render_hosts(*, hostname: str = "", ip: str = "", name: str = "", aliases: Sequence[str] = (),
                 extra_hosts: Sequence[tuple[str, str]] = (), peers: Sequence[HostEntry] = (),
                 base: str | None = None) -> str:
    """The container's hosts file; ``base`` (the host's /etc/hosts, for host-network containers)
    replaces the localhost lines and no own-address line is added."""
    if base is not None:
        lines = base.rstrip("\n").splitlines()
        lines += [f"{addr}\t{host}" for host, addr in extra_hosts]
        return "\n".join(lines) + "\n"
    lines = [f"{a}\t{n}" for a, n in LOCALHOST_LINES]
    for host, addr in extra_hosts:
        lines.append(f"{addr}\t{host}")
    mine = own_names(hostname, name, aliases)
    if ip and mine:
        lines.append(f"{ip}\t{' '.join(mine)}")
    elif mine and hostname:
        lines.append(f"127.0.1.1\t{' '.join(mine)}")
    if peers:
        lines.append("# other containers on the same networks (managed by seabox)")
        for p in peers:
            if p.ip and p.names:
                lines.append(f"{p.ip}\t{' '.join(p.names)}")
    return "\n".join(lines) + "\n"


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_resolv(text: str) -> ResolvConf:
    rc = ResolvConf()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        key, *vals = line.split()
        if key == "nameserver" and vals:
            rc.nameservers.append(vals[0])
        elif key in ("search", "domain"):
            rc.search = list(vals)
        elif key == "options":
            rc.options.extend(vals)
    return rc


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return True


def host_resolv_path(etc_resolv: str = "/etc/resolv.conf", upstream: str = RESOLVED_UPSTREAM) -> str:
    """The host file to start from: systemd-resolved's upstream list when /etc's points at its stub."""
    try:
        with open(etc_resolv) as f:
            rc = parse_resolv(f.read())
    except FileNotFoundError:
        return etc_resolv
    if RESOLVED_STUB in rc.nameservers and os.path.exists(upstream):
        return upstream
    return etc_resolv


def render_resolv(host_text: str, dns: DNSConfig = DNSConfig(), *, keep_loopback: bool = False) -> str:
    """The container's resolv.conf; ``keep_loopback`` for host-network containers, where the
    host's local resolver is reachable."""
    host = parse_resolv(host_text)
    servers = list(dns.servers) or [s for s in host.nameservers if keep_loopback or not _is_loopback(s)]
    if not servers:
        servers = list(DEFAULT_NAMESERVERS)
    search = list(dns.search) if dns.search else host.search
    if search == ["."]:
        search = []
    options = list(dns.options) if dns.options else host.options
    lines = []
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def validate_dns(dns: DNSConfig) -> None:
    for s in dns.servers:
        try:
            ipaddress.ip_address(s)
        except ValueError:
            raise InvalidArgument(f'dns "{s}": not an IP address')
