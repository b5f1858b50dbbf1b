"""OCI specs for pod sandboxes (the pause) and their containers, from CRI configs.

Pure functions of the CRI request, the image config and what the sandbox holds (namespace
paths, pod files), so every rule is unit-tested without a daemon.  The rules are the CRI's:

* command/args (Kubernetes): ``command`` replaces the image ENTRYPOINT (and drops its CMD);
  ``args`` alone replace CMD; neither: ENTRYPOINT + CMD;
* namespaces: network, IPC and UTS are the pause's (by path) unless NODE (the host's);
  PID is a new one for CONTAINER, the pause's for POD (the proto's zero value), the host's for
  NODE, another container's for TARGET;
* user: run_as_user / run_as_username / run_as_group, else the image's USER; the supplemental
  groups are added to the image's;
* security: capabilities add/drop (``ALL`` understood), privileged (all caps, no masked or
  read-only paths, rw sysfs, every device), read-only rootfs, no_new_privs (false unless asked,
  as containerd), seccomp RuntimeDefault / Unconfined / Localhost, masked and read-only paths
  as kubelet sends them;
* resources: cpu period/quota/shares, cpuset, memory, hugepages; ``oom_score_adj`` is raised
  to the daemon's own value when ``restrict_oom_score_adj`` is set (a process without
  CAP_SYS_RESOURCE may not lower it).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from typing import Any

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.ctr import spec as ctrspec
from seabox.errdefs import InvalidArgument, NotFound

POD, CONTAINER, NODE, TARGET = cri.POD, cri.CONTAINER, cri.NODE, cri.TARGET


@dataclass
class SandboxView:
    """What a container needs of its sandbox."""

    id: str
    pid: int  # the pause's pid (for ipc/uts/pid paths)
    netns: str  # "" = host network
    host_ipc: bool = False
    host_pid: bool = False
    cgroup_parent: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_path: str = ""
    sandbox_pid_ns: str = ""
    target_pid_ns: str = ""  # NamespaceOption TARGET: /proc/<target's pid>/ns/pid


@dataclass
class Limits:
    restrict_oom_score_adj: bool = False
    own_oom_score_adj: int = 0
    seccomp_default: dict[str, Any] | None = None
    enable_seccomp_default: bool = False


def own_oom_score_adj() -> int:
    try:
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def k8s_args(image_cfg: dict[str, Any], command: list[str], args: list[str]) -> list[str]:
    entry = list(image_cfg.get("Entrypoint") or [])
    cmd = list(image_cfg.get("Cmd") or [])
    if command:
        return list(command) + list(args)
    if args:
        return entry + list(args)
    return entry + cmd


def cgroups_path(parent: str, cid: str, namespace: str = "k8s.io") -> str:
    if parent:
        return parent.rstrip("/") + "/" + cid
    return f"/{namespace}/{cid}"


def _ns(kind: str, path: str = "") -> dict[str, str]:
    return {"type": kind, "path": path} if path else {"type": kind}


def _seccomp(profile: cri.SecurityProfile | None, legacy: str, limits: Limits, what: str) -> dict[str, Any] | None:
    """The OCI seccomp section for a CRI profile (None = unconfined)."""
    if profile is not None:
        t = profile.profile_type
        if t == cri.SecurityProfile.Unconfined:
            return None
        if t == cri.SecurityProfile.RuntimeDefault:
            return limits.seccomp_default
        if t == cri.SecurityProfile.Localhost:
            return _localhost_profile(profile.localhost_ref, what)
    if legacy:
        if legacy in ("unconfined", ""):
            return None
        if legacy in ("runtime/default", "docker/default"):
            return limits.seccomp_default
        if legacy.startswith("localhost/"):
            return _localhost_profile(legacy[len("localhost/"):], what)
        raise InvalidArgument(f'{what}: seccomp profile "{legacy}": unknown')
    return limits.seccomp_default if limits.enable_seccomp_default else None


def _localhost_profile(path: str, what: str) -> dict[str, Any]:
    if not path.startswith("/"):
        raise InvalidArgument(f'{what}: seccomp localhost profile "{path}": must be an absolute path')
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise NotFound(f'{what}: seccomp profile "{path}": not found')
    except (OSError, ValueError) as e:
        raise InvalidArgument(f'{what}: seccomp profile "{path}": {e}')
    if "archMap" in doc:
        from seabox.engine.spec import oci_seccomp

        return oci_seccomp(doc)
    return dict(doc)


def _resources(r: cri.LinuxContainerResources, limits: Limits) -> tuple[dict[str, Any], int | None]:
    """OCI linux.resources (without devices) and the process oom_score_adj."""
    out: dict[str, Any] = {}
    cpu: dict[str, Any] = {}
    if r.cpu_period:
        cpu["period"] = int(r.cpu_period)
    if r.cpu_quota:
        cpu["quota"] = int(r.cpu_quota)
    if r.cpu_shares:
        cpu["shares"] = int(r.cpu_shares)
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.memory_limit_in_bytes:
        out["memory"] = {"limit": int(r.memory_limit_in_bytes)}
        if r.memory_swap_limit_in_bytes:
            out["memory"]["swap"] = int(r.memory_swap_limit_in_bytes)
    if r.hugepage_limits:
        out["hugepageLimits"] = [{"pageSize": h.page_size, "limit": int(h.limit)} for h in r.hugepage_limits]
    if r.unified:
        out["unified"] = dict(r.unified)
    oom: int | None = int(r.oom_score_adj) if r.oom_score_adj else None
    if limits.restrict_oom_score_adj:
        base = limits.own_oom_score_adj
        oom = max(oom if oom is not None else base, base)
    return out, oom


def resources_update(r: cri.LinuxContainerResources, limits: Limits) -> dict[str, Any]:
    """OCI resources for UpdateContainerResources (the task update)."""
    out, _ = _resources(r, limits)
    return out


def pause_spec(sandbox_id: str, config: cri.PodSandboxConfig, rootfs: str, netns: str, limits: Limits,
               args: list[str], namespace: str = "k8s.io") -> dict[str, Any]:
    s = ctrspec.default_spec(namespace, sandbox_id)
    p = s["process"]
    p["args"] = list(args)
    p["cwd"] = "/"
    p["env"] = [ctrspec.DEFAULT_PATH]
    # pause needs no privileges at all
    p["capabilities"] = {"bounding": [], "effective": [], "permitted": []}
    p["noNewPrivileges"] = True
    s["root"] = {"path": rootfs, "readonly": True}
    linux = s["linux"]
    sc = config.linux.security_context
    nso = sc.namespace_options
    nss = [_ns("mount"), _ns("uts")]
    if nso.network != NODE:
        nss.append(_ns("network", netns))
    if nso.ipc != NODE:
        nss.append(_ns("ipc"))
    if nso.pid != NODE:
        nss.append(_ns("pid"))
    linux["namespaces"] = nss
    if nso.network != NODE:
        s["hostname"] = config.hostname or sandbox_id[:12]
    linux["cgroupsPath"] = cgroups_path(config.linux.cgroup_parent, sandbox_id, namespace)
    sysctls = {k: v for k, v in config.linux.sysctls.items() if not (k.startswith("net.") and netns)}
    if sysctls:  # net.* of a pod network are written by the CRI into the netns it made
        linux["sysctl"] = sysctls
    if sc.HasField("run_as_user"):
        p["user"]["uid"] = int(sc.run_as_user.value)
    if sc.HasField("run_as_group"):
        p["user"]["gid"] = int(sc.run_as_group.value)
    seccomp = _seccomp(sc.seccomp if sc.HasField("seccomp") else None, sc.seccomp_profile_path, limits,
                       f'sandbox "{sandbox_id}"')
    if seccomp is not None:
        linux["seccomp"] = seccomp
    res, oom = _resources(config.linux.resources, limits) if config.linux.HasField("resources") else ({}, None)
    linux["resources"].update(res)
    if limits.restrict_oom_score_adj:
        p["oomScoreAdj"] = max(-998, limits.own_oom_score_adj)
    elif oom is not None:
        p["oomScoreAdj"] = oom
    else:
        p["oomScoreAdj"] = -998  # containerd's default for the pause
    if limits.restrict_oom_score_adj and p["oomScoreAdj"] < limits.own_oom_score_adj:
        p["oomScoreAdj"] = limits.own_oom_score_adj
    s["annotations"] = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": sandbox_id,
                        "io.kubernetes.cri.sandbox-name": config.metadata.name,
                        "io.kubernetes.cri.sandbox-namespace": config.metadata.namespace}
    return s


def _device(d: cri.Device) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        st = os.stat(d.host_path)
    except FileNotFoundError:
        raise NotFound(f'device "{d.host_path}": not found')
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f'device "{d.host_path}": not a device')
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    dev = {"path": d.container_path or d.host_path, "type": kind, "major": major, "minor": minor,
           "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": d.permissions or "rwm"}
    return dev, rule


def _norm_cap(c: str) -> str:
    c = c.upper()
    return c if c.startswith("CAP_") else "CAP_" + c


_PROPAGATION = {cri.PROPAGATION_PRIVATE: "rprivate", cri.PROPAGATION_HOST_TO_CONTAINER: "rslave",
                cri.PROPAGATION_BIDIRECTIONAL: "rshared"}


def container_spec(cid: str, config: cri.ContainerConfig, sandbox: SandboxView, image_cfg: dict[str, Any],
                   limits: Limits, *, passwd: str | None = None, group: str | None = None,
                   privileged_caps: list[str] | None = None, namespace: str = "k8s.io") -> dict[str, Any]:
    what = f'container "{config.metadata.name or cid}"'
    s = ctrspec.default_spec(namespace, cid)
    p = s["process"]
    args = k8s_args(image_cfg, list(config.command), list(config.args))
    if not args:
        raise InvalidArgument(f"{what}: no command specified")
    p["args"] = args
    p["env"] = ctrspec.replace_or_append_env(p["env"], list(image_cfg.get("Env") or []))
    p["env"] = ctrspec.replace_or_append_env(p["env"], [f"{e.key}={e.value}" for e in config.envs])
    p["cwd"] = config.working_dir or image_cfg.get("WorkingDir") or "/"
    p["terminal"] = bool(config.tty)
    if config.tty:
        p["env"] = ctrspec.replace_or_append_env(p["env"], ["TERM=xterm"])
    lsc = config.linux.security_context
    # user
    user = str(image_cfg.get("User") or "")
    if lsc.run_as_username:
        user = lsc.run_as_username
    elif lsc.HasField("run_as_user"):
        user = str(lsc.run_as_user.value)
    if lsc.HasField("run_as_group"):
        user = (user.partition(":")[0] or "0") + f":{lsc.run_as_group.value}"
    uid, gid, extra = ctrspec.resolve_user(user or "0", passwd, group)
    extra = list(extra)
    for g in lsc.supplemental_groups:
        if int(g) not in extra:
            extra.append(int(g))
    p["user"] = {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}
    linux = s["linux"]
    linux["cgroupsPath"] = cgroups_path(sandbox.cgroup_parent, cid, namespace)
    # namespaces
    nso = lsc.namespace_options
    nss = [_ns("mount")]
    if sandbox.netns:
        nss.append(_ns("network", sandbox.netns))
    if not sandbox.host_ipc:
        nss.append(_ns("ipc", f"/proc/{sandbox.pid}/ns/ipc"))
    nss.append(_ns("uts", f"/proc/{sandbox.pid}/ns/uts"))
    if nso.pid == CONTAINER:
        nss.append(_ns("pid"))
    elif nso.pid == POD and not sandbox.host_pid:
        nss.append(_ns("pid", sandbox.sandbox_pid_ns or f"/proc/{sandbox.pid}/ns/pid"))
    elif nso.pid == TARGET:
        if not sandbox.target_pid_ns:
            raise InvalidArgument(f"{what}: pid namespace TARGET needs a running target_id container")
        nss.append(_ns("pid", sandbox.target_pid_ns))
    linux["namespaces"] = nss
    s.pop("hostname", None)
    # pod files
    for dst, src in (("/etc/hostname", sandbox.hostname_path), ("/etc/hosts", sandbox.hosts_path),
                     ("/etc/resolv.conf", sandbox.resolv_path)):
        if src and not any(m.container_path == dst for m in config.mounts):
            s["mounts"].append({"destination": dst, "type": "bind", "source": src,
                                "options": ["rbind", "rprivate", "ro" if lsc.readonly_rootfs else "rw"]})
    for m in config.mounts:
        if not m.container_path.startswith("/"):
            raise InvalidArgument(f'{what}: mount "{m.container_path}": destination must be absolute')
        if not os.path.exists(m.host_path):
            os.makedirs(m.host_path, exist_ok=True)  # kubelet's hostPath DirectoryOrCreate; containerd does too
        s["mounts"] = [x for x in s["mounts"] if x["destination"] != m.container_path]
        opts = ["rbind", _PROPAGATION.get(m.propagation, "rprivate"), "ro" if m.readonly else "rw"]
        s["mounts"].append({"destination": m.container_path, "type": "bind", "source": m.host_path, "options": opts})
    # devices
    devices: list[dict[str, Any]] = []
    rules = linux["resources"]["devices"]
    for d in config.devices:
        dev, rule = _device(d)
        devices.append(dev)
        rules.append(rule)
    if devices:
        linux["devices"] = devices
    # capabilities and privileges
    caps = p["capabilities"]
    if lsc.privileged:
        ctrspec.make_privileged(s, privileged_caps)
    else:
        if lsc.masked_paths:
            linux["maskedPaths"] = list(lsc.masked_paths)
        if lsc.readonly_paths:
            linux["readonlyPaths"] = list(lsc.readonly_paths)
    capc = lsc.capabilities
    drops = [_norm_cap(c) for c in capc.drop_capabilities]
    adds = [_norm_cap(c) for c in capc.add_capabilities]
    if "CAP_ALL" in drops:
        for k in caps:
            caps[k] = []
    else:
        for k in caps:
            caps[k] = [c for c in caps[k] if c not in drops]
    if "CAP_ALL" in adds:
        adds = list(ctrspec.ALL_CAPS)
    for k in ("bounding", "effective", "permitted"):
        for c in adds:
            if c not in caps.setdefault(k, []):
                caps[k].append(c)
    if capc.add_ambient_capabilities:
        caps["ambient"] = [_norm_cap(c) for c in capc.add_ambient_capabilities]
        caps["inheritable"] = list(caps["ambient"])
    p["noNewPrivileges"] = bool(lsc.no_new_privs)
    if lsc.readonly_rootfs:
        s["root"]["readonly"] = True
    if not lsc.privileged:
        seccomp = _seccomp(lsc.seccomp if lsc.HasField("seccomp") else None, lsc.seccomp_profile_path, limits, what)
        if seccomp is not None:
            linux["seccomp"] = seccomp
    res, oom = _resources(config.linux.resources, limits)
    linux["resources"].update(res)
    if oom is not None:
        p["oomScoreAdj"] = oom
    s["annotations"] = {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": sandbox.id,
                        "io.kubernetes.cri.container-name": config.metadata.name,
                        **dict(config.annotations)}
    return s
