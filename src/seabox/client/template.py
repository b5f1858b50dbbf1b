"""A subset of Go's text/template, enough for docker's ``--format`` and ``inspect -f``.

Supported: field chains (``.State.Pid``, ``.``), ``$`` (the root), string/number/bool literals,
pipelines (``{{.Name | upper}}``), the functions docker users type (``json``, ``join``, ``split``,
``upper``, ``lower``, ``title``, ``printf``, ``println``, ``print``, ``index``, ``len``, ``truncate``,
``pad``), ``if``/``else``/``end``, ``range``/``end``, ``with``/``end``, and ``{{-``/``-}}``
trimming.  Values print as Go's ``%v`` does (``true``, ``[a b]``, ``map[k:v]``, ``<no value>``).
Compiled once, rendered per object; errors are ``InvalidArgument`` with the template's text.
"""

from __future__ import annotations

from seabox import errdefs, jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

NO_VALUE = object()


class TemplateError(errdefs.InvalidArgument):
    pass


def go_str(v: Any) -> str:
    """Go's ``%v`` for JSON-shaped values."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def _truthy(v: Any) -> bool:
    return not (v is NO_VALUE or v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def _json(v: Any) -> str:
    return jsonlite.dumps(None if v is NO_VALUE else v, ascii=False)


def _printf(fmt: str, *args: Any) -> str:
    out, i, ai = [], 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+ #0123456789.":
            j += 1
        if j >= len(fmt):
            out.append(fmt[i:])
            break
        verb, flags = fmt[j], fmt[i + 1 : j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        arg = args[ai] if ai < len(args) else NO_VALUE
        ai += 1
        if verb in "sv":
            out.append(("%" + flags + "s") % go_str(arg))
        elif verb == "q":
            out.append(jsonlite.dumps(go_str(arg), ascii=False))
        elif verb in "dxXo" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            out.append(("%" + flags + verb) % int(arg))
        elif verb in "fge" and isinstance(arg, (int, float)):
            out.append(("%" + flags + verb) % arg)
        elif verb == "t":
            out.append(go_str(arg))
        else:
            out.append(f"%!{verb}({go_str(arg)})")
    return "".join(out)


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, NO_VALUE)
        elif isinstance(v, (list, tuple)) and isinstance(k, int):
            v = v[k] if 0 <= k < len(v) else NO_VALUE
        else:
            raise TemplateError(f"can't index item of type {type(v).__name__}")
    return v


def _truncate(v: Any, n: Any) -> str:
    s = go_str(v)
    return s[: int(n)]


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda v, sep: sep.join(go_str(x) for x in (v or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "index": _index,
    "len": lambda v: len(v) if v not in (NO_VALUE, None) else 0,
    "truncate": _truncate,
    "pad": lambda v, left, right: " " * int(left) + go_str(v) + " " * int(right),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1] if a else None),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1] if a else None),
}


# ---- lexing --------------------------------------------------------------------------------------
def _split_actions(src: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)] with ``{{-``/``-}}`` whitespace trimming applied."""
    parts: list[tuple[str, str]] = []
    i = 0
    trim_next = False
    while True:
        j = src.find("{{", i)
        text = src[i:] if j < 0 else src[i:j]
        if trim_next:
            text = text.lstrip()
        if j < 0:
            if text:
                parts.append(("text", text))
            return parts
        k = j + 2
        trim_prev = src.startswith("- ", k) or src.startswith("-\t", k) or src.startswith("-\n", k)
        if trim_prev:
            text = text.rstrip()
            k += 1
        if text:
            parts.append(("text", text))
        # find the closing braces outside string literals
        m, quote = k, ""
        while m < len(src):
            ch = src[m]
            if quote:
                if ch == "\\" and quote == '"':
                    m += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch in "\"`":
                quote = ch
            elif src.startswith("}}", m):
                break
            m += 1
        if m >= len(src):
            raise TemplateError(f"template: unclosed action in {src!r}")
        body = src[k:m]
        trim_next = body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-")
        if trim_next:
            body = body[:-1]
        parts.append(("action", body.strip()))
        i = m + 2


def _tokens(s: str) -> list[str]:
    toks: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isspace():
            i += 1
        elif ch in "()|":
            toks.append(ch)
            i += 1
        elif ch == '"':
            j = i + 1
            while j < len(s) and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            toks.append(s[i : j + 1])
            i = j + 1
        elif ch == "`":
            j = s.find("`", i + 1)
            if j < 0:
                raise TemplateError(f"template: unterminated raw string in {s!r}")
            toks.append(s[i : j + 1])
            i = j + 1
        else:
            j = i
            while j < len(s) and not s[j].isspace() and s[j] not in "()|":
                j += 1
            toks.append(s[i:j])
            i = j
    return toks


# ---- parse tree ----------------------------------------------------------------------------------
class _Node:
    pass


class _Text(_Node):
    def __init__(self, text: str) -> None:
        self.text = text


class _Action(_Node):
    def __init__(self, pipe: list[list[Any]]) -> None:
        self.pipe = pipe


class _Block(_Node):
    def __init__(self, kind: str, pipe: list[list[Any]]) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body: list[_Node] = []
        self.orelse: list[_Node] = []


