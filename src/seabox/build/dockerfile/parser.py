"""Logical lines to typed, expanded instructions grouped in stages.

The parser applies Docker's scoping rules while it walks the file, because the
values an instruction sees depend on where it stands:

* ARGs before the first FROM are global: usable in FROM lines only, unless a stage
  declares ``ARG NAME`` again (which then inherits the global value);
* ``--build-arg`` values override ARG defaults; ENV always wins over an ARG of the
  same name (the reference's rule; BuildKit lets a later ARG with a value shadow an
  earlier ENV for the steps that follow); the proxy args (``HTTP_PROXY`` ...) reach RUN
  without a declaration but stay out of cache keys and history unless declared;
* ``TARGETPLATFORM``/``TARGETOS``/``TARGETARCH``/``TARGETVARIANT`` and the
  ``BUILD*`` equivalents are set automatically: globally, and in a stage once declared;
* a stage FROM another stage inherits its ENV, WORKDIR, USER and SHELL; a stage FROM
  an image inherits what the caller tells us about that image (``base_images``),
  so the engine can parse once to learn the images, then again with their configs;
  that second parse also inserts the base image's ONBUILD triggers as the stage's
  first steps (``Step.onbuild``), reported at the FROM line if they are bad; FROM
  an earlier stage runs that stage's own ONBUILD instructions the same way;
* PATH is always in the environment (Docker's default when the base sets none);
* ``COPY --from``/``--mount from=`` may name an earlier stage (by name or index), an
  image, or — refused as Docker does — a later stage or a cycle.

Each instruction is recorded as a ``Step`` with the build state it starts from
(env, args, workdir, user, shell): that is exactly what the executor and the cache
key need, computed in one pure place.
"""

from __future__ import annotations

import csv
import difflib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from seabox.build.dockerfile import instructions as ins
from seabox.build.dockerfile.errors import DockerfileError, ExpansionError
from seabox.build.dockerfile.lexer import Directives, Heredoc, LogicalLine, lex
from seabox.build.dockerfile.words import (
    expand_heredoc,
    expand_word,
    expand_words,
    split_raw,
    unquote_words,
)

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)
PLATFORM_ARGS = (
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
)
DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_FLAGS: dict[str, dict[str, str]] = {  # name -> kind: "str", "bool", "multi"
    "FROM": {"platform": "str"},
    "RUN": {"mount": "multi", "network": "str", "security": "str"},
    "COPY": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool", "exclude": "multi"},
    "ADD": {"chown": "str", "chmod": "str", "link": "bool", "checksum": "str", "keep-git-dir": "bool",
            "exclude": "multi"},
    "HEALTHCHECK": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}
KNOWN = ("FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "SHELL", "EXPOSE",
         "LABEL", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD", "MAINTAINER")
_MOUNT_DEFAULT_MODE = {"cache": 0o755, "secret": 0o400, "ssh": 0o600}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9}
_SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
    "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
    "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
    "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31, "RTMIN": 34, "RTMAX": 64,
}


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseImage:
    """What the engine knows about an external base image's config (for ENV/WORKDIR/USER inheritance)."""

    env: tuple[str, ...] = ()  # "K=V"
    workdir: str = ""
    user: str = ""
    shell: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()  # triggers, run right after FROM in the child stage


@dataclass(frozen=True)
class StepState:
    """The build state an instruction starts from."""

    env: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str], ...] = ()  # ARGs declared in the stage that have a value
    workdir: str = "/"
    user: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    proxy: tuple[tuple[str, str], ...] = ()  # predefined proxy build args not declared with ARG

    def argv(self, command: ins.Command) -> list[str]:
        """The argv of a CMD/ENTRYPOINT/HEALTHCHECK command: shell form runs through SHELL."""
        if command.shell_form:
            return [*self.shell, command.args[0]]
        return list(command.args)

    def run_argv(self, run: ins.Run) -> list[str]:
        """The argv of a RUN step, heredocs included.

        A lone heredoc (``RUN <<EOF``) is the script itself; otherwise the heredoc bodies
        follow the command, so the shell sees ``cmd <<EOF`` with its body.  A lone
        heredoc starting with ``#!`` should instead be written to a file and executed
        (``Run.shebang_script``).
        """
        if not run.command.shell_form:
            return list(run.command.args)
        text = run.command.args[0]
        if not run.heredocs:
            return [*self.shell, text]
        if run.is_lone_heredoc():
            return [*self.shell, run.heredocs[0].content]
        bodies = "".join(h.content + h.name + "\n" for h in run.heredocs)
        return [*self.shell, text + "\n" + bodies]

    def run_env(self) -> list[str]:
        """The environment of a RUN step: proxy args, then ARGs, ENV overriding them."""
        merged = dict(self.proxy)
        merged.update(self.args)
        merged.update(self.env)
        return [f"{k}={v}" for k, v in merged.items()]

    def cache_env(self) -> list[str]:
        """``run_env`` without undeclared proxy args, which Docker exempts from the cache."""
        merged = dict(self.args)
        merged.update(self.env)
        return [f"{k}={v}" for k, v in merged.items()]


