"""``run``/``create`` flags → the Docker Engine API's container-create body.

Pure functions over strings (no I/O except reading --env-file, --label-file and a seccomp
profile, as docker's CLI does: the daemon gets the profile's JSON, not its path).
"""

from __future__ import annotations

import os

from seabox import errdefs, jsonlite
from seabox.client.units import ram_in_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Options:
    """Flag values by name (missing ones read as their default)."""

    _defaults: dict[str, Any] = {}

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._defaults.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        v = self.__dict__.get(name)
        return default if v is None else v


def _bad(msg: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(msg)


# ---- ports ---------------------------------------------------------------------------------------
def _port_range(text: str, what: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise _bad(f'invalid {what} port "{text}"') from None
    if not (0 < a <= 65535 and 0 < b <= 65535) or b < a:
        raise _bad(f'invalid {what} port "{text}"')
    return a, b


def parse_port(spec: str) -> list[tuple[str, str, str]]:
    """One ``-p`` value → [(``port/proto``, host ip, host port)], ranges expanded.

    Forms: ``80``, ``8080:80``, ``8080:80/udp``, ``127.0.0.1:8080:80``, ``127.0.0.1::80``,
    ``[::1]:8080:80``, ``8000-8010:80-90``, ``8000-8010:80``.
    """
    s, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise _bad(f'invalid proto "{proto}" in "{spec}"')
    ip = ""
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise _bad(f'invalid port format "{spec}"')
        ip, s = s[1:end], s[end + 1 :].lstrip(":")
        host, _, cont = s.rpartition(":")
    else:
        parts = s.split(":")
        if len(parts) == 1:
            host, cont = "", parts[0]
        elif len(parts) == 2:
            host, cont = parts
        elif len(parts) == 3:
            ip, host, cont = parts
        else:
            raise _bad(f'invalid port format "{spec}"')
    if ip:
        import ipaddress

        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise _bad(f'invalid IP address "{ip}" in "{spec}"') from None
    if not cont:
        raise _bad(f'no port specified: {spec}<empty>')
    c0, c1 = _port_range(cont, "container")
    if host:
        h0, h1 = _port_range(host, "host")
        if (h1 - h0) != (c1 - c0) and h0 != h1 and c0 != c1:
            raise _bad(f'invalid ranges specified for container and host Ports: {cont} and {host}')
    else:
        h0 = h1 = 0
    out = []
    for i in range(c1 - c0 + 1):
        if not host:
            hp = ""
        elif c0 != c1 and h0 == h1:
            hp = str(h0)
        elif c0 == c1 and h0 != h1:
            hp = f"{h0}-{h1}"
        else:
            hp = str(h0 + i)
        out.append((f"{c0 + i}/{proto}", ip, hp))
    return out


def port_bindings(specs: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        for port, ip, hp in parse_port(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": hp})
    return exposed, bindings


# ---- env, labels ---------------------------------------------------------------------------------
def read_kv_file(path: str, what: str = "env") -> list[str]:
    """docker's --env-file/--label-file: ``KEY=VALUE`` lines, ``#`` comments, bare ``KEY`` from os.environ."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise _bad(f"open {path}: {e.strerror}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, val = line.partition("=")
        if not key or " " in key.rstrip() or "\t" in key:
            raise _bad(f"{path}:{n}: variable '{key.strip()}' contains whitespaces")
        if sep:
            out.append(f"{key}={val}")
        elif what == "env":
            if key in os.environ:
                out.append(f"{key}={os.environ[key]}")
        else:
            out.append(key)
    return out


def env_list(env: list[str], env_files: list[str]) -> list[str]:
    out: list[str] = []
    for f in env_files:
        out.extend(read_kv_file(f))
    for e in env:
        if not e or e.startswith("="):
            raise _bad(f'invalid environment variable: {e}')
        if "=" in e:
            out.append(e)
        elif e in os.environ:
            out.append(f"{e}={os.environ[e]}")
    return out


def label_map(labels: list[str], label_files: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in [*(x for f in label_files for x in read_kv_file(f, "label")), *labels]:
        k, _, v = item.partition("=")
        if not k:
            raise _bad(f'invalid label "{item}"')
        out[k] = v
    return out


# ---- volumes, mounts -----------------------------------------------------------------------------
def parse_volume(spec: str) -> tuple[str | None, str | None]:
    """``-v`` → (a Binds entry, or an anonymous-volume target)."""
    parts = spec.split(":")
    if len(parts) == 1:
        if not spec.startswith("/"):
            raise _bad(f'invalid volume specification: "{spec}": destination must be an absolute path')
        return None, spec
    if len(parts) > 3:
        raise _bad(f'invalid volume specification: "{spec}"')
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not dst.startswith("/"):
        raise _bad(f'invalid volume specification: "{spec}": destination must be an absolute path')
    if not src:
        raise _bad(f'invalid volume specification: "{spec}": empty source')
    for m in mode.split(",") if mode else []:
        if m not in ("ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave", "rslave"):
            raise _bad(f'invalid mode: {m}')
    if src.startswith(".") or ("/" in src and not src.startswith("/")):
        src = os.path.abspath(src)
    return f"{src}:{dst}" + (f":{mode}" if mode else ""), None


def parse_mount(spec: str) -> dict[str, Any]:
    """``--mount type=bind|volume|tmpfs,src=..,dst=..,readonly`` → a Mounts entry."""
    m: dict[str, Any] = {"Type": "volume"}
    tmpfs: dict[str, Any] = {}
    for field in spec.split(","):
        k, sep, v = field.partition("=")
        k = k.strip().lower()
        if k in ("readonly", "ro"):
            m["ReadOnly"] = (v.lower() in ("", "1", "true")) if sep else True
            continue
        if not sep:
            raise _bad(f'invalid field \'{field}\' must be a key=value pair')
        if k == "type":
            if v not in ("bind", "volume", "tmpfs"):
                raise _bad(f'invalid mount type "{v}"')
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = os.path.abspath(v) if v.startswith(".") else v
        elif k in ("target", "dst", "destination"):
            m["Target"] = v
        elif k == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = v
        elif k == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = v.lower() in ("", "1", "true")
        elif k == "tmpfs-size":
            tmpfs["SizeBytes"] = ram_in_bytes(v)
        elif k == "tmpfs-mode":
            tmpfs["Mode"] = int(v, 8)
        else:
            raise _bad(f'unexpected key \'{k}\' in \'{field}\'')
    if "Target" not in m:
        raise _bad("target is required")
    if m["Type"] == "bind" and "Source" not in m:
        raise _bad("source is required when specifying bind mounts")
    if tmpfs:
        m["TmpfsOptions"] = tmpfs
    return m


def tmpfs_map(specs: list[str]) -> dict[str, str]:
    out = {}
    for s in specs:
        dst, _, opts = s.partition(":")
        if not dst.startswith("/"):
            raise _bad(f'invalid tmpfs "{s}": destination must be an absolute path')
        out[dst] = opts
    return out


# ---- misc ----------------------------------------------------------------------------------------
def restart_policy(text: str) -> dict[str, Any]:
    name, _, n = (text or "no").partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise _bad(f'invalid restart policy {text}')
    if n and name != "on-failure":
        raise _bad(f"maximum retry count cannot be used with restart policy '{name}'")
    try:
        count = int(n) if n else 0
    except ValueError:
        raise _bad(f"maximum retry count must be an integer: {n}") from None
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": count}


def ulimit(text: str) -> dict[str, Any]:
    name, sep, vals = text.partition("=")
    if not sep:
        raise _bad(f'invalid ulimit argument: {text}')
    soft, _, hard = vals.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise _bad(f'invalid ulimit argument: {text}') from None
    if s > h:
        raise _bad(f"ulimit soft limit must be less than or equal to hard limit: {s} > {h}")
    return {"Name": name, "Soft": s, "Hard": h}


def security_opts(opts: list[str]) -> list[str]:
    out = []
    for o in opts:
        k, sep, v = o.partition("=")
        if not sep:
            k, sep, v = o.partition(":")
        if k == "seccomp" and v and v != "unconfined":
            try:
                with open(v, encoding="utf-8") as f:
                    profile = f.read()
                jsonlite.loads(profile)
            except OSError as e:
                raise _bad(f"opening seccomp profile ({v}) failed: {e.strerror}") from None
            except ValueError as e:
                raise _bad(f"seccomp profile {v}: invalid JSON: {e}") from None
            out.append(f"seccomp={profile}")
        elif k == "no-new-privileges" and not sep:
            out.append("no-new-privileges=true")
        else:
            out.append(o)
    return out


def add_hosts(specs: list[str]) -> list[str]:
    out = []
    for h in specs:
        name, sep, ip = h.partition(":")
        if not sep:
            name, sep, ip = h.partition("=")
        if not sep or not name or not ip:
            raise _bad(f'bad format for add-host: "{h}"')
        if ip != "host-gateway":
            import ipaddress

            try:
                ipaddress.ip_address(ip.strip("[]"))
            except ValueError:
                raise _bad(f'invalid IP address in add-host: "{ip}"') from None
        out.append(f"{name}:{ip}")
    return out


def nano_cpus(text: str) -> int:
    try:
        v = float(text)
    except ValueError:
        raise _bad(f'invalid argument "{text}" for "--cpus" flag') from None
    if v < 0:
        raise _bad(f'invalid argument "{text}" for "--cpus" flag')
    return int(v * 1e9)


def healthcheck(o: Options) -> dict[str, Any] | None:
    """``--health-*`` / ``--no-healthcheck`` as the Engine API's Config.Healthcheck (durations in ns)."""
    from seabox.ctr.tables import parse_duration

    if o.get("no_healthcheck"):
        if o.get("health_cmd"):
            raise _bad("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    hc: dict[str, Any] = {}
    if o.get("health_cmd"):
        hc["Test"] = ["CMD-SHELL", o.get("health_cmd")]
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                      ("start_interval", "StartInterval")):
        text = o.get(f"health_{flag}")
        if text:
            try:
                secs = parse_duration(text)
            except ValueError as e:
                raise _bad(f"invalid argument {text!r} for \"--health-{flag.replace('_', '-')}\" flag: {e}") from None
            if secs < 0:
                raise _bad(f"--health-{flag.replace('_', '-')} cannot be negative")
            hc[key] = int(secs * 1_000_000_000)
    retries = o.get("health_retries")
    if retries is not None:
        if int(retries) < 0:
            raise _bad("--health-retries cannot be negative")
        hc["Retries"] = int(retries)
    return hc or None


def create_body(o: Options) -> dict[str, Any]:
    """The POST /containers/create JSON for run/create options ``o`` (``o.image``, ``o.command``)."""
    exposed, bindings = port_bindings(o.get("publish", []))
    for e in o.get("expose", []):
        for port, _ip, _hp in parse_port(e):
            exposed[port] = {}
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for v in o.get("volume", []):
        b, anon = parse_volume(v)
        if b:
            binds.append(b)
        elif anon:
            volumes[anon] = {}
    network = o.get("network", "") or "default"
    interactive = bool(o.interactive)
    detach = bool(o.detach)
    attach = [a.lower() for a in o.get("attach", [])]
    hc: dict[str, Any] = {
        "Binds": binds or None,
        "PortBindings": bindings,
        "PublishAllPorts": bool(o.publish_all),
        "NetworkMode": network,
        "RestartPolicy": restart_policy(o.get("restart", "no")),
        "AutoRemove": bool(o.rm),
        "Mounts": [parse_mount(m) for m in o.get("mount", [])] or None,
        "Tmpfs": tmpfs_map(o.get("tmpfs", [])) or None,
        "Privileged": bool(o.privileged),
        "CapAdd": o.get("cap_add", []) or None,
        "CapDrop": o.get("cap_drop", []) or None,
        "SecurityOpt": security_opts(o.get("security_opt", [])) or None,
        "ReadonlyRootfs": bool(o.read_only),
        "ExtraHosts": add_hosts(o.get("add_host", [])) or None,
        "Dns": o.get("dns", []),
        "DnsSearch": o.get("dns_search", []),
        "DnsOptions": o.get("dns_option", []),
        "Memory": ram_in_bytes(o.memory) if o.memory else 0,
        "NanoCpus": nano_cpus(o.cpus) if o.cpus else 0,
        "PidsLimit": int(o.pids_limit) if o.pids_limit else None,
        "Ulimits": [ulimit(u) for u in o.get("ulimit", [])] or None,
        "Init": True if o.init else None,
        "LogConfig": {"Type": o.get("log_driver", ""), "Config": dict(x.partition("=")[::2] for x in o.get("log_opt", []))},
    }
    body: dict[str, Any] = {
        "Hostname": o.get("hostname", ""),
        "Domainname": "",
        "User": o.get("user", ""),
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach and (not attach or "stdout" in attach),
        "AttachStderr": not detach and (not attach or "stderr" in attach),
        "ExposedPorts": exposed or None,
        "Tty": bool(o.tty),
        "OpenStdin": interactive,
        "StdinOnce": interactive and not detach,
        "Env": env_list(o.get("env", []), o.get("env_file", [])),
        "Cmd": list(o.get("command", [])) or None,
        "Image": o.image,
        "Volumes": volumes or None,
        "WorkingDir": o.get("workdir", ""),
        "Entrypoint": [o.entrypoint] if o.entrypoint else ([""] if o.entrypoint == "" else None),
        "Labels": label_map(o.get("label", []), o.get("label_file", [])),
        "HostConfig": hc,
    }
    check = healthcheck(o)
    if check is not None:
        body["Healthcheck"] = check
    if o.stop_signal:
        body["StopSignal"] = o.stop_signal
    if o.stop_timeout is not None:
        body["StopTimeout"] = int(o.stop_timeout)
    if o.ip:
        body["NetworkingConfig"] = {"EndpointsConfig": {network: {"IPAMConfig": {"IPv4Address": o.ip}}}}
    if o.ip and network in ("default", "bridge", "host", "none"):
        raise _bad("user specified IP address is supported on user defined networks only")
    return body
