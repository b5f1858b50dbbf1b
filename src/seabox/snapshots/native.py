"""The native (copying) snapshotter: works on any filesystem, no overlayfs needed.

An Active snapshot or View is a full copy of its parent's tree (``fsutil.copy_tree``
keeps owners, modes, xattrs, hardlinks, devices and mtimes); mounts are binds of
that copy, read-only for a View.  Committing just freezes the Active directory.
Slower and larger than overlay, but simple and independent of the kernel.
"""

from __future__ import annotations

from seabox.snapshots.base import Snapshotter
from seabox.snapshots.fsutil import copy_tree
from seabox.snapshots.metadata import Kind, Row
from seabox.snapshots.mount import Mount


class NativeSnapshotter(Snapshotter):
    name = "native"

    def _make_dirs(self, row: Row) -> None:
        self.dir(row.id).mkdir()
        fs = self.fs(row.id)
        fs.mkdir(0o755)
        if row.info.parent is not None:
            copy_tree(self.path_of(row.info.parent), fs)

    def _mounts(self, row: Row) -> list[Mount]:
        ro = "ro" if row.info.kind == Kind.VIEW else "rw"
        return [Mount("bind", str(self.fs(row.id)), [ro, "rbind"])]
