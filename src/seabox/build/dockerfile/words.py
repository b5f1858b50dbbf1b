"""Word splitting, quote removal and ``$VAR`` substitution, as the Dockerfile does it.

Docker does not run a shell to expand variables in ADD, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR: it has its own small shell-like lexer.
This module is that lexer, kept separate from the parser so its rules can be
tested one by one:

* ``$NAME`` and ``${NAME}``; unset names expand to nothing;
* ``${NAME:-word}`` / ``${NAME-word}`` (default when unset-or-empty / unset),
  ``${NAME:+word}`` / ``${NAME+word}`` (alternative when set-and-non-empty / set),
  ``${NAME:?msg}`` / ``${NAME?msg}`` (error); ``word`` may itself hold variables;
* ``${NAME#pat}`` ``##`` ``%`` ``%%`` (trim a glob match from the start/end, shortest
  or longest) and ``${NAME/pat/repl}`` ``//`` (replace the first/every match);
* single quotes are literal, double quotes allow substitution, the escape
  character (``\\`` or the ``# escape=`` one) makes the next character literal,
  so ``\\$foo`` stays ``$foo``;
* in word-list mode, unquoted whitespace separates words, including whitespace
  produced by an unquoted substitution, and empty words are dropped (``""`` too);
* ``$1``, ``$@`` and the other positional/special parameters are never set;
* a ``${NAME#pat}``-style pattern knows only ``*`` and ``?``.

``lookup`` returns ``None`` for an unset name, which is distinct from ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from seabox.build.dockerfile.errors import ExpansionError

Lookup = Callable[[str], "str | None"]

_NAME_START = re.compile(r"[A-Za-z_]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POSITIONAL = re.compile(r"[0-9]+|[@*#?\-$!]")  # $1, $@ ...: never set, so they expand to nothing
_WS = " \t\r\n"


class _Lexer:
    def __init__(self, text: str, lookup: Lookup, escape: str, expand: bool, raw: bool = False) -> None:
        self.raw = raw  # heredoc bodies: substitute only, quotes and other escapes stay
        self.text = text
        self.lookup = lookup
        self.escape = escape
        self.expand = expand
        self.pos = 0
        self.used: set[str] = set()

    # -- word list / single word -------------------------------------------------
    def run(self, words_mode: bool, stop: str = "") -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        started = False
        t = self.text
        while self.pos < len(t):
            ch = t[self.pos]
            if stop and ch in stop:
                break
            if self.raw and ch != "$" and not (ch == self.escape and t[self.pos + 1 : self.pos + 2] == "$"):
                cur.append(ch)
                self.pos += 1
                continue
            if ch == self.escape:
                if self.pos + 1 < len(t):
                    cur.append(t[self.pos + 1])
                    started = True
                self.pos += 2  # a trailing escape is dropped
                continue
            if ch == "'":
                cur.append(self._single())
                started = True
                continue
            if ch == '"':
                cur.append(self._double())
                started = True
                continue
            if ch == "$" and self.expand:
                value = self._dollar()
                if not words_mode:
                    cur.append(value)
                    started = started or bool(value)
                    continue
                fields = re.split(r"[ \t\r\n]+", value)
                for i, field in enumerate(fields):
                    if i > 0 and (started or cur):
                        words.append("".join(cur))
                        cur = []
                        started = False
                    if field:
                        cur.append(field)
                        started = True
                continue
            if words_mode and ch in _WS:
                if started or cur:
                    words.append("".join(cur))
                    cur = []
                    started = False
                self.pos += 1
                continue
            cur.append(ch)
            started = True
            self.pos += 1
        if started or cur or not words_mode:
            words.append("".join(cur))
        if words_mode:  # as Docker: an empty word ("" or an empty expansion) is no word at all
            return [w for w in words if w]
        return words

    def _single(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ExpansionError("unexpected end of statement while looking for matching single-quote")
        s = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return s

    def _double(self) -> str:
        t = self.text
        self.pos += 1
        out: list[str] = []
        while self.pos < len(t):
            ch = t[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == self.escape and self.pos + 1 < len(t) and t[self.pos + 1] in ('"', "$", self.escape):
                out.append(t[self.pos + 1])
                self.pos += 2
                continue
            if ch == "$" and self.expand:
                out.append(self._dollar())
                continue
            out.append(ch)
            self.pos += 1
        raise ExpansionError("unexpected end of statement while looking for matching double-quote")

    # -- substitution -------------------------------------------------------------
    def _dollar(self) -> str:
        t = self.text
        self.pos += 1  # past '$'
        if self.pos >= len(t):
            return "$"
        if t[self.pos] == "{":
            return self._braced()
        m = _NAME.match(t, self.pos) or _POSITIONAL.match(t, self.pos)
        if not m:
            return "$"
        self.pos = m.end()
        return self._get(m.group(0)) or ""

    def _get(self, name: str) -> str | None:
        self.used.add(name)
        return self.lookup(name)

    def _braced(self) -> str:
        t = self.text
        start = self.pos - 1
        self.pos += 1  # past '{'
        if self.pos >= len(t):
            raise ExpansionError(f"missing '}}' in {t[start:]}")
        m = _NAME.match(t, self.pos) or _POSITIONAL.match(t, self.pos)
        if not m:
            raise ExpansionError(f"bad substitution: {t[start:]}")
        name = m.group(0)
        self.pos = m.end()
        if self.pos >= len(t):
            raise ExpansionError(f"missing '}}' in {t[start:]}")
        ch = t[self.pos]
        if ch == "}":
            self.pos += 1
            return self._get(name) or ""
        if ch in "#%/":
            return self._pattern_op(name, start)
        colon = False
        if ch == ":":
            colon = True
            self.pos += 1
            if self.pos >= len(t):
                raise ExpansionError(f"missing '}}' in {t[start:]}")
            ch = t[self.pos]
        if ch not in "-+?":
            raise ExpansionError(f"unsupported modifier ({ch}) in substitution: {t[start:]}")
        self.pos += 1
        word = self.run(words_mode=False, stop="}")[0]
        if self.pos >= len(t) or t[self.pos] != "}":
            raise ExpansionError(f"missing '}}' in {t[start:]}")
        self.pos += 1
        value = self._get(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set and value is not None else word
        if ch == "+":
            return word if is_set else ""
        # '?'
        if value is None:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
        if not is_set:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
        return value

    def _pattern_op(self, name: str, start: int) -> str:
        """``${NAME#pat}`` ``##`` ``%`` ``%%`` (trim) and ``${NAME/pat/repl}`` ``//`` (replace)."""
        t = self.text
        ch = t[self.pos]
        op = ch
        self.pos += 1
        if self.pos < len(t) and t[self.pos] == ch and ch in "#%/":
            op += ch
            self.pos += 1
        repl = ""
        if op.startswith("/"):
            pattern = self.run(words_mode=False, stop="/}")[0]
            if self.pos >= len(t) or t[self.pos] != "/":
                raise ExpansionError(f"missing '/' in {t[start:]}")
            self.pos += 1
            repl = self.run(words_mode=False, stop="}")[0]
        else:
            pattern = self.run(words_mode=False, stop="}")[0]
        if self.pos >= len(t) or t[self.pos] != "}":
            raise ExpansionError(f"missing '}}' in {t[start:]}")
        self.pos += 1
        value = self._get(name) or ""
        if op.startswith("/"):
            return _replace(value, pattern, repl, op == "//")
        return _trim(value, op, pattern)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A substitution pattern: ``*`` any string, ``?`` one character, everything else literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _trim(value: str, op: str, pattern: str) -> str:
    rx = _glob_regex(pattern)
    n = len(value)
    if op == "#":
        cuts = [i for i in range(n + 1) if rx.fullmatch(value[:i])]
        return value[cuts[0]:] if cuts else value
    if op == "##":
        cuts = [i for i in range(n + 1) if rx.fullmatch(value[:i])]
        return value[cuts[-1]:] if cuts else value
    if op == "%":
        cuts = [i for i in range(n, -1, -1) if rx.fullmatch(value[i:])]
        return value[: cuts[0]] if cuts else value
    cuts = [i for i in range(n, -1, -1) if rx.fullmatch(value[i:])]  # %%
    return value[: cuts[-1]] if cuts else value


def _replace(value: str, pattern: str, repl: str, everywhere: bool) -> str:
    if not pattern:
        return value
    rx = _glob_regex(pattern)
    out: list[str] = []
    i = 0
    while i <= len(value):
        end = next((j for j in range(len(value), i, -1) if rx.fullmatch(value, i, j)), None)
        if end is None:
            if i < len(value):
                out.append(value[i])
            i += 1
            continue
        out.append(repl)
        out.append(value[end:] if not everywhere else "")
        if not everywhere:
            return "".join(out)
        i = end
    return "".join(out)


def expand_word(text: str, lookup: Lookup, escape: str = "\\") -> str:
    """Expand one word: quotes removed, variables substituted, no splitting."""
    return _Lexer(text, lookup, escape, True).run(words_mode=False)[0]


def expand_words(text: str, lookup: Lookup, escape: str = "\\") -> list[str]:
    """Split into words on unquoted whitespace, substituting variables and removing quotes."""
    return _Lexer(text, lookup, escape, True).run(words_mode=True)


def expand_heredoc(text: str, lookup: Lookup, escape: str = "\\") -> str:
    """Substitute variables in a heredoc body; quotes and other characters are kept as written."""
    return _Lexer(text, lookup, escape, True, raw=True).run(words_mode=False)[0]


def unquote_words(text: str, escape: str = "\\") -> list[str]:
    """Split into words and remove quotes, with no substitution."""
    return _Lexer(text, lambda _n: None, escape, False).run(words_mode=True)


def used_names(text: str, escape: str = "\\") -> set[str]:
    """The variable names ``text`` refers to (for unused-build-arg reporting)."""
    lx = _Lexer(text, lambda _n: None, escape, True)
    try:
        lx.run(words_mode=True)
    except ExpansionError:
        pass
    return lx.used


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace keeping quotes and escapes as written."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == escape and i + 1 < len(text):
            cur.append(ch + text[i + 1])
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch in _WS:
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        words.append("".join(cur))
    return words
