"""Snapshotters: containerd's model of layered filesystems.

A snapshot is ``Committed`` (an immutable layer, usable as a parent), ``Active``
(a writable tree prepared on a committed parent, e.g. a container's rootfs or a
layer being unpacked) or a ``View`` (read-only, on a parent).  A snapshotter
never mounts on its own: ``prepare``/``view``/``mounts`` return ``Mount`` values
that the caller mounts where it wants (``mount_all``).  Two implementations
share the metadata (``metadata.py``, SQLite): ``overlay`` (committed layers are
overlayfs lowerdirs; nothing is copied) and ``native`` (each active snapshot is a
full copy of its parent; works on any filesystem).
"""

from seabox.snapshots.metadata import Kind, SnapshotInfo, Usage
from seabox.snapshots.mount import Mount, mount_all, unmount

__all__ = ["Kind", "Mount", "SnapshotInfo", "Usage", "mount_all", "unmount"]
