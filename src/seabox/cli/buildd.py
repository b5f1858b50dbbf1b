"""`seabox-buildd`: the Dockerfile builder daemon."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox-buildd", "the Dockerfile builder daemon", "issue 7")

if __name__ == "__main__":
    sys.exit(main(None))
