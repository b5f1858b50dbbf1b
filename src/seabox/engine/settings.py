"""The engine's paths and names, derived from seaboxd's root/state and overridable by a file.

Design reason: DM's daemon config rejects unknown keys and the engine must not widen it, so the
engine's own knobs (network settings, registry hosts dir, init binary) come from defaults under
the daemon's root/state, overridden by the JSON file named in ``SEABOX_ENGINE_CONFIG`` (tests
use it for their own bridge names, subnets and CNI dirs)."""

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


def load(root: str | Path, state: str | Path, grpc_address: str, env: dict[str, str] | None = None) -> EngineSettings:
    s = EngineSettings(Path(root), Path(state), grpc_address, init_path=_init_binary())
    path = (env if env is not None else os.environ).get(ENV, "")
    if path:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise InvalidArgument(f'engine config "{path}": {e}') from None
        known = {f.name for f in fields(EngineSettings)} - {"root", "state", "grpc_address"}
        for k in doc:
            if k not in known:
                raise InvalidArgument(f'engine config "{path}": unknown key "{k}"')
        s = replace(s, **doc)
    if not s.hosts_dir:
        for d in ("/etc/seabox/certs.d", "/etc/containerd/certs.d", "/etc/docker/certs.d"):
            if os.path.isdir(d):
                s.hosts_dir = d
                break
    return s
