"""Subnet choice against fake route tables."""

from __future__ import annotations

import ipaddress

import pytest

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.network import subnets

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t0000040A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
br0\t0005040A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def net(s: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(s)


def test_parse_proc_route() -> None:
    assert subnets.parse_proc_route(ROUTES) == [net("192.0.2.0/24"), net("10.4.0.0/16"), net("10.4.5.0/24")]
    assert net("0.0.0.0/0") in subnets.parse_proc_route(ROUTES, include_default=True)
    assert subnets.parse_proc_route("header only\n") == []


def test_pick_first_free() -> None:
    assert subnets.pick_subnet([]) == net("10.4.0.0/24")
    assert subnets.pick_subnet([net("192.0.2.0/24")]) == net("10.4.0.0/24")
    # a /16 route over 10.4.x.x pushes the choice to 10.5.0.0/24
    assert subnets.pick_subnet(subnets.parse_proc_route(ROUTES)) == net("10.5.0.0/24")
    # other seabox networks count as used
    assert subnets.pick_subnet([net("10.4.0.0/24"), net("10.4.1.0/24")]) == net("10.4.2.0/24")
    start = net("10.213.0.0/24")
    assert subnets.pick_subnet([net("10.213.0.0/23")], subnets.candidates(start)) == net("10.213.2.0/24")


def test_no_candidate_left() -> None:
    with pytest.raises(FailedPrecondition, match="no free subnet"):
        subnets.pick_subnet([net("10.0.0.0/8")])


def test_candidates_stay_inside_limit() -> None:
    got = list(subnets.candidates(net("10.255.254.0/24")))
    assert got == [net("10.255.254.0/24"), net("10.255.255.0/24")]


def test_parse_subnet_and_check() -> None:
    assert subnets.parse_subnet("10.9.0.0/16") == net("10.9.0.0/16")
    with pytest.raises(InvalidArgument, match="has host bits"):
        subnets.parse_subnet("10.9.0.1/16")
    with pytest.raises(InvalidArgument, match="only IPv4"):
        subnets.parse_subnet("fd00::/64")
    with pytest.raises(InvalidArgument, match="too small"):
        subnets.parse_subnet("10.9.0.0/31")
    assert str(subnets.check_in_subnet("ip", "10.9.0.5", net("10.9.0.0/24"))) == "10.9.0.5"
    for bad in ("10.8.0.5", "10.9.0.0", "10.9.0.255", "nope"):
        with pytest.raises(InvalidArgument, match=f'ip "{bad}"'):
            subnets.check_in_subnet("ip", bad, net("10.9.0.0/24"))