@dataclass(frozen=True)
class Step:
    instruction: ins.Instruction
    state: StepState
    onbuild: bool = False  # a trigger inherited from the base image's ONBUILD


@dataclass(frozen=True)
class StageRef:
    """A reference from one stage to another stage or an image: ``via`` is "from", "copy" or "mount"."""

    line: int
    via: str
    name: str  # as written (expanded)
    stage: int | None  # index of the referenced stage, None for an image


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None
    from_: ins.From
    base_stage: int | None  # FROM <earlier stage>
    steps: tuple[Step, ...]
    final: StepState
    refs: tuple[StageRef, ...] = ()

    @property
    def instructions(self) -> tuple[ins.Instruction, ...]:
        return tuple(s.instruction for s in self.steps)

    @property
    def base_image(self) -> str | None:
        """The external image this stage starts from; None for scratch or a stage."""
        if self.base_stage is not None or self.from_.image.lower() == "scratch":
            return None
        return self.from_.image

    @property
    def platform(self) -> str | None:
        return self.from_.platform

    def display(self) -> str:
        return self.name or str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    filename: str
    directives: Directives
    global_args: tuple[ins.ArgDecl, ...]
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = ()
    unused_build_args: tuple[str, ...] = ()

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive) or index."""
        if isinstance(ref, int) or ref.isdigit():
            i = int(ref)
            if 0 <= i < len(self.stages):
                return self.stages[i]
        else:
            for st in self.stages:
                if st.name == ref.lower():
                    return st
        from seabox import errdefs

        raise errdefs.NotFound(errdefs.subject("stage", str(ref), "not found in " + self.filename))


# -- parsing -----------------------------------------------------------------------------------------

_STATE_CHANGING = (ins.Env, ins.Arg, ins.Workdir, ins.User, ins.Shell)


@dataclass
class _StageBuilder:
    index: int
    name: str | None
    from_: ins.From
    base_stage: int | None
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    steps: list[Step] = field(default_factory=list)
    refs: list[StageRef] = field(default_factory=list)
    cached: StepState | None = None

    def add(self, step: Step) -> None:
        self.steps.append(step)
        if isinstance(step.instruction, _STATE_CHANGING):
            self.cached = None

    def lookup(self, name: str) -> str | None:
        if name in self.env:
            return self.env[name]
        return self.args.get(name)

    def state(self, proxies: Mapping[str, str]) -> StepState:
        """The current build state; reused until an ENV/ARG/WORKDIR/USER/SHELL changes it."""
        if self.cached is None:
            self.cached = self._state(proxies)
        return self.cached

    def _state(self, proxies: Mapping[str, str]) -> StepState:
        args = {k: v for k, v in self.args.items() if v is not None}
        proxy = tuple((k, v) for k, v in proxies.items() if k not in self.args)
        return StepState(tuple(self.env.items()), tuple(args.items()), self.workdir, self.user, self.shell, proxy)


def _platform_args(target: str, build: str) -> dict[str, str]:
    out = {}
    for prefix, plat in (("TARGET", target), ("BUILD", build)):
        parts = plat.split("/")
        out[prefix + "PLATFORM"] = plat
        out[prefix + "OS"] = parts[0]
        out[prefix + "ARCH"] = parts[1] if len(parts) > 1 else ""
        out[prefix + "VARIANT"] = parts[2] if len(parts) > 2 else ""
    return out


def _host_platform() -> str:
    from seabox.oci import platform

    return str(platform.host())


class _Parser:
    def __init__(
        self,
        filename: str,
        build_args: Mapping[str, str],
        target_platform: str,
        build_platform: str,
        base_images: Mapping[str, BaseImage],
    ) -> None:
        self.filename = filename
        self.build_args = dict(build_args)
        self.platform_args = _platform_args(target_platform, build_platform)
        self.base_images = base_images
        self.escape = "\\"
        self.global_args: dict[str, str | None] = {}
        self.global_decls: list[ins.ArgDecl] = []
        self.declared: set[str] = set()
        self.stages: list[_StageBuilder] = []
        self.warnings: list[str] = []
        self.proxies = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS}

    # -- helpers --------------------------------------------------------------------------------------
    def err(self, ll: LogicalLine, message: str) -> DockerfileError:
        return DockerfileError(self.filename, ll.line, message, ll.text)

    def global_lookup(self, name: str) -> str | None:
        if name in self.global_args:
            return self.global_args[name]
        return self.platform_args.get(name)

    def from_lookup(self, st: _StageBuilder) -> Callable[[str], str | None]:
        """``--from``/``--mount`` values also see the global ARGs (as Docker resolves stage references)."""

        def lookup(name: str) -> str | None:
            v = st.lookup(name)
            return v if v is not None else self.global_lookup(name)

        return lookup

    def word(self, ll: LogicalLine, text: str, lookup: Callable[[str], str | None]) -> str:
        try:
            return expand_word(text, lookup, self.escape)
        except ExpansionError as e:
            raise self.err(ll, str(e)) from None

    def words(self, ll: LogicalLine, text: str, lookup: Callable[[str], str | None]) -> list[str]:
        try:
            return expand_words(text, lookup, self.escape)
        except ExpansionError as e:
            raise self.err(ll, str(e)) from None

    def flags(self, ll: LogicalLine, kw: str) -> tuple[dict[str, list[str]], str]:
        """Leading ``--name[=value]`` words; returns them and the remaining argument text."""
        allowed = _FLAGS.get(kw, {})
        out: dict[str, list[str]] = {}
        rest = ll.rest
        while rest.startswith("--"):
            w = split_raw(rest, self.escape)[0]
            rest = rest[len(w):].lstrip()
            try:
                unquote_words(w, self.escape)
            except ExpansionError as e:
                raise self.err(ll, f"flag {w.split('=', 1)[0]}: {e}") from None
            if w == "--":
                break
            name, eq, value = w[2:].partition("=")
            kind = allowed.get(name)
            if kind is None:
                raise self.err(ll, f"unknown flag: --{name}")
            if kind == "bool":
                if eq and value.lower() not in ("true", "false"):
                    raise self.err(ll, f"expecting boolean value for flag --{name}, not {value!r}")
                value = "true" if not eq else value.lower()
            elif not eq or value == "":
                raise self.err(ll, f"missing a value on flag: --{name}")
            if name in out and kind != "multi":
                raise self.err(ll, f"duplicate flag specified: --{name}")
            out.setdefault(name, []).append(value)
        return out, rest

    def json_or_none(self, ll: LogicalLine, rest: str) -> list[str] | None:
        """Exec (JSON) form, or None for shell form.

        Docker silently runs a malformed JSON form as a shell string; seabox refuses text
        that opens like a JSON array (``["``) but is not one, since no shell could run it.
        """
        s = rest.strip()
        if not s.startswith("["):
            return None
        try:
            v = json.loads(s)
        except ValueError:
            v = None
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
        if re.match(r'^\[\s*"', s) and s.endswith("]") and not s.startswith("[ "):
            raise self.err(ll, "invalid JSON-form arguments (expected an array of strings)")
        return None

    def no_flags(self, ll: LogicalLine, kw: str) -> str:
        _, rest = self.flags(ll, kw)
        return rest

    # -- main loop ------------------------------------------------------------------------------------
    def run(self, text: str) -> Dockerfile:
        lexed = lex(text, self.filename)
        self.escape = lexed.directives.escape
        for line, msg in lexed.warnings:
            self.warnings.append(f"{self.filename}:{line}: {msg}")
        if not lexed.lines:
            raise DockerfileError(self.filename, 1, "file with no instructions")
        for ll in lexed.lines:
            kw = ll.keyword.upper()
            if kw not in KNOWN:
                close = difflib.get_close_matches(kw, KNOWN, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.err(ll, f"unknown instruction: {ll.keyword}{hint}")
            if not self.stages and kw not in ("ARG", "FROM"):
                raise self.err(ll, "no build stage in current context: the file must start with FROM "
                                   "(only ARG may come before it)")
            if kw == "FROM":
                self.do_from(ll)
                self.run_triggers(ll)
                continue
            if kw == "ARG" and not self.stages:
                self.do_global_arg(ll)
                continue
            st = self.stages[-1]
            state = st.state(self.proxies)
            instr = getattr(self, "do_" + kw.lower())(ll, st)
            st.add(Step(instr, state))
        if not self.stages:
            raise self.err(lexed.lines[-1], "no FROM instruction: a Dockerfile needs at least one stage")
        stages = self.finish()
        unused = sorted(k for k in self.build_args if k not in self.declared and k not in PROXY_ARGS
                        and k not in PLATFORM_ARGS)
        return Dockerfile(self.filename, lexed.directives, tuple(self.global_decls), stages, tuple(self.warnings),
                          tuple(unused))

    def finish(self) -> tuple[Stage, ...]:
        names = {st.name: st.index for st in self.stages if st.name}
        resolved: list[Stage] = []
        for st in self.stages:
            refs = []
            for r in st.refs:
                idx: int | None
                if r.via == "from":
                    idx = st.base_stage
                elif r.name.isdigit():
                    idx = int(r.name)
                    if idx >= len(self.stages):
                        raise DockerfileError(self.filename, r.line, f"unknown stage {r.name!r} in --from "
                                              f"(there are {len(self.stages)} stages)", self._text_at(r.line))
                else:
                    idx = names.get(r.name.lower())
                    if idx is None:
                        from seabox.oci import reference

                        if not reference.is_valid(r.name):
                            raise DockerfileError(self.filename, r.line, f"unknown stage or invalid image "
                                                  f"reference {r.name!r} in --from", self._text_at(r.line))
                refs.append(replace(r, stage=idx))
            resolved.append(Stage(st.index, st.name, st.from_, st.base_stage, tuple(st.steps),
                                  st.state(self.proxies), tuple(refs)))
        self._check_cycles(resolved)
        for st2 in resolved:
            for r in st2.refs:
                if r.stage is not None and r.stage > st2.index:
                    what = "copy from" if r.via == "copy" else "mount from"
                    raise DockerfileError(self.filename, r.line, f"cannot {what} stage "
                                          f"{resolved[r.stage].display()!r}, it needs to be defined before "
                                          f"current stage {st2.display()!r}", self._text_at(r.line))
        return tuple(resolved)

    def _text_at(self, line: int) -> str:
        for st in self.stages:
            if st.from_.line == line:
                return st.from_.original
            for s in st.steps:
                if s.instruction.line == line:
                    return s.instruction.original
        return ""

    def _check_cycles(self, stages: list[Stage]) -> None:
        """Refuse reference cycles, naming a forward reference of the cycle (FROM can only look back)."""
        color = [0] * len(stages)
        path: list[tuple[int, StageRef]] = []

        def visit(i: int) -> None:
            color[i] = 1
            for r in stages[i].refs:
                if r.stage is None:
                    continue
                if color[r.stage] == 1:
                    start = next((k for k, (s, _) in enumerate(path) if s == r.stage), len(path))
                    cycle = [*path[start:], (i, r)]
                    forward = [(s, ref) for s, ref in cycle if ref.stage is not None and ref.stage >= s]
                    src, bad = min(forward or cycle, key=lambda c: c[1].line)
                    target = stages[bad.stage].display() if bad.stage is not None else bad.name
                    raise DockerfileError(self.filename, bad.line, f"circular dependency detected on stage: "
                                          f"{stages[src].display()} (refers to {target})",
                                          self._text_at(bad.line))
                if color[r.stage] == 0:
                    path.append((i, r))
                    visit(r.stage)
                    path.pop()
            color[i] = 2

        for i in range(len(stages)):
            if color[i] == 0:
                visit(i)

    # -- FROM / ARG -------------------------------------------------------------------------------------
    def do_from(self, ll: LogicalLine) -> None:
        flags, rest = self.flags(ll, "FROM")
        raw = split_raw(rest, self.escape)
        if len(raw) not in (1, 3) or (len(raw) == 3 and raw[1].upper() != "AS"):
            raise self.err(ll, "FROM requires either one argument, or three: FROM <image> [AS <name>]")
        image = self.word(ll, raw[0], self.global_lookup)
        if not image:
            raise self.err(ll, "FROM: base name should not be blank (an ARG it uses is empty)")
        name = None
        if len(raw) == 3:
            name = raw[2].lower()
            if not _STAGE_NAME.match(name):
                raise self.err(ll, f"invalid name for build stage: {raw[2]!r}, name can't start with a number "
                                   "or contain symbols")
            if any(s.name == name for s in self.stages):
                raise self.err(ll, f"duplicate stage name {name!r}")
        platform = None
        if "platform" in flags:
            platform = self.word(ll, flags["platform"][0], self.global_lookup)
        frm = ins.From(ll.line, ll.end_line, ll.text, image, name, platform)
        base_stage = None
        for s in self.stages:
            if s.name == image.lower():
                base_stage = s.index
        st = _StageBuilder(len(self.stages), name, frm, base_stage)
        if base_stage is not None:
            b = self.stages[base_stage]
            st.env, st.workdir, st.user, st.shell = dict(b.env), b.workdir, b.user, b.shell
        elif image in self.base_images:
            bi = self.base_images[image]
            for kv in bi.env:
                k, _, v = kv.partition("=")
                st.env[k] = v
            st.workdir = bi.workdir or "/"
            st.user = bi.user
            if bi.shell:
                st.shell = bi.shell
        if base_stage is None and "PATH" not in st.env:
            st.env["PATH"] = DEFAULT_PATH  # Docker always sets PATH, even FROM scratch
        if base_stage is not None:
            st.refs.append(StageRef(ll.line, "from", image, base_stage))
        self.stages.append(st)

    def run_triggers(self, from_line: LogicalLine) -> None:
        """Insert the base image's ONBUILD triggers as the stage's first steps (at the FROM line)."""
        st = self.stages[-1]
        if st.base_stage is not None:  # FROM a stage: that stage's own ONBUILD instructions
            parent = self.stages[st.base_stage]
            triggers = tuple(s.instruction.trigger for s in parent.steps
                             if isinstance(s.instruction, ins.Onbuild))
        else:
            bi = self.base_images.get(st.from_.image)
            triggers = bi.onbuild if bi is not None else ()
        for trigger in triggers:
            try:
                lines = lex(trigger, self.filename).lines
            except DockerfileError as e:
                raise self.err(from_line, f"ONBUILD trigger {trigger!r} of {st.from_.image}: {e.message}") from None
            if len(lines) != 1:
                raise self.err(from_line, f"ONBUILD trigger {trigger!r} of {st.from_.image}: a trigger must be "
                                          "a single instruction")
            for tl in lines:
                kw = tl.keyword.upper()
                if kw in ("ONBUILD", "FROM", "MAINTAINER") or kw not in KNOWN:
                    raise self.err(from_line, f"invalid ONBUILD trigger {tl.text!r} in {st.from_.image}")
                ll = replace(tl, line=from_line.line, end_line=from_line.end_line)
                state = st.state(self.proxies)
                try:
                    instr = getattr(self, "do_" + kw.lower())(ll, st)
                except DockerfileError as e:
                    raise self.err(from_line, f"ONBUILD trigger {tl.text!r} of {st.from_.image}: {e.message}") \
                        from None
                st.add(Step(instr, state, onbuild=True))

    def _arg_decls(self, ll: LogicalLine, lookup: Callable[[str], str | None]) -> list[tuple[str, str | None]]:
        rest = self.no_flags(ll, "ARG")
        raw = split_raw(rest, self.escape)
        if not raw:
            raise self.err(ll, "ARG requires at least one argument")
        out = []
        for w in raw:
            name, eq, default = w.partition("=")
            if not name:
                raise self.err(ll, "ARG names can not be blank")
            out.append((name, self.word(ll, default, lookup) if eq else None))
        return out

    def do_global_arg(self, ll: LogicalLine) -> None:
        for name, default in self._arg_decls(ll, self.global_lookup):
            value = self.build_args.get(name, default)
            if name in PLATFORM_ARGS and name not in self.build_args and default is None:
                value = self.platform_args[name]
            self.global_args[name] = value
            self.declared.add(name)
            self.global_decls.append(ins.ArgDecl(name, default, value))

    def do_arg(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        decls = []
        for name, default in self._arg_decls(ll, st.lookup):
            if name in self.build_args:
                value: str | None = self.build_args[name]
            elif default is not None:
                value = default
            elif name in self.global_args:
                value = self.global_args[name]
            else:
                value = self.platform_args.get(name)
            st.args[name] = value
            self.declared.add(name)
            decls.append(ins.ArgDecl(name, default, value))
        return ins.Arg(ll.line, ll.end_line, ll.text, tuple(decls))

    # -- RUN / CMD / ENTRYPOINT / SHELL ----------------------------------------------------------------------
    def command(self, ll: LogicalLine, rest: str, kw: str) -> ins.Command:
        if not rest.strip():
            raise self.err(ll, f"{kw} requires at least one argument")
        v = self.json_or_none(ll, rest)
        if v is not None:
            return ins.Command(tuple(v), False)
        return ins.Command((rest,), True)

    def do_run(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        flags, rest = self.flags(ll, "RUN")
        cmd = self.command(ll, rest, "RUN")
        mounts = tuple(self.mount(ll, st, m) for m in flags.get("mount", []))
        network = self.word(ll, flags.get("network", ["default"])[0], st.lookup)
        if network not in ("default", "none", "host"):
            raise self.err(ll, f"unsupported network mode {network!r} (default, none or host)")
        security = flags.get("security", ["sandbox"])[0]
        if security not in ("sandbox", "insecure"):
            raise self.err(ll, f"unsupported security mode {security!r} (sandbox or insecure)")
        for m in mounts:
            if m.from_:
                st.refs.append(StageRef(ll.line, "mount", m.from_, None))
        return ins.Run(ll.line, ll.end_line, ll.text, cmd, mounts, network, security, ll.heredocs)

    def mount(self, ll: LogicalLine, st: _StageBuilder, spec: str) -> ins.Mount:
        text = self.word(ll, spec, self.from_lookup(st))
        try:
            fields = next(csv.reader([text]))
        except (csv.Error, StopIteration):
            raise self.err(ll, f"invalid --mount {text!r}") from None
        kv: dict[str, str] = {}
        for f in fields:
            k, eq, v = f.strip().partition("=")
            k = k.lower()
            if not eq:
                if k not in ("ro", "readonly", "rw", "readwrite", "required"):
                    raise self.err(ll, f"--mount: unexpected key {k!r} (need key=value)")
                v = "true"
            kv[k] = v
        mtype = kv.pop("type", "bind")
        if mtype not in ("bind", "cache", "tmpfs", "secret", "ssh"):
            raise self.err(ll, f"--mount: unsupported mount type {mtype!r}")
        m: dict[str, object] = {"type": mtype}
        readonly = mtype == "bind"
        for k, v in kv.items():
            if k in ("target", "dst", "destination"):
                m["target"] = v
            elif k in ("source", "src"):
                m["source"] = v
            elif k == "from":
                m["from_"] = v
            elif k == "id":
                m["id"] = v
            elif k == "sharing":
                if v not in ("shared", "private", "locked"):
                    raise self.err(ll, f"--mount: unsupported sharing value {v!r} (shared, private or locked)")
                m["sharing"] = v
            elif k in ("ro", "readonly", "rw", "readwrite", "required"):
                b = _bool(v)
                if b is None:
                    raise self.err(ll, f"--mount: invalid value for {k}: {v!r}")
                if k == "required":
                    m["required"] = b
                else:
                    readonly = b if k in ("ro", "readonly") else not b
            elif k == "mode":
                try:
                    m["mode"] = int(v, 8)
                except ValueError:
                    raise self.err(ll, f"--mount: invalid mode {v!r} (octal expected)") from None
            elif k in ("uid", "gid", "size"):
                try:
                    m[k] = int(v)
                except ValueError:
                    raise self.err(ll, f"--mount: invalid {k} {v!r}") from None
            elif k == "env" and mtype == "secret":
                m["env"] = v
            else:
                raise self.err(ll, f"--mount: unexpected key {k!r} for type={mtype}")
        if mtype == "secret":
            if not m.get("id") and not m.get("target"):
                raise self.err(ll, "--mount type=secret needs id or target")
            if not m.get("id"):
                m["id"] = posixpath.basename(str(m["target"]))
            if not m.get("target") and not m.get("env"):
                m["target"] = "/run/secrets/" + str(m["id"])
        elif mtype == "ssh":
            m.setdefault("id", "default")
            m.setdefault("target", "/run/buildkit/ssh_agent.0")
        elif not m.get("target"):
            raise self.err(ll, f"--mount type={mtype} requires target")
        if mtype == "cache" and not m.get("id"):
            m["id"] = str(m["target"])
        if mtype in _MOUNT_DEFAULT_MODE:  # the documented defaults, explicit so they are part of the key
            m.setdefault("mode", _MOUNT_DEFAULT_MODE[mtype])
            m.setdefault("uid", 0)
            m.setdefault("gid", 0)
        m["readonly"] = readonly
        return ins.Mount(**m)  # type: ignore[arg-type]

    def do_cmd(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        return ins.Cmd(ll.line, ll.end_line, ll.text, self.command(ll, self.no_flags(ll, "CMD"), "CMD"))

    def do_entrypoint(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "ENTRYPOINT")
        return ins.Entrypoint(ll.line, ll.end_line, ll.text, self.command(ll, rest, "ENTRYPOINT"))

    def do_shell(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "SHELL")
        try:
            v = json.loads(rest)
        except ValueError:
            v = None
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise self.err(ll, "SHELL requires the arguments to be in JSON form (a non-empty array of strings)")
        st.shell = tuple(v)
        return ins.Shell(ll.line, ll.end_line, ll.text, tuple(v))

    # -- COPY / ADD -----------------------------------------------------------------------------------------
    def _copy_args(self, ll: LogicalLine, st: _StageBuilder, rest: str, kw: str) -> tuple[list[str], str]:
        v = self.json_or_none(ll, rest)
        if v is not None:
            words = [self.word(ll, w, st.lookup) for w in v]
        else:
            words = []
            raw = split_raw(rest, self.escape)
            if ll.heredocs and raw and re.match(r"^\d*<<", raw[-1]) and not raw[-1].startswith("<<<"):
                raise self.err(ll, f"{kw} cannot accept a heredoc as a destination")
            i = 0
            while i < len(raw):
                m = re.match(r"^\d*<<(-?)(.*)$", raw[i]) if ll.heredocs else None
                if m and not m.group(2).startswith("<"):
                    i += 1 if m.group(2) else 2  # "<< EOF" names the heredoc in the next word
                    continue
                words.extend(self.words(ll, raw[i], st.lookup))
                i += 1
        if len(words) + len(ll.heredocs) < 2 or not words:
            raise self.err(ll, f"{kw} requires at least two arguments: source(s) and destination")
        return words[:-1], words[-1]

    def _chmod(self, ll: LogicalLine, flags: dict[str, list[str]], st: _StageBuilder) -> int | None:
        if "chmod" not in flags:
            return None
        v = self.word(ll, flags["chmod"][0], st.lookup)
        if not re.match(r"^[0-7]{3,4}$", v):
            raise self.err(ll, f"invalid --chmod value {v!r} (octal mode expected, e.g. 0755)")
        return int(v, 8)

    def _heredocs(self, ll: LogicalLine, st: _StageBuilder) -> tuple[Heredoc, ...]:
        out = []
        for h in ll.heredocs:
            if h.expand:
                try:
                    h = replace(h, content=expand_heredoc(h.content, st.lookup, self.escape))
                except ExpansionError as e:
                    raise self.err(ll, str(e)) from None
            out.append(h)
        return tuple(out)

    def do_copy(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        flags, rest = self.flags(ll, "COPY")
        srcs, dest = self._copy_args(ll, st, rest, "COPY")
        frm = self.word(ll, flags["from"][0], self.from_lookup(st)) if "from" in flags else None
        if frm is not None:
            if not frm:
                raise self.err(ll, "--from must not be empty")
            if frm.lower() == st.name or frm == str(st.index):
                raise self.err(ll, f"circular dependency: stage {st.name or st.index!s} copies from itself")
            st.refs.append(StageRef(ll.line, "copy", frm, None))
        chown = self.word(ll, flags["chown"][0], st.lookup) if "chown" in flags else None
        for src in srcs:
            if re.match(r"^[a-z][a-z0-9+.-]*://", src, re.I):
                raise self.err(ll, f"COPY source can't be a URL ({src}): use ADD")
        return ins.Copy(ll.line, ll.end_line, ll.text, tuple(srcs), dest, frm, chown, self._chmod(ll, flags, st),
                        flags.get("link", ["false"])[0] == "true", flags.get("parents", ["false"])[0] == "true",
                        tuple(self.word(ll, e, st.lookup) for e in flags.get("exclude", [])),
                        self._heredocs(ll, st))

    def do_add(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        flags, rest = self.flags(ll, "ADD")
        srcs, dest = self._copy_args(ll, st, rest, "ADD")
        chown = self.word(ll, flags["chown"][0], st.lookup) if "chown" in flags else None
        checksum = self.word(ll, flags["checksum"][0], st.lookup) if "checksum" in flags else None
        if checksum is not None and not re.match(r"^sha(256|384|512):[0-9a-f]+$", checksum):
            raise self.err(ll, f"invalid --checksum {checksum!r} (sha256:<hex> expected)")
        if checksum is not None and not all(src.startswith(("http://", "https://")) for src in srcs):
            raise self.err(ll, "ADD --checksum only supports HTTP(S) sources")
        if checksum is not None and len(srcs) != 1:
            raise self.err(ll, "ADD --checksum can't be specified for multiple sources")
        return ins.Add(ll.line, ll.end_line, ll.text, tuple(srcs), dest, chown, self._chmod(ll, flags, st),
                       flags.get("link", ["false"])[0] == "true", checksum,
                       flags.get("keep-git-dir", ["false"])[0] == "true",
                       tuple(self.word(ll, e, st.lookup) for e in flags.get("exclude", [])),
                       self._heredocs(ll, st))

    # -- ENV / LABEL --------------------------------------------------------------------------------------
    def pairs(self, ll: LogicalLine, st: _StageBuilder, kw: str) -> list[tuple[str, str]]:
        rest = self.no_flags(ll, kw)
        raw = split_raw(rest, self.escape)
        if not raw:
            raise self.err(ll, f"{kw} requires at least one argument")
        out = []
        if "=" not in raw[0]:
            # legacy form: KEY value with spaces
            if len(raw) < 2:
                raise self.err(ll, f"{kw} {raw[0]} needs a value (use {kw} {raw[0]}=<value> or {kw} {raw[0]} <value>)")
            value_text = rest[len(raw[0]):].strip()
            out.append((self.word(ll, raw[0], st.lookup), self.word(ll, value_text, st.lookup)))
            return out
        for w in raw:
            k, eq, v = w.partition("=")
            if not eq:
                raise self.err(ll, f"syntax error - can't find = in {w!r}; must be of the form name=value")
            key = self.word(ll, k, st.lookup)
            if not key:
                raise self.err(ll, f"{kw} names can not be blank")
            out.append((key, self.word(ll, v, st.lookup)))
        return out

    def do_env(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        pairs = self.pairs(ll, st, "ENV")
        for k, v in pairs:
            st.env[k] = v
        return ins.Env(ll.line, ll.end_line, ll.text, tuple(pairs))

    def do_label(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        return ins.Label(ll.line, ll.end_line, ll.text, tuple(self.pairs(ll, st, "LABEL")))

    # -- the simple ones ----------------------------------------------------------------------------------
    def one(
        self, ll: LogicalLine, st: _StageBuilder, kw: str, single_word: bool = False, allow_empty: bool = False
    ) -> str:
        rest = self.no_flags(ll, kw)
        if not rest or (single_word and len(split_raw(rest, self.escape)) != 1):
            raise self.err(ll, f"{kw} requires exactly one argument")
        v = self.word(ll, rest, st.lookup)
        if not v and not allow_empty:
            raise self.err(ll, f"{kw} argument is empty after variable expansion")
        return v

    def do_workdir(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        path = self.one(ll, st, "WORKDIR")
        st.workdir = posixpath.normpath(posixpath.join(st.workdir or "/", path))
        if st.workdir.startswith("//"):
            st.workdir = "/" + st.workdir.lstrip("/")
        return ins.Workdir(ll.line, ll.end_line, ll.text, path)

    def do_user(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        user = self.one(ll, st, "USER", single_word=True, allow_empty=True)  # "" is root, as in Docker
        st.user = user
        return ins.User(ll.line, ll.end_line, ll.text, user)

    def do_stopsignal(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        sig = self.one(ll, st, "STOPSIGNAL", single_word=True)
        if not _valid_signal(sig):
            raise self.err(ll, f"invalid STOPSIGNAL {sig!r}")
        return ins.StopSignal(ll.line, ll.end_line, ll.text, sig)

    def do_maintainer(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "MAINTAINER")
        if not rest:
            raise self.err(ll, "MAINTAINER requires exactly one argument")
        self.warnings.append(f"{self.filename}:{ll.line}: MAINTAINER is deprecated, use LABEL maintainer=...")
        return ins.Maintainer(ll.line, ll.end_line, ll.text, rest)

    def do_expose(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "EXPOSE")
        words = self.words(ll, rest, st.lookup)
        if not words:
            raise self.err(ll, "EXPOSE requires at least one argument")
        ports = []
        for w in words:
            p = _port(w)
            if p is None:
                raise self.err(ll, f"invalid port {w!r} (<port>[-<port>][/tcp|udp|sctp], ports 1-65535)")
            ports.append(p)
        return ins.Expose(ll.line, ll.end_line, ll.text, tuple(ports))

    def do_volume(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "VOLUME")
        v = self.json_or_none(ll, rest)
        paths = [self.word(ll, p, st.lookup) for p in v] if v is not None else self.words(ll, rest, st.lookup)
        if not paths:
            raise self.err(ll, "VOLUME requires at least one argument")
        if any(not p.strip() for p in paths):
            raise self.err(ll, "VOLUME specified can not be an empty string")
        return ins.Volume(ll.line, ll.end_line, ll.text, tuple(paths))

    def do_healthcheck(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        flags, rest = self.flags(ll, "HEALTHCHECK")
        kind, _, cmdtext = rest.partition(" ")
        if "\t" in kind:
            kind, _, more = kind.partition("\t")
            cmdtext = more + " " + cmdtext
        kind = kind.upper()
        if kind == "NONE":
            if flags or cmdtext.strip():
                raise self.err(ll, "HEALTHCHECK NONE takes no other arguments or flags")
            return ins.Healthcheck(ll.line, ll.end_line, ll.text, None)
        if kind != "CMD":
            raise self.err(ll, f"unknown type {kind or '(none)'!r} in HEALTHCHECK (try CMD or NONE)")
        if not cmdtext.strip():
            raise self.err(ll, "missing command after HEALTHCHECK CMD")
        cmd = self.command(ll, cmdtext.strip(), "HEALTHCHECK CMD")
        durations = {}
        for name in ("interval", "timeout", "start-period", "start-interval"):
            if name in flags:
                d = parse_duration(flags[name][0])
                if d is None:
                    raise self.err(ll, f"HEALTHCHECK --{name}: invalid duration {flags[name][0]!r}")
                if 0 < d < 1_000_000 or d < 0:
                    raise self.err(ll, f"HEALTHCHECK --{name} cannot be less than 1ms")
                durations[name] = d
        retries = 0
        if "retries" in flags:
            try:
                retries = int(flags["retries"][0])
            except ValueError:
                raise self.err(ll, f"HEALTHCHECK --retries: invalid number {flags['retries'][0]!r}") from None
            if retries < 1:
                raise self.err(ll, f"HEALTHCHECK --retries must be at least 1 (not {retries})")
        return ins.Healthcheck(ll.line, ll.end_line, ll.text, cmd, durations.get("interval", 0),
                               durations.get("timeout", 0), durations.get("start-period", 0),
                               durations.get("start-interval", 0), retries)

    def do_onbuild(self, ll: LogicalLine, st: _StageBuilder) -> ins.Instruction:
        rest = self.no_flags(ll, "ONBUILD")
        if not rest:
            raise self.err(ll, "ONBUILD requires at least one argument")
        nested = rest.split(None, 1)[0].upper()
        if nested == "ONBUILD":
            raise self.err(ll, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if nested in ("FROM", "MAINTAINER"):
            raise self.err(ll, f"{nested} isn't allowed as an ONBUILD trigger")
        if nested not in KNOWN:
            raise self.err(ll, f"unknown instruction in ONBUILD: {rest.split(None, 1)[0]}")
        if len(rest.split(None, 1)) < 2:
            raise self.err(ll, f"ONBUILD {nested} requires arguments")
        trigger = rest + "".join("\n" + h.content + h.name for h in ll.heredocs)
        return ins.Onbuild(ll.line, ll.end_line, ll.text, trigger, nested)


def _bool(v: str) -> bool | None:
    lv = v.lower()
    if lv in ("true", "1", ""):
        return True
    if lv in ("false", "0"):
        return False
    return None


def _valid_signal(sig: str) -> bool:
    if sig.isdigit():
        return 0 < int(sig) <= 64
    s = sig.upper()
    s = s[3:] if s.startswith("SIG") else s
    if s in _SIGNALS:
        return True
    m = re.match(r"^RT(MIN\+|MAX-)(\d+)$", s)
    return bool(m) and 0 < int(m.group(2)) <= 30  # type: ignore[union-attr]


def _port(w: str) -> ins.PortSpec | None:
    m = re.match(r"^(\d+)(?:-(\d+))?(?:/([A-Za-z]+))?$", w)
    if not m:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    proto = (m.group(3) or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp") or not (0 < start <= end <= 65535):
        return None
    return ins.PortSpec(start, end, proto)


def parse_duration(s: str) -> int | None:
    """Go's time.ParseDuration subset Docker accepts, in nanoseconds; ``"0"`` is 0."""
    s = s.strip()
    if s == "0":
        return 0
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        return None
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            return None
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * round(total)


def parse_file(path: str, *, filename: str | None = None, **kwargs: Any) -> Dockerfile:
    """Read and parse a Dockerfile; errors name it as ``filename`` (default: ``path`` as given)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse(text, filename=filename or path, **kwargs)


def parse(
    text: str,
    *,
    filename: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    target_platform: str | None = None,
    build_platform: str | None = None,
    base_images: Mapping[str, BaseImage] | None = None,
) -> Dockerfile:
    """Parse a Dockerfile's text into stages of typed, expanded instructions.

    ``target_platform``/``build_platform`` (``os/arch[/variant]``) default to the host's;
    ``base_images`` maps a FROM image (as written, after ARG expansion) to its config.
    Raises DockerfileError (``<filename>:<line>: <message>: <text>``).
    """
    host = None
    if target_platform is None or build_platform is None:
        host = _host_platform()
    p = _Parser(filename, build_args or {}, target_platform or host or "", build_platform or host or "",
                base_images or {})
    return p.run(text)