def _parse_pipe(src: str) -> list[list[Any]]:
    toks = _tokens(src)
    if not toks:
        raise TemplateError("template: missing value for command")
    cmds: list[list[Any]] = [[]]
    stack: list[list[list[Any]]] = []
    for t in toks:
        if t == "|":
            cmds.append([])
        elif t == "(":
            stack.append(cmds)
            cmds = [[]]
        elif t == ")":
            if not stack:
                raise TemplateError(f"template: unexpected ) in {src!r}")
            inner = cmds
            cmds = stack.pop()
            cmds[-1].append(("pipe", inner))
        else:
            cmds[-1].append(_operand(t))
    if stack or any(not c for c in cmds):
        raise TemplateError(f"template: malformed pipeline {src!r}")
    return cmds


def _operand(t: str) -> Any:
    if t.startswith('"'):
        return ("lit", jsonlite.loads(t))
    if t.startswith("`"):
        return ("lit", t[1:-1])
    if t in ("true", "false"):
        return ("lit", t == "true")
    if t == "nil":
        return ("lit", None)
    if t[0].isdigit() or (t[0] == "-" and len(t) > 1 and t[1].isdigit()):
        try:
            return ("lit", int(t))
        except ValueError:
            return ("lit", float(t))
    if t.startswith("."):
        return ("field", [p for p in t.split(".")[1:] if p], False)
    if t.startswith("$"):
        name, _, rest = t.partition(".")
        return ("field", [p for p in rest.split(".") if p], True) if name == "$" else ("var", name, rest)
    if t in FUNCS:
        return ("func", t)
    raise TemplateError(f'template: function "{t}" not defined')


class Template:
    def __init__(self, src: str) -> None:
        self.src = src
        root: list[_Node] = []
        stack: list[_Block] = []
        cur = root
        for kind, body in _split_actions(src):
            if kind == "text":
                cur.append(_Text(body))
                continue
            if body.startswith("/*"):
                continue
            word, _, rest = body.partition(" ")
            if word in ("if", "range", "with"):
                blk = _Block(word, _parse_pipe(rest))
                cur.append(blk)
                stack.append(blk)
                cur = blk.body
            elif word == "else":
                if not stack:
                    raise TemplateError(f"template: unexpected {{{{else}}}} in {src!r}")
                cur = stack[-1].orelse
            elif word == "end":
                if not stack:
                    raise TemplateError(f"template: unexpected {{{{end}}}} in {src!r}")
                stack.pop()
                cur = stack[-1].orelse if stack and cur is stack[-1].orelse else (stack[-1].body if stack else root)
                if stack:
                    # return to whichever list of the enclosing block we were in
                    cur = stack[-1].orelse if stack[-1].orelse else stack[-1].body
            else:
                cur.append(_Action(_parse_pipe(body)))
        if stack:
            raise TemplateError(f"template: unexpected EOF in {src!r} (missing {{{{end}}}})")
        self.nodes = root

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._exec(self.nodes, data, data, out)
        return "".join(out)

    # -- evaluation --------------------------------------------------------------------------------
    def _exec(self, nodes: list[_Node], dot: Any, root: Any, out: list[str]) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                out.append(n.text)
            elif isinstance(n, _Action):
                out.append(go_str(self._pipe(n.pipe, dot, root)))
            elif isinstance(n, _Block):
                v = self._pipe(n.pipe, dot, root)
                if n.kind == "if":
                    self._exec(n.body if _truthy(v) else n.orelse, dot, root, out)
                elif n.kind == "with":
                    if _truthy(v):
                        self._exec(n.body, v, root, out)
                    else:
                        self._exec(n.orelse, dot, root, out)
                else:
                    items = list(v.values()) if isinstance(v, dict) else (v if isinstance(v, (list, tuple)) else [])
                    if isinstance(v, dict):
                        items = [v[k] for k in sorted(v)]
                    if not items:
                        self._exec(n.orelse, dot, root, out)
                    for item in items:
                        self._exec(n.body, item, root, out)

    def _pipe(self, cmds: list[list[Any]], dot: Any, root: Any) -> Any:
        val: Any = NO_VALUE
        for i, cmd in enumerate(cmds):
            args = cmd[1:]
            head = cmd[0]
            extra = [val] if i > 0 else []
            if head[0] == "func":
                fn = FUNCS[head[1]]
                vals = [self._arg(a, dot, root) for a in args] + extra
                try:
                    val = fn(*vals)
                except TemplateError:
                    raise
                except (TypeError, ValueError, AttributeError) as e:
                    raise TemplateError(f"template: error calling {head[1]}: {e}") from None
            else:
                v = self._arg(head, dot, root)
                if callable(v):
                    val = v(*[self._arg(a, dot, root) for a in args], *extra)
                elif args or extra:
                    raise TemplateError(f"template: can't give argument to non-function in {self.src!r}")
                else:
                    val = v
        return val

    def _arg(self, a: Any, dot: Any, root: Any) -> Any:
        kind = a[0]
        if kind == "lit":
            return a[1]
        if kind == "pipe":
            return self._pipe(a[1], dot, root)
        if kind == "func":
            return FUNCS[a[1]]()
        if kind == "var":
            raise TemplateError(f"template: undefined variable {a[1]}")
        v = root if a[2] else dot
        for name in a[1]:
            if isinstance(v, dict):
                v = v.get(name, NO_VALUE)
            elif v is NO_VALUE or v is None:
                return NO_VALUE
            else:
                attr = getattr(v, name, NO_VALUE)
                if attr is NO_VALUE:
                    raise TemplateError(f'template: can\'t evaluate field {name} in type {type(v).__name__}')
                v = attr
        return v


def render(src: str, data: Any) -> str:
    return Template(src).render(data)
