"""Docker's Config/HostConfig → an OCI runtime spec.

Design reason: pure data in, dict out, so every docker flag's effect is unit tested without
a daemon.  The base is containerd's default spec (``seabox.ctr.spec``) with the image config
applied the way dockerd does it (Entrypoint/Cmd rules below); then HostConfig.  What needs
I/O is passed in: the image's /etc/passwd and /etc/group text (for a user *name*), the
network namespace path and the managed hosts/resolv/hostname files, the volume mount sources.

Docker's command rules: ``Config.Entrypoint`` given → the image's Cmd is dropped unless
``Config.Cmd`` is given too; ``Config.Cmd`` given → replaces the image's Cmd; the process is
Entrypoint + Cmd.  Env: the image's, then the request's (same key replaces), HOSTNAME set.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.ctr import spec as ctrspec

ULIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack", "as"}


def command(image_cfg: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd by docker's rules."""
    ep = cfg.get("Entrypoint")
    cmd = cfg.get("Cmd")
    if isinstance(ep, str):
        ep = [ep]
    if isinstance(cmd, str):
        cmd = [cmd]
    if ep == [""]:  # ``--entrypoint ""``: clear the image's entrypoint
        ep = []
    if ep is None or ep == []:
        entry = list(image_cfg.get("Entrypoint") or []) if ep is None else []
        c = list(cmd) if cmd else list(image_cfg.get("Cmd") or [])
        if ep == [] and not cmd:
            c = list(image_cfg.get("Cmd") or [])
    else:
        entry = list(ep)
        c = list(cmd or [])
    return entry + c


def merge_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    return ctrspec.replace_or_append_env(list(base), list(extra))


def _devices_all() -> list[dict[str, Any]]:
    return [{"allow": True, "access": "rwm"}]


@dataclass
class Inputs:
    """What the spec needs besides the request: I/O done by the caller."""

    namespace: str
    container_id: str
    image_config: dict[str, Any]
    passwd: str | None = None
    group: str | None = None
    netns_path: str = ""  # "" with NetworkMode none/host or container:<id> given separately
    host_network: bool = False
    join_netns: str = ""  # container:<id>: its netns path
    hosts_path: str = ""
    resolv_path: str = ""
    hostname_path: str = ""
    mounts: list[dict[str, Any]] = field(default_factory=list)  # resolved volume/bind/tmpfs mounts
    init_path: str = ""
    seccomp: dict[str, Any] | None = None  # the default profile, already loaded


