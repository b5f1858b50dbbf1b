"""Typed instructions: what each Dockerfile line means once parsed and expanded.

Every instruction is a frozen dataclass carrying its first/last line and original
text (for errors and the image history) plus its resolved arguments.  ``key()``
gives the fields that decide what the step does — never its line number — so
moving an instruction without changing it keeps the cache key stable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from seabox.build.dockerfile.lexer import Heredoc, heredoc_openers
from seabox.build.dockerfile.words import split_raw


@dataclass(frozen=True)
class Instruction:
    line: int
    end_line: int
    original: str

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()

    def key(self) -> dict[str, Any]:
        """The instruction's meaning as plain data (no line numbers or original text)."""
        out: dict[str, Any] = {"instruction": self.keyword}
        for f in dataclasses.fields(self):
            if f.name in ("line", "end_line", "original"):
                continue
            out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class Command:
    """CMD/ENTRYPOINT/RUN/HEALTHCHECK arguments: exec form (a list) or shell form (one string)."""

    args: tuple[str, ...]
    shell_form: bool

    @property
    def text(self) -> str:
        return self.args[0] if self.shell_form and self.args else " ".join(self.args)


@dataclass(frozen=True)
class From(Instruction):
    image: str  # as written, after ARG expansion
    stage_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Mount:
    """A ``RUN --mount`` option set."""

    type: str  # bind | cache | tmpfs | secret | ssh
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = "shared"
    readonly: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None
    env: str = ""


@dataclass(frozen=True)
class Run(Instruction):
    command: Command
    mounts: tuple[Mount, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    heredocs: tuple[Heredoc, ...] = ()


    def is_lone_heredoc(self) -> bool:
        """``RUN <<EOF`` with nothing else: the heredoc body is the script."""
        if len(self.heredocs) != 1 or not self.command.shell_form:
            return False
        text = self.command.args[0]
        openers = heredoc_openers(text, "\\")
        return len(openers) == 1 and openers[0].tokens == len(split_raw(text))

    def shebang_script(self) -> str | None:
        """The body of a lone heredoc that starts with ``#!`` (to be run as an executable file)."""
        if self.is_lone_heredoc() and self.heredocs[0].content.startswith("#!"):
            return self.heredocs[0].content
        return None


@dataclass(frozen=True)
class Copy(Instruction):
    sources: tuple[str, ...]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: int | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Add(Instruction):
    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: int | None = None
    link: bool = False
    checksum: str | None = None
    keep_git_dir: bool = False
    excludes: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ArgDecl:
    name: str
    default: str | None  # None: declared without a default
    value: str | None  # resolved (build-arg, default, or inherited global), None if unset


@dataclass(frozen=True)
class Arg(Instruction):
    args: tuple[ArgDecl, ...]


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True)
class User(Instruction):
    user: str


@dataclass(frozen=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True)
class PortSpec:
    start: int
    end: int
    proto: str = "tcp"

    def __str__(self) -> str:
        p = str(self.start) if self.start == self.end else f"{self.start}-{self.end}"
        return f"{p}/{self.proto}"

    def ports(self) -> list[str]:
        """Each port as the image config writes it (``80/tcp``)."""
        return [f"{p}/{self.proto}" for p in range(self.start, self.end + 1)]


@dataclass(frozen=True)
class Expose(Instruction):
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True)
class StopSignal(Instruction):
    signal: str


@dataclass(frozen=True)
class Healthcheck(Instruction):
    """``command`` None means ``HEALTHCHECK NONE``; durations are in nanoseconds (as the image config stores them)."""

    command: Command | None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def test(self) -> list[str]:
        """The image config's ``Healthcheck.Test``."""
        if self.command is None:
            return ["NONE"]
        if self.command.shell_form:
            return ["CMD-SHELL", self.command.args[0]]
        return ["CMD", *self.command.args]


@dataclass(frozen=True)
class Onbuild(Instruction):
    trigger: str  # the nested instruction's text, as the image config's OnBuild stores it
    nested_keyword: str = ""


@dataclass(frozen=True)
class Maintainer(Instruction):
    name: str


INSTRUCTION_TYPES: tuple[type[Instruction], ...] = (
    From, Run, Copy, Add, Env, Arg, Workdir, User, Cmd, Entrypoint, Shell, Expose, Label, Volume,
    StopSignal, Healthcheck, Onbuild, Maintainer,
)
