"""`seabox-buildctl`: the low-level builder client."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox-buildctl", "the low-level builder client", "issue 7")

if __name__ == "__main__":
    sys.exit(main(None))
