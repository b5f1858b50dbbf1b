"""Published ports: docker's ``-p``/``-P`` forms parsed into typed mappings, host ports chosen and checked.

Design reason: parsing is a pure function (every docker form, every error message, tested
without root); choosing random host ports and checking that a host port is free are the only
parts that touch the host, and they do it by binding a socket, because the portmap plugin only
writes DNAT rules and never notices a port already taken by a host service.

Forms (as ``docker run -p``)::

    80                      container port 80, random host port
    8080:80                 host port 8080 (all host addresses) -> 80/tcp
    8080:80/udp             the same over udp (tcp, udp and sctp are known)
    127.0.0.1:8080:80       bound to one host address
    127.0.0.1::80           one host address, random host port
    [::1]:8080:80           an IPv6 host address in brackets
    8000-8001:80-81         ranges of the same length, pairwise
    8000-8010:80            one container port, the first free host port of the range
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from seabox.errdefs import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    import random

PROTOCOLS = ("tcp", "udp", "sctp")
EPHEMERAL_RANGE = (32768, 60999)


@dataclass(frozen=True)
class PortMapping:
    """One host port forwarded to one container port; ``host_port`` 0 means "pick a free one"."""

    container_port: int
    host_port: int = 0
    protocol: str = "tcp"
    host_ip: str = ""
    # for ``8000-8010:80``: the host range to pick from (inclusive), else (0, 0)
    host_range: tuple[int, int] = (0, 0)

    def to_cni(self) -> dict[str, object]:
        """The entry of the ``portMappings`` capability (CNI conventions)."""
        entry: dict[str, object] = {"hostPort": self.host_port, "containerPort": self.container_port,
                                    "protocol": self.protocol}
        if self.host_ip:
            entry["hostIP"] = self.host_ip
        return entry

    def docker_key(self) -> str:
        return f"{self.container_port}/{self.protocol}"

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else (self.host_ip or "0.0.0.0")
        return f"{host}:{self.host_port}->{self.container_port}/{self.protocol}"


def _bad(spec: str, why: str) -> InvalidArgument:
    return InvalidArgument(f'port "{spec}": {why}')


def _port(spec: str, text: str, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise _bad(spec, f"invalid port {text!r}")
    value = int(text)
    if value > 65535 or (value == 0 and not allow_zero):
        raise _bad(spec, f"port {text} out of range 1-65535")
    return value


def _range(spec: str, text: str) -> tuple[int, int]:
    if "-" in text:
        lo_s, _, hi_s = text.partition("-")
        lo, hi = _port(spec, lo_s), _port(spec, hi_s)
        if hi < lo:
            raise _bad(spec, f"invalid range {text!r}")
        return lo, hi
    p = _port(spec, text)
    return p, p


def _split_host_ip(spec: str, rest: str) -> tuple[str, str]:
    """Split ``ip:tail`` where ip may be ``[v6]``; return (ip, tail) or ("", rest)."""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0 or rest[end + 1:end + 2] != ":":
            raise _bad(spec, "unterminated IPv6 address")
        return rest[1:end], rest[end + 2:]
    parts = rest.split(":")
    if len(parts) == 3:
        return parts[0], f"{parts[1]}:{parts[2]}"
    if len(parts) > 3:
        raise _bad(spec, "too many colons (put IPv6 addresses in brackets)")
    return "", rest


def parse_publish(spec: str) -> list[PortMapping]:
    """Parse one ``-p`` value into mappings (several for a range); raise InvalidArgument on bad input."""
    text = spec.strip()
    if not text:
        raise _bad(spec, "empty port specification")
    proto = "tcp"
    if "/" in text:
        text, _, proto = text.rpartition("/")
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise _bad(spec, f"unknown protocol {proto!r} (want tcp, udp or sctp)")
    host_ip, tail = _split_host_ip(spec, text)
    if host_ip:
        import ipaddress

        try:
            host_ip = str(ipaddress.ip_address(host_ip))
        except ValueError:
            raise _bad(spec, f"invalid host IP {host_ip!r}")
    if ":" in tail:
        host_part, _, cont_part = tail.partition(":")
        if ":" in cont_part:
            raise _bad(spec, "too many colons")
    else:
        host_part, cont_part = "", tail
    if not cont_part:
        raise _bad(spec, "no container port")
    c_lo, c_hi = _range(spec, cont_part)
    if not host_part:
        return [PortMapping(container_port=p, protocol=proto, host_ip=host_ip) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _range(spec, host_part)
    if c_lo == c_hi and h_hi > h_lo:
        return [PortMapping(container_port=c_lo, protocol=proto, host_ip=host_ip, host_range=(h_lo, h_hi))]
    if h_hi - h_lo != c_hi - c_lo:
        raise _bad(spec, "host and container port ranges differ in length")
    return [PortMapping(container_port=c, host_port=h, protocol=proto, host_ip=host_ip)
            for h, c in zip(range(h_lo, h_hi + 1), range(c_lo, c_hi + 1), strict=True)]


def parse_exposed(spec: str) -> tuple[int, str]:
    """Parse an image's ``ExposedPorts`` key or ``--expose`` value (``80``, ``80/udp``) → (port, proto)."""
    port_s, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise _bad(spec, f"unknown protocol {proto!r}")
    return _port(spec, port_s), proto


