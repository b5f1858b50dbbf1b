"""Leave nothing behind: kill and remove every task a test's seaboxd started.

Design reason: shims are detached from the daemon on purpose (containers outlive it), so
stopping a test's daemon does not stop its containers.  :func:`purge` does what an operator
would do after the daemon is gone — force-delete every task through its shim (or through the
runtime when the shim is dead), shut the shims down, unmount and remove bundles, and remove
the cgroups the containers' specs named — using only the daemon's state dir and the test's
namespaces.  Shipped with the library so every test (and bench) cleans up the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from seabox.daemon.tasks import bundle as bundles
from seabox.errdefs import SeaboxError
from seabox.shim.client import ShimClient, cleanup_dead, discover, wait_gone
from seabox.snapshots.mount import unmount

CGROUP_ROOT = "/sys/fs/cgroup"


def shim_pids(state: Path) -> list[int]:
    return [r.pid for r in discover(str(Path(state) / "shims"), include_dead=False)]


def purge(state: Path, namespaces: Iterable[str] = ()) -> list[str]:
    """Force-delete every task under ``state`` and remove cgroups ``/<ns>/...``; returns problems."""
    problems: list[str] = []
    shims = Path(state) / "shims"
    for rec in discover(str(shims), include_dead=True):
        try:
            if rec.alive:
                c = ShimClient(rec.address, timeout=20)
                with contextlib.suppress(SeaboxError):
                    c.delete(force=True)
                with contextlib.suppress(SeaboxError):
                    c.shutdown(now=True)
                if not wait_gone(rec.pid, 10):
                    os.kill(rec.pid, 9)
            else:
                cleanup_dead(str(shims), rec.namespace, rec.id)
        except (SeaboxError, OSError) as e:
            problems.append(f"{rec.namespace}/{rec.id}: {e}")
    root = Path(state) / "bundles"
    if root.is_dir():
        for ns in os.listdir(root):
            for cid in os.listdir(root / ns):
                try:
                    bundles.remove(root / ns / cid)
                except OSError as e:
                    problems.append(f"bundle {ns}/{cid}: {e}")
    for ns in namespaces:
        problems += remove_cgroups(f"/{ns}")
    return problems


def remove_cgroups(rel: str) -> list[str]:
    """rmdir ``<hierarchy><rel>`` (children first) in every cgroup v1 hierarchy (or v2)."""
    problems: list[str] = []
    try:
        hierarchies = [os.path.join(CGROUP_ROOT, h) for h in os.listdir(CGROUP_ROOT)]
    except OSError:
        return problems
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        hierarchies = [CGROUP_ROOT]
    for h in hierarchies:
        top = h + rel
        if os.path.islink(h) or not os.path.isdir(top):
            continue
        for _ in range(50):
            dirs = sorted((d for d, _s, _f in os.walk(top)), key=len, reverse=True)
            left = []
            for d in dirs:
                try:
                    os.rmdir(d)
                except OSError:
                    left.append(d)
            if not left:
                break
            time.sleep(0.1)
        else:
            problems.append(f"cgroup {top}: could not remove")
    return problems


def remove_tree(path: Path) -> None:
    """Remove a test's work dir, refusing to cross a mount still in place."""
    with open("/proc/self/mountinfo") as f:
        mounted = [line.split()[4] for line in f if line.split()[4].startswith(str(path))]
    for mp in sorted(mounted, key=len, reverse=True):
        with contextlib.suppress(OSError):
            unmount(mp, detach=True)
    shutil.rmtree(path, ignore_errors=True)
