"""`seaboxd`: the seabox daemon (containerd v1 API, CRI later).

Parses flags, loads the config and calls seabox.daemon; nothing else. grpc is imported
only when the daemon actually starts, so ``--help`` and ``config default`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from seabox.errdefs import SeaboxError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seaboxd",
        description="the seabox daemon: serves containerd's v1 gRPC API on a unix socket",
    )
    p.add_argument("--config", "-c", type=Path, help="config file (default /etc/seabox/config.toml)")
    p.add_argument("--root", help="persistent data directory (default /var/lib/seabox)")
    p.add_argument("--state", help="runtime state directory (default /run/seabox)")
    p.add_argument("--address", "-a", help="unix socket to serve on (default /run/seabox/seaboxd.sock)")
    p.add_argument("--log-level", "-l", help="trace, debug, info, warn, error (default info)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    cfg = sub.add_parser("config", help="print configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    cfg_sub.add_parser("default", help="print the complete default config, with comments")
    cfg_sub.add_parser("dump", help="print the effective config (file plus flags)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from seabox.daemon import config

    try:
        if args.command == "config" and args.config_command == "default":
            sys.stdout.write(config.DEFAULT_TOML)
            return 0
        cfg = config.with_overrides(
            config.load(args.config), root=args.root, state=args.state, address=args.address,
            log_level=args.log_level,
        )
        if args.command == "config":
            sys.stdout.write(config.dump(cfg))
            return 0
        from seabox.daemon import logs, server

        stream = open(cfg.log.file, "a", buffering=1) if cfg.log.file else None  # noqa: SIM115
        logs.setup(cfg.log.level, cfg.log.format, stream)
        return server.run(cfg)
    except SeaboxError as e:
        print(f"seaboxd: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"seaboxd: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(None))
