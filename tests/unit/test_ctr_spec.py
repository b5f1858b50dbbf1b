"""The spec seabox-ctr generates client side (containerd's default spec + image config + flags).

The interop test compares these specs with real ctr's; here each rule is checked on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seabox import errdefs
from seabox.ctr import spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nnobody:x:65534:65534::/:/bin/false\n"
GROUP = "root:x:0:\nwww:x:33:\nwheel:x:10:root,www\naudio:x:29:www\nnogroup:x:65534:\n"


def test_default_spec_shape() -> None:
    s = spec.default_spec("default", "c1")
    assert s["ociVersion"] == "1.0.2-dev"
    assert s["root"] == {"path": "rootfs"}
    assert s["linux"]["cgroupsPath"] == "/default/c1"
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount", "network"]
    assert [m["destination"] for m in s["mounts"]] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run"]
    p = s["process"]
    assert p["noNewPrivileges"] is True and p["cwd"] == "/" and p["env"] == [spec.DEFAULT_PATH]
    assert p["capabilities"]["bounding"] == spec.DEFAULT_CAPS and "inheritable" not in p["capabilities"]
    devs = s["linux"]["resources"]["devices"]
    assert devs[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 136, "access": "rwm"} in devs


def test_image_config_then_flags() -> None:
    cfg = {"Env": ["PATH=/bin", "A=1"], "Entrypoint": ["/entry"], "Cmd": ["arg"], "WorkingDir": "/w", "User": "www"}
    s = spec.build("ns", "c", cfg, spec.SpecOptions(), passwd=PASSWD, group=GROUP)
    p = s["process"]
    assert p["args"] == ["/entry", "arg"]
    assert p["env"] == ["PATH=/bin", "A=1"]
    assert p["cwd"] == "/w"
    assert p["user"] == {"uid": 33, "gid": 33, "additionalGids": [33, 10, 29]}
    s = spec.build("ns", "c", cfg, spec.SpecOptions(args=["sh"], env=["A=2", "B=3"], cwd="/tmp", tty=True, user="0:0"),
                   passwd=PASSWD, group=GROUP)  # fmt: skip
    p = s["process"]
    assert p["args"] == ["sh"] and p["cwd"] == "/tmp" and p["terminal"] is True
    assert p["env"] == ["PATH=/bin", "A=2", "B=3", "TERM=xterm"]
    assert p["user"] == {"uid": 0, "gid": 0, "additionalGids": [0, 10]}


def test_root_gets_its_primary_gid_as_additional() -> None:
    s = spec.build("ns", "c", {"Cmd": ["sh"]}, spec.SpecOptions(), passwd=None, group=None)
    assert s["process"]["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}


def test_resolve_user_errors() -> None:
    with pytest.raises(errdefs.NotFound, match="unable to find user ghost"):
        spec.resolve_user("ghost", PASSWD, GROUP)
    with pytest.raises(errdefs.NotFound, match="unable to find group nogrp"):
        spec.resolve_user("www:nogrp", PASSWD, GROUP)
    assert spec.resolve_user("1234", PASSWD, GROUP) == (1234, 0, [0])
    assert spec.resolve_user("www:wheel", PASSWD, GROUP) == (33, 10, [10, 29])


def test_env_replace_or_append() -> None:
    assert spec.replace_or_append_env(["A=1", "B=2"], ["B=3", "C=4", "A"]) == ["B=3", "C=4"]


def test_resources_namespaces_and_mounts() -> None:
    opts = spec.SpecOptions(
        memory_limit=64 << 20, cpus=0.5, net_host=True, read_only=True, allow_new_privs=True,
        mounts=[spec.parse_mount("type=bind,src=/tmp,dst=/host,options=rbind:ro")], cap_add=["NET_ADMIN"],
        cap_drop=["CAP_KILL"], annotations={"a": "b"},
    )  # fmt: skip
    s = spec.build("ns", "c", {"Cmd": ["sh"]}, opts, host_hostname="h1")
    assert s["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert s["linux"]["resources"]["cpu"] == {"quota": 50000, "period": 100000}
    assert "network" not in [n["type"] for n in s["linux"]["namespaces"]]
    assert {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]} in s["mounts"]
    assert s["mounts"][-1] == {"destination": "/host", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]}
    assert "HOSTNAME=h1" in s["process"]["env"]
    assert s["root"]["readonly"] is True and s["process"]["noNewPrivileges"] is False
    caps = s["process"]["capabilities"]
    assert "CAP_NET_ADMIN" in caps["bounding"] and "CAP_KILL" not in caps["effective"]
    assert s["annotations"] == {"a": "b"}


def test_privileged() -> None:
    s = spec.build("ns", "c", {"Cmd": ["sh"]}, spec.SpecOptions(privileged=True), privileged_caps=["CAP_SYS_ADMIN"])
    assert s["process"]["capabilities"]["bounding"] == ["CAP_SYS_ADMIN"]
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in s["mounts"] if m["type"] == "sysfs")
    assert sysfs["options"] == ["nosuid", "noexec", "nodev", "rw"]


def test_current_caps_reads_the_mask(tmp_path: Path) -> None:
    f = tmp_path / "status"
    f.write_text("Name:\tx\nCapEff:\t0000000000000009\n")
    assert spec.current_caps(str(f)) == ["CAP_CHOWN", "CAP_FOWNER"]


@pytest.mark.parametrize("bad", ["src=/a", "type=bind,dst", "type=bind,dst=/x,bogus=1"])
def test_parse_mount_rejects(bad: str) -> None:
    with pytest.raises(errdefs.InvalidArgument):
        spec.parse_mount(bad)


def test_exec_process_takes_the_containers_process() -> None:
    s = spec.build("ns", "c", {"Cmd": ["sh"], "Env": ["X=1"]}, spec.SpecOptions(tty=True))
    p = spec.exec_process(s, ["ls", "-l"], tty=False, cwd="/etc")
    assert p["args"] == ["ls", "-l"] and p["terminal"] is False and p["cwd"] == "/etc"
    assert "X=1" in p["env"]
    assert s["process"]["args"] == ["sh"]  # the container's own spec is untouched