def publish_all(exposed: Iterable[str], host_ip: str = "") -> list[PortMapping]:
    """``-P``: every exposed port (``"80/tcp"``, ...) to a random free host port."""
    out = []
    for spec in exposed:
        port, proto = parse_exposed(spec)
        out.append(PortMapping(container_port=port, protocol=proto, host_ip=host_ip))
    return sorted(set(out), key=lambda m: (m.container_port, m.protocol))


def host_port_free(port: int, protocol: str = "tcp", host_ip: str = "") -> bool:
    """True if a socket can bind ``host_ip:port`` (all addresses when empty) for ``protocol`` now.

    An address not (yet) on the host — a network's gateway before its bridge has an address —
    is checked as the wildcard address instead.
    """
    import socket

    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
    for addr in (host_ip or wildcard, wildcard):
        try:
            with socket.socket(family, kind) as s:
                if kind == socket.SOCK_STREAM:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL and addr != wildcard:
                continue
            return False
        return True
    return False


def _conflicts(m: PortMapping, port: int, taken: Iterable[PortMapping]) -> bool:
    for t in taken:
        if t.host_port == port and t.protocol == m.protocol and (
                not t.host_ip or not m.host_ip or t.host_ip == m.host_ip):
            return True
    return False


def allocate(mappings: Iterable[PortMapping], taken: Iterable[PortMapping] = (),
             is_free: Callable[[int, str, str], bool] = host_port_free,
             rng: random.Random | None = None) -> list[PortMapping]:
    """Give every mapping a concrete host port, refusing ports in use.

    ``taken`` are mappings already published by other containers (portmap does not bind, so the
    socket test alone would not see them).  A fixed host port in use raises FailedPrecondition
    ``port 8888 is already in use``; a zero port gets a random free one from the ephemeral range;
    a host range gets its first free port.
    """
    import random

    rng = rng or random.Random()
    done: list[PortMapping] = []
    taken = list(taken)
    for m in mappings:
        if m.host_port:
            if _conflicts(m, m.host_port, [*taken, *done]) or not is_free(m.host_port, m.protocol, m.host_ip):
                raise FailedPrecondition(f"port {m.host_port} is already in use")
            done.append(m)
            continue
        if m.host_range != (0, 0):
            candidates = list(range(m.host_range[0], m.host_range[1] + 1))
        else:
            lo, hi = EPHEMERAL_RANGE
            candidates = [rng.randint(lo, hi) for _ in range(64)]
        for port in candidates:
            if not _conflicts(m, port, [*taken, *done]) and is_free(port, m.protocol, m.host_ip):
                done.append(replace(m, host_port=port, host_range=(0, 0)))
                break
        else:
            if m.host_range != (0, 0):
                raise FailedPrecondition(
                    f"ports {m.host_range[0]}-{m.host_range[1]} are all already in use")
            raise FailedPrecondition(f"no free host port for {m.docker_key()}")
    return done
