"""The overlayfs snapshotter.

Committed snapshots are overlay lower layers, used in place; an Active snapshot
adds an ``upperdir`` and ``workdir``; a View has no upper.  Mounts follow
containerd: no parent gives a bind mount of the snapshot's own directory, a View
of a single layer is a read-only bind of that layer, otherwise an overlay whose
``lowerdir`` lists the nearest parent first.  Layer directories are named by short
numeric ids so deep chains stay under the one-page mount-data limit (and
``mount.mount`` shortens paths further when they do not).
"""

from __future__ import annotations

from pathlib import Path

from seabox.snapshots.base import Snapshotter
from seabox.snapshots.fsutil import remove_tree
from seabox.snapshots.metadata import Kind, Row, SnapshotInfo
from seabox.snapshots.mount import Mount


def _index_off_supported() -> bool:
    return Path("/sys/module/overlay/parameters/index").exists()


class OverlaySnapshotter(Snapshotter):
    name = "overlayfs"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._index_off = _index_off_supported()

    def _make_dirs(self, row: Row) -> None:
        d = self.dir(row.id)
        d.mkdir()
        self.fs(row.id).mkdir(0o755)
        if row.info.kind == Kind.ACTIVE:
            (d / "work").mkdir(0o711)

    def work(self, sid: int) -> Path:
        return self.dir(sid) / "work"

    def _mounts(self, row: Row) -> list[Mount]:
        parents = self.meta.chain(row.info.parent)[:] if row.info.parent else []
        if not parents:
            ro = "ro" if row.info.kind == Kind.VIEW else "rw"
            return [Mount("bind", str(self.fs(row.id)), [ro, "rbind"])]
        if row.info.kind == Kind.VIEW and len(parents) == 1:
            return [Mount("bind", str(self.fs(parents[0].id)), ["ro", "rbind"])]
        opts: list[str] = []
        if self._index_off:
            opts.append("index=off")
        if row.info.kind == Kind.ACTIVE:
            opts += [f"workdir={self.work(row.id)}", f"upperdir={self.fs(row.id)}"]
        lower = ":".join(str(self.fs(p.id)) for p in parents)
        opts.append(f"lowerdir={lower}")
        return [Mount("overlay", "overlay", opts)]

    def upper_dir(self, key: str) -> Path:
        return self.path_of(key)

    def lower_dirs(self, key: str) -> list[Path]:
        row = self.meta.get(key)
        return [self.fs(p.id) for p in self.meta.chain(row.info.parent)] if row.info.parent else []

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> SnapshotInfo:
        info = super().commit(name, key, labels)
        # the work dir is only needed while the snapshot is an upper layer
        remove_tree(self.work(self.meta.get(name).id))
        return info
