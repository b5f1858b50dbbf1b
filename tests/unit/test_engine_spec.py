"""Docker Config/HostConfig → OCI spec (pure)."""

from __future__ import annotations

import json

import pytest

from seabox import errdefs
from seabox.engine import spec as specs
from seabox.engine.spec import Inputs

IMG = {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"], "Env": ["PATH=/img/bin",
       "A=1"], "WorkingDir": "/srv", "User": ""}
PASSWD = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n"
GROUP = "root:x:0:\nweb:x:1001:\nextra:x:2000:web\n"


def _build(cfg: dict, host: dict | None = None, **inp: object) -> dict:
    return specs.build(cfg, host or {}, Inputs("default", "c" * 64, dict(IMG), **inp))  # type: ignore[arg-type]


@pytest.mark.parametrize(("cfg", "args"), [
    ({}, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    ({"Cmd": ["sh"]}, ["/docker-entrypoint.sh", "sh"]),
    ({"Entrypoint": ["/bin/echo"]}, ["/bin/echo"]),  # a new entrypoint drops the image's Cmd
    ({"Entrypoint": ["/bin/echo"], "Cmd": ["x"]}, ["/bin/echo", "x"]),
    ({"Entrypoint": [], "Cmd": ["ls"]}, ["ls"]),  # --entrypoint "" clears it
    ({"Cmd": "true"}, ["/docker-entrypoint.sh", "true"]),
])
def test_docker_command_rules(cfg: dict, args: list[str]) -> None:
    assert specs.command(IMG, cfg) == args
    assert _build(cfg)["process"]["args"] == args


def test_no_command_is_an_error() -> None:
    with pytest.raises(errdefs.InvalidArgument):
        specs.build({}, {}, Inputs("default", "c" * 64, {}))


def test_env_cwd_hostname_tty() -> None:
    s = _build({"Env": ["A=2", "B=3"], "Hostname": "web", "Tty": True, "WorkingDir": "/w"})
    env = s["process"]["env"]
    assert "PATH=/img/bin" in env and "A=2" in env and "A=1" not in env and "B=3" in env
    assert "HOSTNAME=web" in env and "TERM=xterm" in env
    assert s["hostname"] == "web" and s["process"]["cwd"] == "/w" and s["process"]["terminal"] is True
    assert _build({})["process"]["cwd"] == "/srv"


@pytest.mark.parametrize(("user", "want"), [
    ("1000", {"uid": 1000, "gid": 1001, "additionalGids": [2000]}),
    ("1000:5", {"uid": 1000, "gid": 5, "additionalGids": [2000]}),
    ("web", {"uid": 1000, "gid": 1001, "additionalGids": [2000]}),
    ("web:root", {"uid": 1000, "gid": 0, "additionalGids": [1001, 2000]}),
])
def test_user_forms(user: str, want: dict) -> None:
    s = _build({"User": user}, passwd=PASSWD, group=GROUP)
    got = s["process"]["user"]
    assert got["uid"] == want["uid"] and got["gid"] == want["gid"]
    assert 2000 in got.get("additionalGids", [])  # the image's /etc/group membership


def test_unknown_user_name_is_not_found() -> None:
    with pytest.raises(errdefs.NotFound):
        _build({"User": "nobody-here"}, passwd=PASSWD, group=GROUP)


def test_privileged_all_caps_devices_no_masks_no_seccomp() -> None:
    s = _build({}, {"Privileged": True}, seccomp={"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})
    caps = s["process"]["capabilities"]
    assert "CAP_SYS_ADMIN" in caps["bounding"] and "CAP_SYS_ADMIN" in caps["effective"]
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    assert "seccomp" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in s["linux"]["devices"])


def test_caps_add_drop_and_security_opts() -> None:
    s = _build({}, {"CapAdd": ["NET_ADMIN"], "CapDrop": ["chown"], "SecurityOpt": ["no-new-privileges"]},
               seccomp={"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})
    caps = s["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert s["process"]["noNewPrivileges"] is True
    assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    s = _build({}, {"SecurityOpt": ["seccomp=unconfined"]}, seccomp={"defaultAction": "SCMP_ACT_ERRNO"})
    assert "seccomp" not in s["linux"]
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    s = _build({}, {"SecurityOpt": ["seccomp=" + json.dumps(prof)]})
    assert s["linux"]["seccomp"]["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    with pytest.raises(errdefs.InvalidArgument):
        _build({}, {"SecurityOpt": ["bogus=1"]})


def test_resources_ulimits_readonly_shm() -> None:
    s = _build({}, {"Memory": 64 << 20, "NanoCpus": 1_500_000_000, "PidsLimit": 50, "ReadonlyRootfs": True,
                    "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "ShmSize": 1 << 20})
    res = s["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"quota": 150000, "period": 100000}
    assert res["pids"] == {"limit": 50}
    assert s["root"]["readonly"] is True
    assert {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100} in s["process"]["rlimits"]
    shm = next(m for m in s["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={1 << 20}" in shm["options"]
    with pytest.raises(errdefs.InvalidArgument):
        _build({}, {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]})


def test_network_namespace_and_managed_files() -> None:
    s = _build({}, netns_path="/run/x/netns/c", hosts_path="/h", resolv_path="/r", hostname_path="/n")
    assert {"type": "network", "path": "/run/x/netns/c"} in s["linux"]["namespaces"]
    dests = {m["destination"]: m["source"] for m in s["mounts"]}
    assert dests["/etc/hosts"] == "/h" and dests["/etc/resolv.conf"] == "/r" and dests["/etc/hostname"] == "/n"
    host = _build({}, host_network=True)
    assert all(n["type"] not in ("network", "uts") for n in host["linux"]["namespaces"])
    joined = _build({}, join_netns="/proc/1/ns/net")
    assert {"type": "network", "path": "/proc/1/ns/net"} in joined["linux"]["namespaces"]


def test_init_wraps_the_command() -> None:
    s = _build({"Cmd": ["sleep", "1"]}, {"Init": True}, init_path="/usr/bin/tini-static")
    assert s["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    assert any(m["destination"] == "/sbin/docker-init" and m["source"] == "/usr/bin/tini-static"
               for m in s["mounts"])


def test_default_seccomp_profile_is_an_allowlist() -> None:
    p = specs.default_seccomp()
    assert p["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {n for sc in p["syscalls"] if sc["action"] == "SCMP_ACT_ALLOW" for n in sc["names"]}
    assert {"read", "write", "openat", "execve", "clone"} <= allowed
    assert not {"mount", "kexec_load", "init_module", "reboot", "bpf", "unshare", "setns"} & allowed


def test_empty_entrypoint_string_clears_it() -> None:
    assert specs.command(IMG, {"Entrypoint": [""], "Cmd": ["ls"]}) == ["ls"]
    assert specs.command(IMG, {"Entrypoint": [""]}) == ["nginx", "-g", "daemon off;"]


def test_host_namespaces_sysctls_groups_devices() -> None:
    s = _build({}, {"PidMode": "host", "IpcMode": "host", "UTSMode": "host", "Sysctls": {"net.core.somaxconn": "512"},
                    "GroupAdd": ["extra", "7"], "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2",
                                                             "CgroupPermissions": "rw"}]},
               passwd=PASSWD, group=GROUP)
    kinds = {n["type"] for n in s["linux"]["namespaces"]}
    assert not {"pid", "ipc", "uts"} & kinds and "mount" in kinds
    assert s["linux"]["sysctl"] == {"net.core.somaxconn": "512"}
    assert {2000, 7} <= set(s["process"]["user"]["additionalGids"])
    dev = next(d for d in s["linux"]["devices"] if d["path"] == "/dev/n2")
    assert (dev["type"], dev["major"], dev["minor"]) == ("c", 1, 3)
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in s["linux"]["resources"]["devices"]
    with pytest.raises(errdefs.InvalidArgument):
        _build({}, {"Devices": [{"PathOnHost": "/nonexistent-device"}]})
