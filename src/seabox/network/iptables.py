"""Removing the iptables chains the CNI plugins leave behind once nothing uses them.

Design reason: the plugins delete their per-container chains on DEL but keep the shared ones
(portmap's CNI-HOSTPORT-DNAT/-SETMARK/-MASQ, the firewall plugin's CNI-FORWARD and its admin
chain), since another runtime may share them.  When seabox has no attachment left, seaboxd (or
a test's teardown) may call ``remove_idle_chains``: it removes seabox's own admin chain, and a
shared chain only when it holds nothing but the plugins' fixed rules (no container's rule), so
another runtime's live state is never cut.  The iptables binary is used, as the plugins
themselves do (with ``-w`` to wait for the xtables lock); the host's backend (nft or legacy)
is whatever the ``iptables`` alternative points at.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

HOSTPORT_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ")
FORWARD_CHAIN = "CNI-FORWARD"


def _ipt(binary: str, table: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "-w", "-t", table, *args], capture_output=True, text=True, timeout=60)


def rules(table: str, binary: str = "iptables") -> list[str]:
    """``iptables -t table -S`` lines."""
    res = _ipt(binary, table, "-S")
    return res.stdout.splitlines() if res.returncode == 0 else []


def chains(table: str, binary: str = "iptables") -> set[str]:
    return {line[3:] for line in rules(table, binary) if line.startswith("-N ")}


def _delete_jumps(binary: str, table: str, target: str) -> None:
    for line in rules(table, binary):
        if not line.startswith("-A "):
            continue
        args = shlex.split(line)
        if len(args) >= 2 and args[-2] == "-j" and args[-1] == target:
            # a rule as printed by -S deletes itself with -D in place of -A
            _ipt(binary, table, "-D", *args[1:])


def _chain_rules(binary: str, table: str, chain: str) -> list[str]:
    return [line for line in rules(table, binary) if line.startswith(f"-A {chain} ")]


def _drop_chain(binary: str, table: str, chain: str) -> None:
    _delete_jumps(binary, table, chain)
    _ipt(binary, table, "-F", chain)
    _ipt(binary, table, "-X", chain)


def remove_idle_chains(admin_chain: str, binary: str = "iptables", only: set[str] | None = None) -> list[str]:
    """Remove the plugins' shared chains when idle and seabox's admin chain; return what was removed.

    ``only`` limits removal to those chain names (a test passes the chains it saw appear).
    """
    if not binary or not shutil.which(binary):
        return []
    removed: list[str] = []
    nat = chains("nat", binary)
    flt = chains("filter", binary)
    if only is not None:
        nat &= only
        flt &= only
    dnat_rules = _chain_rules(binary, "nat", "CNI-HOSTPORT-DNAT") if "CNI-HOSTPORT-DNAT" in nat else []
    if not dnat_rules and any(c in nat for c in HOSTPORT_CHAINS):
        for chain in HOSTPORT_CHAINS:
            if chain in nat:
                _drop_chain(binary, "nat", chain)
                removed.append(f"nat/{chain}")
    # CNI-FORWARD is idle when it holds nothing but the jump to our admin chain
    fwd_busy = [r for r in _chain_rules(binary, "filter", FORWARD_CHAIN)
                if shlex.split(r)[-2:] != ["-j", admin_chain]] if FORWARD_CHAIN in flt else []
    admin_dropped = False
    if admin_chain in flt and not _chain_rules(binary, "filter", admin_chain):
        _drop_chain(binary, "filter", admin_chain)
        removed.append(f"filter/{admin_chain}")
        admin_dropped = True
    if FORWARD_CHAIN in flt and not fwd_busy and (admin_dropped or admin_chain not in flt):
        _drop_chain(binary, "filter", FORWARD_CHAIN)
        removed.append(f"filter/{FORWARD_CHAIN}")
    return removed


def remove_masquerade_leftovers(network: str, container_id: str, binary: str = "iptables") -> list[str]:
    """Remove the bridge plugin's per-container ipMasq rule and chain; return the chains removed.

    The bridge plugin (1.1.x) learns the addresses to un-masquerade from the container's
    interface, so when the container's network namespace is already gone its DEL leaves the
    ``POSTROUTING -s <ip>/32 ... -j CNI-<hash>`` rule and chain behind.  They are recognised by
    the comment the plugin writes (``name: "<network>" id: "<container>"``).
    """
    if not binary or not shutil.which(binary):
        return []
    comment = f'name: "{network}" id: "{container_id}"'
    removed: list[str] = []
    for line in rules("nat", binary):
        if not line.startswith("-A POSTROUTING "):
            continue
        args = shlex.split(line)
        if "--comment" not in args or args[args.index("--comment") + 1] != comment:
            continue
        target = args[-1] if len(args) >= 2 and args[-2] == "-j" else ""
        _ipt(binary, "nat", "-D", *args[1:])
        if target.startswith("CNI-") and not target.startswith("CNI-HOSTPORT"):
            _ipt(binary, "nat", "-F", target)
            _ipt(binary, "nat", "-X", target)
            removed.append(target)
    return removed
