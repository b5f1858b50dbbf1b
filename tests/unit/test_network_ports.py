"""docker's -p/-P forms, their errors, and host port allocation against fakes."""

from __future__ import annotations

import random
import socket

import pytest

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.network.ports import PortMapping, allocate, host_port_free, parse_publish, publish_all


@pytest.mark.parametrize(("spec", "want"), [
    ("80", [PortMapping(80)]),
    ("8080:80", [PortMapping(80, 8080)]),
    ("8080:80/udp", [PortMapping(80, 8080, "udp")]),
    ("8080:80/TCP", [PortMapping(80, 8080, "tcp")]),
    ("127.0.0.1:8080:80", [PortMapping(80, 8080, "tcp", "127.0.0.1")]),
    ("127.0.0.1::80", [PortMapping(80, 0, "tcp", "127.0.0.1")]),
    ("[::1]:8080:80", [PortMapping(80, 8080, "tcp", "::1")]),
    ("8000-8001:80-81", [PortMapping(80, 8000), PortMapping(81, 8001)]),
    ("0.0.0.0:8000-8001:80-81/udp", [PortMapping(80, 8000, "udp", "0.0.0.0"), PortMapping(81, 8001, "udp", "0.0.0.0")]),
    ("80-81", [PortMapping(80), PortMapping(81)]),
    ("8000-8010:80", [PortMapping(80, 0, host_range=(8000, 8010))]),
    ("5000:5000/sctp", [PortMapping(5000, 5000, "sctp")]),
])
def test_parse_forms(spec: str, want: list[PortMapping]) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize(("spec", "needle"), [
    ("", "empty"),
    ("8080:", "no container port"),
    ("8080:80/icmp", "unknown protocol"),
    ("abc:80", "invalid port"),
    ("70000:80", "out of range"),
    ("8080:0", "out of range"),
    ("8000-8002:80-81", "differ in length"),
    ("8002-8000:80", "invalid range"),
    ("300.1.1.1:8080:80", "invalid host IP"),
    ("::1:8080:80", "too many colons"),
    ("[::1:8080:80", "unterminated"),
])
def test_parse_errors_are_one_line(spec: str, needle: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_publish(spec)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)
    assert str(e.value).startswith(f'port "{spec}"')


def test_to_cni_and_str() -> None:
    m = PortMapping(80, 8080, "tcp", "127.0.0.1")
    assert m.to_cni() == {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}
    assert PortMapping(80, 8080).to_cni() == {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
    assert str(m) == "127.0.0.1:8080->80/tcp"
    assert str(PortMapping(53, 5353, "udp")) == "0.0.0.0:5353->53/udp"


def test_publish_all_dedups_and_sorts() -> None:
    assert publish_all(["443/tcp", "80", "80/tcp", "53/udp"]) == [
        PortMapping(53, protocol="udp"), PortMapping(80), PortMapping(443)]
    with pytest.raises(InvalidArgument):
        publish_all(["80/xyz"])


def test_allocate_fixed_ports_and_in_use() -> None:
    busy = {8888}

    def free(port: int, proto: str, ip: str) -> bool:
        return port not in busy

    assert allocate([PortMapping(80, 8080)], is_free=free) == [PortMapping(80, 8080)]
    with pytest.raises(FailedPrecondition, match=r"^port 8888 is already in use$"):
        allocate([PortMapping(80, 8888)], is_free=free)
    # published by another container (portmap never binds): refused too
    with pytest.raises(FailedPrecondition, match="port 9000 is already in use"):
        allocate([PortMapping(80, 9000)], taken=[PortMapping(81, 9000, host_ip="127.0.0.1")], is_free=free)
    # same port, other protocol or other explicit address: fine
    assert allocate([PortMapping(80, 9000, "udp")], taken=[PortMapping(81, 9000)], is_free=free)
    assert allocate([PortMapping(80, 9000, host_ip="127.0.0.2")],
                    taken=[PortMapping(81, 9000, host_ip="127.0.0.1")], is_free=free)
    # twice in one request
    with pytest.raises(FailedPrecondition, match="port 7000"):
        allocate([PortMapping(80, 7000), PortMapping(81, 7000)], is_free=free)


def test_allocate_random_and_range() -> None:
    busy = {8000, 8001}

    def free(port: int, proto: str, ip: str) -> bool:
        return port not in busy

    got = allocate([PortMapping(80, host_range=(8000, 8005))], is_free=free)
    assert got == [PortMapping(80, 8002)]
    with pytest.raises(FailedPrecondition, match="8000-8001 are all already in use"):
        allocate([PortMapping(80, host_range=(8000, 8001))], is_free=free)
    rnd = allocate([PortMapping(80), PortMapping(81)], is_free=free, rng=random.Random(1))
    assert all(32768 <= m.host_port <= 60999 for m in rnd)
    assert rnd[0].host_port != rnd[1].host_port
    with pytest.raises(FailedPrecondition, match="no free host port for 80/tcp"):
        allocate([PortMapping(80)], is_free=lambda *_: False)


def test_host_port_free_sees_a_listening_socket() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not host_port_free(port, "tcp", "127.0.0.1")
        assert not host_port_free(port, "tcp", "")
    assert host_port_free(port, "tcp", "127.0.0.1")


def test_host_port_free_for_an_address_not_on_the_host() -> None:
    # 198.51.100.0/24 (TEST-NET-2) is not assigned here: checked as the wildcard address
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not host_port_free(port, "tcp", "198.51.100.7")
    assert host_port_free(port, "tcp", "198.51.100.7")
