"""Networks and attachments with fake CNI plugins: files, IDs, hosts files, ports, refusals."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.network import DNSConfig, Networks, Settings, parse_publish
from seabox.network.fakecni import read_log, write_fake_plugins

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
vpn0\t0000040A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


@pytest.fixture
def nets(tmp_path: Path) -> Networks:
    (tmp_path / "route").write_text(ROUTES)
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch lan.example\n")
    bins = write_fake_plugins(tmp_path / "bin", tmp_path / "log.jsonl")
    s = Settings(conf_dir=str(tmp_path / "conf"), bin_dirs=(str(bins),), state_dir=str(tmp_path / "state"),
                 netns_dir=str(tmp_path / "netns"), default_bridge="sbt-def0", bridge_prefix="sbt-",
                 admin_chain="SBT-ADMIN", route_table=str(tmp_path / "route"), iptables="",
                 etc_resolv=str(tmp_path / "resolv.conf"), resolved_upstream=str(tmp_path / "none"))
    return Networks(s)


def log_of(nets: Networks) -> list[dict]:
    return read_log(Path(nets.settings.bin_dirs[0]).parent / "log.jsonl")


def test_default_network_created_on_first_use(nets: Networks) -> None:
    assert nets.list() == []
    net = nets.get("bridge")
    assert net.default and net.bridge == "sbt-def0"
    assert net.subnet == "10.4.1.0/24"  # 10.4.0.0/24 is routed via vpn0 in the fake table
    assert net.gateway == "10.4.1.1"
    assert net.path == os.path.join(nets.settings.conf_dir, "seabox-bridge.conflist")
    doc = json.loads(Path(net.path).read_text())
    assert doc["seaboxID"] == net.id and len(net.id) == 64
    assert [n.name for n in nets.list()] == ["bridge"]
    assert nets.get("bridge").id == net.id  # not created twice
    with pytest.raises(FailedPrecondition, match="pre-defined"):
        nets.remove("bridge")


def test_create_list_inspect_remove(nets: Networks) -> None:
    a = nets.create("front", labels={"tier": "web"})
    b = nets.create("back", subnet="10.77.0.0/16", gateway="10.77.0.254", ip_range="10.77.5.0/24")
    assert a.subnet == "10.4.1.0/24" and a.bridge == ("sbt-" + a.id)[:15] and a.labels == {"tier": "web"}
    assert nets.create("third").subnet == "10.4.2.0/24"
    assert (b.subnet, b.gateway, b.ip_range) == ("10.77.0.0/16", "10.77.0.254", "10.77.5.0/24")
    assert sorted(n.name for n in nets.list()) == ["back", "front", "third"]
    assert nets.get(a.id[:8]).name == "front"
    doc = nets.inspect("back")
    assert doc["Name"] == "back" and doc["Id"] == b.id and doc["Driver"] == "bridge"
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/16", "Gateway": "10.77.0.254", "IPRange": "10.77.5.0/24"}]
    assert doc["Options"]["com.docker.network.bridge.name"] == b.bridge
    assert doc["Containers"] == {}
    with pytest.raises(AlreadyExists, match='network "front": already exists'):
        nets.create("front")
    with pytest.raises(FailedPrecondition, match='overlaps network "back"'):
        nets.create("clash", subnet="10.77.3.0/24")
    with pytest.raises(InvalidArgument, match="pre-defined"):
        nets.create("host")
    with pytest.raises(InvalidArgument, match="invalid name"):
        nets.create("-bad")
    with pytest.raises(InvalidArgument, match=r'gateway "10\.1\.0\.1"'):
        nets.create("gw", subnet="10.88.0.0/24", gateway="10.1.0.1")
    with pytest.raises(InvalidArgument, match="only bridge"):
        nets.create("mv", driver="macvlan")
    nets.remove("back")
    with pytest.raises(NotFound, match='network "back": not found'):
        nets.get("back")
    assert sorted(nets.prune()) == ["front", "third"]
    assert nets.list() == []


def test_attach_two_containers_resolve_each_other(nets: Networks, tmp_path: Path) -> None:
    nets.create("app")
    web = nets.attach("c-web", "/ns/web", ["app"], name="web", aliases=["www"], hostname="web.example.test",
                      extra_hosts=[("gitlab.example.test", "10.0.0.110"), ("gw", "host-gateway")])
    assert [(i.network, i.ifname, i.ip, i.gateway) for i in web.interfaces] == [("app", "eth0", "10.4.1.2", "10.4.1.1")]
    hosts = Path(web.hosts_path)
    inode = hosts.stat().st_ino
    assert "10.4.1.2\tweb.example.test web www" in hosts.read_text()
    assert "10.4.1.1\tgw" in hosts.read_text()
    assert "10.0.0.110\tgitlab.example.test" in hosts.read_text()
    assert Path(web.hostname_path).read_text() == "web.example.test\n"
    assert Path(web.resolv_path).read_text() == "search lan.example\nnameserver 192.0.2.53\n"

    live_ns = f"/proc/{os.getpid()}/ns/net"  # any live netns path: detach passes it on
    cli = nets.attach("c-cli", live_ns, ["app"], name="cli", dns=DNSConfig(servers=("9.9.9.9",)))
    assert "10.4.1.3\tc-cli cli" in Path(cli.hosts_path).read_text()
    assert "10.4.1.2\tweb.example.test web www" in Path(cli.hosts_path).read_text()
    assert "10.4.1.3\tc-cli cli" in hosts.read_text()  # the earlier member's file was rewritten
    assert hosts.stat().st_ino == inode  # in place: it is bind-mounted into the running container
    assert Path(cli.resolv_path).read_text() == "search lan.example\nnameserver 9.9.9.9\n"
    assert set(nets.inspect("app")["Containers"]) == {"c-web", "c-cli"}
    assert nets.inspect("app")["Containers"]["c-cli"]["IPv4Address"] == "10.4.1.3/24"

    with pytest.raises(FailedPrecondition, match='network "app": in use by container'):
        nets.remove("app")
    with pytest.raises(AlreadyExists):
        nets.attach("c-cli", live_ns, ["app"])

    nets.detach("c-cli")
    assert "cli" not in hosts.read_text()
    assert not Path(cli.hosts_path).exists()
    dels = [c for c in log_of(nets) if c["command"] == "DEL"]
    assert [c["plugin"] for c in dels] == ["tuning", "firewall", "portmap", "bridge"]
    assert all(c["env"]["CNI_CONTAINERID"] == "c-cli" and c["env"]["CNI_NETNS"] == live_ns for c in dels)
    assert all(c["stdin"]["prevResult"]["ips"][0]["address"] == "10.4.1.3/24" for c in dels)
    nets.detach("c-cli")  # idempotent
    nets.detach("c-web")
    # /ns/web is no namespace (any more): the plugins get CNI_NETNS="" and skip the in-namespace part
    assert {c["env"]["CNI_NETNS"] for c in log_of(nets)
            if c["command"] == "DEL" and c["env"]["CNI_CONTAINERID"] == "c-web"} == {""}
    nets.remove("app")


def test_default_network_does_not_link_names(nets: Networks) -> None:
    a = nets.attach("c-a", "/ns/a", ["bridge"], name="a")
    nets.attach("c-b", "/ns/b", ["bridge"], name="b")
    assert "\tb" not in Path(a.hosts_path).read_text()
    nets.detach("c-a")
    nets.detach("c-b")


def test_ports_static_ip_and_conflicts(nets: Networks) -> None:
    nets.create("pub", subnet="10.66.0.0/24")
    att = nets.attach("c-p", "/ns/p", ["pub"], port_mappings=parse_publish("127.0.0.1:18888:80"),
                      static_ip="10.66.0.50")
    assert att.interfaces[0].ip == "10.66.0.50"
    add = [c for c in log_of(nets) if c["command"] == "ADD" and c["env"]["CNI_CONTAINERID"] == "c-p"]
    assert add[0]["stdin"]["runtimeConfig"] == {"ips": ["10.66.0.50/24"]}
    assert add[1]["stdin"]["runtimeConfig"] == {
        "portMappings": [{"hostPort": 18888, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}]}
    assert [str(p) for p in nets.published_ports()] == ["127.0.0.1:18888->80/tcp"]
    with pytest.raises(FailedPrecondition, match=r"^port 18888 is already in use$"):
        nets.attach("c-q", "/ns/q", ["pub"], port_mappings=parse_publish("18888:80"))
    assert nets.attachment("c-q") is None
    with pytest.raises(InvalidArgument, match=r'ip "10\.9\.0\.1"'):
        nets.attach("c-q", "/ns/q", ["pub"], static_ip="10.9.0.1")
    with pytest.raises(InvalidArgument, match="is the gateway"):
        nets.attach("c-q", "/ns/q", ["pub"], static_ip="10.66.0.1")
    with pytest.raises(InvalidArgument, match="need a network"):
        nets.attach("c-q", "/ns/q", [], port_mappings=parse_publish("80"))
    nets.detach("c-p")
    assert nets.published_ports() == []


def test_failed_attach_rolls_back_earlier_networks(nets: Networks) -> None:
    nets.create("one")
    two = nets.create("two")
    doc = json.loads(Path(two.path).read_text())
    doc["plugins"][1]["fakeFail"] = {"ADD": "no way"}
    Path(two.path).write_text(json.dumps(doc))
    with pytest.raises(Exception, match='network "two": plugin "portmap" \\(ADD\\): no way'):
        nets.attach("c-f", "/ns/f", ["one", "two"])
    assert nets.attachment("c-f") is None
    cmds = [(c["stdin"]["name"], c["plugin"], c["command"]) for c in log_of(nets)]
    assert ("one", "bridge", "DEL") in cmds
    assert not os.listdir(os.path.join(nets.settings.state_dir, "results"))


def test_no_network_still_writes_files(nets: Networks) -> None:
    att = nets.attach("c-none", "", [], hostname="box", extra_hosts=[("x", "10.1.1.1")])
    assert att.interfaces == []
    text = Path(att.hosts_path).read_text()
    assert "127.0.1.1\tbox" in text and "10.1.1.1\tx" in text
    with pytest.raises(InvalidArgument, match="host-gateway needs a network"):
        nets.attach("c-none2", "", [], extra_hosts=[("gw", "host-gateway")])
    nets.detach("c-none")
    assert nets.attachment("c-none") is None


def test_host_network_files_start_from_the_host(nets: Networks, tmp_path: Path) -> None:
    hosts = tmp_path / "etc-hosts"
    hosts.write_text("127.0.0.1 localhost\n192.0.2.2 myhost\n")
    n = Networks(dataclasses.replace(nets.settings, etc_hosts=str(hosts)), nets.cni)
    att = n.attach("c-host", "", [], host_network=True, extra_hosts=[("db", "10.0.0.5")])
    assert Path(att.hosts_path).read_text() == "127.0.0.1 localhost\n192.0.2.2 myhost\n10.0.0.5\tdb\n"
    # the host's local resolver is reachable from the host's netns: kept verbatim
    assert Path(att.resolv_path).read_text() == Path(n.settings.etc_resolv).read_text()
    att2 = n.attach("c-host2", "", [], host_network=True, dns=DNSConfig(search=("x.example",)))
    assert Path(att2.resolv_path).read_text() == ("search x.example\nnameserver 127.0.0.53\n"
                                                  "nameserver 192.0.2.53\n")
    with pytest.raises(InvalidArgument, match="--network host"):
        n.attach("c-host3", "", ["bridge"], host_network=True)
    n.detach("c-host")
    n.detach("c-host2")


def test_detach_uses_the_config_add_used(nets: Networks) -> None:
    net = nets.create("swap", subnet="10.55.0.0/24")
    nets.attach("c-s", "/ns/s", ["swap"])
    # the file changes under a running container (e.g. removed with --force and re-created)
    doc = json.loads(Path(net.path).read_text())
    doc["plugins"][0]["bridge"] = "sbt-other"
    Path(net.path).write_text(json.dumps(doc))
    nets.detach("c-s")
    dels = [c for c in log_of(nets) if c["command"] == "DEL" and c["plugin"] == "bridge"]
    assert dels[-1]["stdin"]["bridge"] == net.bridge
