"""Unpack the Debian nginx fixture layer (~35 MB gzip, ~90 MB tar, ~4300 entries) into a fresh dir.

Contenders, interleaved by ``bench.harness.compare``: seabox's ``apply_layer`` (native mode,
isal gunzip, in a fresh ``python`` process so import time counts) vs GNU ``tar -xzpf`` (the
anchor: the same work with no safety checks beyond tar's own).  Each run starts from an empty
directory (created and removed untimed).  ``SEABOX_BENCH_RUNS`` (default 5) timed runs each.

Run: ``.venv/bin/python -m bench.run layer_unpack`` (root, for ownership).  JSON:
bench/results/layer_unpack.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.harness import Contender, compare

FIXTURES = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures"))

_SEABOX = (
    "import sys; from pathlib import Path; from isal import igzip; "
    "from seabox.snapshots.apply import apply_layer; "
    "f = igzip.open(sys.argv[1], 'rb'); apply_layer(f, Path(sys.argv[2]), overlay_whiteouts=False)"
)


def nginx_layer() -> Path:
    info = json.loads((FIXTURES / "fixtures.json").read_text())
    layout = Path(info["layouts"]["nginx"])
    blobs = layout / "blobs" / "sha256"
    idx = json.loads((layout / "index.json").read_text())
    man = json.loads((blobs / idx["manifests"][0]["digest"][7:]).read_text())
    return blobs / man["layers"][0]["digest"][7:]


def main() -> None:
    layer = nginx_layer()
    base = Path(tempfile.mkdtemp(prefix="sbt-bench-unpack-", dir="/var/tmp"))
    target = base / "t"

    def fresh() -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()

    def clean() -> None:
        shutil.rmtree(target, ignore_errors=True)
        os.sync()

    try:
        runs = int(os.environ.get("SEABOX_BENCH_RUNS", "5"))
        compare(
            "layer_unpack",
            [
                Contender("seabox apply_layer", [sys.executable, "-c", _SEABOX, str(layer), str(target)], fresh, clean),
                Contender("tar -xzpf", ["tar", "-xzpf", str(layer), "-C", str(target)], fresh, clean),
            ],
            runs=runs,
            warmup=1,
            baseline="tar -xzpf",
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
