"""``.dockerignore``: which files of the build context the builder sees.

The rules are Docker's, reimplemented from its documentation:

* one pattern per line; a line whose first character is ``#`` is a comment; blank
  lines are skipped; surrounding whitespace is trimmed;
* patterns are cleaned like Go's ``filepath.Clean`` (``./a//b/`` → ``a/b``) and a
  leading ``/`` is dropped: everything is relative to the context root;
* matching is Go's ``filepath.Match`` per path (``*``, ``?``, ``[...]``, ``\\``
  escapes; none of them cross ``/``) plus ``**``, which matches any number of
  directories, including none;
* a pattern also matches everything below a path it matches (``node_modules``
  excludes ``node_modules/x/y``);
* ``!pattern`` re-includes; patterns apply in order and the last one that matches
  a path decides.

The walk prunes an excluded directory only when no exception pattern could match
something below it, so ``build`` + ``!build/keep.txt`` still finds the kept file
without reading every excluded tree in full.  The Dockerfile and ``.dockerignore``
themselves are always sent to the builder, as Docker does (COPY still honours the
rules for them: use ``IgnoreRules.excluded`` there).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from seabox import errdefs


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` for ``/``-separated paths."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    s = "/".join(out)
    if rooted:
        return "/" + s
    return s or "."


def _segment_regex(seg: str, pattern: str) -> str:
    """One path segment of a pattern (no ``/``) as a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            if i >= len(seg):
                raise errdefs.InvalidArgument(f'.dockerignore pattern "{pattern}": trailing backslash')
            out.append(re.escape(seg[i]))
        elif ch == "[":
            j = i + 1
            cls = ["["]
            if j < len(seg) and seg[j] == "^":
                cls.append("^")
                j += 1
            first = True
            while j < len(seg) and (seg[j] != "]" or first):
                c = seg[j]
                first = False
                if c == "\\" and j + 1 < len(seg):
                    cls.append(re.escape(seg[j + 1]))
                    j += 2
                    continue
                cls.append("\\" + c if c in "[]\\^" else c)
                j += 1
            if j >= len(seg):
                raise errdefs.InvalidArgument(f'.dockerignore pattern "{pattern}": unterminated character class')
            cls.append("]")
            out.append("".join(cls))
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # True for "!pattern" (re-include)
    regex: re.Pattern[str]
    segments: tuple[str, ...]

    def matches(self, path: str) -> bool:
        """Whether the pattern matches ``path`` or one of its parent directories."""
        if self.regex.match(path):
            return True
        parts = path.split("/")
        return any(self.regex.match("/".join(parts[:i])) for i in range(1, len(parts)))

    def could_match_below(self, directory: str) -> bool:
        """Whether this pattern could match some path strictly below ``directory``."""
        dparts = directory.split("/")
        for i, seg in enumerate(self.segments):
            if seg == "**" or "**" in seg:
                return True
            if i >= len(dparts):
                return True
            if not re.fullmatch(_segment_regex(seg, self.text), dparts[i]):
                return False
        return False


def compile_pattern(line: str) -> Pattern:
    text = line.strip()
    exclusion = text.startswith("!")
    if exclusion:
        text = text[1:].strip()
    text = clean(text)
    if len(text) > 1 and text.startswith("/"):
        text = text.lstrip("/") or "."
    segs = text.split("/")
    rx: list[str] = []
    i = 0
    while i < len(segs):
        seg = segs[i]
        last = i == len(segs) - 1
        if seg == "**":
            rx.append(".*" if last else "(?:.*/)?")
        else:
            rx.append(_segment_regex(seg, text) + ("" if last else "/"))
        i += 1
    return Pattern(text, exclusion, re.compile("^" + "".join(rx) + "$", re.DOTALL), tuple(segs))


@dataclass(frozen=True)
class IgnoreRules:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        return cls.from_lines(text.splitlines())

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> IgnoreRules:
        pats = []
        for line in lines:
            if line.startswith("#"):
                continue
            s = line.strip()
            if not s or s == "!":
                continue
            pats.append(compile_pattern(s))
        return cls(tuple(pats))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative to the context, ``/``-separated) is left out."""
        path = clean(path).lstrip("/")
        matched = False
        for p in self.patterns:
            if p.exclusion and not matched:
                continue
            if p.matches(path):
                matched = not p.exclusion
        return matched

    def can_prune(self, directory: str) -> bool:
        """Whether an excluded ``directory`` can be skipped whole (no exception reaches below it)."""
        directory = clean(directory).lstrip("/")
        return not any(p.exclusion and p.could_match_below(directory) for p in self.patterns)


def read_rules(context_dir: str, dockerfile: str | None = None) -> IgnoreRules:
    """The rules for a context: ``<Dockerfile>.dockerignore`` next to the Dockerfile if present, else ``.dockerignore``."""
    candidates = []
    if dockerfile:
        candidates.append(dockerfile + ".dockerignore")
    candidates.append(os.path.join(context_dir, ".dockerignore"))
    for c in candidates:
        try:
            with open(c, encoding="utf-8") as f:
                return IgnoreRules.parse(f.read())
        except FileNotFoundError:
            continue
    return IgnoreRules()


def walk(
    context_dir: str,
    rules: IgnoreRules,
    *,
    always: Iterable[str] = ("Dockerfile", ".dockerignore"),
) -> Iterator[str]:
    """Relative ``/``-separated paths of every included entry (files, links, dirs), sorted, parents first.

    ``always`` names paths sent even when excluded (the Dockerfile and .dockerignore).
    """
    keep = {clean(a).lstrip("/") for a in always}

    def rec(rel: str) -> Iterator[str]:
        full = os.path.join(context_dir, rel) if rel else context_dir
        try:
            names = sorted(os.listdir(full))
        except FileNotFoundError:
            return
        for name in names:
            child = f"{rel}/{name}" if rel else name
            st = os.lstat(os.path.join(context_dir, child))
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.excluded(child) and child not in keep:
                if is_dir and not rules.can_prune(child):
                    yield from rec(child)
                continue
            yield child
            if is_dir:
                yield from rec(child)

    yield from rec("")


def match_relative(pattern: str, path: str) -> bool:
    """Go ``filepath.Match`` for one whole path (used for COPY source globs)."""
    p = compile_pattern(pattern)
    return bool(p.regex.match(posixpath.normpath(path)))
