"""PSS of idle seabox-shims vs containerd-shim-runc-v2, and what starting a shim costs.

N idle containers (busybox ``sleep``) each held by its own shim:

* seabox: shims forked from one pre-warmed launcher (``seabox.shim.launcher``), the way
  seaboxd starts them; each container made from a busybox bundle through the in-process
  runtime.  Also reported: one shim started without the launcher (``seabox-shim start``, a
  fresh interpreter), the launcher's own PSS, and start latencies (launcher spawn, CLI start,
  create+start through the shim).
  The same again with a launcher that does not preload the runtime library (smaller shared
  pages, but every runtime call imports it in the forked child).
* containerd: Debian's containerd on its own temp root/state/socket (CRI disabled; started and
  cleaned up by ``seabox.testing.peers``), the same busybox built as an OCI image and imported, N ``ctr run -d`` with runc; one
  containerd-shim-runc-v2 per container.

PSS comes from /proc/<pid>/smaps_rollup (``bench.harness.pss_kib``): shared pages are divided
among the processes mapping them, so it is what each shim really costs the machine.  Usage:
``python -m bench.shim_memory [N]`` (default 10, or $SEABOX_BENCH_SHIMS); root only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.harness import pss_kib, rss_kib, save

IMAGE = "docker.io/library/sbt-busybox:latest"


def _stats(values: Sequence[float]) -> dict:
    return {"median": statistics.median(values), "mean": statistics.mean(values), "min": min(values),
            "max": max(values), "n": len(values)}


def seabox_side(n: int, preload_runtime: bool = True) -> dict:
    from seabox.shim.launcher import spawn_direct
    from seabox.shim.testsupport import ShimHarness

    h = ShimHarness(preload_runtime=preload_runtime)
    try:
        spawn_ms, create_ms, pids = [], [], []
        bundle = h.bundle(["sleep", "100000"])
        launcher_pid = h.launcher.pid
        h.spawn()[0].shutdown()  # warm the launcher (its first reply waits for its imports); no extra sharer
        for i in range(n):
            b = bundle.parent / f"b-{i}"
            shutil.copytree(bundle, b, symlinks=True)
            t0 = time.perf_counter()
            client, _cfg, info = h.spawn()
            t1 = time.perf_counter()
            client.create(str(b))
            client.start()
            t2 = time.perf_counter()
            client.close()
            spawn_ms.append((t1 - t0) * 1000)
            create_ms.append((t2 - t1) * 1000)
            pids.append(info.pid)
        direct_ms = []
        direct_pid = 0
        for _ in range(3):
            cfg = h.config()
            t0 = time.perf_counter()
            info = spawn_direct(cfg)
            direct_ms.append((time.perf_counter() - t0) * 1000)
            h.adopt(cfg, info.pid, info.address)
            direct_pid = info.pid
        from seabox.shim.client import ShimClient

        c = ShimClient(os.path.join(h.state, h.namespace, cfg.id, "shim.sock"))
        db = bundle.parent / "b-direct"
        shutil.copytree(bundle, db, symlinks=True)
        c.create(str(db))
        c.start()
        c.close()
        time.sleep(2)  # idle
        pss = [pss_kib(p) for p in pids]
        return {
            "shim_pss_kib": _stats(pss),
            "shim_rss_kib": _stats([rss_kib(p) for p in pids]),
            "launcher_pss_kib": pss_kib(launcher_pid),
            "total_pss_kib_incl_launcher": sum(pss) + pss_kib(launcher_pid),
            "direct_cli_shim_pss_kib": pss_kib(direct_pid),
            "spawn_via_launcher_ms": _stats(spawn_ms),
            "spawn_via_cli_ms": _stats(direct_ms),
            "create_start_ms": _stats(create_ms),
        }
    finally:
        h.cleanup()


def containerd_side(n: int) -> dict:
    from seabox.testing import peers

    with peers.containerd(Path(tempfile.mkdtemp(prefix="sbt-ctrd-", dir="/tmp"))) as c:
        layout = peers.busybox_oci_layout(c.tmp / "layout", image_name=IMAGE)
        c.ctr("images", "import", str(peers.oci_archive(layout, c.tmp / "busybox.tar")))
        run_ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.ctr("run", "-d", "--runc-binary", "/usr/sbin/runc", IMAGE, f"sbt-{secrets.token_hex(4)}", "sleep", "100000")
            run_ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(2)
        shims = sorted(set(peers.pids_mentioning(c.address)) & set(peers.pids_mentioning("containerd-shim-runc-v2")))
        pss = [pss_kib(p) for p in shims]
        assert c.proc is not None
        return {"shims": len(shims), "shim_pss_kib": _stats(pss), "shim_rss_kib": _stats([rss_kib(p) for p in shims]),
                "ctr_run_d_ms": _stats(run_ms), "containerd_pss_kib": pss_kib(c.proc.pid)}


def main(argv: list[str] | None = None) -> dict:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else int(os.environ.get("SEABOX_BENCH_SHIMS", "10"))
    sb = seabox_side(n)
    light = seabox_side(n, preload_runtime=False)
    cd = containerd_side(n)
    ratio = sb["shim_pss_kib"]["median"] / cd["shim_pss_kib"]["median"]
    summary = {"name": "shim_memory", "n": n, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "seabox": sb, "seabox_launcher_without_runtime": light, "containerd": cd, "pss_ratio_seabox_vs_containerd": ratio}
    print(f"\nshim_memory: {n} idle busybox sleep containers, one shim each")
    print(f"  seabox-shim (launcher-forked) PSS median {sb['shim_pss_kib']['median']:.0f} KiB"
          f"  (RSS {sb['shim_rss_kib']['median']:.0f} KiB; launcher {sb['launcher_pss_kib']} KiB;"
          f" CLI-started shim {sb['direct_cli_shim_pss_kib']} KiB)")
    print(f"  seabox-shim, launcher without the runtime preloaded: PSS median {light['shim_pss_kib']['median']:.0f}"
          f" KiB, create+start {light['create_start_ms']['median']:.1f} ms (the runtime imported per call)")
    print(f"  containerd-shim-runc-v2 PSS median {cd['shim_pss_kib']['median']:.0f} KiB"
          f"  (RSS {cd['shim_rss_kib']['median']:.0f} KiB)")
    print(f"  ratio seabox/containerd: {ratio:.2f}")
    print(f"  start: launcher spawn {sb['spawn_via_launcher_ms']['median']:.1f} ms, CLI start "
          f"{sb['spawn_via_cli_ms']['median']:.1f} ms, create+start via shim {sb['create_start_ms']['median']:.1f} ms;"
          f" ctr run -d {cd['ctr_run_d_ms']['median']:.1f} ms")
    save("shim_memory", summary)
    return summary


if __name__ == "__main__":
    main()
