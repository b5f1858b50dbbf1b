"""`seabox run --rm busybox true` of this tree vs an older revision, and `ctr run --rm`, interleaved.

The machine is shared and its load swings from run to run, so a before/after measured minutes
apart says little; here both revisions run side by side: the older one is exported with
``git archive <rev> src`` to a temp dir and gets its own private seaboxd (its shims, its CLI),
next to one of the working tree.  ``ctr run --rm`` against a private containerd is the anchor.

Usage: ``sudo .venv/bin/python -m bench.seabox_run_ab <old-rev> [<new-rev>]`` (default: the working
tree, which also holds whatever others have not committed yet; ``SEABOX_BENCH_RUNS``, default
20).  Needs root and the fixtures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import Contender, compare
from bench.seabox_run import REPO, seabox_env


def export_src(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def main() -> int:
    from seabox.testing.peers import containerd

    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    new_rev = sys.argv[2] if len(sys.argv) > 2 else ""
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))

    def short(r: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", r], check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="sbt-ab"))
    try:
        (tmp / "old").mkdir()
        old_src = export_src(rev, tmp / "old")
        new_src = None
        if new_rev:
            (tmp / "new").mkdir()
            new_src = export_src(new_rev, tmp / "new")
        new_label = short(new_rev) if new_rev else "tree"
        with seabox_env(src=new_src) as new, seabox_env(src=old_src) as old:
            (new.work / "containerd").mkdir()
            with containerd(new.work / "containerd") as ctrd:
                ctrd.ctr("images", "import", "--base-name", "docker.io/library/busybox", str(new.archive))
                n = [0]

                def ctr_run() -> None:
                    n[0] += 1
                    ctrd.ctr("run", "--rm", "docker.io/library/busybox:latest", f"sbt-bench-{n[0]}", "true")

                args = ["run", "--rm", "--network", "none", "busybox", "true"]
                print(f"load average before: {os.getloadavg()}", file=sys.stderr)
                compare("seabox_run_rm_ab", [Contender(f"seabox run --rm ({new_label})", [*new.sb, *args]),
                                             Contender(f"seabox run --rm ({short(rev)})", [*old.sb, *args]),
                                             Contender("ctr run --rm", ctr_run)],
                        runs=runs, warmup=2, baseline="ctr run --rm")  # fmt: skip
                print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
