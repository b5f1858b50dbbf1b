"""`seabox-shim`: the per-container shim."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox-shim", "the per-container shim", "issue 5")

if __name__ == "__main__":
    sys.exit(main(None))
