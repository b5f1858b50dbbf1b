"""A task's OCI bundle: ``config.json`` from the stored spec and ``rootfs/`` with the mounts on it.

Design reason: containerd's shim mounts the rootfs into ``<bundle>/rootfs`` before calling the
runtime, and unmounts it after the runtime's delete; seaboxd's shim is kept small (no mount
logic), so the daemon does the same two steps around the shim's create and delete.  Whether a
rootfs is mounted is read back from the kernel (``is_mountpoint``), never from a file of ours,
so a daemon restarted after a crash cleans up correctly whatever it was doing.
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


def create(bundle: Path, spec: dict, mounts: Sequence[Mount]) -> None:
    """Write ``config.json`` and mount ``mounts`` on ``<bundle>/rootfs`` (undone on failure)."""
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
        if mounts:
            mount_all(list(mounts), rootfs)
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
    shutil.rmtree(bundle, ignore_errors=True)
