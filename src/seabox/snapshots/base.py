"""What the overlay and native snapshotters share: metadata, directories, removal.

Each snapshot lives in ``<root>/snapshots/<id>/fs`` (plus ``work`` for overlay).
A snapshot's directory is created before its metadata row is committed to disk
and removed after its row is deleted, so a crash leaves at worst an orphan
directory, which ``cleanup()`` removes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from seabox import errdefs
from seabox.snapshots.fsutil import disk_usage, remove_tree
from seabox.snapshots.metadata import Kind, MetaStore, Row, SnapshotInfo, Usage
from seabox.snapshots.mount import Mount


class Snapshotter:
    name = "base"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / "snapshots"
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.meta = MetaStore(self.root / "metadata.db")

    def close(self) -> None:
        self.meta.close()

    # -- paths ---------------------------------------------------------------

    def dir(self, sid: int) -> Path:
        return self.snapshots_dir / str(sid)

    def fs(self, sid: int) -> Path:
        return self.dir(sid) / "fs"

    def path_of(self, key: str) -> Path:
        """The ``fs`` directory of a snapshot (an active overlay snapshot's upper dir)."""
        return self.fs(self.meta.get(key).id)

    # -- the interface -------------------------------------------------------

    def prepare(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def _create(self, kind: Kind, key: str, parent: str | None, labels: dict[str, str] | None) -> list[Mount]:
        row = self.meta.create(key, parent, kind, labels)
        try:
            self._make_dirs(row)
        except BaseException:
            self.meta.remove(key)
            remove_tree(self.dir(row.id))
            raise
        return self._mounts(row)

    def _make_dirs(self, row: Row) -> None:
        raise NotImplementedError

    def _mounts(self, row: Row) -> list[Mount]:
        raise NotImplementedError

    def mounts(self, key: str) -> list[Mount]:
        row = self.meta.get(key)
        if row.info.kind == Kind.COMMITTED:
            raise errdefs.FailedPrecondition(errdefs.subject("snapshot", key, "is committed; mount a view of it"))
        return self._mounts(row)

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> SnapshotInfo:
        row = self.meta.get(key)
        size, inodes = disk_usage(self.fs(row.id))
        return self.meta.commit(name, key, labels, Usage(size, inodes)).info

    def remove(self, key: str) -> None:
        row = self.meta.remove(key)
        remove_tree(self.dir(row.id))

    def stat(self, key: str) -> SnapshotInfo:
        return self.meta.get(key).info

    def update(self, info: SnapshotInfo, fieldpaths: list[str] | None = None) -> SnapshotInfo:
        return self.meta.update(info, fieldpaths)

    def walk(self) -> Iterator[SnapshotInfo]:
        for row in self.meta.all():
            yield row.info

    def usage(self, key: str) -> Usage:
        row = self.meta.get(key)
        if row.info.kind == Kind.COMMITTED:
            return row.usage
        size, inodes = disk_usage(self.fs(row.id))
        return Usage(size, inodes)

    def cleanup(self) -> list[Path]:
        """Remove snapshot directories with no metadata row (left by a crash)."""
        known = {str(r.id) for r in self.meta.all()}
        removed = []
        for entry in os.listdir(self.snapshots_dir):
            if entry not in known:
                p = self.snapshots_dir / entry
                remove_tree(p)
                removed.append(p)
        return removed
