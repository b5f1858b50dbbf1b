"""Chain clean-up decisions, against a fake iptables that prints saved rules and records changes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from seabox.network import iptables as ipt

FAKE = r'''#!{python}
import json, sys
args = sys.argv[1:]
state = json.load(open({state!r}))
table = args[args.index("-t") + 1]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\n")
if "-S" in args:
    print("\n".join(state.get(table, [])))
'''

NAT_IDLE = ["-P PREROUTING ACCEPT", "-N CNI-HOSTPORT-DNAT", "-N CNI-HOSTPORT-MASQ", "-N CNI-HOSTPORT-SETMARK",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
            "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
            '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
            "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
            '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000']
FILTER_IDLE = ["-P FORWARD ACCEPT", "-N CNI-FORWARD", "-N SBT-ADMIN",
               '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
               '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j SBT-ADMIN']


def fake(tmp_path: Path, nat: list[str], flt: list[str]) -> tuple[str, Path]:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"nat": nat, "filter": flt}))
    log = tmp_path / "log"
    binary = tmp_path / "iptables"
    binary.write_text(FAKE.format(python=sys.executable, state=str(state), log=str(log)))
    os.chmod(binary, 0o755)
    return str(binary), log


def changes(log: Path) -> list[list[str]]:
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [c for c in calls if "-S" not in c]


def test_idle_chains_are_removed_jumps_first(tmp_path: Path) -> None:
    binary, log = fake(tmp_path, NAT_IDLE, FILTER_IDLE)
    removed = ipt.remove_idle_chains("SBT-ADMIN", binary)
    assert removed == ["nat/CNI-HOSTPORT-DNAT", "nat/CNI-HOSTPORT-SETMARK", "nat/CNI-HOSTPORT-MASQ",
                       "filter/SBT-ADMIN", "filter/CNI-FORWARD"]
    done = changes(log)
    assert ["-w", "-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j",
            "CNI-HOSTPORT-DNAT"] in done
    assert ["-w", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade",
            "-j", "CNI-HOSTPORT-MASQ"] in done
    assert ["-w", "-t", "filter", "-X", "SBT-ADMIN"] in done
    # a chain is deleted only after the jumps to it
    i_jump = done.index(["-w", "-t", "nat", "-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j",
                         "CNI-HOSTPORT-DNAT"])
    assert i_jump < done.index(["-w", "-t", "nat", "-X", "CNI-HOSTPORT-DNAT"])


def test_chains_in_use_by_a_container_stay(tmp_path: Path) -> None:
    nat = [*NAT_IDLE, "-N CNI-DN-abc",
           '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"k8s\\" id: \\"x\\"" -j CNI-DN-abc']
    flt = [*FILTER_IDLE, "-A CNI-FORWARD -s 10.88.0.5/32 -j ACCEPT"]
    binary, log = fake(tmp_path, nat, flt)
    assert ipt.remove_idle_chains("SBT-ADMIN", binary) == ["filter/SBT-ADMIN"]
    assert all("CNI-HOSTPORT" not in " ".join(c) and c[-1] != "CNI-FORWARD" for c in changes(log))


def test_only_limits_removal(tmp_path: Path) -> None:
    binary, _ = fake(tmp_path, NAT_IDLE, FILTER_IDLE)
    assert ipt.remove_idle_chains("SBT-ADMIN", binary, only={"SBT-ADMIN"}) == ["filter/SBT-ADMIN"]
    assert ipt.remove_idle_chains("SBT-ADMIN", "") == []


def test_masquerade_leftovers_by_comment(tmp_path: Path) -> None:
    nat = ["-N CNI-1111", "-N CNI-2222",
           '-A POSTROUTING -s 10.1.0.5/32 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j CNI-1111',
           '-A POSTROUTING -s 10.1.0.6/32 -m comment --comment "name: \\"net\\" id: \\"c2\\"" -j CNI-2222',
           '-A CNI-1111 ! -d 224.0.0.0/4 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j MASQUERADE']
    binary, log = fake(tmp_path, nat, [])
    assert ipt.remove_masquerade_leftovers("net", "c1", binary) == ["CNI-1111"]
    done = changes(log)
    assert done[0] == ["-w", "-t", "nat", "-D", "POSTROUTING", "-s", "10.1.0.5/32", "-m", "comment", "--comment",
                       'name: "net" id: "c1"', "-j", "CNI-1111"]
    assert done[1:] == [["-w", "-t", "nat", "-F", "CNI-1111"], ["-w", "-t", "nat", "-X", "CNI-1111"]]


@pytest.mark.parametrize("binary", ["", "/nonexistent/iptables"])
def test_no_binary_no_op(binary: str) -> None:
    assert ipt.remove_masquerade_leftovers("n", "c", binary) == []
