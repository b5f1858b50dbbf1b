"""seaboxd's configuration: a TOML file, overridden by command-line flags.

Every path the daemon touches comes from here (root for persistent data, state for
runtime files, the socket address), so tests run a daemon entirely inside temp dirs.
Unknown keys are an error, so a typo does not silently fall back to a default.
The Docker Engine API's settings live in an ``[engine]`` table and the CRI plugin's in
``[plugins.cri]`` (containerd's key names); both are kept as raw tables here and checked by
their owners (``seabox.engine.settings``, ``seabox.cri.config``) when the file is parsed, so
an unknown key in them is an error too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from seabox.errdefs import InvalidArgument

DEFAULT_CONFIG_PATH = Path("/etc/seabox/config.toml")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")


@dataclass(frozen=True)
class GRPCConfig:
    address: str = "/run/seabox/seaboxd.sock"
    uid: int = 0
    gid: int = 0
    max_workers: int = 64
    max_recv_message_size: int = 16 << 20
    max_send_message_size: int = 16 << 20


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "text"
    file: str = ""


@dataclass(frozen=True)
class Config:
    version: int = 1
    root: str = "/var/lib/seabox"
    state: str = "/run/seabox"
    grpc: GRPCConfig = field(default_factory=GRPCConfig)
    log: LogConfig = field(default_factory=LogConfig)
    engine: dict[str, Any] = field(default_factory=dict)  # [engine]: seabox.engine.settings
    plugins: dict[str, Any] = field(default_factory=dict)  # [plugins.cri]: seabox.cri.config

    @property
    def metadata_path(self) -> Path:
        return Path(self.root) / "metadata" / "meta.db"


DEFAULT_TOML = '''\
# seaboxd configuration (/etc/seabox/config.toml).
# Flags given to seaboxd (--root, --state, --address, --log-level) override these values.

# Format version of this file.
version = 1

# Persistent data: metadata database, content store, snapshots.
root = "/var/lib/seabox"

# Runtime state that does not survive a reboot: sockets, task bundles, FIFOs.
state = "/run/seabox"

[grpc]
# Unix socket serving the containerd v1 API (and, later, CRI v1).
address = "/run/seabox/seaboxd.sock"
# Owner of the socket; its mode is 0660, so members of gid may connect.
uid = 0
gid = 0
# Threads serving requests; a long-lived call such as an event subscription holds one.
max_workers = 64
# Largest message accepted and sent, in bytes.
max_recv_message_size = 16777216
max_send_message_size = 16777216

[log]
# One of trace, debug, info, warn, error, fatal, panic.
level = "info"
# "text" (key=value pairs) or "json" (one object per line).
format = "text"
# Log file; empty means standard error.
file = ""

[engine]
# The Docker Engine API served on the same socket (seabox CLI, docker clients).
# Registry hosts directory (hosts.toml per registry); empty: the first of /etc/seabox/certs.d,
# /etc/containerd/certs.d, /etc/docker/certs.d that exists.
hosts_dir = ""
# docker-style config.json holding registry credentials; empty: the default.
docker_config = ""
# Binary run as PID 1 by `run --init`; empty: tini-static or tini when installed.
init_path = ""

[engine.network]
# CNI networks of the seabox CLI (bridge, user networks, published ports).
conf_dir = "/etc/seabox/cni/net.d"
bin_dirs = ["/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"]
default_network = "bridge"
default_bridge = "seabox0"
# First subnet tried for new networks; ranges used by the host's routes are skipped.
subnet_start = "10.4.0.0/24"

[plugins.cri]
# Kubernetes CRI v1 on the same socket (containerd's key names).
enabled = true
# Pod sandbox image; empty: the built-in pause (a static busybox copied from the host).
sandbox_image = ""
snapshotter = "overlayfs"
restrict_oom_score_adj = false
enable_seccomp_default = false
# Streaming server (exec, attach, port-forward); port 0: any free port.
stream_server_address = "127.0.0.1"
stream_server_port = 0

[plugins.cri.cni]
bin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]
conf_dir = "/etc/seabox/cni/net.d"
max_conf_num = 1

[plugins.cri.registry]
# hosts.toml directory; empty: /etc/seabox/certs.d or /etc/containerd/certs.d if present.
config_path = ""
'''


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise InvalidArgument(f'config: unknown key "{where}{key}"')
        default = getattr(cls(), key)
        if hasattr(default, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise InvalidArgument(f'config: "{where}{key}" must be a table')
            kwargs[key] = _build(type(default), value, f"{where}{key}.")
        else:
            if type(value) is not type(default):
                raise InvalidArgument(
                    f'config: "{where}{key}" must be a {type(default).__name__}, not {type(value).__name__}'
                )
            kwargs[key] = value
    return cls(**kwargs)


def parse(text: str, source: str = "config") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{source}: {e}")
    cfg: Config = _build(Config, data, "")
    return validate(cfg)


def load(path: Path | None) -> Config:
    """Read the config file; a missing default file means all defaults, a missing
    explicitly given file is an error."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return Config()
        path = DEFAULT_CONFIG_PATH
    try:
        text = path.read_text()
    except OSError as e:
        raise InvalidArgument(f'config "{path}": {e.strerror}')
    return parse(text, f'config "{path}"')


