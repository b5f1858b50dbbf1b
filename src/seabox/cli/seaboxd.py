"""`seaboxd`: the seabox daemon (containerd v1 API and CRI)."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seaboxd", "the seabox daemon (containerd v1 API and CRI)", "issue 5")

if __name__ == "__main__":
    sys.exit(main(None))
