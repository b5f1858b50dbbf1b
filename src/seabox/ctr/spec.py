"""The OCI runtime spec a container gets, generated client side as ctr does.

:func:`default_spec` is containerd's default Linux spec (``oci.populateDefaultUnixSpec``):
the same mounts, namespaces, capabilities, masked and read-only paths, rlimit and the
``/<namespace>/<id>`` cgroup path (the containerd values of :mod:`seabox.oci.spec_defaults`).
:func:`build` then applies the image config (args from Entrypoint+Cmd, Env, WorkingDir, User)
and ctr's ``run`` flags, in ctr's order.  Pure data in, dict out: no I/O, so it is tested
without a daemon; resolving a user *name* needs the image's /etc/passwd, which the caller
reads and passes in.

The option records are plain classes, not dataclasses: ``run`` imports this module, and
dataclasses (with inspect, ast, dis...) cost ~30 ms of every command's start.
"""

from __future__ import annotations

from seabox import errdefs
from seabox.oci import spec_defaults

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

SPEC_VERSION = spec_defaults.OCI_VERSION
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
DEFAULT_PATH = spec_defaults.DEFAULT_PATH

DEFAULT_CAPS = list(spec_defaults.CONTAINERD_CAPS)

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip

MASKED_PATHS = list(spec_defaults.MASKED_PATHS)
READONLY_PATHS = list(spec_defaults.READONLY_PATHS)
default_device_rules = spec_defaults.default_device_rules


def default_mounts() -> list[dict[str, Any]]:
    """containerd's: /proc with nosuid,noexec,nodev and a /run tmpfs, no /sys/fs/cgroup."""
    return spec_defaults.default_mounts(proc_options=True, cgroup=False, run=True)


def current_caps(status_path: str = "/proc/self/status") -> list[str]:
    """The caller's effective capabilities, by number (what containerd grants ``--privileged``)."""
    try:
        with open(status_path) as f:
            line = next(ln for ln in f if ln.startswith("CapEff:"))
        mask = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [name for i, name in enumerate(ALL_CAPS) if mask >> i & 1]


def default_spec(namespace: str, container_id: str) -> dict[str, Any]:
    """containerd's default Linux spec for ``container_id`` in ``namespace``."""
    return spec_defaults.default_spec(
        caps=DEFAULT_CAPS,
        cap_sets=spec_defaults.CONTAINERD_CAP_SETS,
        namespace_types=spec_defaults.CONTAINERD_NAMESPACES,
        mounts=default_mounts(),
        devices=default_device_rules(),
        cgroups_path=f"/{namespace}/{container_id}",
    )


# -- pieces ------------------------------------------------------------------------------------


def replace_or_append_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """containerd's replaceOrAppendEnvValues: ``K=V`` replaces K, a bare ``K`` removes it."""
    out = list(base)
    for e in extra:
        key, sep, _ = e.partition("=")
        idx = next((i for i, cur in enumerate(out) if cur.partition("=")[0] == key), None)
        if not sep:
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(e)
        else:
            out[idx] = e
    return out


