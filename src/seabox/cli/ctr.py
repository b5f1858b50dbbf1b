"""`seabox-ctr`: the low-level ctr-style client."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox-ctr", "the low-level ctr-style client", "issue 5")

if __name__ == "__main__":
    sys.exit(main(None))
