"""`seabox-runc`: the OCI runtime with runc's command line."""

from __future__ import annotations

import sys

from seabox.cli._stub import make_stub

main = make_stub("seabox-runc", "the OCI runtime with runc's command line", "issue 3")

if __name__ == "__main__":
    sys.exit(main(None))
