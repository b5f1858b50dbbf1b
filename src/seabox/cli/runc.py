"""`seabox-runc`: the OCI runtime with runc's command line.

Parses runc's global flags and verbs and calls ``seabox.runtime``; nothing else.  Errors are
one line on stderr (and, with ``--log``, a line in the log file — JSON with ``--log-format
json``, which containerd's shim reads) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from seabox import __version__
from seabox.errdefs import InvalidArgument, SeaboxError

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise InvalidArgument(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="seabox-runc", description="OCI runtime (runc-compatible command line)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory (default %(default)s)")
    p.add_argument("--log", default=None, help="log file")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    p.add_argument("--rootless", default=None, help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)

    def create_flags(c: argparse.ArgumentParser) -> None:
        c.add_argument("-b", "--bundle", default=".")
        c.add_argument("--pid-file", default=None)
        c.add_argument("--console-socket", default=None)
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        c.add_argument("--preserve-fds", type=int, default=0)
        c.add_argument("id")

    create_flags(sub.add_parser("create", help="create a container"))
    r = sub.add_parser("run", help="create and start a container")
    r.add_argument("-d", "--detach", action="store_true")
    r.add_argument("--keep", action="store_true")
    create_flags(r)
    for name in ("start", "state", "pause", "resume"):
        sub.add_parser(name).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("-a", "--all", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = sub.add_parser("delete")
    d.add_argument("-f", "--force", action="store_true")
    d.add_argument("id")
    ls = sub.add_parser("list")
    ls.add_argument("-f", "--format", default="table", choices=["table", "json"])
    ls.add_argument("-q", "--quiet", action="store_true")
    ps = sub.add_parser("ps")
    ps.add_argument("-f", "--format", default="table", choices=["table", "json"])
    ps.add_argument("id")
    ps.add_argument("ps_args", nargs="*")
    e = sub.add_parser("exec")
    e.add_argument("-p", "--process", default=None)
    e.add_argument("-t", "--tty", action="store_true")
    e.add_argument("--console-socket", default=None)
    e.add_argument("--cwd", default=None)
    e.add_argument("-e", "--env", action="append", default=[])
    e.add_argument("-u", "--user", default=None)
    e.add_argument("-g", "--additional-gids", action="append", default=[])
    e.add_argument("-c", "--cap", action="append", default=[])
    e.add_argument("--no-new-privs", action="store_true")
    e.add_argument("-d", "--detach", action="store_true")
    e.add_argument("--pid-file", default=None)
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("--apparmor", default=None)
    e.add_argument("--process-label", default=None)
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    ev = sub.add_parser("events")
    ev.add_argument("--stats", action="store_true")
    ev.add_argument("--interval", default="5s")
    ev.add_argument("id")
    u = sub.add_parser("update")
    u.add_argument("-r", "--resources", default=None)
    for flag in ("--memory", "--memory-reservation", "--memory-swap", "--kernel-memory", "--cpu-shares",
                 "--cpu-quota", "--cpu-period", "--cpu-rt-period", "--cpu-rt-runtime", "--cpuset-cpus",
                 "--cpuset-mems", "--pids-limit", "--blkio-weight"):
        u.add_argument(flag, default=None)
    u.add_argument("id")
    sp = sub.add_parser("spec")
    sp.add_argument("-b", "--bundle", default=".")
    sp.add_argument("--rootless", action="store_true")
    sub.add_parser("features")
    return p


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


def _update_resources(a: argparse.Namespace) -> dict[str, Any]:
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


def _cmd_run(a: argparse.Namespace, root: str, log: Logger) -> int:
    from seabox.runtime.create import CreateOptions, create
    from seabox.runtime.start import start

    opts = CreateOptions(bundle=a.bundle, pid_file=a.pid_file, console_socket=a.console_socket,
                         no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring, preserve_fds=a.preserve_fds)
    if a.cmd == "run" and not a.detach and a.console_socket is None:
        # foreground without a console socket: the container uses our stdio (terminal unsupported)
        pass
    created = create(root, a.id, opts)
    for w in created.warnings:
        log.warn(w)
    if a.cmd == "create":
        return 0
    pid = created.state.pid
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
    from seabox.runtime.exec import wait_forwarding

    code = wait_forwarding(pid)
    if not a.keep:
        from seabox.runtime.delete import delete

        try:
            delete(root, a.id, force=True)
        except SeaboxError as e:
            log.error(str(e))
    return code


def _cmd_exec(a: argparse.Namespace, root: str) -> int:
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
    return exec_process(root, a.id, proc, opts)


def dispatch(a: argparse.Namespace, log: Logger) -> int:
    root = a.root
    cmd = a.cmd
    if a.systemd_cgroup:
        raise InvalidArgument("--systemd-cgroup: the systemd cgroup driver is not supported by seabox-runc")
    if cmd in ("create", "run"):
        return _cmd_run(a, root, log)
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
        from seabox.runtime.specgen import default_spec

        path = os.path.join(a.bundle, "config.json")
        if os.path.exists(path):
            raise InvalidArgument("File config.json exists. Remove it first.")
        with open(path, "w") as f:
            f.write(json.dumps(default_spec(a.rootless), indent="\t") + "\n")
        return 0
    if cmd == "features":
        from seabox.runtime.specgen import features

        print(json.dumps(features(), indent="    "))
        return 0
    raise InvalidArgument(f"unknown command {cmd!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    log = Logger(None, "text", False)
    try:
        a = parser.parse_args(argv)
        log = Logger(a.log, a.log_format, a.debug)
        if a.version:
            print(f"seabox-runc version {__version__}\nspec: 1.1.0")
            return 0
        if not a.cmd:
            parser.print_help()
            return 0
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
    os.environ.setdefault("PYTHONUNBUFFERED", "0")
    sys.exit(main(None))
