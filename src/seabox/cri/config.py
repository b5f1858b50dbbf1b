"""The CRI plugin's settings: a ``[plugins.cri]`` table in TOML.

Design reason: the table lives in seaboxd's config.toml, like containerd's, so a user edits
one file; the daemon's config keeps it raw and this module checks it.  Tests point
``SEABOX_CRI_CONFIG`` at a TOML file of their own, which wins over config.toml; without
either, a stand-alone ``/etc/seabox/cri.toml`` is still read if present.  The table holds containerd's key names where containerd has one
(``restrict_oom_score_adj``, ``[plugins.cri.cni] bin_dir/conf_dir``, ``[plugins.cri.registry]
config_path``, ``stream_server_address/port``), so a containerd user recognises them.
Paths default under the daemon's root and state, so tests redirect everything.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from seabox.errdefs import InvalidArgument

ENV = "SEABOX_CRI_CONFIG"
DEFAULT_PATH = "/etc/seabox/cri.toml"
NAMESPACE = "k8s.io"


@dataclass
class CRIConfig:
    root: str  # <daemon root>/cri: records, pause rootfs, pod files
    state: str  # <daemon state>/cri: FIFOs, netns
    enabled: bool = True
    sandbox_image: str = ""  # "" = the built-in pause (busybox-static from the host)
    pause_binary: str = "/bin/busybox"  # a static busybox copied into the built-in pause rootfs
    cni_bin_dirs: list[str] = field(default_factory=lambda: ["/usr/lib/cni", "/opt/cni/bin"])
    cni_conf_dir: str = "/etc/seabox/cni/net.d"
    cni_max_conf_num: int = 1
    registry_config_path: str = ""  # hosts.toml directory ("" = /etc/seabox/certs.d if present)
    restrict_oom_score_adj: bool = False
    stream_server_address: str = "127.0.0.1"
    stream_server_port: int = 0  # 0 = any free port
    stream_idle_timeout: float = 14400.0
    snapshotter: str = "overlayfs"
    enable_seccomp_default: bool = False  # RuntimeDefault when the pod gives no seccomp profile

    @property
    def netns_dir(self) -> str:
        return str(Path(self.state) / "netns")

    @property
    def cni_cache_dir(self) -> str:
        return str(Path(self.state) / "cni-cache")

    def hosts_dir(self) -> str | None:
        if self.registry_config_path:
            return self.registry_config_path
        for d in ("/etc/seabox/certs.d", "/etc/containerd/certs.d"):
            if os.path.isdir(d):
                return d
        return None


_ALIASES = {("cni", "bin_dir"): "cni_bin_dirs", ("cni", "bin_dirs"): "cni_bin_dirs", ("cni", "conf_dir"): "cni_conf_dir",
            ("cni", "max_conf_num"): "cni_max_conf_num", ("registry", "config_path"): "registry_config_path"}


def from_table(table: dict[str, Any], root: str, state: str) -> CRIConfig:
    cfg = CRIConfig(root=str(Path(root) / "cri"), state=str(Path(state) / "cri"))
    known = {f.name: f for f in fields(CRIConfig)}
    flat: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                name = _ALIASES.get((k, k2))
                if name is None:
                    raise InvalidArgument(f'cri config: unknown key "plugins.cri.{k}.{k2}"')
                flat[name] = [v2] if name == "cni_bin_dirs" and isinstance(v2, str) else v2
        elif k in known and k not in ("root", "state"):
            flat[k] = v
        else:
            raise InvalidArgument(f'cri config: unknown key "plugins.cri.{k}"')
    for k, v in flat.items():
        default = getattr(cfg, k)
        if isinstance(default, float) and isinstance(v, int):
            v = float(v)
        if type(v) is not type(default):
            raise InvalidArgument(f'cri config: "{k}" must be a {type(default).__name__}, not {type(v).__name__}')
        setattr(cfg, k, v)
    return cfg


def parse(text: str, root: str, state: str, source: str = "cri config") -> CRIConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{source}: {e}")
    plugins = doc.get("plugins", {})
    table = plugins.get("cri", {}) if isinstance(plugins, dict) else {}
    for k in doc:
        if k != "plugins":
            raise InvalidArgument(f'{source}: unknown key "{k}" (the CRI reads only [plugins.cri])')
    return from_table(table, root, state)


def load(root: str, state: str, env: dict[str, str] | None = None, table: dict[str, Any] | None = None) -> CRIConfig:
    """``SEABOX_CRI_CONFIG``'s file, else ``table`` (config.toml's [plugins.cri]), else cri.toml."""
    path = (env if env is not None else os.environ).get(ENV, "")
    explicit = bool(path)
    if not explicit and table is not None:
        return from_table(table, root, state)
    path = path or DEFAULT_PATH
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(f'cri config "{path}": not found')
        return from_table({}, root, state)
    except OSError as e:
        raise InvalidArgument(f'cri config "{path}": {e.strerror}')
    return parse(text, root, state, f'cri config "{path}"')