def validate(cfg: Config) -> Config:
    if cfg.version != 1:
        raise InvalidArgument(f"config: unsupported version {cfg.version}")
    if cfg.log.level not in LOG_LEVELS:
        raise InvalidArgument(f'config: log level "{cfg.log.level}" is not one of {", ".join(LOG_LEVELS)}')
    if cfg.log.format not in ("text", "json"):
        raise InvalidArgument(f'config: log format "{cfg.log.format}" must be "text" or "json"')
    if cfg.grpc.max_workers < 2:
        raise InvalidArgument("config: grpc.max_workers must be at least 2")
    for name in cfg.plugins:
        if name != "cri":
            raise InvalidArgument(f'config: unknown plugin "plugins.{name}" (seaboxd has [plugins.cri])')
    if cfg.engine:
        from seabox.engine.settings import check_table

        check_table(cfg.engine)
    if "cri" in cfg.plugins:
        from seabox.cri.config import from_table

        if not isinstance(cfg.plugins["cri"], dict):
            raise InvalidArgument('config: "plugins.cri" must be a table')
        from_table(cfg.plugins["cri"], cfg.root, cfg.state)
    return cfg


def with_overrides(
    cfg: Config, *, root: str | None = None, state: str | None = None, address: str | None = None,
    log_level: str | None = None,
) -> Config:
    if root is not None:
        cfg = replace(cfg, root=root)
    if state is not None:
        cfg = replace(cfg, state=state)
    if address is not None:
        cfg = replace(cfg, grpc=replace(cfg.grpc, address=address))
    if log_level is not None:
        cfg = replace(cfg, log=replace(cfg.log, level=log_level))
    return validate(cfg)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dump_table(name: str, table: dict[str, Any]) -> list[str]:
    plain = [f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    out = ["", f"[{name}]", *plain] if plain else []
    for k, v in table.items():
        if isinstance(v, dict):
            out += _dump_table(f"{name}.{k}", v)
    return out


def dump(cfg: Config) -> str:
    """The effective configuration as TOML (no comments; see DEFAULT_TOML for those)."""
    out = [f"{f.name} = {_toml_value(getattr(cfg, f.name))}" for f in fields(cfg)
           if not hasattr(getattr(cfg, f.name), "__dataclass_fields__") and not isinstance(getattr(cfg, f.name), dict)]
    for f in fields(cfg):
        sub = getattr(cfg, f.name)
        if hasattr(sub, "__dataclass_fields__"):
            out += ["", f"[{f.name}]"] + [f"{g.name} = {_toml_value(getattr(sub, g.name))}" for g in fields(sub)]
        elif isinstance(sub, dict):
            out += _dump_table(f.name, sub)
    return "\n".join(out) + "\n"
