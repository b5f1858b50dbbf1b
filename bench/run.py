"""`make bench [BENCH=name ...]`: run the benchmark modules in bench/ (each has ``main()``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in {"harness", "run"} and not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; have: {', '.join(available())}", file=sys.stderr)
        return 2
    for name in names:
        # a module's own arguments (``python -m bench.<name> ARGS``) are not ours: it sees none
        sys.argv = [f"bench.{name}"]
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
