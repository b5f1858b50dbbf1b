"""Typed OCI runtime-spec (config.json) objects, parsed and validated from JSON.

Design reason: the runtime reads config.json once, in one place, and fails early with an
error that names the offending field (``config.json: process.args: must be ...``) instead of
a KeyError deep inside container set-up.  Sections the runtime hands on unchanged to another
component (``linux.resources`` to cgroups, ``linux.seccomp`` to the seccomp loader) stay plain
dicts, as those components take the JSON shape.  Pure data: no I/O except ``load_spec``.
"""

from __future__ import annotations

import os

from seabox.errdefs import InvalidArgument
from seabox.oci import Record

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike
    from typing import Any

    StrPath = str | PathLike[str]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


class SpecError(InvalidArgument):
    """A config.json field is missing or has the wrong shape; the message names the field."""


def _err(path: str, msg: str) -> SpecError:
    return SpecError(f"config.json: {path}: {msg}")


def _obj(v: Any, path: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _err(path, "must be an object")
    return v


def _str(v: Any, path: str, default: str | None = None, required: bool = False) -> str:
    if v is None:
        if required or default is None:
            if required:
                raise _err(path, "is required")
            return ""
        return default
    if not isinstance(v, str):
        raise _err(path, "must be a string")
    return v


def _int(v: Any, path: str, default: int | None = None, required: bool = False) -> int:
    if v is None:
        if required or default is None:
            raise _err(path, "is required")
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(path, "must be an integer")
    return v


def _opt_int(v: Any, path: str) -> int | None:
    return None if v is None else _int(v, path)


def _bool(v: Any, path: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise _err(path, "must be a boolean")
    return v


def _strlist(v: Any, path: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(path, "must be a list of strings")
    return list(v)


def _list(v: Any, path: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _err(path, "must be a list")
    return v


class User(Record):
    uid: int
    gid: int
    umask: int | None
    additional_gids: list[int]

    def __init__(self, uid: int = 0, gid: int = 0, umask: int | None = None, additional_gids: list[int] | None = None) -> None:
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additional_gids = list() if additional_gids is None else additional_gids


class Rlimit(Record):
    type: str
    soft: int
    hard: int

    def __init__(self, type: str, soft: int, hard: int) -> None:
        self.type = type
        self.soft = soft
        self.hard = hard


class Capabilities(Record):
    bounding: list[str]
    effective: list[str]
    inheritable: list[str]
    permitted: list[str]
    ambient: list[str]

    def __init__(self, bounding: list[str] | None = None, effective: list[str] | None = None, inheritable: list[str] | None = None, permitted: list[str] | None = None, ambient: list[str] | None = None) -> None:
        self.bounding = list() if bounding is None else bounding
        self.effective = list() if effective is None else effective
        self.inheritable = list() if inheritable is None else inheritable
        self.permitted = list() if permitted is None else permitted
        self.ambient = list() if ambient is None else ambient


class ConsoleSize(Record):
    height: int
    width: int

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width


class Process(Record):
    args: list[str]
    cwd: str
    env: list[str]
    terminal: bool
    console_size: ConsoleSize | None
    user: User
    capabilities: Capabilities | None
    rlimits: list[Rlimit]
    no_new_privileges: bool
    oom_score_adj: int | None
    apparmor_profile: str
    selinux_label: str

    def __init__(self, args: list[str], cwd: str = "/", env: list[str] | None = None, terminal: bool = False, console_size: ConsoleSize | None = None, user: User | None = None, capabilities: Capabilities | None = None, rlimits: list[Rlimit] | None = None, no_new_privileges: bool = False, oom_score_adj: int | None = None, apparmor_profile: str = "", selinux_label: str = "") -> None:
        self.args = args
        self.cwd = cwd
        self.env = list() if env is None else env
        self.terminal = terminal
        self.console_size = console_size
        self.user = User() if user is None else user
        self.capabilities = capabilities
        self.rlimits = list() if rlimits is None else rlimits
        self.no_new_privileges = no_new_privileges
        self.oom_score_adj = oom_score_adj
        self.apparmor_profile = apparmor_profile
        self.selinux_label = selinux_label


class Root(Record):
    path: str
    readonly: bool

    def __init__(self, path: str, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly


class Mount(Record):
    destination: str
    type: str
    source: str
    options: list[str]

    def __init__(self, destination: str, type: str = "", source: str = "", options: list[str] | None = None) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.options = list() if options is None else options


class Hook(Record):
    path: str
    args: list[str]
    env: list[str]
    timeout: int | None

    def __init__(self, path: str, args: list[str] | None = None, env: list[str] | None = None, timeout: int | None = None) -> None:
        self.path = path
        self.args = list() if args is None else args
        self.env = list() if env is None else env
        self.timeout = timeout


class Namespace(Record):
    type: str
    path: str

    def __init__(self, type: str, path: str = "") -> None:
        self.type = type
        self.path = path


class IDMapping(Record):
    container_id: int
    host_id: int
    size: int

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id = container_id
        self.host_id = host_id
        self.size = size


class Device(Record):
    type: str
    path: str
    major: int
    minor: int
    file_mode: int | None
    uid: int | None
    gid: int | None

    def __init__(self, type: str, path: str, major: int = 0, minor: int = 0, file_mode: int | None = None, uid: int | None = None, gid: int | None = None) -> None:
        self.type = type
        self.path = path
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid


class Linux(Record):
    namespaces: list[Namespace]
    uid_mappings: list[IDMapping]
    gid_mappings: list[IDMapping]
    devices: list[Device]
    cgroups_path: str | None
    resources: dict[str, Any]
    sysctl: dict[str, str]
    seccomp: dict[str, Any] | None
    rootfs_propagation: str
    masked_paths: list[str]
    readonly_paths: list[str]
    mount_label: str

    def __init__(self, namespaces: list[Namespace] | None = None, uid_mappings: list[IDMapping] | None = None, gid_mappings: list[IDMapping] | None = None, devices: list[Device] | None = None, cgroups_path: str | None = None, resources: dict[str, Any] | None = None, sysctl: dict[str, str] | None = None, seccomp: dict[str, Any] | None = None, rootfs_propagation: str = "", masked_paths: list[str] | None = None, readonly_paths: list[str] | None = None, mount_label: str = "") -> None:
        self.namespaces = list() if namespaces is None else namespaces
        self.uid_mappings = list() if uid_mappings is None else uid_mappings
        self.gid_mappings = list() if gid_mappings is None else gid_mappings
        self.devices = list() if devices is None else devices
        self.cgroups_path = cgroups_path
        self.resources = dict() if resources is None else resources
        self.sysctl = dict() if sysctl is None else sysctl
        self.seccomp = seccomp
        self.rootfs_propagation = rootfs_propagation
        self.masked_paths = list() if masked_paths is None else masked_paths
        self.readonly_paths = list() if readonly_paths is None else readonly_paths
        self.mount_label = mount_label


    def namespace(self, kind: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


class Spec(Record):
    oci_version: str
    root: Root
    process: Process | None
    hostname: str
    domainname: str
    mounts: list[Mount]
    hooks: dict[str, list[Hook]]
    annotations: dict[str, str]
    linux: Linux
    raw: dict[str, Any]

    def __init__(self, oci_version: str, root: Root, process: Process | None, hostname: str = "", domainname: str = "", mounts: list[Mount] | None = None, hooks: dict[str, list[Hook]] | None = None, annotations: dict[str, str] | None = None, linux: Linux | None = None, raw: dict[str, Any] | None = None) -> None:
        self.oci_version = oci_version
        self.root = root
        self.process = process
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = list() if mounts is None else mounts
        self.hooks = dict() if hooks is None else hooks
        self.annotations = dict() if annotations is None else annotations
        self.linux = Linux() if linux is None else linux
        self.raw = dict() if raw is None else raw


def parse_process(d: Any, path: str = "process") -> Process:
    d = _obj(d, path)
    args = _strlist(d.get("args"), f"{path}.args")
    if not args:
        raise _err(f"{path}.args", "must be a non-empty list of strings")
    u = _obj(d.get("user"), f"{path}.user")
    gids = _list(u.get("additionalGids"), f"{path}.user.additionalGids")
    for i, g in enumerate(gids):
        _int(g, f"{path}.user.additionalGids[{i}]")
    user = User(
        uid=_int(u.get("uid"), f"{path}.user.uid", 0),
        gid=_int(u.get("gid"), f"{path}.user.gid", 0),
        umask=_opt_int(u.get("umask"), f"{path}.user.umask"),
        additional_gids=list(gids),
    )
    caps = None
    if d.get("capabilities") is not None:
        c = _obj(d["capabilities"], f"{path}.capabilities")
        caps = Capabilities(**{k: _strlist(c.get(k), f"{path}.capabilities.{k}") for k in CAP_SETS})
    rlimits = []
    for i, r in enumerate(_list(d.get("rlimits"), f"{path}.rlimits")):
        p = f"{path}.rlimits[{i}]"
        r = _obj(r, p)
        rlimits.append(Rlimit(_str(r.get("type"), f"{p}.type", required=True),
                              _int(r.get("soft"), f"{p}.soft", required=True),
                              _int(r.get("hard"), f"{p}.hard", required=True)))
    cs = None
    if d.get("consoleSize") is not None:
        c = _obj(d["consoleSize"], f"{path}.consoleSize")
        cs = ConsoleSize(_int(c.get("height"), f"{path}.consoleSize.height", 0),
                         _int(c.get("width"), f"{path}.consoleSize.width", 0))
    cwd = _str(d.get("cwd"), f"{path}.cwd", "/")
    if not cwd.startswith("/"):
        raise _err(f"{path}.cwd", f"must be an absolute path, got {cwd!r}")
    return Process(
        args=args,
        cwd=cwd,
        env=_strlist(d.get("env"), f"{path}.env"),
        terminal=_bool(d.get("terminal"), f"{path}.terminal"),
        console_size=cs,
        user=user,
        capabilities=caps,
        rlimits=rlimits,
        no_new_privileges=_bool(d.get("noNewPrivileges"), f"{path}.noNewPrivileges"),
        oom_score_adj=_opt_int(d.get("oomScoreAdj"), f"{path}.oomScoreAdj"),
        apparmor_profile=_str(d.get("apparmorProfile"), f"{path}.apparmorProfile", ""),
        selinux_label=_str(d.get("selinuxLabel"), f"{path}.selinuxLabel", ""),
    )


def _hooks(d: Any) -> dict[str, list[Hook]]:
    d = _obj(d, "hooks")
    out: dict[str, list[Hook]] = {}
    for kind, items in d.items():
        if kind not in HOOK_KINDS:
            raise _err(f"hooks.{kind}", "unknown hook kind")
        hooks = []
        for i, h in enumerate(_list(items, f"hooks.{kind}")):
            p = f"hooks.{kind}[{i}]"
            h = _obj(h, p)
            hp = _str(h.get("path"), f"{p}.path", required=True)
            if not hp.startswith("/"):
                raise _err(f"{p}.path", "must be an absolute path")
            timeout = _opt_int(h.get("timeout"), f"{p}.timeout")
            if timeout is not None and timeout <= 0:
                raise _err(f"{p}.timeout", "must be positive")
            hooks.append(Hook(hp, _strlist(h.get("args"), f"{p}.args"), _strlist(h.get("env"), f"{p}.env"),
                              timeout))
        out[kind] = hooks
    return out


def _mappings(v: Any, path: str) -> list[IDMapping]:
    out = []
    for i, m in enumerate(_list(v, path)):
        p = f"{path}[{i}]"
        m = _obj(m, p)
        out.append(IDMapping(_int(m.get("containerID"), f"{p}.containerID", required=True),
                             _int(m.get("hostID"), f"{p}.hostID", required=True),
                             _int(m.get("size"), f"{p}.size", required=True)))
    return out


def _linux(d: Any) -> Linux:
    d = _obj(d, "linux")
    namespaces = []
    seen = set()
    for i, n in enumerate(_list(d.get("namespaces"), "linux.namespaces")):
        p = f"linux.namespaces[{i}]"
        n = _obj(n, p)
        t = _str(n.get("type"), f"{p}.type", required=True)
        if t not in NAMESPACE_TYPES:
            raise _err(f"{p}.type", f"unknown namespace type {t!r}")
        if t in seen:
            raise _err(f"{p}.type", f"namespace {t!r} listed twice")
        seen.add(t)
        namespaces.append(Namespace(t, _str(n.get("path"), f"{p}.path", "")))
    devices = []
    for i, dv in enumerate(_list(d.get("devices"), "linux.devices")):
        p = f"linux.devices[{i}]"
        dv = _obj(dv, p)
        t = _str(dv.get("type"), f"{p}.type", required=True)
        if t not in ("c", "b", "u", "p"):
            raise _err(f"{p}.type", f"unknown device type {t!r}")
        dp = _str(dv.get("path"), f"{p}.path", required=True)
        if not dp.startswith("/"):
            raise _err(f"{p}.path", "must be an absolute path")
        devices.append(Device(t, dp, _int(dv.get("major"), f"{p}.major", 0), _int(dv.get("minor"), f"{p}.minor", 0),
                              _opt_int(dv.get("fileMode"), f"{p}.fileMode"), _opt_int(dv.get("uid"), f"{p}.uid"),
                              _opt_int(dv.get("gid"), f"{p}.gid")))
    sysctl = _obj(d.get("sysctl"), "linux.sysctl")
    for k, v in sysctl.items():
        _str(v, f"linux.sysctl.{k}")
    prop = _str(d.get("rootfsPropagation"), "linux.rootfsPropagation", "")
    if prop and prop not in ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
                             "runbindable"):
        raise _err("linux.rootfsPropagation", f"unknown propagation {prop!r}")
    cgp = d.get("cgroupsPath")
    seccomp = d.get("seccomp")
    if seccomp is not None:
        _obj(seccomp, "linux.seccomp")
    return Linux(
        namespaces=namespaces,
        uid_mappings=_mappings(d.get("uidMappings"), "linux.uidMappings"),
        gid_mappings=_mappings(d.get("gidMappings"), "linux.gidMappings"),
        devices=devices,
        cgroups_path=None if cgp is None else _str(cgp, "linux.cgroupsPath") or None,
        resources=_obj(d.get("resources"), "linux.resources"),
        sysctl=dict(sysctl),
        seccomp=seccomp,
        rootfs_propagation=prop,
        masked_paths=_strlist(d.get("maskedPaths"), "linux.maskedPaths"),
        readonly_paths=_strlist(d.get("readonlyPaths"), "linux.readonlyPaths"),
        mount_label=_str(d.get("mountLabel"), "linux.mountLabel", ""),
    )


def parse_spec(d: Any) -> Spec:
    """Parse a config.json document; raises ``SpecError`` naming the first bad field."""
    d = _obj(d, "(document)")
    version = _str(d.get("ociVersion"), "ociVersion", required=True)
    if not version.startswith("1."):
        raise _err("ociVersion", f"unsupported version {version!r}")
    r = _obj(d.get("root"), "root")
    root = Root(_str(r.get("path"), "root.path", required=True), _bool(r.get("readonly"), "root.readonly"))
    mounts = []
    for i, m in enumerate(_list(d.get("mounts"), "mounts")):
        p = f"mounts[{i}]"
        m = _obj(m, p)
        dest = _str(m.get("destination"), f"{p}.destination", required=True)
        if not dest.startswith("/"):
            raise _err(f"{p}.destination", f"must be an absolute path, got {dest!r}")
        mounts.append(Mount(dest, _str(m.get("type"), f"{p}.type", ""), _str(m.get("source"), f"{p}.source", ""),
                            _strlist(m.get("options"), f"{p}.options")))
    ann = _obj(d.get("annotations"), "annotations")
    for k, v in ann.items():
        _str(v, f"annotations.{k}")
    linux = _linux(d.get("linux"))
    for mp in linux.uid_mappings + linux.gid_mappings:
        if mp.size <= 0:
            raise _err("linux.uidMappings", "size must be positive")
    user_ns = linux.namespace("user")
    if (linux.uid_mappings or linux.gid_mappings) and (user_ns is None or user_ns.path):
        raise _err("linux.uidMappings", "mappings need a new user namespace in linux.namespaces")
    return Spec(
        oci_version=version,
        root=root,
        process=None if d.get("process") is None else parse_process(d["process"]),
        hostname=_str(d.get("hostname"), "hostname", ""),
        domainname=_str(d.get("domainname"), "domainname", ""),
        mounts=mounts,
        hooks=_hooks(d.get("hooks")),
        annotations=dict(ann),
        linux=linux,
        raw=d,
    )


def load_spec(bundle: StrPath, loads: Callable[[str], Any] | None = None) -> Spec:
    """Read and parse ``<bundle>/config.json``."""
    path = os.path.join(os.fspath(bundle), "config.json")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise InvalidArgument(f'bundle "{bundle}": config.json not found')
    except OSError as e:
        raise InvalidArgument(f'bundle "{bundle}": cannot read config.json: {e.strerror}')
    if loads is None:
        import json

        loads = json.loads
    try:
        doc = loads(text)
    except ValueError as e:
        raise SpecError(f"config.json: invalid JSON: {e}")
    return parse_spec(doc)
