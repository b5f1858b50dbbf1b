"""The image config a stage produces, as docker writes it, from its typed steps.

Docker keeps most instructions out of the filesystem: ENV, CMD, ENTRYPOINT,
WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL, HEALTHCHECK, SHELL and ONBUILD
edit the image's run config, and every instruction leaves a history entry.  This
module replays a stage's steps over its base config as pure data, so the engine
only adds the layers (diff IDs) and timestamps.  Docker's rules kept here:

* ENV replaces a variable in place or appends it; ARG never reaches the config;
* a relative WORKDIR is joined to the current one (the base image's included);
* shell-form CMD/ENTRYPOINT/HEALTHCHECK run through SHELL (``/bin/sh -c`` by default);
* ENTRYPOINT clears a CMD inherited from the base image (a CMD set earlier in the
  same stage stays); ``ENTRYPOINT []`` unsets it;
* the base image's ONBUILD triggers are not inherited; the stage's own are appended;
* PATH is always set (Docker's default PATH when the base has none, even FROM scratch);
* EXPOSE and VOLUME add keys (``80/tcp``, port ranges expanded); MAINTAINER sets the
  image's author; HEALTHCHECK durations are nanoseconds and zero fields are left out.

History entries follow BuildKit's wording (``RUN /bin/sh -c ... # buildkit``,
``ENV A=1``, ``EXPOSE map[80/tcp:{}]``, comment ``buildkit.dockerfile.v0``) with
``empty_layer`` set for config-only instructions (and ``WORKDIR /``).
"""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seabox.build.cachekey import is_filesystem_step
from seabox.build.dockerfile import instructions as ins
from seabox.build.dockerfile.parser import DEFAULT_PATH, DEFAULT_SHELL, BaseImage, Stage, Step
from seabox.oci.image import History

HISTORY_COMMENT = "buildkit.dockerfile.v0"


@dataclass
class StageConfig:
    config: dict[str, Any]
    history: list[History] = field(default_factory=list)  # one per instruction after FROM
    author: str = ""


def base_image(config: Mapping[str, Any] | None) -> BaseImage:
    """What the parser needs from a base image's run config (``parse(..., base_images=...)``)."""
    config = config or {}
    return BaseImage(tuple(config.get("Env") or ()), config.get("WorkingDir") or "", config.get("User") or "",
                     tuple(config.get("Shell") or ()), tuple(config.get("OnBuild") or ()))