def build(cfg: dict[str, Any], host: dict[str, Any], inp: Inputs) -> dict[str, Any]:
    """The OCI spec for a docker container."""
    s = ctrspec.default_spec(inp.namespace, inp.container_id)
    p = s["process"]
    linux = s["linux"]
    img = inp.image_config or {}
    args = command(img, cfg)
    if not args:
        raise errdefs.InvalidArgument(f'container "{inp.container_id}": no command specified')
    if host.get("Init") and inp.init_path:
        args = ["/sbin/docker-init", "--", *args]
        inp.mounts.append({"destination": "/sbin/docker-init", "type": "bind", "source": inp.init_path,
                           "options": ["rbind", "ro"]})
    p["args"] = args
    hostname = cfg.get("Hostname") or inp.container_id[:12]
    env = merge_env(p["env"], list(img.get("Env") or []))
    env = merge_env(env, [f"HOSTNAME={hostname}"])
    env = merge_env(env, list(cfg.get("Env") or []))
    if cfg.get("Tty"):
        env = merge_env(env, ["TERM=xterm"])
    p["env"] = env
    p["cwd"] = cfg.get("WorkingDir") or img.get("WorkingDir") or "/"
    p["terminal"] = bool(cfg.get("Tty"))
    user = cfg.get("User") or img.get("User") or ""
    if user:
        uid, gid, extra = ctrspec.resolve_user(user, inp.passwd, inp.group)
        p["user"] = {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}
    p["noNewPrivileges"] = False
    s["hostname"] = hostname if not inp.host_network else os.uname().nodename

    # namespaces
    nss = [n for n in linux["namespaces"] if n["type"] != "network"]
    if inp.join_netns:
        nss.append({"type": "network", "path": inp.join_netns})
    elif inp.netns_path:
        nss.append({"type": "network", "path": inp.netns_path})
    elif not inp.host_network:
        nss.append({"type": "network"})
    if inp.host_network or host.get("UTSMode") == "host":
        nss = [n for n in nss if n["type"] != "uts"]
        s.pop("hostname", None)
    if host.get("PidMode") == "host":
        nss = [n for n in nss if n["type"] != "pid"]
    if host.get("IpcMode") == "host":
        nss = [n for n in nss if n["type"] != "ipc"]
    linux["namespaces"] = nss
    if host.get("Sysctls"):
        linux["sysctl"] = {str(k): str(v) for k, v in host["Sysctls"].items()}
    if host.get("GroupAdd"):
        u = p.setdefault("user", {"uid": 0, "gid": 0})
        extra = list(u.get("additionalGids") or [])
        for g in host["GroupAdd"]:
            gid = int(g) if str(g).isdigit() else _group_id(str(g), inp.group)
            if gid not in extra:
                extra.append(gid)
        u["additionalGids"] = extra

    # managed files
    for dest, src in (("/etc/hosts", inp.hosts_path), ("/etc/resolv.conf", inp.resolv_path),
                      ("/etc/hostname", inp.hostname_path)):
        if src:
            s["mounts"].append({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]})
    s["mounts"].extend(inp.mounts)

    # security
    caps = p["capabilities"]
    if host.get("Privileged"):
        ctrspec.make_privileged(s, ctrspec.ALL_CAPS)
        linux["resources"]["devices"] = _devices_all()
        linux["devices"] = host_devices()
    else:
        for c in host.get("CapAdd") or []:
            cap = _norm_cap(c)
            for k in ("bounding", "effective", "permitted"):
                if cap == "CAP_ALL":
                    caps[k] = list(ctrspec.ALL_CAPS)
                elif cap not in caps[k]:
                    caps[k].append(cap)
        for c in host.get("CapDrop") or []:
            cap = _norm_cap(c)
            for k in ("bounding", "effective", "permitted"):
                caps[k] = [] if cap == "CAP_ALL" else [x for x in caps[k] if x != cap]
    seccomp_mode = "default"
    for opt in host.get("SecurityOpt") or []:
        key, sep, val = opt.partition("=")
        if not sep:
            key, sep, val = opt.partition(":")
        if key == "no-new-privileges":
            p["noNewPrivileges"] = val in ("", "true")
        elif key == "seccomp":
            seccomp_mode = val
        elif key in ("apparmor", "label"):
            continue
        else:
            raise errdefs.InvalidArgument(f'security-opt "{opt}": not supported')
    if not host.get("Privileged") and seccomp_mode != "unconfined":
        if seccomp_mode == "default":
            if inp.seccomp is not None:
                linux["seccomp"] = copy.deepcopy(inp.seccomp)
        else:
            try:
                linux["seccomp"] = oci_seccomp(json.loads(seccomp_mode))
            except ValueError:
                raise errdefs.InvalidArgument("security-opt seccomp: profile is not valid JSON") from None
    if host.get("ReadonlyRootfs"):
        s["root"]["readonly"] = True

    for dev in host.get("Devices") or []:
        _add_device(linux, dev)

    # resources
    res = linux["resources"]
    if host.get("Memory"):
        res["memory"] = {"limit": int(host["Memory"])}
    period = 100000
    if host.get("NanoCpus"):
        res["cpu"] = {"quota": int(host["NanoCpus"]) * period // 1_000_000_000, "period": period}
    elif host.get("CpuQuota"):
        res["cpu"] = {"quota": int(host["CpuQuota"]), "period": int(host.get("CpuPeriod") or period)}
    if host.get("CpuShares"):
        res.setdefault("cpu", {})["shares"] = int(host["CpuShares"])
    if host.get("PidsLimit"):
        res["pids"] = {"limit": int(host["PidsLimit"])}
    rl = {r["type"]: r for r in p["rlimits"]}
    for u in host.get("Ulimits") or []:
        name = str(u.get("Name", ""))
        if name not in ULIMITS:
            raise errdefs.InvalidArgument(f'ulimit "{name}": unknown')
        rl["RLIMIT_" + name.upper()] = {"type": "RLIMIT_" + name.upper(), "hard": int(u.get("Hard", 0)),
                                        "soft": int(u.get("Soft", 0))}
    p["rlimits"] = list(rl.values())
    if host.get("ShmSize"):
        for m in s["mounts"]:
            if m["destination"] == "/dev/shm":
                m["options"] = [o for o in m["options"] if not o.startswith("size=")] + [f"size={int(host['ShmSize'])}"]
    s["annotations"] = {"io.seabox.engine": "1"}
    return s


def _group_id(name: str, group: str | None) -> int:
    for line in (group or "").splitlines():
        e = line.split(":")
        if len(e) >= 3 and e[0] == name and e[2].isdigit():
            return int(e[2])
    raise errdefs.NotFound(f"unable to find group {name}: no matching entries in group file")


def _add_device(linux: dict[str, Any], dev: dict[str, Any]) -> None:
    """``--device /dev/x[:/dev/y[:rwm]]``: the node in the container and its cgroup allowance."""
    import stat

    host_path = str(dev.get("PathOnHost") or "")
    try:
        st = os.stat(host_path)
    except OSError:
        raise errdefs.InvalidArgument(f'error gathering device information while adding custom device "{host_path}": '
                                      "no such file or directory") from None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
    if not kind:
        raise errdefs.InvalidArgument(f'device "{host_path}": not a device node')
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    linux.setdefault("devices", []).append({
        "path": str(dev.get("PathInContainer") or host_path), "type": kind, "major": major, "minor": minor,
        "fileMode": stat.S_IMODE(st.st_mode), "uid": 0, "gid": 0})
    linux["resources"].setdefault("devices", []).append({
        "allow": True, "type": kind, "major": major, "minor": minor,
        "access": str(dev.get("CgroupPermissions") or "rwm")})


def _norm_cap(c: str) -> str:
    c = c.upper()
    return c if c.startswith("CAP_") else "CAP_" + c


def host_devices() -> list[dict[str, Any]]:
    """--privileged: the host's character and block devices (top level of /dev)."""
    import stat

    out = []
    for name in sorted(os.listdir("/dev")):
        path = "/dev/" + name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
        if not kind or name in ("console", "tty", "ptmx") or name.startswith("tty"):
            continue
        out.append({"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                    "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def oci_seccomp(profile: dict[str, Any]) -> dict[str, Any]:
    """A docker seccomp profile (defaultAction, archMap, syscalls with names) → the OCI shape."""
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO")}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = [a["architecture"] for a in profile.get("archMap") or [] if a.get("architecture") == "SCMP_ARCH_X86_64"]
    arches += [s for a in profile.get("archMap") or [] if a.get("architecture") == "SCMP_ARCH_X86_64"
               for s in a.get("subArchitectures") or []]
    out["architectures"] = arches or list(profile.get("architectures") or ["SCMP_ARCH_X86_64"])
    syscalls = []
    for sc in profile.get("syscalls") or []:
        inc = sc.get("includes") or {}
        if inc.get("caps") or (inc.get("arches") and "amd64" not in inc["arches"]):
            continue
        names = list(sc.get("names") or ([sc["name"]] if sc.get("name") else []))
        if not names:
            continue
        entry = {"names": names, "action": sc.get("action", "SCMP_ACT_ALLOW")}
        if sc.get("args"):
            entry["args"] = sc["args"]
        if "errnoRet" in sc:
            entry["errnoRet"] = sc["errnoRet"]
        syscalls.append(entry)
    out["syscalls"] = syscalls
    return out


def default_seccomp() -> dict[str, Any]:
    """The default allowlist profile shipped in this package (OCI shape)."""
    path = Path(__file__).with_name("seccomp_default.json")
    return oci_seccomp(json.loads(path.read_text()))
