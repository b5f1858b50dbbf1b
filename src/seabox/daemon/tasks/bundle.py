"""A task's OCI bundle: ``config.json`` from the stored spec and ``rootfs/`` with the mounts on it.

Design reason: containerd's shim mounts the rootfs into ``<bundle>/rootfs`` before calling the
runtime, and unmounts it after the runtime's delete; seaboxd's shim is kept small (no mount
logic), so the daemon does the same two steps around the shim's create and delete.  Whether a
rootfs is mounted is read back from the kernel (``is_mountpoint``), never from a file of ours,
so a daemon restarted after a crash cleans up correctly whatever it was doing.

A container that is deleted after its run (``--rm``) gets its overlay mounted ``volatile``:
unmounting a plain overlay syncs the whole upper filesystem (tens of ms on a busy disk), and
that upper layer is thrown away anyway.  The kernel then refuses a later mount of the same
upper/work dirs until ``<workdir>/work/incompat/volatile`` is removed, which is safe after a clean
unmount; the workdir is noted in ``<bundle>/volatile`` so :func:`remove` does that, also after a
daemon restart.  (After a host crash the marker stays, as the kernel intends.)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from seabox.errdefs import InvalidArgument, subject
from seabox.snapshots.mount import Mount, is_mountpoint, mount_all, unmount

ROOTFS = "rootfs"
VOLATILE = "volatile"


def parse_spec(container_id: str, value: bytes) -> dict:
    """The stored spec (JSON of an OCI runtime spec); InvalidArgument when it is not one."""
    try:
        spec = json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(subject("container", container_id, f"spec is not valid JSON: {e}"))
    if not isinstance(spec, dict):
        raise InvalidArgument(subject("container", container_id, "spec must be a JSON object"))
    proc = spec.get("process")
    if not isinstance(proc, dict) or not isinstance(proc.get("args"), list) or not proc.get("args"):
        raise InvalidArgument(subject("container", container_id, "spec has no process args"))
    root = spec.get("root")
    if root is not None and (not isinstance(root, dict) or not isinstance(root.get("path", ""), str)):
        raise InvalidArgument(subject("container", container_id, "spec root must be an object with a path"))
    return spec


def volatile_mounts(mounts: Sequence[Mount]) -> tuple[list[Mount], list[str]]:
    """``mounts`` with ``volatile`` added to writable overlays; the workdirs of those overlays."""
    out, workdirs = [], []
    for m in mounts:
        work = [o.split("=", 1)[1] for o in m.options if o.startswith("workdir=")]
        if m.type == "overlay" and work and VOLATILE not in m.options:
            m = Mount(m.type, m.source, [*m.options, VOLATILE])
            workdirs.append(work[-1])
        out.append(m)
    return out, workdirs


def create(bundle: Path, spec: dict, mounts: Sequence[Mount], volatile: bool = False) -> None:
    """Write ``config.json`` and mount ``mounts`` on ``<bundle>/rootfs`` (undone on failure);
    ``volatile``: writable overlays without the sync at unmount (for containers deleted after use)."""
    if bundle.exists():
        remove(bundle)
    bundle.mkdir(parents=True, mode=0o711)
    try:
        rootfs = bundle / ROOTFS
        rootfs.mkdir(mode=0o755)
        if not spec.get("root"):
            spec["root"] = {"path": ROOTFS}
        tmp = bundle / ".config.json.tmp"
        tmp.write_text(json.dumps(spec))
        os.replace(tmp, bundle / "config.json")
        mounts = list(mounts)
        if volatile:
            mounts, workdirs = volatile_mounts(mounts)
            if workdirs:
                (bundle / VOLATILE).write_text("\n".join(workdirs))
        if mounts:
            mount_all(mounts, rootfs)
    except BaseException:
        remove(bundle)
        raise


def remove(bundle: Path) -> None:
    """Unmount the rootfs (if mounted) and delete the bundle directory."""
    rootfs = bundle / ROOTFS
    if rootfs.exists() and is_mountpoint(rootfs):
        try:
            unmount(rootfs)
        except OSError:
            unmount(rootfs, detach=True)
    if rootfs.exists() and is_mountpoint(rootfs):
        raise OSError(f"{rootfs}: still mounted")
    try:
        workdirs = (bundle / VOLATILE).read_text().split("\n")
    except FileNotFoundError:
        workdirs = []
    for w in workdirs:  # cleanly unmounted: the overlay may be mounted again
        if w:
            shutil.rmtree(os.path.join(w, "work", "incompat", VOLATILE), ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
