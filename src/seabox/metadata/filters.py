"""containerd's filter language, for List calls and event subscriptions.

A filter string is selectors joined by ``,`` (all must match); a list of filter strings
matches when any one does. A selector is a field path, optionally followed by an operator
and a value::

    topic=="/tasks/exit"        namespace==k8s.io       labels."io.cri.kind"==sandbox
    labels.app                  (present)               image~=/^docker\\.io/
    id!=web

Field paths are dot-separated; a component may be quoted (``labels."a.b"``). Values are bare
words, double-quoted strings with backslash escapes, or ``/regex/`` (for ``~=``). Objects are
matched through an *adaptor*: a function from a field path to ``(value, present)``, so the
same parser serves containers, images, leases and event envelopes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seabox.errdefs import InvalidArgument

Adaptor = Callable[[tuple[str, ...]], tuple[str, bool]]


@dataclass(frozen=True)
class Selector:
    path: tuple[str, ...]
    op: str  # "" (present), "==", "!=", "~="
    value: str = ""

    def match(self, adaptor: Adaptor) -> bool:
        got, present = adaptor(self.path)
        if self.op == "":
            return present
        if self.op == "==":
            return present and got == self.value
        if self.op == "!=":
            return not present or got != self.value
        return present and re.search(self.value, got) is not None


@dataclass(frozen=True)
class Filter:
    """Any of ``alternatives`` matches; each alternative is a conjunction of selectors.
    An empty filter matches everything."""

    alternatives: tuple[tuple[Selector, ...], ...] = ()

    def match(self, adaptor: Adaptor) -> bool:
        if not self.alternatives:
            return True
        return any(all(s.match(adaptor) for s in conj) for conj in self.alternatives)


def parse_all(filters: Sequence[str]) -> Filter:
    """Parse the ``filters`` of a List or Subscribe request (OR of the strings)."""
    alts = [parse_one(f) for f in filters if f.strip()]
    return Filter(tuple(alts))


_OPS = ("==", "!=", "~=")


def parse_one(text: str) -> tuple[Selector, ...]:
    p = _Parser(text)
    sels = [p.selector()]
    while p.peek(","):
        p.pos += 1
        sels.append(p.selector())
    p.skip_ws()
    if p.pos != len(p.text):
        p.fail("unexpected input")
    return tuple(sels)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> None:
        raise InvalidArgument(f'filter "{self.text}": {why} at position {self.pos}')

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self, s: str) -> bool:
        self.skip_ws()
        return self.text.startswith(s, self.pos)

    def selector(self) -> Selector:
        path = [self.component()]
        while self.peek("."):
            self.pos += 1
            path.append(self.component())
        for op in _OPS:
            if self.peek(op):
                self.pos += len(op)
                value = self.value(op)
                if op == "~=":
                    try:
                        re.compile(value)
                    except re.error as e:
                        raise InvalidArgument(f'filter "{self.text}": bad regular expression: {e}')
                return Selector(tuple(path), op, value)
        return Selector(tuple(path), "")

    def component(self) -> str:
        self.skip_ws()
        if self.peek('"'):
            return self.quoted('"')
        m = re.compile(r"[A-Za-z0-9_\-/]+").match(self.text, self.pos)
        if not m:
            self.fail("expected a field name")
            raise AssertionError  # unreachable
        self.pos = m.end()
        return m.group(0)

    def value(self, op: str) -> str:
        self.skip_ws()
        if self.peek('"'):
            return self.quoted('"')
        if self.peek("/") and op == "~=":
            return self.quoted("/")
        m = re.compile(r"[^,\s]+").match(self.text, self.pos)
        if not m:
            self.fail("expected a value")
            raise AssertionError  # unreachable
        self.pos = m.end()
        return m.group(0)

    def quoted(self, quote: str) -> str:
        assert self.text[self.pos] == quote
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                if quote == "/" and nxt != "/":
                    out.append(c)  # keep regex escapes as they are
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt) if quote == '"' else nxt)
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        self.fail("unterminated quoted string")
        raise AssertionError  # unreachable


def labels_field(labels: dict[str, str], path: tuple[str, ...]) -> tuple[str, bool]:
    """Adaptor helper for ``labels.<key>`` (a key with dots may be given as several parts)."""
    if len(path) < 2:
        return "", False
    key = ".".join(path[1:])
    if key in labels:
        return labels[key], True
    return "", False
