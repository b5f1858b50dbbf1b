"""Build benchmark: seabox-buildd vs Debian dockerd's classic builder and its BuildKit.

Project: tests/data/build/bench (two stages, 60 context files, five RUNs, COPY --from).
Three scenarios, each interleaved across the contenders by bench.harness.compare:

* cold — ``--no-cache`` (the base image is already local for everyone: this measures the
  build, not the registry);
* no-change — a rebuild with nothing changed (every step a cache hit);
* one-file — one file under app/ rewritten before each (untimed) run: the builder's
  ``COPY app/`` and everything after it rebuild.

seabox runs ``python -m seabox.cli.seabox_build`` as a fresh process against a running
seabox-buildd (the daemon is up, as dockerd is); docker runs Debian's 20.10 CLI
(/usr/bin/docker) against a private dockerd.  Each contender works on its own copy of the
project so the one-file edits do not cross.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.harness import Contender, compare
from seabox.buildd.testing import buildd
from seabox.testing.peers import dockerd as peer_dockerd

PROJECT = Path(__file__).resolve().parents[1] / "tests" / "data" / "build" / "bench"
DOCKER = "/usr/bin/docker"


def _copy(work: Path, label: str) -> Path:
    d = work / f"proj-{label}"
    shutil.copytree(PROJECT, d)
    return d


def _editor(ctx: Path) -> Callable[[], None]:
    def edit() -> None:
        (ctx / "app" / "file-07.txt").write_text(f"app file 07 {secrets.token_hex(8)}\n")
    return edit


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    work = Path(tempfile.mkdtemp(prefix="sbt-bench-build-", dir="/var/tmp"))
    try:
        with buildd(work / "buildd") as bd, peer_dockerd(
                work / "dockerd", config={"insecure-registries": ["127.0.0.1:5000", "127.0.0.1:5001"]}) as dk:
            denv = dk.env
            ctxs = {k: _copy(work, k) for k in ("seabox", "classic", "buildkit")}
            tag = f"sbt-bench/build-{secrets.token_hex(3)}"

            def seabox(*extra: str) -> list[str]:
                return [sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address, "--progress", "plain",
                        "-t", f"{tag}:seabox", *extra, str(ctxs["seabox"])]

            def docker(kind: str, *extra: str) -> Callable[[], None]:
                env = {**denv, "DOCKER_BUILDKIT": "1" if kind == "buildkit" else "0"}
                cmd = [DOCKER, "build", "-q", "--network", "host", "-t", f"{tag}:{kind}", *extra, str(ctxs[kind])]

                def run() -> None:
                    p = subprocess.run(cmd, env=env, capture_output=True)
                    if p.returncode != 0:
                        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.decode()[-500:]}")
                return run

            # does this dockerd's BuildKit work here?
            probe = subprocess.run([DOCKER, "build", "-q", "--network", "host", "-t", f"{tag}:probe", str(ctxs["buildkit"])],
                                   env={**denv, "DOCKER_BUILDKIT": "1"}, capture_output=True)
            kinds = ["classic"] + (["buildkit"] if probe.returncode == 0 else [])
            if probe.returncode != 0:
                print("dockerd BuildKit does not work here:", probe.stderr.decode()[-300:], file=sys.stderr)
            # prime every cache (and the base image) once
            subprocess.run(seabox(), check=True, capture_output=True)
            for k in kinds:
                docker(k)()

            summaries = {}
            cold = [Contender("seabox", seabox("--no-cache"))] + [Contender(f"docker-{k}", docker(k, "--no-cache"))
                                                                for k in kinds]
            summaries["cold"] = compare("build_cold", cold, runs=runs, warmup=1, baseline="seabox", unit="s")
            same = [Contender("seabox", seabox())] + [Contender(f"docker-{k}", docker(k)) for k in kinds]
            summaries["no-change"] = compare("build_nochange", same, runs=runs, warmup=1, baseline="seabox", unit="s")
            one = [Contender("seabox", seabox(), before=_editor(ctxs["seabox"]))] + [
                Contender(f"docker-{k}", docker(k), before=_editor(ctxs[k])) for k in kinds]
            summaries["one-file"] = compare("build_onefile", one, runs=runs, warmup=1, baseline="seabox", unit="s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
