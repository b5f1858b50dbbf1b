"""`seabox-shim`: the per-container shim.

Only parses and calls ``seabox.shim``: ``start`` forks a detached shim and prints its pid and
address as JSON; ``serve`` runs one in the foreground; ``list`` shows the shims under a state
dir; ``cleanup`` deletes the container of a dead shim and removes its state.  Errors are one
line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from seabox.errdefs import InvalidArgument, SeaboxError

DEFAULT_STATE = "/run/seabox/shims"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise InvalidArgument(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="seabox-shim", description="the per-container shim (one process per container)")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)

    def ident(c: argparse.ArgumentParser, runtime: bool = True) -> None:
        c.add_argument("--state", default=os.environ.get("SEABOX_SHIM_STATE", DEFAULT_STATE),
                       help="base state dir; the shim lives in <state>/<namespace>/<id> (default %(default)s)")
        c.add_argument("--state-dir", default=None, help="the shim's own directory (overrides --state)")
        c.add_argument("-n", "--namespace", default="default")
        c.add_argument("--id", required=True, help="container id")
        if runtime:
            c.add_argument("--runtime-binary", default="", help="a runc-compatible binary (default: in-process)")
            c.add_argument("--runtime-root", default="", help="the runtime's --root")

    ident(sub.add_parser("start", help="start a detached shim; print its pid and address as JSON"))
    ident(sub.add_parser("serve", help="run a shim in the foreground"))
    ident(sub.add_parser("cleanup", help="delete the container of a dead shim and remove its state"), runtime=False)
    ls = sub.add_parser("list", help="list the shims under a state dir")
    ls.add_argument("--state", default=os.environ.get("SEABOX_SHIM_STATE", DEFAULT_STATE))
    ls.add_argument("-a", "--all", action="store_true", help="include dead shims")
    return p


def _config(a: argparse.Namespace) -> Any:
    from seabox.shim.server import ShimConfig

    state_dir = a.state_dir or os.path.join(a.state, a.namespace, a.id)
    return ShimConfig(a.namespace, a.id, os.path.abspath(state_dir), a.runtime_binary, a.runtime_root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        a = parser.parse_args(argv)
        if not a.cmd:
            parser.print_help()
            return 0
        if a.cmd == "start":
            from seabox.shim.launcher import fork_shim

            info = fork_shim(_config(a))
            print(json.dumps({"pid": info.pid, "address": info.address}))
            return 0
        if a.cmd == "serve":
            from seabox.shim.server import run

            return run(_config(a))
        if a.cmd == "list":
            from seabox.shim.client import discover

            for r in discover(a.state, include_dead=a.all):
                print(f"{r.namespace}/{r.id}\t{r.pid}\t{'alive' if r.alive else 'dead'}\t{r.address}")
            return 0
        if a.cmd == "cleanup":
            from seabox.shim.client import cleanup_dead

            state = (a.state_dir and os.path.dirname(os.path.dirname(os.path.abspath(a.state_dir)))) or a.state
            ex = cleanup_dead(state, a.namespace, a.id)
            print(json.dumps({"id": ex.id, "exit_status": ex.exit_status, "exited_at": ex.exited_at}))
            return 0
        raise InvalidArgument(f"unknown command {a.cmd!r}")
    except SeaboxError as e:
        print(f"seabox-shim: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"seabox-shim: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(None))
