"""`seabox`: the everyday docker-compatible CLI (nerdctl's role), a client of the Docker Engine API.

This module only parses: global flags (flag > environment > $XDG_CONFIG_HOME/seabox/seabox.toml >
/etc/seabox/seabox.toml > default), the command and its flags (``seabox_flags``, table in
``seabox_commands``), then calls ``seabox.client.<module>.<function>(ctx, options)``.  Errors are
one line on stderr and a non-zero exit, never a traceback; flag errors exit 125 as docker's do.
"""

from __future__ import annotations

import os
import sys

from seabox.cli.seabox_flags import Command, HelpRequested, UsageError, bind_args, parse, usage_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

PROG = "seabox"
CONFIG_KEYS = ("address", "namespace", "data_root", "cni_path", "cni_netconfpath", "insecure_registry", "debug")


def config_files(env: Mapping[str, str] | None = None) -> list[str]:
    e = os.environ if env is None else env
    xdg = e.get("XDG_CONFIG_HOME") or os.path.join(e.get("HOME", "/root"), ".config")
    return [e.get("SEABOX_SYSTEM_CONFIG", "/etc/seabox/seabox.toml"), os.path.join(xdg, "seabox", "seabox.toml")]


def load_settings(flags: dict[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, TOML files, environment and flags (later wins)."""
    e = os.environ if env is None else env
    s: dict[str, Any] = {"address": "unix:///run/seabox/seaboxd.sock", "namespace": "default", "debug": False}
    for path in config_files(e):
        if not os.path.isfile(path):
            continue
        import tomllib

        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise UsageError(f"config file {path}: {err}") from None
        for k, v in data.items():
            key = k.replace("-", "_")
            if key not in CONFIG_KEYS:
                raise UsageError(f'config file {path}: unknown key "{k}"')
            s[key] = v
    if e.get("SEABOX_ADDRESS"):
        s["address"] = e["SEABOX_ADDRESS"]
    if e.get("SEABOX_NAMESPACE"):
        s["namespace"] = e["SEABOX_NAMESPACE"]
    for k, v in flags.items():
        if v is not None:
            s[k] = v
    if isinstance(s.get("insecure_registry"), str):
        s["insecure_registry"] = [s["insecure_registry"]]
    if s.get("config"):
        s["docker_config"] = os.path.join(s["config"], "config.json")
    return s


def main_help() -> str:
    from seabox.cli.seabox_commands import GLOBAL_FLAGS, GROUPS, TOP

    lines = [f"Usage:  {PROG} [OPTIONS] COMMAND", "", "A docker-compatible CLI for seaboxd", "", "Management Commands:"]
    lines += [f"  {g.ljust(12)}{h}" for g, (h, _c) in sorted(GROUPS.items())]
    lines += ["", "Commands:"]
    top = {n: c.help for n, c in TOP.items()}
    top["build"] = "Build an image from a Dockerfile (served by seabox-buildd)"
    lines += [f"  {n.ljust(12)}{h}" for n, h in sorted(top.items())]
    lines += ["", "Global Options:"]
    for f in GLOBAL_FLAGS:
        left = (f"-{f.short}, " if f.short else "    ") + f"--{f.long}"
        lines.append(f"  {left.ljust(26)}{f.help}")
    lines += ["", f"Run '{PROG} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def _resolve(argv: list[str]) -> tuple[Command | None, str, list[str], str]:
    """(command, display name, its argv, group) from the words after the global flags."""
    from seabox.cli.seabox_commands import GROUPS, TOP

    word = argv[0]
    if word in GROUPS:
        _h, cmds = GROUPS[word]
        if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
            return None, word, [], word
        for c in cmds:
            if argv[1] == c.name or argv[1] in c.aliases:
                return c, f"{word} {c.name}", argv[2:], word
        raise UsageError(f"unknown command \"{argv[1]}\" for \"{PROG} {word}\"", see=f"{PROG} {word}")
    top = TOP.get(word)
    if top is None:
        raise UsageError(f"unknown command \"{word}\" for \"{PROG}\"", see=PROG)
    return top, word, argv[1:], ""


def group_help(group: str) -> str:
    from seabox.cli.seabox_commands import GROUPS

    h, cmds = GROUPS[group]
    lines = [f"Usage:  {PROG} {group} COMMAND", "", h, "", "Commands:"]
    lines += [f"  {c.name.ljust(10)}{c.help}" for c in cmds]
    lines += ["", f"Run '{PROG} {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def run_cli(argv: list[str]) -> int:
    from seabox.cli.seabox_commands import GLOBAL_FLAGS

    try:
        gvals, rest, _ = parse(GLOBAL_FLAGS, argv, interspersed=False)
    except HelpRequested:
        sys.stdout.write(main_help())
        return 0
    except UsageError as e:
        return _usage_error(e, PROG)
    if gvals.get("version"):
        from seabox import __version__

        sys.stdout.write(f"seabox version {__version__}\n")
        return 0
    if not rest or rest[0] == "help":
        if len(rest) > 1:
            return run_cli([*rest[1:], "--help"])
        sys.stdout.write(main_help())
        return 0
    if rest[0] == "build":  # served by seabox-buildd, not the Engine API
        from seabox.cli.seabox_build import main as build_main

        return build_main(rest[1:])
    display = rest[0]
    try:
        found, display, cargv, group = _resolve(rest)
        if found is None:
            sys.stdout.write(group_help(group))
            return 0
        cmd = found
        try:
            vals, pos, extra = parse(cmd.flags, cargv, cmd.interspersed, extra=GLOBAL_FLAGS)
        except HelpRequested:
            sys.stdout.write(usage_text(PROG, cmd))
            return 0
        except UsageError as e:
            e.see = e.see or f"{PROG} {display}"
            raise
        gvals.update(extra)
        args = bind_args(_display_cmd(cmd, display), pos, PROG)
        settings = load_settings(gvals)
    except UsageError as e:
        return _usage_error(e, e.see or f"{PROG} {display}")
    for f in cmd.flags:
        if f.dest not in vals and f.default is not None:
            vals[f.dest] = f.default
    vals.update(args)
    return _call(cmd, display, vals, settings)


def _display_cmd(cmd: Command, display: str) -> Command:
    if display == cmd.name:
        return cmd
    return Command(display, cmd.usage, cmd.help, cmd.flags, cmd.args, cmd.func, cmd.interspersed)


def _usage_error(e: UsageError, see: str) -> int:
    sys.stderr.write(f"{e.message}\nSee '{see} --help'.\n")
    return 125


def _call(cmd: Command, display: str, vals: dict[str, Any], settings: dict[str, Any]) -> int:
    from seabox import errdefs
    from seabox.client.context import Context
    from seabox.client.http import APIError, Client
    from seabox.client.runopts import Options

    modname, _, fname = cmd.func.partition(":")
    try:
        client = Client(settings["address"], settings["namespace"])
        client.debug = bool(settings.get("debug"))
    except errdefs.SeaboxError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 125
    ctx = Context(client, settings=settings)
    fail = 125 if cmd.name in ("run", "create") else 1
    try:
        fn = getattr(__import__(f"seabox.client.{modname}", fromlist=[fname]), fname)
        rc = fn(ctx, Options(**vals))
        sys.stdout.flush()
        return int(rc or 0)
    except APIError as e:
        sys.stderr.write(f"{'seabox: ' if fail == 125 else ''}Error response from daemon: {e.message}\n")
        return fail
    except errdefs.Unavailable as e:
        sys.stderr.write(f"{e}\n")
        return fail
    except errdefs.SeaboxError as e:
        sys.stderr.write(f"{'seabox: ' if fail == 125 else ''}Error: {e}\n")
        return fail
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + e.filename if getattr(e, 'filename', None) else ''}\n")
        return fail


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; as the program (``argv`` None), exit right after flushing the output."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = run_cli(args)
    except KeyboardInterrupt:
        rc = 130
    except Exception as e:
        if os.environ.get("SEABOX_DEBUG_TRACEBACK"):
            raise
        sys.stderr.write(f"seabox: internal error: {type(e).__name__}: {e}\n")
        rc = 1
    if argv is None:
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """Skip the interpreter's finalization (a few ms of freeing modules nobody will use again):
    flush stdout and stderr and ``_exit``, unless a thread other than this one is still running
    (Python would wait for it) or the output cannot be flushed (then the normal exit reports it)."""
    th = sys.modules.get("threading")
    if th is not None and th.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(rc & 0xFF)


if __name__ == "__main__":
    sys.exit(main())
