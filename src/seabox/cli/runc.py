"""`seabox-runc`: the OCI runtime with runc's command line.

Parses runc's global flags and verbs and calls ``seabox.runtime``; nothing else.  Errors are
one line on stderr (and, with ``--log``, a line in the log file — JSON with ``--log-format
json``, which containerd's shim reads) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
import time

from seabox import __version__
from seabox.errdefs import InvalidArgument, SeaboxError

# ``os`` and the JSON module are imported where they are used (each verb pays only for its own).

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

DEFAULT_ROOT = "/run/seabox-runc"


class Logger:
    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_on = debug

    def _write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        from seabox import jsonlite as json

        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": msg, "time": t})
        else:
            line = f'time="{t}" level={level} msg={json.dumps(msg)}'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def error(self, msg: str) -> None:
        self._write("error", msg)
        print(f"seabox-runc: {msg}", file=sys.stderr)

    def warn(self, msg: str) -> None:
        self._write("warning", msg)
        if not self.path:
            print(f"seabox-runc: warning: {msg}", file=sys.stderr)

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self._write("debug", msg)


# Flag tables: name (and aliases) -> (attribute, kind); kind is "bool", "str", "int" or "list".
# Go's flag package (which runc uses) accepts -flag and --flag alike, and --flag=value.
_CREATE_FLAGS = {
    "bundle": ("bundle", "str"), "b": ("bundle", "str"), "pid-file": ("pid_file", "str"),
    "console-socket": ("console_socket", "str"), "no-pivot": ("no_pivot", "bool"),
    "no-new-keyring": ("no_new_keyring", "bool"), "preserve-fds": ("preserve_fds", "int"),
}
_GLOBAL_FLAGS = {
    "root": ("root", "str"), "log": ("log", "str"), "log-format": ("log_format", "str"),
    "debug": ("debug", "bool"), "systemd-cgroup": ("systemd_cgroup", "bool"), "criu": ("criu", "str"),
    "rootless": ("rootless", "str"), "version": ("version", "bool"), "v": ("version", "bool"),
    "help": ("help", "bool"), "h": ("help", "bool"),
}
_UPDATE_FLAGS = {
    k: (k.replace("-", "_"), "str")
    for k in ("memory", "memory-reservation", "memory-swap", "kernel-memory", "cpu-shares", "cpu-quota",
              "cpu-period", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit",
              "blkio-weight")
}
# command -> (flags, positional names, name of the rest-of-arguments list or "")
COMMANDS: dict[str, tuple[dict[str, tuple[str, str]], list[str], str]] = {
    "create": (_CREATE_FLAGS, ["id"], ""),
    "run": ({**_CREATE_FLAGS, "detach": ("detach", "bool"), "d": ("detach", "bool"), "keep": ("keep", "bool")},
            ["id"], ""),
    "start": ({}, ["id"], ""),
    "state": ({}, ["id"], ""),
    "pause": ({}, ["id"], ""),
    "resume": ({}, ["id"], ""),
    "kill": ({"all": ("all", "bool"), "a": ("all", "bool")}, ["id", "?signal"], ""),
    "delete": ({"force": ("force", "bool"), "f": ("force", "bool")}, ["id"], ""),
    "list": ({"format": ("format", "str"), "f": ("format", "str"), "quiet": ("quiet", "bool"),
              "q": ("quiet", "bool")}, [], ""),
    "ps": ({"format": ("format", "str"), "f": ("format", "str")}, ["id"], "ps_args"),
    "exec": ({"process": ("process", "str"), "p": ("process", "str"), "tty": ("tty", "bool"), "t": ("tty", "bool"),
              "console-socket": ("console_socket", "str"), "cwd": ("cwd", "str"), "env": ("env", "list"),
              "e": ("env", "list"), "user": ("user", "str"), "u": ("user", "str"),
              "additional-gids": ("additional_gids", "list"), "g": ("additional_gids", "list"),
              "cap": ("cap", "list"), "c": ("cap", "list"), "no-new-privs": ("no_new_privs", "bool"),
              "detach": ("detach", "bool"), "d": ("detach", "bool"), "pid-file": ("pid_file", "str"),
              "preserve-fds": ("preserve_fds", "int"), "apparmor": ("apparmor", "str"),
              "process-label": ("process_label", "str")}, ["id"], "args"),
    "events": ({"stats": ("stats", "bool"), "interval": ("interval", "str")}, ["id"], ""),
    "update": ({**_UPDATE_FLAGS, "resources": ("resources", "str"), "r": ("resources", "str")}, ["id"], ""),
    "spec": ({"bundle": ("bundle", "str"), "b": ("bundle", "str"), "rootless": ("rootless", "bool")}, [], ""),
    "features": ({}, [], ""),
}
_DEFAULTS = {"root": DEFAULT_ROOT, "log_format": "text", "format": "table", "signal": "SIGTERM", "bundle": ".",
             "interval": "5s", "preserve_fds": 0}

USAGE = """usage: seabox-runc [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [flags] ARGS

An OCI runtime with runc's command line.  Commands:
  create   create a container          start    start a created container
  run      create and start             state    print a container's state JSON
  kill     signal a container          delete   delete a container (--force)
  exec     run a process in it         list     list containers (--format json)
  ps       processes in a container    pause / resume / update / events
  spec     write a default config.json features  print the supported features
"""


class Args:
    """The parsed command line: every flag of every command, defaulted (attribute access)."""

    def __init__(self) -> None:
        self.cmd = ""
        self.id = ""
        self.help = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _DEFAULTS.get(name, [] if name in _LISTS else None)


_LISTS = {"env", "additional_gids", "cap", "args", "ps_args"}


def _take_flags(argv: list[str], i: int, table: dict[str, tuple[str, str]], a: Args,
                stop_at_positional: bool) -> tuple[int, list[str]]:
    positionals: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            return len(argv), positionals
        if arg.startswith("-") and len(arg) > 1:
            name, eq, value = arg.lstrip("-").partition("=")
            if name not in table:
                raise InvalidArgument(f"flag provided but not defined: -{name}")
            dest, kind = table[name]
            if kind == "bool":
                setattr(a, dest, value.lower() not in ("false", "0") if eq else True)
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise InvalidArgument(f"flag needs an argument: -{name}")
                    value = argv[i]
                if kind == "int":
                    try:
                        setattr(a, dest, int(value))
                    except ValueError:
                        raise InvalidArgument(f"invalid value {value!r} for flag -{name}")
                elif kind == "list":
                    setattr(a, dest, [*getattr(a, dest), value])
                else:
                    setattr(a, dest, value)
            i += 1
            continue
        if stop_at_positional:
            return i, positionals
        positionals.append(arg)
        i += 1
    return i, positionals


def parse_args(argv: list[str]) -> Args:
    a = Args()
    i, pos = _take_flags(argv, 0, _GLOBAL_FLAGS, a, stop_at_positional=True)
    if i >= len(argv):
        return a
    a.cmd = argv[i]
    if a.cmd not in COMMANDS:
        raise InvalidArgument(f"unknown command {a.cmd!r} (see seabox-runc --help)")
    flags, names, rest = COMMANDS[a.cmd]
    if a.help or (i + 1 < len(argv) and argv[i + 1] in ("-h", "--help")):
        a.help = True
        return a
    if rest:
        # flags come before the id; after the id everything is the command (exec) or ps's arguments
        j, pos = _take_flags(argv, i + 1, flags, a, stop_at_positional=True)
        if j >= len(argv):
            raise InvalidArgument(f"{a.cmd}: container id is required")
        a.id = argv[j]
        extra = argv[j + 1:]
        if extra and extra[0] == "--":
            extra = extra[1:]
        setattr(a, rest, extra)
        return a
    _, pos = _take_flags(argv, i + 1, flags, a, stop_at_positional=False)
    required = [n for n in names if not n.startswith("?")]
    if len(pos) < len(required):
        raise InvalidArgument(f"{a.cmd}: {', '.join(required)} required")
    if len(pos) > len(names):
        raise InvalidArgument(f"{a.cmd}: unexpected arguments: {' '.join(pos[len(names):])}")
    for n, v in zip(names, pos, strict=False):
        setattr(a, n.lstrip("?"), v)
    if a.log_format not in ("text", "json"):
        raise InvalidArgument(f"--log-format {a.log_format!r}: must be text or json")
    if a.format not in ("table", "json"):
        raise InvalidArgument(f"--format {a.format!r}: must be table or json")
    return a


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _duration(v: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for u in ("ms", "s", "m", "h"):
        if v.endswith(u) and v[: -len(u)].replace(".", "", 1).isdigit():
            return float(v[: -len(u)]) * units[u]
    try:
        return float(v)
    except ValueError:
        raise InvalidArgument(f"--interval {v!r}: not a duration")


def _size(v: str) -> int:
    v = v.strip()
    if v == "-1":
        return -1
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    last = v[-1:].lower()
    if v.lower().endswith("b"):
        v, last = v[:-1], v[-2:-1].lower()
    try:
        if last in mult:
            return int(float(v[:-1]) * mult[last])
        return int(v)
    except ValueError:
        raise InvalidArgument(f"invalid size {v!r}")


def _update_resources(a: Args) -> dict[str, Any]:
    from seabox import jsonlite as json

    if a.resources:
        try:
            text = sys.stdin.read() if a.resources == "-" else _read(a.resources)
            doc = json.loads(text)
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"--resources: {e}")
        if not isinstance(doc, dict):
            raise InvalidArgument("--resources: must be a JSON object")
        return doc
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if a.memory is not None:
        mem["limit"] = _size(a.memory)
    if a.memory_reservation is not None:
        mem["reservation"] = _size(a.memory_reservation)
    if a.memory_swap is not None:
        mem["swap"] = _size(a.memory_swap)
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    for key, attr in (("shares", "cpu_shares"), ("quota", "cpu_quota"), ("period", "cpu_period"),
                      ("realtimePeriod", "cpu_rt_period"), ("realtimeRuntime", "cpu_rt_runtime")):
        if getattr(a, attr) is not None:
            cpu[key] = int(getattr(a, attr))
    if a.cpuset_cpus is not None:
        cpu["cpus"] = a.cpuset_cpus
    if a.cpuset_mems is not None:
        cpu["mems"] = a.cpuset_mems
    if cpu:
        res["cpu"] = cpu
    if a.pids_limit is not None:
        res["pids"] = {"limit": int(a.pids_limit)}
    if a.blkio_weight is not None:
        res["blockIO"] = {"weight": int(a.blkio_weight)}
    return res


def _cmd_run(a: Args, root: str, log: Logger) -> int:
    from seabox.runtime.create import CreateOptions, create

    opts = CreateOptions(bundle=a.bundle, pid_file=a.pid_file, console_socket=a.console_socket,
                         no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring, preserve_fds=a.preserve_fds)
    listener = None
    if a.cmd == "run" and not a.detach and a.console_socket is None and _wants_terminal(a.bundle):
        # foreground with a terminal: we are the console-socket receiver and proxy the pty
        from seabox.runtime.ttyproxy import ConsoleListener

        listener = ConsoleListener(root)
        opts.console_socket = listener.path
    try:
        created = create(root, a.id, opts)
        master = listener.receive() if listener is not None else -1
    finally:
        if listener is not None:
            listener.close()
    for w in created.warnings:
        log.warn(w)
    if a.cmd == "create":
        return 0
    pid = created.state.pid
    from seabox.runtime.start import start

    try:
        start(root, a.id)
    except BaseException:
        from seabox.runtime.delete import delete

        try:
            delete(root, a.id, force=True)
        except SeaboxError:
            pass
        raise
    if a.detach:
        return 0
    if master >= 0:
        from seabox.runtime.ttyproxy import proxy

        code = proxy(master, pid)
    else:
        from seabox.runtime.exec import wait_forwarding

        code = wait_forwarding(pid)
    if not a.keep:
        from seabox.runtime.delete import delete

        try:
            delete(root, a.id, force=True)
        except SeaboxError as e:
            log.error(str(e))
    return code


def _wants_terminal(bundle: str) -> bool:
    import os

    from seabox import jsonlite as json

    try:
        doc = json.loads(_read(os.path.join(bundle, "config.json")))
        return bool((doc.get("process") or {}).get("terminal"))
    except (OSError, ValueError, AttributeError):
        return False  # create reports the real problem


def _cmd_exec(a: Args, root: str) -> int:
    from seabox import jsonlite as json
    from seabox.oci.runtime_spec import parse_process, parse_spec
    from seabox.runtime import state as st_mod
    from seabox.runtime.exec import ExecOptions, exec_process, process_from_args

    if a.process:
        try:
            doc = json.loads(sys.stdin.read() if a.process == "-" else _read(a.process))
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"--process {a.process}: {e}")
        proc = parse_process(doc)
    else:
        st = st_mod.load_state(root, a.id)
        base = parse_spec(st.config).process
        args = list(a.args)
        if args and args[0] == "--":
            args = args[1:]
        proc = process_from_args(base, args, cwd=a.cwd, env=a.env, user=a.user, caps=a.cap,
                                 no_new_privs=a.no_new_privs, terminal=a.tty)
        if a.additional_gids:
            try:
                proc.user.additional_gids = [int(g) for g in a.additional_gids]
            except ValueError:
                raise InvalidArgument("--additional-gids: must be numeric")
    opts = ExecOptions(detach=a.detach, pid_file=a.pid_file, console_socket=a.console_socket,
                       preserve_fds=a.preserve_fds)
    if proc.terminal and not a.detach and a.console_socket is None:
        from seabox.runtime.ttyproxy import ConsoleListener, proxy

        listener = ConsoleListener(root)
        opts.console_socket = listener.path
        opts.detach = True  # we wait ourselves, proxying the pty
        try:
            pid_box: list[int] = []
            exec_process(root, a.id, proc, opts, started=pid_box.append)
            master = listener.receive()
        finally:
            listener.close()
        return proxy(master, pid_box[0])
    return exec_process(root, a.id, proc, opts)


def dispatch(a: Args, log: Logger) -> int:
    root = a.root
    cmd = a.cmd
    if a.systemd_cgroup:
        raise InvalidArgument("--systemd-cgroup: the systemd cgroup driver is not supported by seabox-runc")
    if cmd in ("create", "run"):
        return _cmd_run(a, root, log)
    from seabox import jsonlite as json

    if cmd == "start":
        from seabox.runtime.start import start

        start(root, a.id)
        return 0
    if cmd == "state":
        from seabox.runtime.query import state_json

        print(state_json(root, a.id))
        return 0
    if cmd == "kill":
        from seabox.runtime.kill import kill, parse_signal

        kill(root, a.id, parse_signal(a.signal), all_processes=a.all)
        return 0
    if cmd == "delete":
        from seabox.runtime.delete import delete

        delete(root, a.id, force=a.force)
        return 0
    if cmd == "list":
        from seabox.runtime.query import list_states, list_table

        states = list_states(root)
        if a.format == "json":
            print(json.dumps(states))
        else:
            sys.stdout.write(list_table(states, a.quiet))
        return 0
    if cmd == "ps":
        from seabox.runtime.query import ps_pids, ps_table

        pids = ps_pids(root, a.id)
        if a.format == "json":
            print(json.dumps(pids))
        else:
            sys.stdout.write(ps_table(pids))
        return 0
    if cmd == "exec":
        return _cmd_exec(a, root)
    if cmd in ("pause", "resume"):
        from seabox.runtime import pause as pause_mod

        getattr(pause_mod, cmd)(root, a.id)
        return 0
    if cmd == "update":
        from seabox.runtime.update import update

        update(root, a.id, _update_resources(a))
        return 0
    if cmd == "events":
        from seabox.runtime.events import events

        try:
            for ev in events(root, a.id, a.stats, _duration(a.interval)):
                print(json.dumps(ev), flush=True)
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    if cmd == "spec":
        import json as stdjson
        import os

        from seabox.runtime.specgen import default_spec

        path = os.path.join(a.bundle, "config.json")
        if os.path.exists(path):
            raise InvalidArgument("File config.json exists. Remove it first.")
        with open(path, "w") as f:
            f.write(stdjson.dumps(default_spec(a.rootless), indent="\t") + "\n")
        return 0
    if cmd == "features":
        from seabox.runtime.specgen import features

        print(json.dumps_indent(features(), "    "))
        return 0
    raise InvalidArgument(f"unknown command {cmd!r}")


# Commands that return as soon as their work is done; the others (run, exec, events) may
# live as long as a container and need the cycle collector.
_SHORT_LIVED = frozenset({"create", "start", "state", "kill", "delete", "list", "ps", "pause", "resume", "update",
                          "spec", "features"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.  As a program (``argv`` None) the process ends with ``os._exit`` after
    flushing stdio: interpreter finalisation costs ~10 ms per command and does nothing useful."""
    code = _main(argv)
    if argv is None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        import posix  # (os may not be imported)

        posix._exit(code)
    return code


def _main(argv: Sequence[str] | None = None) -> int:
    log = Logger(None, "text", False)
    try:
        a = parse_args(list(sys.argv[1:] if argv is None else argv))
        log = Logger(a.log, a.log_format, a.debug)
        if a.version:
            print(f"seabox-runc version {__version__}\ncommit: seabox-{__version__}\nspec: 1.1.0")
            return 0
        if not a.cmd or a.help:
            sys.stdout.write(USAGE)
            return 0
        if a.cmd not in _SHORT_LIVED:
            import gc

            gc.enable()  # the lean launcher starts with it off (see scripts/setup.sh)
        return dispatch(a, log)
    except SeaboxError as e:
        log.error(str(e))
        return 1
    except OSError as e:
        log.error(str(e))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    import os

    os.environ.setdefault("PYTHONUNBUFFERED", "0")
    sys.exit(main(None))
