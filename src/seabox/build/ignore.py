"""``.dockerignore``: which files of the build context the builder sees.

The rules are Docker's, reimplemented from its documentation:

* one pattern per line; a line whose first character is ``#`` is a comment; blank
  lines are skipped; surrounding whitespace is trimmed;
* patterns are cleaned like Go's ``filepath.Clean`` (``./a//b/`` → ``a/b``) and a
  leading ``/`` is dropped: everything is relative to the context root;
* matching is Go's ``filepath.Match`` per path (``*``, ``?``, ``[...]``, ``\\``
  escapes; none of them cross ``/``) plus ``**``, which matches any number of
  directories, including none (``**foo`` is a plain suffix match, as in Docker);
* a lone ``!`` is an error;
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


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """Go's ``[^a-z\\]]`` class starting at ``pattern[i] == "["``: (regex, index of its ``]``)."""
    n = len(pattern)

    def bad() -> errdefs.InvalidArgument:
        return errdefs.InvalidArgument(f'.dockerignore pattern "{pattern}": bad character class')

    j = i + 1
    negate = j < n and pattern[j] == "^"
    if negate:
        j += 1
    items: list[str] = []

    def char(j: int) -> tuple[str, int]:
        if j >= n:
            raise bad()
        if pattern[j] == "\\":
            if j + 1 >= n:
                raise bad()
            return pattern[j + 1], j + 2
        return pattern[j], j + 1

    while True:
        if j >= n:
            raise bad()
        if pattern[j] == "]" and items:
            break
        lo, j = char(j)
        if j + 1 < n and pattern[j] == "-" and pattern[j + 1] != "]":
            hi, j = char(j + 1)
            if lo > hi:
                raise bad()
            items.append(re.escape(lo) + "-" + re.escape(hi))
        else:
            items.append(re.escape(lo))
    return "[" + ("^" if negate else "") + "".join(items) + "]", j


def _translate(pattern: str) -> tuple[str, str]:
    """A cleaned pattern as (kind, regex-or-literal): kind is exact, prefix, suffix or regex.

    ``*`` and ``?`` never match ``/``; ``**`` matches anything including ``/`` (a ``**/``
    also matches zero directories); ``[...]`` classes and ``\\`` escapes are Go's.  A
    pattern with no wildcard compares as a plain string, ``foo/**`` as a prefix and
    ``**/foo`` as a suffix, as Docker does.
    """
    rx: list[str] = ["^"]
    kind = "exact"
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                first = i == 0
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        rx.append(".*")
                        kind = "regex"
                else:
                    rx.append("(?:.*/)?")
                    kind = "regex"
                if first:
                    kind = "suffix"
                continue
            rx.append("[^/]*")
            kind = "regex"
        elif ch == "?":
            rx.append("[^/]")
            kind = "regex"
        elif ch == "\\":
            if i + 1 >= n:
                raise errdefs.InvalidArgument(f'.dockerignore pattern "{pattern}": trailing backslash')
            rx.append(re.escape(pattern[i + 1]))
            kind = "regex"
            i += 1
        elif ch == "[":
            cls, i = _char_class(pattern, i)
            rx.append(cls)
            kind = "regex"
        else:
            rx.append(re.escape(ch))
        i += 1
    if kind == "regex":
        return kind, "".join(rx) + "$"
    return kind, pattern


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # True for "!pattern" (re-include)
    kind: str  # exact | prefix | suffix | regex
    regex: re.Pattern[str] | None
    segments: tuple[str, ...]

    def match_one(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None

    def matches(self, path: str) -> bool:
        """Whether the pattern matches ``path`` or one of its parent directories."""
        if self.match_one(path):
            return True
        parts = path.split("/")
        return any(self.match_one("/".join(parts[:i])) for i in range(1, len(parts)))

    def could_match_below(self, directory: str) -> bool:
        """Whether this pattern could match some path strictly below ``directory`` (conservative)."""
        dparts = directory.split("/")
        for i, seg in enumerate(self.segments):
            if "**" in seg:
                return True
            if i >= len(dparts):
                return True
            try:
                kind, rx = _translate(seg)
            except errdefs.InvalidArgument:  # e.g. an escaped "/" split the pattern: stay conservative
                return True
            if kind == "regex" and not re.match(rx, dparts[i]):
                return False
            if kind != "regex" and seg != dparts[i]:
                return False
        return False


def compile_pattern(line: str) -> Pattern:
    text = line.strip()
    exclusion = text.startswith("!")
    if exclusion:
        text = text[1:].strip()
        if not text:
            raise errdefs.InvalidArgument('.dockerignore: illegal exclusion pattern "!"')
    text = clean(text)
    if len(text) > 1 and text.startswith("/"):
        text = text.lstrip("/") or "."
    kind, rx = _translate(text)
    return Pattern(text, exclusion, kind, re.compile(rx, re.DOTALL) if kind == "regex" else None,
                   tuple(text.split("/")))


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
            if not s:
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
        # the last pattern matching the directory also matches everything below it, so only
        # exceptions after it can re-include something there
        last = max((i for i, p in enumerate(self.patterns) if p.matches(directory)), default=-1)
        return not any(p.exclusion and p.could_match_below(directory) for p in self.patterns[last + 1 :])


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

    def unreadable(rel: str, e: OSError) -> errdefs.FailedPrecondition:
        return errdefs.FailedPrecondition(errdefs.subject("build context path", rel or ".",
                                                          f"cannot be read: {e.strerror or e}"))

    if not os.path.isdir(context_dir):
        raise errdefs.NotFound(errdefs.subject("build context", context_dir, "not found or not a directory"))

    def rec(rel: str) -> Iterator[str]:
        full = os.path.join(context_dir, rel) if rel else context_dir
        try:
            names = sorted(os.listdir(full))
        except FileNotFoundError:  # removed while we walk
            return
        except OSError as e:
            raise unreadable(rel, e) from None
        for name in names:
            child = f"{rel}/{name}" if rel else name
            try:
                st = os.lstat(os.path.join(context_dir, child))
            except FileNotFoundError:
                continue
            except OSError as e:
                raise unreadable(child, e) from None
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.excluded(child) and child not in keep:
                if is_dir and (not rules.can_prune(child) or any(k.startswith(child + "/") for k in keep)):
                    yield from rec(child)
                continue
            yield child
            if is_dir:
                yield from rec(child)

    yield from rec("")


def match_path(pattern: str, path: str) -> bool:
    """Whether a cleaned pattern matches exactly this path (no parent matching): COPY source globs."""
    return compile_pattern(pattern).match_one(posixpath.normpath(path))
