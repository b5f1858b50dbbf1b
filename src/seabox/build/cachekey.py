"""Content-addressed cache keys for build steps, as pure functions.

A step's key is the sha256 of a canonical JSON document holding:

* the parent: the previous step's key, or the base image's digest (``scratch`` for
  none) — so a change anywhere upstream changes every key below it;
* the instruction's meaning (``Instruction.key()``: its resolved arguments, never
  its line number), so moving an unchanged instruction keeps its cache;
* the part of the build state that affects the step: for RUN the environment it
  sees (ARGs and ENV), the working directory, the user and the shell; for
  COPY/ADD the working directory (relative destinations);
* for COPY/ADD the tree checksum of the copied files (see ``tree_checksum``), and
  any other inputs the engine resolved (a source stage's key, a remote digest).

``tree_checksum`` hashes each entry's relative path, type, mode, ownership (after
``--chown``/``--chmod``), symlink target and content digest, in path order;
mtimes are left out, as BuildKit does.  Only filesystem steps (RUN, COPY, ADD,
WORKDIR) get keys of their own; ``chain`` threads the keys through a stage.  The
engine keeps the mapping key → layer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from seabox.build.dockerfile import instructions as ins
from seabox.build.dockerfile.parser import Step, StepState

VERSION = 1


def digest_of(doc: Any) -> str:
    """sha256 of the canonical JSON encoding of ``doc``."""
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TreeItem:
    path: str
    kind: str  # file | dir | symlink | other
    mode: int
    uid: int
    gid: int
    digest: str = ""
    target: str = ""


def tree_checksum(
    items: Iterable[TreeItem], *, chown: tuple[int, int] | None = None, chmod: int | None = None
) -> str:
    """Deterministic checksum of a set of files: order-independent, mtime-free."""
    h = hashlib.sha256()
    for it in sorted(items, key=lambda i: i.path):
        uid, gid = chown if chown is not None else (it.uid, it.gid)
        mode = it.mode
        if chmod is not None and it.kind != "symlink":
            mode = chmod
        body = it.digest if it.kind == "file" else it.target if it.kind == "symlink" else ""
        rec = f"{it.path}\0{it.kind}\0{mode:o}\0{uid}:{gid}\0{body}\n"
        h.update(rec.encode("utf-8", "surrogateescape"))
    return "sha256:" + h.hexdigest()


def state_fields(instruction: ins.Instruction, state: StepState) -> dict[str, Any]:
    """The part of the build state that affects ``instruction``'s result."""
    if isinstance(instruction, ins.Run):
        out: dict[str, Any] = {"env": state.cache_env(), "workdir": state.workdir, "user": state.user}
        if instruction.command.shell_form:
            out["shell"] = list(state.shell)
        return out
    if isinstance(instruction, (ins.Copy, ins.Add)):
        return {"workdir": state.workdir}
    if isinstance(instruction, ins.Workdir):
        return {"workdir": state.workdir, "user": state.user}
    return {"env": [list(p) for p in state.env], "workdir": state.workdir, "user": state.user,
            "shell": list(state.shell)}


def base_key(image_digest: str | None, platform: str | None = None) -> str:
    """The parent key of a stage's first step: its base image's digest, or scratch."""
    return digest_of({"v": VERSION, "base": image_digest or "scratch", "platform": platform or ""})


def step_key(
    parent: str,
    step: Step,
    *,
    files: str | None = None,
    inputs: Mapping[str, str] | None = None,
) -> str:
    """The cache key of ``step`` on top of ``parent``.

    ``files`` is the context checksum for COPY/ADD (``ContextIndex.checksum``);
    ``inputs`` holds other resolved inputs, e.g. ``{"from": <source stage key>}``.
    """
    doc = {
        "v": VERSION,
        "parent": parent,
        "instruction": step.instruction.key(),
        "state": state_fields(step.instruction, step.state),
        "files": files,
        "inputs": dict(sorted((inputs or {}).items())),
    }
    return digest_of(doc)


FILESYSTEM_STEPS = (ins.Run, ins.Copy, ins.Add, ins.Workdir)


def is_filesystem_step(instruction: ins.Instruction) -> bool:
    """Whether the step changes the filesystem (and so gets a cache record of its own).

    The other instructions only edit the image config; their effect on later steps
    reaches those steps' keys through the build state (ENV, ARG and USER in a RUN's
    key), exactly where it matters — so a changed build arg misses from the first
    RUN that sees it, not from the ARG line, and a LABEL change misses nothing.
    """
    return isinstance(instruction, FILESYSTEM_STEPS)


def chain(
    parent: str,
    steps: Iterable[Step],
    *,
    files: Callable[[Step], str | None] | None = None,
    inputs: Callable[[Step], Mapping[str, str] | None] | None = None,
) -> list[str]:
    """The key of the filesystem state after each step, each on top of the previous one.

    Config-only steps keep their parent's key (see ``is_filesystem_step``).
    """
    keys = []
    for step in steps:
        if not is_filesystem_step(step.instruction):
            keys.append(parent)
            continue
        parent = step_key(parent, step, files=files(step) if files else None,
                          inputs=inputs(step) if inputs else None)
        keys.append(parent)
    return keys
