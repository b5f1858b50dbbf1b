"""The network library with the real CNI plugins, busybox containers run by seabox-runc in our netns.

Traffic goes only to 127.0.0.1 and to the namespaces these tests create.  Every test has its own
names (``sbt-<random>`` bridges, a test-only admin chain, a subnet free on this host), temp dirs
for conf/state/netns, and a teardown that removes containers, attachments, namespaces, networks
and the iptables chains that did not exist before it — then checks with ``ip`` and
``iptables`` (fine in tests) that nothing is left.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition
from seabox.network import Networks, PortMapping, Settings, netlink, netns, subnets
from seabox.network import iptables as ipt
from seabox.network.cni import RuntimeConf
from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import default_spec, make_bundle

pytestmark = pytest.mark.root

CNI_BIN = "/usr/lib/cni"
TABLES = ("filter", "nat")


def _chains() -> dict[str, set[str]]:
    return {t: ipt.chains(t) for t in TABLES}


def _new_chains(before: dict[str, set[str]]) -> set[str]:
    return {c for t in TABLES for c in ipt.chains(t) - before[t]}


def _rules_mentioning(needles: list[str]) -> list[str]:
    return [r for t in TABLES for r in ipt.rules(t) if any(n in r for n in needles)]


def _processes_in_netns(inodes: set[int]) -> list[int]:
    """Processes in one of the network namespaces ``inodes`` (containers the test left running)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                out.append(int(pid))
        except OSError:
            continue
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _test_subnet(start_octet: int) -> str:
    """A /24 in 10.<start_octet>+.x.0 that overlaps no route of this host."""
    start = ipaddress.IPv4Network(f"10.{start_octet}.{secrets.randbelow(200)}.0/24")
    return str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))


@dataclass
class Env:
    tmp: Path
    tag: str
    nets: Networks
    runc: Runc
    attached: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    ns_inodes: set[int] = field(default_factory=set)

    def netns(self, name: str) -> str:
        path = netns.create(f"{self.tag}-{name}", self.nets.settings.netns_dir)
        self.namespaces.append(path)
        self.ns_inodes.add(os.stat(path).st_ino)
        return path

    def cid(self, name: str) -> str:
        cid = f"{self.tag}-{name}"
        self.attached.append(cid)
        return cid

    def bundle(self, name: str, args: list[str], netns_path: str, mounts: list[dict] | None = None) -> Path:
        spec = default_spec(args)
        linux = spec["linux"]
        linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [
            {"type": "network", "path": netns_path}]
        return make_bundle(self.tmp / f"bundle-{name}", args, linux=linux, mounts=spec["mounts"] + (mounts or []))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    tag = "sbt-" + secrets.token_hex(3)
    settings = Settings(conf_dir=str(tmp_path / "net.d"), bin_dirs=(CNI_BIN,), state_dir=str(tmp_path / "state"),
                        netns_dir=str(tmp_path / "netns"), default_bridge=f"{tag}-d", bridge_prefix=f"{tag}",
                        admin_chain=f"SBT-{tag[4:].upper()}-ADMIN",
                        subnet_start=_test_subnet(230))
    before_chains = _chains()
    before_links = set(netlink.link_names())
    (tmp_path / "runc").mkdir()
    e = Env(tmp_path, tag, Networks(settings), Runc(tmp_path / "runc"))
    try:
        yield e
    finally:
        e.runc.cleanup()
        stray = _processes_in_netns(e.ns_inodes)
        for pid in stray:  # the test's own containers, left running by a failure: stop them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for cid in e.attached:
            try:
                e.nets.detach(cid)
            except Exception as exc:  # keep tearing down; the leak asserts below report it
                print(f"detach {cid}: {exc}")
        for path in e.namespaces:
            netns.remove(path)
        used_subnets = [n.subnet for n in e.nets.list()]
        for net in e.nets.list():
            e.nets.remove(net.name, allow_default=True)
        # the plugins' shared chains that appeared during the test, when idle, and our admin chain
        ipt.remove_idle_chains(settings.admin_chain, only=_new_chains(before_chains))
        # nothing of the test is left: links, rules, chains (a chain someone else made meanwhile
        # may stay only while it holds rules — another runtime's live state)
        assert [n for n in netlink.link_names() if n not in before_links and n.startswith(tag)] == []
        assert _rules_mentioning([tag, *used_subnets]) == []
        leftover = _new_chains(before_chains)
        assert settings.admin_chain not in leftover
        rules_now = "\n".join(r for t in TABLES for r in ipt.rules(t))
        assert [c for c in leftover if f"-A {c} " not in rules_now] == []
        assert stray == []
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(tmp_path) not in mounts
        assert os.listdir(settings.netns_dir) == [] if os.path.isdir(settings.netns_dir) else True
        ipam = Path(settings.state_dir) / "ipam"
        assert not ipam.exists() or list(ipam.iterdir()) == []
        results = Path(settings.state_dir) / "results"
        assert not results.exists() or list(results.iterdir()) == []


