"""`seabox build`: docker build's flags, parsed here and handed to the buildd client."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            v = os.environ.get(k, "") if what == "build-arg" else ""
            if what == "build-arg" and k not in os.environ:
                continue
        out[k] = v
    return out


def _secret(spec: str) -> tuple[str, str]:
    """``id=ID,src=FILE`` (``source=``), ``id=ID,env=VAR`` or ``id=ID`` alone (the environment
    variable ID, as buildx reads it); an environment secret comes back as ``env:VAR``."""
    fields = dict(p.partition("=")[::2] for p in spec.split(","))
    sid = fields.get("id", "")
    src = fields.get("src") or fields.get("source") or ""
    env = fields.get("env", "")
    if not sid:
        raise ValueError(f"--secret {spec}: expected id=<id>,src=<file> or id=<id>,env=<variable>")
    if src and env:
        raise ValueError(f"--secret {spec}: src= and env= cannot both be given")
    if src:
        return sid, src
    env = env or sid
    if env not in os.environ:
        raise ValueError(f"--secret {spec}: environment variable {env} is not set")
    return sid, "env:" + env


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seabox build", description="Build an image from a Dockerfile")
    p.add_argument("context", help="build context: a directory, a git URL (#ref:subdir) or an http(s) tarball/Dockerfile URL")
    p.add_argument("-t", "--tag", action="append", default=[], help="name:tag (repeatable)")
    p.add_argument("-f", "--file", default="", help="Dockerfile (default: <context>/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[])
    p.add_argument("--target", default="")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("--platform", default="")
    p.add_argument("--secret", action="append", default=[])
    p.add_argument("-o", "--output", action="append", default=[])
    p.add_argument("--push", action="store_true")
    p.add_argument("--progress", default="auto", choices=("auto", "plain", "tty", "quiet", "rawjson"))
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--send-context", action="store_true", help="stream the context as a tar to the daemon")
    p.add_argument("--iidfile", default="")
    p.add_argument("--cache-from", action="append", default=[],
                   help="import build cache: type=registry,ref=<name> | type=local,src=<dir> | <name> (repeatable)")
    p.add_argument("--cache-to", action="append", default=[],
                   help="export build cache: type=registry,ref=<name>[,mode=min|max] | type=local,dest=<dir>")
    p.add_argument("--addr", default=None, help="buildd address (default $BUILDKIT_HOST or unix:///run/seabox/buildd.sock)")
    return p


def main(argv: list[str] | None = None) -> int:
    from seabox import errdefs
    from seabox.build import remote
    from seabox.buildd import progress as prog
    from seabox.buildd.client import BuildFailed, BuildRequest, Client, parse_output

    p = parser()
    a = p.parse_args(argv)
    stack = contextlib.ExitStack()
    try:
        outputs = [parse_output(o) for o in a.output]
        secrets = dict(_secret(s) for s in a.secret)
        context, dockerfile = a.context, a.file
        if remote.is_remote(context):  # git repository or HTTP(S) tarball/Dockerfile, fetched here
            got = stack.enter_context(remote.fetched(context))
            context = got.context_dir
            dockerfile = os.path.join(context, dockerfile) if dockerfile else got.dockerfile
        req = BuildRequest(
            context_dir=context, dockerfile=dockerfile, tags=a.tag, build_args=_kv(a.build_arg, "build-arg"),
            target=a.target, no_cache=a.no_cache, pull=a.pull, platform=a.platform, secrets=secrets,
            labels=_kv(a.label, "label"), outputs=outputs, push=a.push, send_context=a.send_context,
            cache_from=a.cache_from, cache_to=a.cache_to,
        )
        mode = "quiet" if a.quiet else a.progress
        if mode == "auto":
            mode = "tty" if sys.stderr.isatty() else "plain"
        render: Any
        if mode == "tty":
            render = prog.TtyProgress(sys.stderr)
        elif mode == "plain":
            render = prog.PlainProgress(sys.stderr)
        elif mode == "rawjson":
            def render(ev: dict[str, Any]) -> None:
                sys.stdout.write(json.dumps(ev) + "\n")
                sys.stdout.flush()
        else:
            render = prog.QuietProgress()
        try:
            result = Client(a.addr).build(req, render)
        finally:
            close = getattr(render, "close", None)
            if close:
                close()
    except (errdefs.SeaboxError, BuildFailed, ValueError, OSError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.close()
    if a.iidfile:
        with open(a.iidfile, "w") as f:
            f.write(result["config"])
    if a.quiet:
        print(result["config"])
    elif mode != "rawjson":
        names = ", ".join(result.get("names") or [])
        print(f"writing image {result['config']} done" + (f" (naming to {names})" if names else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(None))
