"""`seabox`: the everyday docker-compatible CLI."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox", "the everyday docker-compatible CLI", "issue 6")

if __name__ == "__main__":
    sys.exit(main(None))