def _shell(config: Mapping[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def _argv(config: Mapping[str, Any], command: ins.Command) -> list[str]:
    if command.shell_form:
        return [*_shell(config), command.args[0]]
    return list(command.args)


def _set_env(config: dict[str, Any], key: str, value: str) -> None:
    env = list(config.get("Env") or [])
    for i, kv in enumerate(env):
        if kv.partition("=")[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    config["Env"] = env


def _healthcheck(h: ins.Healthcheck) -> dict[str, Any]:
    out: dict[str, Any] = {"Test": h.test()}
    for key, v in (("Interval", h.interval), ("Timeout", h.timeout), ("StartPeriod", h.start_period),
                   ("StartInterval", h.start_interval), ("Retries", h.retries)):
        if v:
            out[key] = v
    return out


def _workdir(config: Mapping[str, Any], w: ins.Workdir) -> str:
    return posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", w.path))


def _empty_layer(i: ins.Instruction, config: Mapping[str, Any]) -> bool:
    if isinstance(i, ins.Workdir):  # Docker makes the directory (a layer) unless it is "/"
        return _workdir(config, i) == "/"
    return not is_filesystem_step(i)


def created_by(step: Step, config: Mapping[str, Any]) -> str:
    """The history line of a step, in BuildKit's wording."""
    i = step.instruction
    if isinstance(i, ins.Run):
        args = [f"{k}={v}" for k, v in step.state.args]
        prefix = f"|{len(args)} {' '.join(args)} " if args else ""
        argv = _argv(config, i.command)
        return f"RUN {prefix}{' '.join(argv)} # buildkit"
    if isinstance(i, (ins.Copy, ins.Add)):
        flags = ""
        if isinstance(i, ins.Copy) and i.parents:
            flags += "--parents "
        if i.chown:
            flags += f"--chown={i.chown} "
        if i.chmod is not None:
            flags += f"--chmod={i.chmod:o} "
        srcs = [*i.sources, *(f"<<{h.name}" for h in i.heredocs)]
        return f"{i.keyword} {flags}{' '.join(srcs)} {i.dest} # buildkit"
    if isinstance(i, ins.Env):
        return "ENV " + " ".join(f"{k}={v}" for k, v in i.pairs)
    if isinstance(i, ins.Label):
        return "LABEL " + " ".join(f"{k}={v}" for k, v in i.pairs)
    if isinstance(i, ins.Arg):
        return "ARG " + " ".join(a.name if a.default is None else f"{a.name}={a.default}" for a in i.args)
    if isinstance(i, (ins.Cmd, ins.Entrypoint)):
        return f"{i.keyword} [{' '.join(json.dumps(a) for a in _argv(config, i.command))}]"
    if isinstance(i, ins.Shell):
        return f"SHELL [{' '.join(i.shell)}]"
    if isinstance(i, ins.Expose):
        ports = sorted({p for spec in i.ports for p in spec.ports()})
        return "EXPOSE map[" + " ".join(p + ":{}" for p in ports) + "]"
    if isinstance(i, ins.Volume):
        return f"VOLUME [{' '.join(i.paths)}]"
    if isinstance(i, ins.Workdir):
        return f"WORKDIR {_workdir(config, i)}"
    if isinstance(i, ins.User):
        return f"USER {i.user}"
    if isinstance(i, ins.StopSignal):
        return f"STOPSIGNAL {i.signal}"
    if isinstance(i, ins.Healthcheck):
        return "HEALTHCHECK " + json.dumps(_healthcheck(i))
    if isinstance(i, ins.Onbuild):
        return f"ONBUILD {i.trigger}"
    if isinstance(i, ins.Maintainer):
        return f"MAINTAINER {i.name}"
    return i.original


def stage_config(stage: Stage, base: Mapping[str, Any] | None = None, *, created: str = "") -> StageConfig:
    """Replay ``stage``'s steps over ``base`` (the base image's run config; None for scratch)."""
    config: dict[str, Any] = copy.deepcopy(dict(base or {}))
    config.pop("OnBuild", None)
    if not any(kv.partition("=")[0] == "PATH" for kv in config.get("Env") or ()):
        config["Env"] = [*(config.get("Env") or []), "PATH=" + DEFAULT_PATH]
    out = StageConfig(config)
    cmd_set = False
    for step in stage.steps:
        i = step.instruction
        line = created_by(step, config)
        empty = _empty_layer(i, config)
        if isinstance(i, ins.Env):
            for k, v in i.pairs:
                _set_env(config, k, v)
        elif isinstance(i, ins.Workdir):
            config["WorkingDir"] = _workdir(config, i)
        elif isinstance(i, ins.User):
            config["User"] = i.user
        elif isinstance(i, ins.Cmd):
            config["Cmd"] = _argv(config, i.command)
            cmd_set = True
        elif isinstance(i, ins.Entrypoint):
            argv = _argv(config, i.command)
            config["Entrypoint"] = argv or None
            if not cmd_set:
                config["Cmd"] = None
        elif isinstance(i, ins.Shell):
            config["Shell"] = list(i.shell)
        elif isinstance(i, ins.Expose):
            ports = dict(config.get("ExposedPorts") or {})
            for spec in i.ports:
                for p in spec.ports():
                    ports[p] = {}
            config["ExposedPorts"] = ports
        elif isinstance(i, ins.Volume):
            vols = dict(config.get("Volumes") or {})
            for path in i.paths:
                vols[path] = {}
            config["Volumes"] = vols
        elif isinstance(i, ins.Label):
            labels = dict(config.get("Labels") or {})
            labels.update(dict(i.pairs))
            config["Labels"] = labels
        elif isinstance(i, ins.StopSignal):
            config["StopSignal"] = i.signal
        elif isinstance(i, ins.Healthcheck):
            config["Healthcheck"] = _healthcheck(i)
        elif isinstance(i, ins.Onbuild):
            config["OnBuild"] = [*(config.get("OnBuild") or []), i.trigger]
        elif isinstance(i, ins.Maintainer):
            out.author = i.name
        out.history.append(History(created=created, created_by=line, comment=HISTORY_COMMENT, empty_layer=empty))
    return out
