"""Physical lines to logical instructions: directives, continuations, comments, heredocs.

The lexer knows nothing about what an instruction means; it only reproduces how
Docker cuts a Dockerfile into instructions, so the parser can work on whole
instructions with their first and last line numbers:

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) count only at the
  very top; the first comment, blank line or instruction ends them, an unknown
  directive is a plain comment, a repeated one is an error;
* a line ending with the escape character (trailing blanks allowed) continues on
  the next; comment lines and blank lines inside a continuation are dropped;
* ``<<EOF`` / ``<<-EOF`` / ``<<"EOF"`` words in RUN, COPY and ADD shell forms open
  heredocs whose bodies follow the instruction, several per line, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from seabox.build.dockerfile.errors import DockerfileError
from seabox.build.dockerfile.words import split_raw, unquote_words

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
KNOWN_DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)(.*)$")


@dataclass(frozen=True)
class Heredoc:
    """One heredoc body; ``expand`` is false when the delimiter was quoted."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int | None = None


@dataclass(frozen=True)
class Directives:
    escape: str = "\\"
    syntax: str | None = None
    check: str | None = None


@dataclass(frozen=True)
class LogicalLine:
    line: int
    end_line: int
    keyword: str  # as written
    rest: str
    text: str
    heredocs: tuple[Heredoc, ...] = ()


@dataclass
class LexResult:
    directives: Directives
    lines: list[LogicalLine]
    warnings: list[tuple[int, str]] = field(default_factory=list)


def _directives(lines: list[str], filename: str) -> tuple[Directives, int]:
    found: dict[str, str] = {}
    i = 0
    for i, raw in enumerate(lines):
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        name, value = m.group(1).lower(), m.group(2)
        if name not in KNOWN_DIRECTIVES:
            break
        if name in found:
            raise DockerfileError(filename, i + 1, f"only one {name} parser directive can be used", raw)
        if name == "escape" and value not in ("\\", "`"):
            raise DockerfileError(filename, i + 1, f"invalid escape token {value!r} does not match ` or \\", raw)
        found[name] = value
    else:
        i = len(lines)
    return Directives(found.get("escape", "\\"), found.get("syntax"), found.get("check")), i


def _has_unescaped_quote(raw: str, escape: str) -> bool:
    i = 0
    while i < len(raw):
        if raw[i] == escape:
            i += 2
            continue
        if raw[i] in "'\"":
            return True
        i += 1
    return False


@dataclass(frozen=True)
class HeredocOpener:
    name: str
    expand: bool
    chomp: bool
    fd: int | None
    tokens: int  # how many words of the line it took (``<< EOF`` is two)


def heredoc_openers(
    rest: str, escape: str, filename: str = "Dockerfile", line: int = 0, text: str = ""
) -> list[HeredocOpener]:
    """The heredoc openers in an instruction's shell-form arguments, in order.

    ``<<EOF``, ``<<-EOF``, ``3<<EOF``, ``<< EOF`` (the name may be the next word),
    ``<<"EOF"``/``<<'EOF'``/``<<E"OF"`` (any unescaped quote disables expansion).
    Exec (JSON) form has none; ``<<<`` is a here-string, not a heredoc.
    """
    words = split_raw(rest, escape)
    args = [w for w in words if not w.startswith("--")]
    if args and args[0].startswith("["):
        return []
    out = []
    i = 0
    while i < len(words):
        w = words[i]
        m = _HEREDOC_WORD.match(w)
        i += 1
        if not m or m.group(3).startswith("<"):
            continue
        raw, ntok = m.group(3), 1
        if raw == "":
            if i >= len(words):
                continue
            raw, ntok = words[i], 2
            i += 1
        try:
            names = unquote_words(raw, escape)
        except ValueError:
            raise DockerfileError(filename, line, f"invalid heredoc delimiter {raw!r}", text or rest) from None
        if len(names) != 1:
            continue
        fd = int(m.group(1)) if m.group(1) else None
        out.append(HeredocOpener(names[0], not _has_unescaped_quote(raw, escape), m.group(2) == "-", fd, ntok))
    return out


def lex(text: str, filename: str = "Dockerfile") -> LexResult:
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    directives, i = _directives(lines, filename)
    esc = directives.escape
    cont = re.compile(re.escape(esc) + r"[ \t]*$")
    result = LexResult(directives, [])
    n = len(lines)
    while i < n:
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts: list[str] = []
        cur = lines[i].lstrip()
        while True:
            m = cont.search(cur)
            if not m:
                parts.append(cur)
                break
            parts.append(cur[: m.start()])
            i += 1
            # skip comments and (deprecated) empty lines inside a continuation
            while i < n:
                s = lines[i].strip()
                if s.startswith("#"):
                    i += 1
                    continue
                if not s:
                    result.warnings.append((i + 1, "empty continuation line"))
                    i += 1
                    continue
                break
            if i >= n:
                break
            cur = lines[i]
        end = i
        joined = "".join(parts).strip()
        i += 1
        kw, _, rest = joined.partition(" ")
        if "\t" in kw:
            kw, _, more = kw.partition("\t")
            rest = more + " " + rest
        rest = rest.strip()
        heredocs: list[Heredoc] = []
        target_kw, target_rest = kw.upper(), rest
        if target_kw == "ONBUILD" and len(rest.split(None, 1)) == 2:  # ONBUILD RUN <<EOF
            target_kw, target_rest = rest.split(None, 1)[0].upper(), rest.split(None, 1)[1]
        if target_kw in HEREDOC_INSTRUCTIONS and "<<" in target_rest:
            for op in heredoc_openers(target_rest, esc, filename, start + 1, joined):
                name, expand, chomp, fd = op.name, op.expand, op.chomp, op.fd
                body: list[str] = []
                while True:
                    if i >= n:
                        raise DockerfileError(filename, start + 1, f"unterminated heredoc {name}", joined)
                    ln = lines[i]
                    i += 1
                    if chomp:
                        ln = ln.lstrip("\t")
                    if ln == name:
                        break
                    body.append(ln + "\n")
                heredocs.append(Heredoc(name, "".join(body), expand, chomp, fd))
            end = i - 1 if heredocs else end
        result.lines.append(LogicalLine(start + 1, end + 1, kw, rest, joined, tuple(heredocs)))
    return result
