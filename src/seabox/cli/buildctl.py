"""`seabox-buildctl`: buildctl's flags for seabox-buildd (build, du, prune)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from seabox.buildd.units import human, parse_size


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seabox-buildctl", description="low-level client of seabox-buildd")
    p.add_argument("--addr", default=None, help="buildd address (default $BUILDKIT_HOST or unix:///run/seabox/buildd.sock)")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build")
    b.add_argument("--frontend", default="dockerfile.v0")
    b.add_argument("--local", action="append", default=[], help="context=<dir> | dockerfile=<dir>")
    b.add_argument("--opt", action="append", default=[], help="target=, build-arg:K=V, filename=, platform=, label:K=V")
    b.add_argument("--output", "-o", action="append", default=[])
    b.add_argument("--secret", action="append", default=[])
    b.add_argument("--no-cache", action="store_true")
    b.add_argument("--import-cache", action="append", default=[], help="type=registry,ref=<name> | type=local,src=<dir>")
    b.add_argument("--export-cache", action="append", default=[],
                   help="type=registry,ref=<name>[,mode=min|max] | type=local,dest=<dir>")
    b.add_argument("--progress", default="auto", choices=("auto", "plain", "tty", "quiet"))
    du = sub.add_parser("du", help="disk usage of the build cache")
    du.add_argument("-v", "--verbose", action="store_true")
    pr = sub.add_parser("prune", help="remove build cache")
    pr.add_argument("--keep-storage", default="0", help="keep at most this much (e.g. 512MB)")
    pr.add_argument("--all", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from seabox import errdefs
    from seabox.buildd import progress as prog
    from seabox.buildd.client import BuildFailed, BuildRequest, Client, parse_output
    from seabox.cli.seabox_build import _secret

    a = parser().parse_args(argv)
    c = Client(a.addr)
    try:
        if a.cmd == "du":
            recs = c.du()
            if a.verbose:
                for r in recs:
                    print(f"ID:\t{r['id']}\nSize:\t{human(r['size'])}\nDescription:\t{r['description']}\n")
            print(f"{'ID':<72} {'SIZE':>10}")
            for r in recs:
                print(f"{r['id']:<72} {human(r['size']):>10}")
            print(f"Total:\t{human(sum(r['size'] for r in recs))}")
            return 0
        if a.cmd == "prune":
            res = c.prune(parse_size(a.keep_storage))
            print(f"Total:\t{human(res['freed'])} ({res['removed']} records removed, {human(res['remaining'])} kept)")
            return 0
        if a.frontend != "dockerfile.v0":
            raise ValueError(f"frontend {a.frontend!r} is not supported (only dockerfile.v0)")
        locals_: dict[str, str] = {x.partition("=")[0]: x.partition("=")[2] for x in a.local}
        ctx = locals_.get("context", ".")
        dfdir = locals_.get("dockerfile", ctx)
        filename = "Dockerfile"
        build_args: dict[str, str] = {}
        labels: dict[str, str] = {}
        target = platform = ""
        for o in a.opt:
            k, _, v = o.partition("=")
            if k.startswith("build-arg:"):
                build_args[k[len("build-arg:"):]] = v
            elif k.startswith("label:"):
                labels[k[len("label:"):]] = v
            elif k == "target":
                target = v
            elif k == "filename":
                filename = v
            elif k == "platform":
                platform = v
            elif k == "no-cache":
                a.no_cache = True
            else:
                raise ValueError(f"--opt {o}: unknown option")
        outputs = [parse_output(o) for o in a.output]
        req = BuildRequest(context_dir=ctx, dockerfile=os.path.join(dfdir, filename),
                           tags=[n for o in outputs if o.get("name") for n in o["name"].split(",")],
                           build_args=build_args, labels=labels, target=target, platform=platform,
                           no_cache=a.no_cache, secrets=dict(_secret(s) for s in a.secret),
                           outputs=[o for o in outputs if o.get("type") != "image" or o.get("push") or True],
                           cache_from=a.import_cache, cache_to=a.export_cache)
        mode = a.progress if a.progress != "auto" else ("tty" if sys.stderr.isatty() else "plain")
        render: Any = {"tty": prog.TtyProgress, "plain": prog.PlainProgress}.get(mode, lambda _: prog.QuietProgress())(
            sys.stderr)
        try:
            res = c.build(req, render)
        finally:
            render.close()
        print(f"exporting manifest {res['digest']} done", file=sys.stderr)
        return 0
    except (errdefs.SeaboxError, BuildFailed, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(None))
