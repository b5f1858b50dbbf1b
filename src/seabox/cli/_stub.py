"""The placeholder for a command whose issue has not landed yet.

It answers ``--help`` honestly and otherwise fails with "not implemented yet": no
command pretends to work before it does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def make_stub(prog: str, description: str, issue: str) -> Callable[[Sequence[str] | None], int]:
    def main(argv: Sequence[str] | None = None) -> int:
        parser = argparse.ArgumentParser(
            prog=prog,
            description=description,
            epilog=f"status: not implemented yet (tracked by {issue})",
        )
        parser.add_argument("args", nargs=argparse.REMAINDER, help="command and its arguments")
        parser.parse_args(argv)
        print(f"{prog}: not implemented yet ({issue})", file=sys.stderr)
        return 3

    return main
