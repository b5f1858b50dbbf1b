"""`seabox-buildd`: the Dockerfile builder daemon (flags only; the work is in seabox.buildd)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="seabox-buildd", description="the seabox Dockerfile builder daemon")
    p.add_argument("--root", default="/var/lib/seabox-buildd", help="cache, content and snapshots")
    p.add_argument("--state", default="/run/seabox-buildd", help="runtime state (mountpoints, runc state)")
    p.add_argument("--address", default="unix:///run/seabox/buildd.sock", help="the API socket")
    p.add_argument("--seaboxd-address", default="/run/seabox/seaboxd.sock", help="seaboxd's gRPC socket")
    p.add_argument("--hosts-dir", default=None,
                   help="registry hosts directory (hosts.toml mirrors; default /etc/seabox/certs.d if present)")
    a = p.parse_args(argv)
    import os

    if os.geteuid() != 0:
        print("seabox-buildd: must run as root (it mounts overlay snapshots and runs build containers)",
              file=sys.stderr)
        return 1
    from seabox.buildd.daemon import serve

    try:
        return serve(a.root, a.state, a.address, a.seaboxd_address, a.hosts_dir)
    except Exception as e:
        print(f"seabox-buildd: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(None))
