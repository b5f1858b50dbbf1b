"""A snapshot of host state that a test run could leak, and the difference of two.

The suite takes one snapshot at start and one at the end; anything new at the end
(a mount, a process of ours, a cgroup, a network namespace, a link, an iptables
chain) is a leak and fails the run.  It reads /proc and /sys directly; iptables
chains are read with the iptables binary only because this is test code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

_OURS = ("seabox", "runc", "crun", "containerd", "dockerd", "docker-proxy", "registry", "sbt-")


@dataclass
class HostState:
    mounts: set[str] = field(default_factory=set)
    processes: dict[int, str] = field(default_factory=dict)
    cgroups: set[str] = field(default_factory=set)
    netns: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)


def _mounts() -> set[str]:
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            out.add(parts[4].encode().decode("unicode_escape"))
    return out


def _processes() -> dict[int, str]:
    out: dict[int, str] = {}
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            in_container = os.readlink(f"/proc/{pid}/root") != "/"
        except OSError:
            continue
        if not cmd:
            continue
        if in_container or any(t in cmd for t in _OURS):
            out[pid] = cmd
    return out


def _cgroups() -> set[str]:
    out: set[str] = set()
    base = "/sys/fs/cgroup"
    if not os.path.isdir(base):
        return out
    roots = [base]
    if not os.path.exists(os.path.join(base, "cgroup.controllers")):
        roots = [os.path.join(base, d) for d in os.listdir(base)]
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, _ in os.walk(root):
            depth = dirpath[len(root):].count("/")
            if depth >= 3:
                dirnames[:] = []
                continue
            for d in dirnames:
                out.add(os.path.join(dirpath, d))
    return out


def _netns() -> set[str]:
    out: set[str] = set()
    for d in ("/run/netns", "/run/seabox/netns"):
        if os.path.isdir(d):
            out |= {os.path.join(d, n) for n in os.listdir(d)}
    return out


def _iptables_chains() -> set[str]:
    out: set[str] = set()
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        for table in ("filter", "nat", "mangle"):
            try:
                res = subprocess.run(
                    [tool, "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=30
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            for line in res.stdout.splitlines():
                if line.startswith("-N "):
                    out.add(f"{tool}/{table}/{line[3:]}")
    return out


def snapshot() -> HostState:
    return HostState(
        mounts=_mounts(),
        processes=_processes(),
        cgroups=_cgroups(),
        netns=_netns(),
        links=set(os.listdir("/sys/class/net")),
        chains=_iptables_chains() if os.geteuid() == 0 else set(),
    )


def leaks(before: HostState, after: HostState) -> list[str]:
    """One line per leaked thing, empty when the run left nothing behind."""
    found = []
    found += [f"mount {m}" for m in sorted(after.mounts - before.mounts)]
    found += [
        f"process {pid}: {cmd}" for pid, cmd in sorted(after.processes.items()) if pid not in before.processes
    ]
    found += [f"cgroup {c}" for c in sorted(after.cgroups - before.cgroups)]
    found += [f"netns {n}" for n in sorted(after.netns - before.netns)]
    found += [f"link {n}" for n in sorted(after.links - before.links)]
    found += [f"iptables chain {c}" for c in sorted(after.chains - before.chains)]
    return found
