"""Pull + unpack of the Debian nginx fixture from the loopback registry:
seabox's pull pipeline vs `ctr images pull` on Debian's containerd, a fresh store each run.

seabox runs as a fresh Python process each time (interpreter start-up and imports are
part of its time); containerd is already running, as a daemon would be, and its store is
emptied between runs by removing the image and running its GC.

Reading the numbers: on ext4 without a journal (this VM's root) the inode allocator skips
inodes freed in the last ~30 s one at a time, from the start of the block group, for every
inode it allocates, so creating ~4000 files in a group where ~4000 were just removed (the
previous run's store, anyone else's benchmark) costs seconds of kernel time (perf:
recently_deleted under ext4_create).  seabox's apply spreads each layer's top-level
directories over fresh groups (see seabox.snapshots.apply._spread_begin) and mostly avoids
it; containerd does not, and its times swing with it.  Note the load average with a result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import Contender, compare
from seabox.testing.peers import containerd

FIXTURES = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures"))

SEABOX_PULL = """
import sys
from pathlib import Path
from seabox.content.store import ContentStore
from seabox.snapshots.overlay import OverlaySnapshotter
from seabox.images.pull import pull
d = Path(sys.argv[1])
sn = OverlaySnapshotter(d / "snapshots")
pull(sys.argv[2], content_store=ContentStore(d / "content"), snapshotter=sn)
sn.close()
"""


def main() -> None:
    ref = json.loads((FIXTURES / "fixtures.json").read_text())["images"]["nginx"]["ref"]
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    work = Path(tempfile.mkdtemp(prefix="sbt-bench-pull-", dir="/var/tmp"))
    store = work / "seabox"

    def fresh_seabox() -> None:
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir()

    try:
        with containerd(work / "containerd") as c:

            def fresh_containerd() -> None:
                c.ctr("images", "rm", "--sync", ref, check=False)
                c.ctr("content", "prune", "references", check=False)

            compare(
                "image_pull_nginx",
                [
                    Contender("seabox pull", [sys.executable, "-c", SEABOX_PULL, str(store), ref], before=fresh_seabox),
                    Contender(
                        "ctr images pull",
                        ["ctr", "--address", c.address, "-n", c.namespace, "images", "pull", "--plain-http", ref],
                        before=fresh_containerd,
                    ),
                ],
                runs=runs,
                warmup=1,
                baseline="ctr images pull",
                unit="ms",
            )
    finally:
        subprocess.run(["umount", "-R", "-l", str(work)], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
