"""The engine's paths and names, derived from seaboxd's root/state and overridable by config.

Design reason: the engine's own knobs (network settings, registry hosts dir, init binary) have
defaults under the daemon's root/state; the ``[engine]`` table of seaboxd's config.toml
overrides them (checked here, so the daemon's config stays the one file a user edits), and the
JSON file named in ``SEABOX_ENGINE_CONFIG`` overrides both — tests use it for their own bridge
names, subnets and CNI dirs without writing a config file."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from seabox.errdefs import InvalidArgument

ENV = "SEABOX_ENGINE_CONFIG"


def _init_binary() -> str:
    for p in ("/usr/bin/tini-static", "/usr/bin/tini", "/sbin/tini"):
        if os.path.exists(p):
            return p
    return shutil.which("tini-static") or ""


@dataclass
class EngineSettings:
    root: Path
    state: Path
    grpc_address: str
    hosts_dir: str = ""
    docker_config: str = ""  # config.json for credentials ("" = the default)
    init_path: str = ""
    mux_splice: bool = True  # gRPC bytes through os.splice (else recv/sendall); see bench/engine_api.py
    network: dict[str, Any] = field(default_factory=dict)  # seabox.network Settings fields

    @property
    def containers_dir(self) -> Path:
        return self.root / "containers"

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    def network_settings(self) -> Any:
        from seabox.network.manager import Settings

        known = {f.name for f in fields(Settings)}
        kw: dict[str, Any] = {"state_dir": str(self.state / "network"), "netns_dir": str(self.state / "netns")}
        for k, v in self.network.items():
            if k not in known:
                raise InvalidArgument(f'engine config: unknown network setting "{k}"')
            kw[k] = tuple(v) if isinstance(v, list) else v
        return Settings(**kw)


_KNOWN = {f.name: f for f in fields(EngineSettings)}
_DERIVED = ("root", "state", "grpc_address")


def check_table(doc: dict[str, Any], source: str = "config: engine") -> None:
    """Reject unknown keys and wrong types in an ``[engine]`` table (or the JSON override)."""
    from seabox.network.manager import Settings

    net_known = {f.name for f in fields(Settings)}
    for k, v in doc.items():
        if k not in _KNOWN or k in _DERIVED:
            raise InvalidArgument(f'{source}: unknown key "{k}"')
        if k == "network":
            if not isinstance(v, dict):
                raise InvalidArgument(f'{source}: "network" must be a table')
            for nk in v:
                if nk not in net_known:
                    raise InvalidArgument(f'{source}: unknown network setting "{nk}"')
        elif k == "mux_splice":
            if not isinstance(v, bool):
                raise InvalidArgument(f'{source}: "mux_splice" must be a bool')
        elif not isinstance(v, str):
            raise InvalidArgument(f'{source}: "{k}" must be a string')


def load(root: str | Path, state: str | Path, grpc_address: str, env: dict[str, str] | None = None,
         table: dict[str, Any] | None = None) -> EngineSettings:
    """Defaults, then ``table`` (config.toml's ``[engine]``), then the ``SEABOX_ENGINE_CONFIG`` file."""
    s = EngineSettings(Path(root), Path(state), grpc_address, init_path=_init_binary())
    if table:
        check_table(table)
        s = replace(s, **{k: v for k, v in table.items() if k != "network" and (v or k == "mux_splice")},
                    network=dict(table.get("network", {})))
    path = (env if env is not None else os.environ).get(ENV, "")
    if path:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise InvalidArgument(f'engine config "{path}": {e}') from None
        if not isinstance(doc, dict):
            raise InvalidArgument(f'engine config "{path}": must be a JSON object')
        check_table(doc, f'engine config "{path}"')
        s = replace(s, **doc)
    if not s.hosts_dir:
        for d in ("/etc/seabox/certs.d", "/etc/containerd/certs.d", "/etc/docker/certs.d"):
            if os.path.isdir(d):
                s.hosts_dir = d
                break
    return s
