"""A table-driven, Go-pflag-compatible flag parser for the `seabox` CLI.

Why not argparse: docker's grammar differs (``-it``, ``-p8080:80``, ``--rm=false``, options that
stop at the image so ``seabox run busybox ls -l`` passes ``-l`` to ls, and docker's own error
lines), and argparse's import and setup cost every invocation several milliseconds.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BOOL, STR, LIST, INT = "bool", "str", "list", "int"


class Flag:
    __slots__ = ("default", "dest", "help", "kind", "long", "short")

    def __init__(self, long: str, short: str, kind: str, help: str = "", dest: str = "", default: Any = None) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.help = help
        self.dest = dest or long.replace("-", "_")
        self.default = default


class Command:
    """One command: its flags, positional arguments and the library function it calls."""

    def __init__(self, name: str, usage: str, help: str, flags: list[Flag], args: list[str], func: str,
                 interspersed: bool = True, aliases: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.name = name
        self.usage = usage
        self.help = help
        self.flags = flags
        self.args = args
        self.func = func
        self.interspersed = interspersed
        self.aliases = aliases


class UsageError(Exception):
    """A command-line error: printed with "See '<cmd> --help'." and exit status 125."""

    def __init__(self, message: str, see: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.see = see


class HelpRequested(Exception):
    pass


def _truth(text: str, name: str) -> bool:
    t = text.lower()
    if t in ("1", "t", "true"):
        return True
    if t in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid argument "{text}" for "--{name}" flag: strconv.ParseBool: parsing "{text}": invalid syntax')


def _set(values: dict[str, Any], f: Flag, val: str | None) -> None:
    if f.kind == BOOL:
        values[f.dest] = True if val is None else _truth(val, f.long)
    elif f.kind == LIST:
        values.setdefault(f.dest, []).append(val)
    elif f.kind == INT:
        try:
            values[f.dest] = int(val or "")
        except ValueError:
            raise UsageError(f'invalid argument "{val}" for "{("-" + f.short + ", ") if f.short else ""}--{f.long}" flag: strconv.ParseInt: parsing "{val}": invalid syntax') from None
    else:
        values[f.dest] = val


def parse(flags: list[Flag], argv: list[str], interspersed: bool = True,
          extra: list[Flag] | None = None) -> tuple[dict[str, Any], list[str], dict[str, Any]]:  # fmt: skip
    """Parse ``argv`` → (values by dest, positionals, values of ``extra`` flags found along the way)."""
    by_long = {f.long: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    extra_long = {f.long: f for f in extra or []}
    values: dict[str, Any] = {}
    extra_vals: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos.extend(argv[i:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            target = values
            f = by_long.get(name)
            if f is None and name in extra_long:
                f, target = extra_long[name], extra_vals
            if name == "help":
                raise HelpRequested()
            if f is None:
                raise UsageError(f"unknown flag: --{name}")
            if not eq and f.kind != BOOL:
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: --{name}")
                val = argv[i]
                i += 1
            _set(target, f, val if eq else None if f.kind == BOOL else val)
            continue
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                c = a[j]
                f = by_short.get(c)
                if f is None:
                    if c == "h":
                        raise HelpRequested()
                    raise UsageError(f"unknown shorthand flag: '{c}' in {a}")
                rest = a[j + 1 :]
                if f.kind == BOOL:
                    if rest.startswith("="):
                        _set(values, f, rest[1:])
                        break
                    _set(values, f, None)
                    j += 1
                    continue
                if rest:
                    _set(values, f, rest[1:] if rest.startswith("=") else rest)
                elif i < len(argv):
                    _set(values, f, argv[i])
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{c}' in -{c}")
                break
            continue
        pos.append(a)
        if not interspersed:
            pos.extend(argv[i:])
            break
    return values, pos, extra_vals


def bind_args(cmd: Command, pos: list[str], prog: str) -> dict[str, Any]:
    """Assign positionals to the command's argument names (``x``, ``x?``, ``x+``, ``x*``)."""
    out: dict[str, Any] = {}
    need = sum(1 for a in cmd.args if not a.endswith(("?", "*")))
    full = f"{prog} {cmd.name}"
    multi = any(a.endswith(("+", "*")) for a in cmd.args)
    if len(pos) < need:
        word = "at least" if multi else "exactly" if need == len(cmd.args) else "at least"
        n = need
        raise UsageError(f'"{full}" requires {word} {n} argument{"s" if n != 1 else ""}.', see=full)
    if not multi:
        maxn = len(cmd.args)
        if len(pos) > maxn:
            if maxn == 0:
                raise UsageError(f'"{full}" accepts no arguments.', see=full)
            if need == maxn:
                raise UsageError(f'"{full}" requires exactly {maxn} argument{"s" if maxn != 1 else ""}.', see=full)
            raise UsageError(f'"{full}" requires at most {maxn} argument{"s" if maxn != 1 else ""}.', see=full)
    rest = list(pos)
    for idx, a in enumerate(cmd.args):
        name = a.rstrip("?+*")
        if a.endswith(("+", "*")):
            tail_need = sum(1 for b in cmd.args[idx + 1 :] if not b.endswith(("?", "*")))
            take = len(rest) - tail_need
            out[name], rest = rest[:take], rest[take:]
        elif a.endswith("?"):
            out[name] = rest.pop(0) if rest else None
        else:
            out[name] = rest.pop(0)
    return out


def usage_text(prog: str, cmd: Command) -> str:
    lines = [f"Usage:  {prog} {cmd.name} {cmd.usage}".rstrip(), "", cmd.help]
    if cmd.aliases:
        lines += ["", "Aliases:", "  " + ", ".join(f"{prog} {a}" for a in (cmd.name, *cmd.aliases))]
    if cmd.flags:
        lines += ["", "Options:"]
        rows = []
        for f in sorted(cmd.flags, key=lambda f: f.long):
            left = (f"-{f.short}, " if f.short else "    ") + f"--{f.long}" + ("" if f.kind == BOOL else f" {f.kind if f.kind != LIST else 'list'}")
            rows.append((left, f.help))
        w = max(len(r[0]) for r in rows) + 3
        lines += [f"  {left.ljust(w)}{h}" for left, h in rows]
    return "\n".join(lines) + "\n"
