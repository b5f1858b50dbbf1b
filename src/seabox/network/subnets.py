"""Choosing subnets that do not clash with the host's routes or with other seabox networks.

Design reason: a bridge subnet that overlaps a route the host already has (the LAN, a VPN, a
cloud metadata range) silently breaks the host's traffic.  As nerdctl does, seabox starts at
10.4.0.0/24 for the default network and walks /24 candidates upwards, skipping any that overlap
a route in /proc/net/route or a subnet another seabox network uses.  The route table is parsed
by a pure function so the choice is tested against fake tables.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator

from seabox.errdefs import FailedPrecondition, InvalidArgument

DEFAULT_SUBNET = ipaddress.IPv4Network("10.4.0.0/24")
PRIVATE_10 = ipaddress.IPv4Network("10.0.0.0/8")


def parse_proc_route(text: str, *, include_default: bool = False) -> list[ipaddress.IPv4Network]:
    """Destinations of /proc/net/route (hex, little-endian) as networks; the default route is left out."""
    out: list[ipaddress.IPv4Network] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
        except (ValueError, struct.error):
            continue
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen == 0 and not include_default:
            continue
        out.append(net)
    return out


def host_routes(path: str = "/proc/net/route") -> list[ipaddress.IPv4Network]:
    try:
        with open(path) as f:
            return parse_proc_route(f.read())
    except FileNotFoundError:
        return []


def candidates(start: ipaddress.IPv4Network = DEFAULT_SUBNET, prefixlen: int = 24,
               limit: ipaddress.IPv4Network = PRIVATE_10) -> Iterator[ipaddress.IPv4Network]:
    """/``prefixlen`` networks from ``start`` upwards while inside ``limit`` (10.4.0.0/24, 10.4.1.0/24, ...)."""
    size = 1 << (32 - prefixlen)
    addr = int(start.network_address)
    end = int(limit.broadcast_address)
    while addr + size - 1 <= end:
        yield ipaddress.IPv4Network((addr, prefixlen))
        addr += size


def pick_subnet(used: Iterable[ipaddress.IPv4Network],
                choices: Iterable[ipaddress.IPv4Network] | None = None) -> ipaddress.IPv4Network:
    """The first candidate overlapping none of ``used`` (routes and other networks' subnets)."""
    used = list(used)
    for net in choices if choices is not None else candidates():
        if not any(net.overlaps(u) for u in used):
            return net
    raise FailedPrecondition("no free subnet left among the candidates (pass --subnet)")


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f'subnet "{text}": {e}')
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f'subnet "{text}": only IPv4 subnets are supported')
    if net.prefixlen > 30:
        raise InvalidArgument(f'subnet "{text}": too small (at most /30)')
    return net


def check_in_subnet(what: str, text: str, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f'{what} "{text}": not an IPv4 address')
    if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(f'{what} "{text}": not a host address of subnet {subnet}')
    return addr