class Mount:
    """One ``--mount`` (immutable, hashable)."""

    __slots__ = ("destination", "options", "source", "type")

    destination: str
    type: str
    source: str
    options: tuple[str, ...]

    def __init__(self, destination: str, type: str, source: str, options: tuple[str, ...] = ()) -> None:
        for k, v in (("destination", destination), ("type", type), ("source", source), ("options", tuple(options))):
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def _key(self) -> tuple[str, str, str, tuple[str, ...]]:
        return (self.destination, self.type, self.source, self.options)

    def __eq__(self, other: object) -> bool:
        return other._key() == self._key() if type(other) is Mount else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Mount(destination={self.destination!r}, type={self.type!r}, source={self.source!r}, options={self.options!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "type": self.type, "source": self.source, "options": list(self.options)}


def parse_mount(text: str) -> Mount:
    """ctr's ``--mount type=bind,src=/tmp,dst=/host,options=rbind:ro``."""
    kv: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            raise errdefs.InvalidArgument(f"mount {text!r}: expected key=value, got {part!r}")
        kv[k.strip()] = v
    typ = kv.pop("type", "")
    src = kv.pop("source", kv.pop("src", ""))
    dst = kv.pop("destination", kv.pop("dst", kv.pop("target", "")))
    opts = tuple(o for o in kv.pop("options", "").split(":") if o)
    if kv:
        raise errdefs.InvalidArgument(f"mount {text!r}: unknown key {sorted(kv)[0]!r}")
    if not dst:
        raise errdefs.InvalidArgument(f"mount {text!r}: a destination (dst=) is required")
    return Mount(dst, typ, src, opts)


def resolve_user(user: str, passwd: str | None = None, group: str | None = None) -> tuple[int, int, list[int]]:
    """``user[:group]`` (names or numbers) to (uid, gid, additional gids) using the image's
    /etc/passwd and /etc/group text (None when the image has none).

    The additional gids are containerd's (since the fix for CVE-2023-25173): the primary
    gid first, then the groups that list the user as a member (not its own-named group).
    """
    name, _, grp = user.partition(":")
    pw = [ln.split(":") for ln in (passwd or "").splitlines() if ln and not ln.startswith("#")]
    gr = [ln.split(":") for ln in (group or "").splitlines() if ln and not ln.startswith("#")]
    uid: int | None = None
    gid: int | None = None
    uname = ""
    if name.isdigit():
        uid = int(name)
        for e in pw:
            if len(e) >= 4 and e[2] == name:
                uname = e[0]
                if not grp:
                    gid = int(e[3]) if e[3].isdigit() else None
                break
    else:
        for e in pw:
            if len(e) >= 4 and e[0] == name:
                uid, uname = int(e[2]), name
                gid = int(e[3]) if e[3].isdigit() else 0
                break
        if uid is None:
            raise errdefs.NotFound(f"unable to find user {name}: no matching entries in passwd file")
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            found = next((e for e in gr if len(e) >= 3 and e[0] == grp), None)
            if found is None:
                raise errdefs.NotFound(f"unable to find group {grp}: no matching entries in group file")
            gid = int(found[2])
    if gid is None:
        gid = 0
    extra: list[int] = []
    if uname:
        for e in gr:
            if len(e) >= 4 and e[0] != uname and uname in e[3].split(",") and e[2].isdigit():
                extra.append(int(e[2]))
    if gid not in extra:
        extra.insert(0, gid)
    return uid, gid, extra


# -- the whole spec ----------------------------------------------------------------------------


class SpecOptions:
    """What ``ctr run``/``containers create`` flags ask for (beyond the image)."""

    def __init__(
        self, args: list[str] | None = None, env: list[str] | None = None, cwd: str = "", user: str = "",
        tty: bool = False, mounts: list[Mount] | None = None, net_host: bool = False, hostname: str = "",
        privileged: bool = False, read_only: bool = False, memory_limit: int = 0, cpus: float = 0.0,
        cpu_shares: int = 0, cap_add: list[str] | None = None, cap_drop: list[str] | None = None,
        annotations: dict[str, str] | None = None, allow_new_privs: bool = False,
        cgroup: str | None = None,  # None: /<ns>/<id>; "" disables
    ) -> None:  # fmt: skip
        self.args: list[str] = args if args is not None else []
        self.env: list[str] = env if env is not None else []
        self.cwd = cwd
        self.user = user
        self.tty = tty
        self.mounts: list[Mount] = mounts if mounts is not None else []
        self.net_host = net_host
        self.hostname = hostname
        self.privileged = privileged
        self.read_only = read_only
        self.memory_limit = memory_limit
        self.cpus = cpus
        self.cpu_shares = cpu_shares
        self.cap_add: list[str] = cap_add if cap_add is not None else []
        self.cap_drop: list[str] = cap_drop if cap_drop is not None else []
        self.annotations: dict[str, str] = annotations if annotations is not None else {}
        self.allow_new_privs = allow_new_privs
        self.cgroup = cgroup

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"SpecOptions({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def _caps(p: dict[str, Any]) -> dict[str, list[str]]:
    caps: dict[str, list[str]] = p.setdefault("capabilities", {})
    return caps


def make_privileged(s: dict[str, Any], privileged_caps: Sequence[str] | None = None) -> None:
    """``--privileged`` (and CRI's privileged): every capability the caller holds, no masked or
    read-only paths, a writable /sys and all devices allowed."""
    caps = _caps(s["process"])
    granted = current_caps() if privileged_caps is None else list(privileged_caps)
    for k in ("bounding", "effective", "permitted"):
        caps[k] = list(granted)
    linux = s["linux"]
    linux.pop("maskedPaths", None)
    linux.pop("readonlyPaths", None)
    for m in s["mounts"]:
        if m["type"] == "sysfs":
            m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    linux.setdefault("resources", {})["devices"] = [{"allow": True, "access": "rwm"}]


def _norm_cap(c: str) -> str:
    c = c.upper()
    return c if c.startswith("CAP_") else "CAP_" + c


def build(
    namespace: str,
    container_id: str,
    image_config: dict[str, Any] | None,
    opts: SpecOptions,
    *,
    passwd: str | None = None,
    group: str | None = None,
    host_hostname: str = "",
    privileged_caps: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The spec ctr would send for this container (image config first, then flags)."""
    s = default_spec(namespace, container_id)
    p = s["process"]
    cfg = image_config or {}
    # WithImageConfig
    if cfg:
        p["env"] = replace_or_append_env(p["env"], cfg.get("Env") or [])
        p["args"] = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
        p["cwd"] = cfg.get("WorkingDir") or "/"
        uid, gid, extra = resolve_user(cfg.get("User") or "0", passwd, group)
        p["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
    if opts.args:
        p["args"] = list(opts.args)
    if opts.cwd:
        p["cwd"] = opts.cwd
    if opts.env:
        p["env"] = replace_or_append_env(p["env"], opts.env)
    if opts.tty:
        p["terminal"] = True
        p["env"] = p["env"] + ["TERM=xterm"]
    if opts.user:
        uid, gid, extra = resolve_user(opts.user, passwd, group)
        p["user"] = {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}
    linux = s["linux"]
    if opts.net_host:
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
        s["mounts"].append({"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]})
        s["mounts"].append(
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]}
        )
        p["env"] = replace_or_append_env(p["env"], [f"HOSTNAME={host_hostname}"])
    if opts.hostname:
        s["hostname"] = opts.hostname
    for m in opts.mounts:
        s["mounts"].append(m.to_dict())
    if opts.privileged:
        make_privileged(s, privileged_caps)
    for c in opts.cap_add:
        caps = _caps(p)
        for k in ("bounding", "effective", "permitted"):
            if _norm_cap(c) not in caps.setdefault(k, []):
                caps[k].append(_norm_cap(c))
    for c in opts.cap_drop:
        caps = _caps(p)
        for k in list(caps):
            caps[k] = [x for x in caps[k] if x != _norm_cap(c) and _norm_cap(c) != "CAP_ALL"]
    if opts.read_only:
        s["root"]["readonly"] = True
    if opts.allow_new_privs:
        p["noNewPrivileges"] = False
    res = linux["resources"]
    if opts.memory_limit:
        res["memory"] = {"limit": int(opts.memory_limit)}
    if opts.cpus:
        period = 100000
        res["cpu"] = {**res.get("cpu", {}), "quota": int(opts.cpus * period), "period": period}
    if opts.cpu_shares and opts.cpu_shares != 1024:
        res["cpu"] = {**res.get("cpu", {}), "shares": int(opts.cpu_shares)}
    if opts.cgroup is not None:
        if opts.cgroup:
            linux["cgroupsPath"] = opts.cgroup
        else:
            linux.pop("cgroupsPath", None)
    if opts.annotations:
        s["annotations"] = dict(opts.annotations)
    return s


def exec_process(spec: dict[str, Any], args: Sequence[str], *, tty: bool = False, cwd: str = "", user: str = "",
                 passwd: str | None = None, group: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The process of ``tasks exec``: the container's process with new args (ctr's way)."""
    import copy

    p = copy.deepcopy(spec.get("process") or {})
    p["args"] = list(args)
    p["terminal"] = tty
    if cwd:
        p["cwd"] = cwd
    if user:
        uid, gid, extra = resolve_user(user, passwd, group)
        p["user"] = {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}
    p.pop("consoleSize", None)
    return p


def describe_args(args: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in args)