def test_netns_create_and_remove_without_ip(tmp_path: Path) -> None:
    d = str(tmp_path / "netns")
    name = "sbt-" + secrets.token_hex(3)
    path = netns.create(name, d)
    try:
        assert netns.exists(name, d) and netns.list_names(d) == [name]
        assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino
        out = subprocess.run(["nsenter", f"--net={path}", "ip", "-o", "link"], capture_output=True, text=True,
                             check=True).stdout
        assert out.count("\n") == 1 and "lo:" in out and "UP" in out  # only lo, and it is up
        assert os.readlink("/proc/self/ns/net") == os.readlink(f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net")
    finally:
        assert netns.remove(name, d)
    assert not netns.remove(name, d)
    assert not os.path.exists(path)
    assert path not in Path("/proc/self/mountinfo").read_text()


def _wait_http(url: str, deadline: float) -> str:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return str(r.read().decode())
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url}: no answer: {last}")


def test_two_containers_by_name_and_published_port(env: Env) -> None:
    net = env.nets.create(f"{env.tag}-net", subnet=_test_subnet(231), labels={"test": env.tag})
    ns_web, ns_cli = env.netns("web"), env.netns("cli")
    port, gw_port = _free_port(), _free_port()
    web_id, cli_id = env.cid("web"), env.cid("cli")
    # one mapping on 127.0.0.1 (for the host) and one on the bridge's gateway address (hairpin)
    web = env.nets.attach(web_id, ns_web, [net.name], name="web", hostname="web.example.test",
                          port_mappings=[PortMapping(8080, port, "tcp", "127.0.0.1"),
                                         PortMapping(8080, gw_port, "tcp", net.gateway)])
    cli = env.nets.attach(cli_id, ns_cli, [net.name], name="cli", aliases=["client"],
                          extra_hosts=[("gw", "host-gateway")])
    web_ip, cli_ip = web.interfaces[0].ip, cli.interfaces[0].ip
    assert ipaddress.IPv4Address(web_ip) in ipaddress.IPv4Network(net.subnet)
    assert web_ip != cli_ip and web.interfaces[0].mac
    # portmap with snat turns on route_localnet for the bridge so 127.0.0.1 can be DNATed
    assert Path(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet").read_text().strip() == "1"

    def files(att_hosts: str, att_resolv: str) -> list[dict]:
        return [{"destination": "/etc/hosts", "type": "bind", "source": att_hosts, "options": ["bind", "ro"]},
                {"destination": "/etc/resolv.conf", "type": "bind", "source": att_resolv, "options": ["bind", "ro"]}]

    b_web = env.bundle("web", ["httpd", "-f", "-p", "8080", "-h", "/www"], ns_web,
                       files(web.hosts_path, web.resolv_path))
    (b_web / "rootfs" / "www").mkdir()
    (b_web / "rootfs" / "www" / "index.html").write_text(f"hello from {env.tag}\n")
    env.runc.ids.append(web_id)  # so the harness force-deletes it
    r = env.runc.create(b_web, web_id)
    assert r.returncode == 0, r.stderr
    assert env.runc.cmd("start", web_id).returncode == 0

    # from the host, through portmap's DNAT on 127.0.0.1
    body = _wait_http(f"http://127.0.0.1:{port}/", time.monotonic() + 30)
    assert body == f"hello from {env.tag}\n"

    # from the other container, by name through the managed hosts file
    b_cli = env.bundle("cli", ["sh", "-c", "cat /etc/hosts; echo ---; wget -qO- http://web:8080/; echo ---;"
                               " wget -qO- http://web.example.test:8080/"], ns_cli,
                       files(cli.hosts_path, cli.resolv_path))
    out = env.runc.run(b_cli, env.runc.new_id())
    assert out.returncode == 0, out.stderr
    hosts, by_name, by_fqdn = out.stdout.split("---\n")
    assert f"{web_ip}\tweb.example.test web" in hosts
    assert f"{cli_ip}\t{cli_id[:12]} cli client" in hosts
    assert f"{net.gateway}\tgw" in hosts
    assert by_name == by_fqdn == f"hello from {env.tag}\n"

    # the web container's own file (bind-mounted, rewritten in place) lists the client too
    cat = subprocess.run([*env.runc.cmdline, "--root", str(env.runc.root), "exec", web_id, "cat", "/etc/hosts"],
                         capture_output=True, text=True, timeout=30)
    assert f"{cli_ip}\t{cli_id[:12]} cli client" in cat.stdout, cat.stderr
    # hairpin: the web container reaches itself through its own published port on the gateway
    hair = subprocess.run([*env.runc.cmdline, "--root", str(env.runc.root), "exec", web_id,
                           "wget", "-qO-", f"http://{net.gateway}:{gw_port}/"], capture_output=True, text=True,
                          timeout=30)
    assert hair.stdout == f"hello from {env.tag}\n", hair.stderr

    doc = env.nets.inspect(net.name)
    assert set(doc["Containers"]) == {web_id, cli_id}
    assert doc["Labels"] == {"test": env.tag}
    with pytest.raises(FailedPrecondition, match="in use"):
        env.nets.remove(net.name)

    # a second container may not take the published port
    ns_3 = env.netns("third")
    with pytest.raises(FailedPrecondition, match=f"^port {port} is already in use$"):
        env.nets.attach(env.cid("third"), ns_3, [net.name], port_mappings=[PortMapping(80, port, "tcp", "127.0.0.1")])

    # detach: veths, DNAT rules and addresses go; the port no longer answers
    env.runc.cleanup()
    env.runc.ids.clear()
    nat_before = "\n".join(ipt.rules("nat"))
    assert f"--to-destination {web_ip}:8080" in nat_before
    assert len(os.listdir(f"/sys/class/net/{net.bridge}/brif")) == 2  # the two host-side veths
    env.nets.detach(web_id)
    env.nets.detach(cli_id)
    assert os.listdir(f"/sys/class/net/{net.bridge}/brif") == []
    assert f"--to-destination {web_ip}:8080" not in "\n".join(ipt.rules("nat"))
    assert not any(web_ip in r or cli_ip in r for t in TABLES for r in ipt.rules(t))
    with pytest.raises(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
        pass
    ipam_dir = Path(env.nets.settings.state_dir) / "ipam" / net.name
    assert not (ipam_dir / web_ip).exists() and not (ipam_dir / cli_ip).exists()
    removed = env.nets.remove(net.name)
    assert not netlink.link_exists(removed.bridge)
    assert not ipam_dir.exists()


def test_default_network_static_ip_and_port_in_use(env: Env) -> None:
    ns = env.netns("a")
    cid = env.cid("a")
    default = env.nets.get("bridge")
    assert default.default and default.bridge == f"{env.tag}-d"
    assert not any(ipaddress.IPv4Network(default.subnet).overlaps(r) for r in subnets.host_routes())
    static = str(ipaddress.IPv4Network(default.subnet).network_address + 77)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(FailedPrecondition, match=f"^port {taken} is already in use$"):
            env.nets.attach(cid, ns, ["bridge"], port_mappings=[PortMapping(80, taken, "tcp", "127.0.0.1")])
    assert env.nets.attachment(cid) is None
    att = env.nets.attach(cid, ns, ["bridge"], static_ip=static)
    assert att.interfaces[0].ip == static
    assert att.interfaces[0].gateway == default.gateway
    addrs = subprocess.run(["nsenter", f"--net={ns}", "ip", "-o", "-4", "addr", "show", "eth0"], capture_output=True,
                           text=True, check=True).stdout
    assert f"inet {static}/24" in addrs
    assert netlink.is_bridge(default.bridge)
    # CHECK through the chain agrees with what is set up
    rt_conf = env.nets.get("bridge").conflist
    env.nets.cni.check(rt_conf, RuntimeConf(cid, ns, "eth0"))
    env.nets.detach(cid)
    env.nets.detach(cid)
    assert json.loads(json.dumps(env.nets.inspect("bridge")))["Containers"] == {}


def test_two_networks_ip_range_and_detach_after_netns_is_gone(env: Env) -> None:
    a = env.nets.create(f"{env.tag}-a", subnet=_test_subnet(232))
    sub_b = ipaddress.IPv4Network(_test_subnet(233))
    rng = list(sub_b.subnets(new_prefix=26))[2]
    b = env.nets.create(f"{env.tag}-b", subnet=str(sub_b), ip_range=str(rng))
    ns = env.netns("multi")
    cid = env.cid("multi")
    port = _free_port()
    att = env.nets.attach(cid, ns, [a.name, b.name], port_mappings=[PortMapping(80, port, "tcp", "127.0.0.1")])
    assert [(i.network, i.ifname) for i in att.interfaces] == [(a.name, "eth0"), (b.name, "eth1")]
    assert ipaddress.IPv4Address(att.interfaces[1].ip) in rng
    links = subprocess.run(["nsenter", f"--net={ns}", "ip", "-o", "-4", "addr"], capture_output=True, text=True,
                           check=True).stdout
    for itf in att.interfaces:
        assert any(f" {itf.ifname} " in f" {line} " and f"inet {itf.ip}/" in line for line in links.splitlines())
    assert _rules_mentioning([f"--dport {port} "]) != []
    # the namespace disappears first (a crash, a reboot of the container): detach still cleans up
    netns.remove(ns)
    env.nets.detach(cid)
    assert _rules_mentioning([f"--dport {port} ", att.interfaces[0].ip + "/", att.interfaces[1].ip + "/"]) == []
    for net in (a, b):
        assert os.listdir(f"/sys/class/net/{net.bridge}/brif") == []
        ipam = Path(env.nets.settings.state_dir) / "ipam" / net.name
        assert not any(p.name[0].isdigit() for p in ipam.iterdir())
    assert env.nets.attachment(cid) is None


def test_concurrent_attaches_get_distinct_addresses(env: Env) -> None:
    net = env.nets.create(f"{env.tag}-par", subnet=_test_subnet(234))
    paths = {env.cid(f"p{i}"): env.netns(f"p{i}") for i in range(4)}
    errors: list[BaseException] = []
    results: dict[str, str] = {}

    def one(cid: str, path: str) -> None:
        try:  # a Networks object of its own, as another process would have
            att = Networks(env.nets.settings).attach(cid, path, [net.name], name=cid[-2:])
            results[cid] = att.interfaces[0].ip
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=item) for item in paths.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results.values())) == 4
    # every member's hosts file names the three others
    for cid in paths:
        text = Path(env.nets.attachment(cid).hosts_path).read_text()  # type: ignore[union-attr]
        assert all(f"{ip}\t" in text for ip in results.values())
    for cid in paths:
        env.nets.detach(cid)
