"""OCI specs from CRI configs: Kubernetes command rules, namespaces, security, resources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.cri import spec as specs
from seabox.errdefs import InvalidArgument, NotFound

IMG = {"Entrypoint": ["/entry"], "Cmd": ["default-arg"], "Env": ["PATH=/img/bin", "A=1"], "WorkingDir": "/srv",
       "User": "1000:1000"}
SB = specs.SandboxView("sb1", 4242, "/run/netns/x", cgroup_parent="/kubepods/pod1", hostname_path="/p/hostname",
                       hosts_path="/p/hosts", resolv_path="/p/resolv.conf")
PASSWD = "root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\n"
GROUP = "root:x:0:\nweb:x:33:\nextra:x:44:web\n"


def _cfg(**kw: object) -> cri.ContainerConfig:
    c = cri.ContainerConfig(metadata=cri.ContainerMetadata(name="c"), image=cri.ImageSpec(image="img"))
    for k, v in kw.items():
        if k == "sc":
            c.linux.security_context.CopyFrom(v)  # type: ignore[arg-type]
        elif k == "res":
            c.linux.resources.CopyFrom(v)  # type: ignore[arg-type]
        elif isinstance(v, list):
            getattr(c, k).extend(v)
        else:
            setattr(c, k, v)
    return c


def _spec(c: cri.ContainerConfig, limits: specs.Limits | None = None, img: dict | None = None) -> dict:
    return specs.container_spec("cid", c, SB, IMG if img is None else img, limits or specs.Limits(),
                                passwd=PASSWD, group=GROUP, privileged_caps=["CAP_A", "CAP_B"])


@pytest.mark.parametrize(("command", "args", "want"), [
    ([], [], ["/entry", "default-arg"]),
    (["/bin/sh"], [], ["/bin/sh"]),
    (["/bin/sh"], ["-c", "x"], ["/bin/sh", "-c", "x"]),
    ([], ["other"], ["/entry", "other"]),
])
def test_kubernetes_command_rules(command: list[str], args: list[str], want: list[str]) -> None:
    assert specs.k8s_args(IMG, command, args) == want
    assert _spec(_cfg(command=command, args=args))["process"]["args"] == want


def test_no_command_at_all_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        _spec(_cfg(), img={})


def test_env_cwd_user_from_image_and_config() -> None:
    s = _spec(_cfg(envs=[cri.KeyValue(key="A", value="2"), cri.KeyValue(key="B", value="3")], working_dir="/w"))
    p = s["process"]
    assert "A=2" in p["env"] and "B=3" in p["env"] and "PATH=/img/bin" in p["env"] and "A=1" not in p["env"]
    assert p["cwd"] == "/w"
    assert (p["user"]["uid"], p["user"]["gid"]) == (1000, 1000)
    assert _spec(_cfg())["process"]["cwd"] == "/srv"


def test_run_as_user_name_group_and_supplemental_groups() -> None:
    s = _spec(_cfg(sc=cri.LinuxContainerSecurityContext(run_as_username="web", supplemental_groups=[5000])))
    u = s["process"]["user"]
    assert (u["uid"], u["gid"]) == (33, 33) and 44 in u["additionalGids"] and 5000 in u["additionalGids"]
    s = _spec(_cfg(sc=cri.LinuxContainerSecurityContext(run_as_user=cri.Int64Value(value=7),
                                                        run_as_group=cri.Int64Value(value=8))))
    assert (s["process"]["user"]["uid"], s["process"]["user"]["gid"]) == (7, 8)
    with pytest.raises(NotFound):
        _spec(_cfg(sc=cri.LinuxContainerSecurityContext(run_as_username="nobody-here")))


def _ns(s: dict) -> dict[str, str]:
    return {n["type"]: n.get("path", "") for n in s["linux"]["namespaces"]}


def test_namespaces_join_the_pause() -> None:
    ns = _ns(_spec(_cfg()))
    assert ns["network"] == "/run/netns/x" and ns["ipc"] == "/proc/4242/ns/ipc" and ns["uts"] == "/proc/4242/ns/uts"
    assert ns["pid"] == "/proc/4242/ns/pid"  # POD is the proto's zero value
    assert ns["mount"] == ""
    ns = _ns(_spec(_cfg(sc=cri.LinuxContainerSecurityContext(namespace_options=cri.NamespaceOption(pid=cri.CONTAINER)))))
    assert ns["pid"] == ""
    ns = _ns(_spec(_cfg(sc=cri.LinuxContainerSecurityContext(namespace_options=cri.NamespaceOption(pid=cri.NODE)))))
    assert "pid" not in ns
    with pytest.raises(InvalidArgument):
        _spec(_cfg(sc=cri.LinuxContainerSecurityContext(namespace_options=cri.NamespaceOption(pid=cri.TARGET))))
    t = specs.SandboxView("sb", 1, "/n", target_pid_ns="/proc/77/ns/pid")
    c = _cfg(sc=cri.LinuxContainerSecurityContext(namespace_options=cri.NamespaceOption(pid=cri.TARGET, target_id="x")))
    assert _ns(specs.container_spec("c", c, t, IMG, specs.Limits(), passwd=PASSWD, group=GROUP))["pid"] == \
        "/proc/77/ns/pid"
    host = specs.SandboxView("sb", 1, "", host_ipc=True)
    ns = _ns(specs.container_spec("c", _cfg(), host, IMG, specs.Limits(), passwd=PASSWD, group=GROUP))
    assert "network" not in ns and "ipc" not in ns


def test_pod_files_cgroup_and_mounts(tmp_path: Path) -> None:
    src = tmp_path / "data"
    s = _spec(_cfg(mounts=[cri.Mount(container_path="/data", host_path=str(src), readonly=True,
                                     propagation=cri.PROPAGATION_HOST_TO_CONTAINER)]))
    m = {x["destination"]: x for x in s["mounts"]}
    assert m["/etc/resolv.conf"]["source"] == "/p/resolv.conf" and m["/etc/hosts"]["source"] == "/p/hosts"
    assert m["/data"]["options"] == ["rbind", "rslave", "ro"] and src.is_dir()
    assert s["linux"]["cgroupsPath"] == "/kubepods/pod1/cid"
    assert "hostname" not in s
    with pytest.raises(InvalidArgument):
        _spec(_cfg(mounts=[cri.Mount(container_path="rel", host_path=str(src))]))


def test_devices() -> None:
    s = _spec(_cfg(devices=[cri.Device(container_path="/dev/mynull", host_path="/dev/null", permissions="rw")]))
    d = s["linux"]["devices"][0]
    assert (d["path"], d["type"], d["major"], d["minor"]) == ("/dev/mynull", "c", 1, 3)
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in s["linux"]["resources"]["devices"]
    with pytest.raises(NotFound):
        _spec(_cfg(devices=[cri.Device(container_path="/dev/x", host_path="/dev/does-not-exist")]))


def test_capabilities_privileged_readonly_nnp_paths() -> None:
    s = _spec(_cfg(sc=cri.LinuxContainerSecurityContext(
        capabilities=cri.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["chown"]),
        readonly_rootfs=True, no_new_privs=True, masked_paths=["/proc/x"], readonly_paths=["/proc/y"])))
    caps = s["process"]["capabilities"]
    assert "CAP_NET_ADMIN" in caps["bounding"] and "CAP_CHOWN" not in caps["effective"]
    assert s["root"]["readonly"] is True and s["process"]["noNewPrivileges"] is True
    assert s["linux"]["maskedPaths"] == ["/proc/x"] and s["linux"]["readonlyPaths"] == ["/proc/y"]
    assert _spec(_cfg())["process"]["noNewPrivileges"] is False  # containerd: only when asked
    s = _spec(_cfg(sc=cri.LinuxContainerSecurityContext(capabilities=cri.Capability(drop_capabilities=["ALL"]))))
    assert s["process"]["capabilities"]["bounding"] == []
    s = _spec(_cfg(sc=cri.LinuxContainerSecurityContext(privileged=True)))
    assert s["process"]["capabilities"]["bounding"] == ["CAP_A", "CAP_B"]
    assert "maskedPaths" not in s["linux"] and s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_seccomp_profiles(tmp_path: Path) -> None:
    default = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    lim = specs.Limits(seccomp_default=default)
    assert "seccomp" not in _spec(_cfg(), lim)["linux"]  # no profile: unconfined (containerd's default)
    rd = cri.SecurityProfile(profile_type=cri.SecurityProfile.RuntimeDefault)
    assert _spec(_cfg(sc=cri.LinuxContainerSecurityContext(seccomp=rd)), lim)["linux"]["seccomp"] == default
    un = cri.SecurityProfile(profile_type=cri.SecurityProfile.Unconfined)
    assert "seccomp" not in _spec(_cfg(sc=cri.LinuxContainerSecurityContext(seccomp=un)), lim)["linux"]
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}))
    lh = cri.SecurityProfile(profile_type=cri.SecurityProfile.Localhost, localhost_ref=str(prof))
    assert _spec(_cfg(sc=cri.LinuxContainerSecurityContext(seccomp=lh)), lim)["linux"]["seccomp"]["defaultAction"] \
        == "SCMP_ACT_ALLOW"
    missing = cri.SecurityProfile(profile_type=cri.SecurityProfile.Localhost, localhost_ref=str(tmp_path / "no"))
    with pytest.raises(NotFound):
        _spec(_cfg(sc=cri.LinuxContainerSecurityContext(seccomp=missing)), lim)
    assert _spec(_cfg(sc=cri.LinuxContainerSecurityContext(seccomp_profile_path="runtime/default")),
                 lim)["linux"]["seccomp"] == default


def test_resources_and_restricted_oom_score_adj() -> None:
    res = cri.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                      memory_limit_in_bytes=64 << 20, cpuset_cpus="0", oom_score_adj=-500)
    s = _spec(_cfg(res=res))
    r = s["linux"]["resources"]
    assert r["cpu"] == {"period": 100000, "quota": 50000, "shares": 512, "cpus": "0"}
    assert r["memory"] == {"limit": 64 << 20}
    assert s["process"]["oomScoreAdj"] == -500
    s = _spec(_cfg(res=res), specs.Limits(restrict_oom_score_adj=True, own_oom_score_adj=-100))
    assert s["process"]["oomScoreAdj"] == -100  # may not go below the daemon's own
    res.oom_score_adj = 900
    s = _spec(_cfg(res=res), specs.Limits(restrict_oom_score_adj=True, own_oom_score_adj=-100))
    assert s["process"]["oomScoreAdj"] == 900


def test_pause_spec() -> None:
    cfg = cri.PodSandboxConfig(metadata=cri.PodSandboxMetadata(name="p", namespace="ns"), hostname="h")
    cfg.linux.sysctls["net.ipv4.ip_forward"] = "1"
    cfg.linux.sysctls["kernel.shm_rmid_forced"] = "1"
    cfg.linux.cgroup_parent = "/kubepods"
    s = specs.pause_spec("sb", cfg, "/pause/rootfs", "/run/netns/sb", specs.Limits(restrict_oom_score_adj=True,
                                                                                  own_oom_score_adj=0), ["/bin/x"])
    assert s["hostname"] == "h" and s["root"] == {"path": "/pause/rootfs", "readonly": True}
    assert _ns(s) == {"mount": "", "uts": "", "network": "/run/netns/sb", "ipc": "", "pid": ""}
    assert s["linux"]["sysctl"] == {"kernel.shm_rmid_forced": "1"}  # net.* are written into the netns by the CRI
    assert s["linux"]["cgroupsPath"] == "/kubepods/sb"
    assert s["process"]["oomScoreAdj"] == 0 and s["process"]["capabilities"]["bounding"] == []
    cfg.linux.security_context.namespace_options.network = cri.NODE
    s = specs.pause_spec("sb", cfg, "/r", "", specs.Limits(), ["/bin/x"])
    assert "network" not in _ns(s) and "hostname" not in s and s["process"]["oomScoreAdj"] == -998
