"""The CNI protocol against fake plugins that record their environment and stdin."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from seabox.errdefs import NotFound
from seabox.network import cni as cnimod
from seabox.network.cni import CNI, PluginError, RuntimeConf, build_env, plugin_config, summarize
from seabox.network.fakecni import read_log, write_fake_plugins

CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "testnet",
    "seaboxID": "x",
    "plugins": [
        {"type": "bridge", "bridge": "br-t", "capabilities": {"ips": True},
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24", "gateway": "10.99.0.1"}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "firewall"},
    ],
}


@pytest.fixture
def env(tmp_path: Path) -> tuple[CNI, Path]:
    log = tmp_path / "log.jsonl"
    bins = write_fake_plugins(tmp_path / "bin", log)
    return CNI([str(tmp_path / "empty"), str(bins)], str(tmp_path / "state")), log


def test_build_env_and_plugin_config() -> None:
    rt = RuntimeConf("cid1", "/run/netns/x", "eth1", [("IgnoreUnknown", "1"), ("IP", "10.0.0.5")],
                     {"portMappings": [{"hostPort": 1}], "ips": ["10.0.0.5/24"], "other": 1})
    env = build_env("ADD", rt, ["/a", "/b"], base={"PATH": "/usr/bin", "SECRET": "x"})
    assert env == {"PATH": "/usr/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid1",
                   "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth1", "CNI_PATH": "/a:/b",
                   "CNI_ARGS": "IgnoreUnknown=1;IP=10.0.0.5"}
    conf = plugin_config(CONFLIST, CONFLIST["plugins"][1], rt, {"cniVersion": "1.0.0", "ips": []})
    assert conf["name"] == "testnet" and conf["cniVersion"] == "1.0.0"
    assert conf["prevResult"] == {"cniVersion": "1.0.0", "ips": []}
    assert conf["runtimeConfig"] == {"portMappings": [{"hostPort": 1}]}
    assert "seaboxID" not in conf
    conf = plugin_config(CONFLIST, CONFLIST["plugins"][2], rt, None)
    assert "runtimeConfig" not in conf and "prevResult" not in conf


def test_add_chains_prev_result_and_caches(env: tuple[CNI, Path]) -> None:
    cni, log = env
    rt = RuntimeConf("c1", "/proc/1/ns/net", "eth0", [("IgnoreUnknown", "1")],
                     {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    result = cni.add(CONFLIST, rt)
    calls = read_log(log)
    assert [(c["plugin"], c["command"]) for c in calls] == [("bridge", "ADD"), ("portmap", "ADD"), ("firewall", "ADD")]
    first, second, third = calls
    assert first["env"]["CNI_CONTAINERID"] == "c1"
    assert first["env"]["CNI_NETNS"] == "/proc/1/ns/net"
    assert first["env"]["CNI_IFNAME"] == "eth0"
    assert first["env"]["CNI_ARGS"] == "IgnoreUnknown=1"
    assert first["env"]["CNI_PATH"].endswith("/bin")
    assert "prevResult" not in first["stdin"]
    assert second["stdin"]["prevResult"] == result
    assert second["stdin"]["runtimeConfig"]["portMappings"][0]["hostPort"] == 8080
    assert third["stdin"]["prevResult"] == result
    assert result["ips"][0]["address"] == "10.99.0.2/24"
    s = summarize("testnet", "eth0", result)
    assert (s.ip, s.prefixlen, s.gateway, s.mac) == ("10.99.0.2", 24, "10.99.0.1", "02:00:00:00:00:03")
    cached = cni.cached("testnet", "c1", "eth0")
    assert cached is not None
    assert cached["kind"] == "cniCacheV1" and cached["result"] == result
    assert json.loads(base64.b64decode(cached["config"])) == CONFLIST
    assert cached["capabilityArgs"]["portMappings"][0]["hostPort"] == 8080


def test_del_reverse_with_cached_result_and_idempotent(env: tuple[CNI, Path]) -> None:
    cni, log = env
    rt = RuntimeConf("c2", "/ns", "eth0", (), {"portMappings": [{"hostPort": 1, "containerPort": 2}]})
    result = cni.add(CONFLIST, rt)
    log.unlink()
    # the caller no longer knows the port mappings: DEL takes them from the cache
    cni.delete(CONFLIST, RuntimeConf("c2", "/ns", "eth0"))
    calls = read_log(log)
    assert [(c["plugin"], c["command"]) for c in calls] == [("firewall", "DEL"), ("portmap", "DEL"), ("bridge", "DEL")]
    assert all(c["stdin"]["prevResult"] == result for c in calls)
    assert calls[1]["stdin"]["runtimeConfig"] == {"portMappings": [{"hostPort": 1, "containerPort": 2}]}
    assert cni.cached("testnet", "c2", "eth0") is None
    # again: plugins run without prevResult and nothing fails
    cni.delete(CONFLIST, RuntimeConf("c2", "/ns", "eth0"))
    assert all("prevResult" not in c["stdin"] for c in read_log(log)[3:])
    # with no conflist and no cache there is nothing to do
    cni.delete(None, RuntimeConf("c2", "/ns", "eth0"), network="testnet")


def test_del_from_cached_config_when_network_file_is_gone(env: tuple[CNI, Path]) -> None:
    cni, log = env
    cni.add(CONFLIST, RuntimeConf("c3", "/ns", "eth0"))
    log.unlink()
    cni.delete(None, RuntimeConf("c3", "/ns", "eth0"), network="testnet")
    assert [c["command"] for c in read_log(log)] == ["DEL"] * 3


def test_plugin_error_is_one_line_naming_network_and_plugin(env: tuple[CNI, Path]) -> None:
    cni, log = env
    bad = json.loads(json.dumps(CONFLIST))
    bad["plugins"][1]["fakeFail"] = {"ADD": "failed to set up\nport mapping"}
    with pytest.raises(PluginError) as e:
        cni.add(bad, RuntimeConf("c4", "/ns", "eth0"))
    assert str(e.value) == ('network "testnet": plugin "portmap" (ADD): failed to set up port mapping: '
                            'from the fake')
    assert e.value.code == 11
    # the failed ADD was rolled back (DEL in reverse) and nothing was cached
    cmds = [(c["plugin"], c["command"]) for c in read_log(log)]
    assert cmds[:2] == [("bridge", "ADD"), ("portmap", "ADD")]
    assert cmds[2:] == [("firewall", "DEL"), ("portmap", "DEL"), ("bridge", "DEL")]
    assert cni.cached("testnet", "c4", "eth0") is None


def test_missing_plugin_and_non_json_failure(env: tuple[CNI, Path], tmp_path: Path) -> None:
    cni, _ = env
    with pytest.raises(NotFound, match='network "n": plugin "nosuch" not found'):
        cni.find("nosuch", "n")
    crash = tmp_path / "bin" / "crash"
    crash.write_text("#!/bin/sh\necho 'panic: boom' >&2\nexit 2\n")
    os.chmod(crash, 0o755)
    conf = {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "crash"}]}
    with pytest.raises(PluginError, match=r'^network "n": plugin "crash" \(ADD\): panic: boom$'):
        cni.add(conf, RuntimeConf("c5", "/ns", "eth0"))


def test_version_and_check(env: tuple[CNI, Path]) -> None:
    cni, log = env
    assert "1.0.0" in cni.version("bridge")["supportedVersions"]
    assert read_log(log)[-1]["env"]["CNI_COMMAND"] == "VERSION"
    with pytest.raises(NotFound):
        cni.check(CONFLIST, RuntimeConf("c6", "/ns", "eth0"))
    result = cni.add(CONFLIST, RuntimeConf("c6", "/ns", "eth0"))
    cni.check(CONFLIST, RuntimeConf("c6", "/ns", "eth0"))
    checks = [c for c in read_log(log) if c["command"] == "CHECK"]
    assert len(checks) == 3 and all(c["stdin"]["prevResult"] == result for c in checks)


def test_cache_path_shape(tmp_path: Path) -> None:
    cni = CNI(["/x"], str(tmp_path))
    assert cni.cache_path("net", "cid", "eth0") == str(tmp_path / "results" / "net-cid-eth0")
    assert cnimod.CACHE_KIND == "cniCacheV1"


def test_load_network_configs(tmp_path: Path) -> None:
    d = tmp_path / "net.d"
    d.mkdir()
    (d / "10-single.conf").write_text(json.dumps({"cniVersion": "0.4.0", "name": "single", "type": "bridge",
                                                  "bridge": "cni0"}))
    (d / "20-list.conflist").write_text(json.dumps(CONFLIST))
    (d / "30-broken.conflist").write_text("{nope")
    (d / "README").write_text("not a config")
    confs = cnimod.network_configs(str(d))
    assert [c["name"] for c in confs] == ["single", "testnet"]
    assert confs[0] == {"cniVersion": "0.4.0", "name": "single", "plugins": [{"type": "bridge", "bridge": "cni0"}]}
    with pytest.raises(Exception, match="not JSON"):
        cnimod.load_network_config(str(d / "30-broken.conflist"))
    assert cnimod.network_configs(str(tmp_path / "missing")) == []


def test_summarize_result_versions() -> None:
    v040 = {"cniVersion": "0.4.0",
            "interfaces": [{"name": "cni0", "mac": "aa"}, {"name": "veth1", "mac": "bb"},
                           {"name": "eth0", "mac": "cc", "sandbox": "/ns"}],
            "ips": [{"version": "6", "address": "fd00::5/64", "interface": 2},
                    {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}]}
    s = summarize("n", "eth0", v040)
    assert (s.ip, s.prefixlen, s.gateway, s.mac) == ("10.1.0.5", 16, "10.1.0.1", "cc")
    legacy = {"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.7/24", "gateway": "10.2.0.1"}}
    assert summarize("n", "eth0", legacy).ip == "10.2.0.7"
    assert summarize("n", "eth0", {"cniVersion": "1.0.0"}).ip == ""


def test_setup_and_teardown_several_lists(env: tuple[CNI, Path]) -> None:
    cni, log = env
    second = json.loads(json.dumps(CONFLIST))
    second["name"] = "other"
    second["plugins"][0]["ipam"]["ranges"] = [[{"subnet": "10.98.0.0/24", "gateway": "10.98.0.1"}]]
    got = cni.setup([CONFLIST, second], "pod1", "/ns/pod1", args=[("K8S_POD_NAME", "p")],
                    capability_args={"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "tcp"}]})
    assert [(r.network, r.ifname, r.ip) for r in got] == [("testnet", "eth0", "10.99.0.2"), ("other", "eth1", "10.98.0.2")]
    assert {c["env"]["CNI_ARGS"] for c in read_log(log)} == {"K8S_POD_NAME=p"}
    log.unlink()
    cni.teardown("pod1", "/ns/pod1")
    calls = read_log(log)
    assert sorted({(c["stdin"]["name"], c["env"]["CNI_IFNAME"]) for c in calls}) == [("other", "eth1"), ("testnet", "eth0")]
    assert all(c["command"] == "DEL" for c in calls)
    assert cni.cached("testnet", "pod1", "eth0") is None and cni.cached("other", "pod1", "eth1") is None
    cni.teardown("pod1", "/ns/pod1")  # nothing left: no-op
    # a failing second list rolls back the first
    bad = json.loads(json.dumps(second))
    bad["plugins"][0]["fakeFail"] = {"ADD": "nope"}
    with pytest.raises(PluginError, match='network "other"'):
        cni.setup([CONFLIST, bad], "pod2", "/ns/pod2")
    assert cni.cached("testnet", "pod2", "eth0") is None
