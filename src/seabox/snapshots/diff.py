"""Make a layer (tar, compressed) from a snapshot's changes — the inverse of ``apply``.

Two ways to find the changes:

* overlay: the Active snapshot's upper dir *is* the change set.  Its 0/0 character
  devices are deletions (``.wh.<name>``) and a directory with
  ``trusted.overlay.opaque=y`` replaced the lower one (``.wh..wh..opq``).
* native: the upper tree is a full copy, compared with the parent tree: a name
  gone from upper is a whiteout; a name added, or whose type, mode, owner, size,
  mtime, xattrs, link target or device differ, is written; a directory is written
  when it or anything below it changed (so parents keep their metadata).

Output is deterministic for a given tree: entries sorted by name, PAX format,
numeric owners with no user/group names, whole-second mtimes, gzip with no
timestamp or name.  The tar is streamed through the compressor into ``out`` while
both the diff_id (uncompressed) and the digest (compressed) are computed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from seabox import errdefs
from seabox.oci.digest import Digest, Digester
from seabox.snapshots.apply import OPAQUE, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX
from seabox.snapshots.mount import Mount

MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass
class DiffResult:
    digest: Digest
    size: int
    diff_id: Digest
    media_type: str


def _compressor(kind: str, level: int | None) -> Any:
    if kind == "gzip":
        try:
            from isal import isal_zlib

            return isal_zlib.compressobj(level if level is not None else 1, isal_zlib.DEFLATED, 31)
        except ImportError:
            return zlib.compressobj(level if level is not None else 6, zlib.DEFLATED, 31)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level if level is not None else 3).compressobj()
    if kind in ("none", "uncompressed"):
        return None
    raise errdefs.InvalidArgument(errdefs.subject("compression", kind, "unsupported (gzip, zstd, none)"))


class _Sink:
    """What tarfile writes to: digests, compresses and forwards to ``out``."""

    def __init__(self, out: BinaryIO, compressor: Any) -> None:
        self.out = out
        self.comp = compressor
        self.uncompressed = Digester()
        self.compressed = Digester()

    def _emit(self, b: bytes) -> None:
        if b:
            self.compressed.update(b)
            self.out.write(b)

    def write(self, b: bytes) -> int:
        self.uncompressed.update(b)
        self._emit(self.comp.compress(b) if self.comp is not None else bytes(b))
        return len(b)

    def finish(self) -> None:
        if self.comp is not None:
            self._emit(self.comp.flush())


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out = {}
    for n in sorted(names):
        if n.startswith("trusted.overlay."):
            continue
        with contextlib.suppress(OSError):
            out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


class _Writer:
    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.links: dict[tuple[int, int], str] = {}

    def add(self, rel: str, path: str, st: os.stat_result | None = None) -> None:
        st = st or os.lstat(path)
        mode = st.st_mode
        ti = tarfile.TarInfo(rel + "/" if stat.S_ISDIR(mode) else rel)
        ti.uid, ti.gid, ti.uname, ti.gname = st.st_uid, st.st_gid, "", ""
        ti.mode = stat.S_IMODE(mode)
        ti.mtime = int(st.st_mtime)
        xattrs = _xattrs(path)
        if xattrs:
            ti.pax_headers = {"SCHILY.xattr." + n: v.decode("utf-8", "surrogateescape") for n, v in xattrs.items()}
        if stat.S_ISREG(mode) and st.st_nlink > 1:
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                ti.type, ti.linkname = tarfile.LNKTYPE, first
                self.tf.addfile(ti)
                return
            self.links[(st.st_dev, st.st_ino)] = rel
        if stat.S_ISREG(mode):
            ti.type, ti.size = tarfile.REGTYPE, st.st_size
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                self.tf.addfile(ti, f)
            return
        if stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        else:
            return  # sockets have no tar form
        self.tf.addfile(ti)

    def whiteout(self, rel_dir: str, name: str, mtime: float = 0) -> None:
        ti = tarfile.TarInfo(_join(rel_dir, WHITEOUT_PREFIX + name))
        ti.mode, ti.uname, ti.gname, ti.mtime = 0o644, "", "", int(mtime)
        self.tf.addfile(ti)

    def subtree(self, rel: str, path: str) -> None:
        st = os.lstat(path)
        self.add(rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                self.subtree(_join(rel, name), os.path.join(path, name))


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def _is_whiteout_dev(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _walk_overlay(w: _Writer, upper: str, rel: str = "") -> None:
    d = os.path.join(upper, rel) if rel else upper
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        st = os.lstat(path)
        r = _join(rel, name)
        if _is_whiteout_dev(st):
            w.whiteout(rel, name, st.st_mtime)
            continue
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            for x in ("trusted.overlay.redirect", "trusted.overlay.metacopy"):
                with contextlib.suppress(OSError):
                    os.getxattr(path, x, follow_symlinks=False)
                    raise errdefs.FailedPrecondition(errdefs.subject(
                        "overlay upper", str(upper), f"{r} has {x}: mount with redirect_dir=off,metacopy=off to diff"))
        w.add(r, path, st)
        if stat.S_ISDIR(st.st_mode):
            try:
                opaque = os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
            except OSError:
                opaque = False
            if opaque:
                ti = tarfile.TarInfo(_join(r, OPAQUE))
                ti.mode, ti.uname, ti.gname, ti.mtime = 0o644, "", "", int(st.st_mtime)
                w.tf.addfile(ti)
            _walk_overlay(w, upper, r)


def _same(lp: str, ls: os.stat_result, up: str, us: os.stat_result) -> bool:
    if (stat.S_IFMT(ls.st_mode) != stat.S_IFMT(us.st_mode) or ls.st_mode != us.st_mode
            or ls.st_uid != us.st_uid or ls.st_gid != us.st_gid):
        return False
    if stat.S_ISLNK(us.st_mode):
        return os.readlink(lp) == os.readlink(up)
    if (stat.S_ISCHR(us.st_mode) or stat.S_ISBLK(us.st_mode)) and ls.st_rdev != us.st_rdev:
        return False
    if _xattrs(lp) != _xattrs(up):
        return False
    if stat.S_ISDIR(us.st_mode):
        return ls.st_mtime_ns == us.st_mtime_ns
    if ls.st_size != us.st_size or ls.st_mtime_ns != us.st_mtime_ns:
        return False
    if stat.S_ISREG(us.st_mode) and us.st_mtime_ns % 1_000_000_000 == 0:
        return _same_content(lp, up)  # whole-second mtimes (from a tar) cannot tell edits apart
    return True


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _changes(lower: str, upper: str, rel: str) -> Iterator[tuple[str, str, str | None]]:
    """(op, rel, upper path) in sorted order; op is 'add', 'dir', or 'del'."""
    ld = os.path.join(lower, rel) if rel else lower
    ud = os.path.join(upper, rel) if rel else upper
    lnames = set(os.listdir(ld))
    unames = set(os.listdir(ud))
    for name in sorted(lnames | unames):
        r = _join(rel, name)
        up = os.path.join(ud, name)
        if name not in unames:
            yield ("del", r, None)
            continue
        if name not in lnames:
            yield ("add", r, up)
            continue
        lp = os.path.join(ld, name)
        ls, us = os.lstat(lp), os.lstat(up)
        if stat.S_ISDIR(ls.st_mode) and stat.S_ISDIR(us.st_mode):
            sub = list(_changes(lower, upper, r))
            if sub or not _same(lp, ls, up, us):
                yield ("dir", r, up)
                yield from sub
        elif not _same(lp, ls, up, us):
            yield ("add", r, up)


def _walk_native(w: _Writer, lower: str, upper: str) -> None:
    for op, rel, up in _changes(lower, upper, ""):
        if op == "del":
            parent, _, name = rel.rpartition("/")
            w.whiteout(parent, name)
        elif op == "dir":
            assert up is not None
            w.add(rel, up)
        else:
            assert up is not None
            w.subtree(rel, up)


def _lower_path(lower: Path | Sequence[Mount] | None) -> tuple[Path | None, bool]:
    """(lower tree, whether the upper is an overlay upper dir)."""
    if lower is None:
        return None, True
    if isinstance(lower, (str, os.PathLike)):
        return Path(lower), False
    mounts = list(lower)
    if len(mounts) == 1 and mounts[0].type == "bind":
        return Path(mounts[0].source), False
    return None, True


def write_diff(
    lower: Path | Sequence[Mount] | None,
    upper: Path,
    out: BinaryIO,
    *,
    compression: str = "gzip",
    level: int | None = None,
    overlay: bool | None = None,
) -> DiffResult:
    """Write the layer turning ``lower`` into ``upper`` to ``out``.

    ``lower`` is the parent tree (a directory or the mounts of a view of it) for a
    native diff, or None when ``upper`` is an overlay upper dir (whose whiteouts are
    converted).  ``overlay`` forces either interpretation.
    """
    lower_dir, is_overlay = _lower_path(lower)
    if overlay is not None:
        is_overlay = overlay
    sink = _Sink(out, _compressor(compression, level))
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        w = _Writer(tf)
        if is_overlay:
            _walk_overlay(w, str(upper))
        elif lower_dir is None:  # a first layer: everything, as is
            for name in sorted(os.listdir(upper)):
                w.subtree(name, os.path.join(upper, name))
        else:
            _walk_native(w, str(lower_dir), str(upper))
    sink.finish()
    media = MEDIA_TYPES["none" if compression == "uncompressed" else compression]
    return DiffResult(sink.compressed.digest(), sink.compressed.size, sink.uncompressed.digest(), media)


def diff_snapshot(snapshotter: Any, key: str, out: BinaryIO, *, compression: str = "gzip",
                  level: int | None = None) -> DiffResult:
    """The layer of an Active (or committed) snapshot's changes against its parent.

    Overlay: the snapshot's own directory is its upper dir.  Native: its tree is
    compared with the parent's (or taken whole when it has no parent).
    """
    info = snapshotter.stat(key)
    upper = snapshotter.path_of(key)
    if getattr(snapshotter, "name", "") == "overlayfs":
        return write_diff(None, upper, out, compression=compression, level=level, overlay=True)
    lower = snapshotter.path_of(info.parent) if info.parent else None
    return write_diff(lower, upper, out, compression=compression, level=level, overlay=False)


def diff_mounts(lower: Sequence[Mount], upper: Sequence[Mount], out: BinaryIO, *, compression: str = "gzip",
                level: int | None = None) -> DiffResult:
    """containerd's Diff(lower mounts, upper mounts) without mounting: an overlay upper
    is diffed from its upperdir, a bind upper against the lower bind's source."""
    if len(upper) != 1:
        raise errdefs.InvalidArgument(errdefs.subject("mounts", str(len(upper)), "expected exactly one upper mount"))
    u = upper[0]
    if u.type == "overlay":
        opts = {k: v for k, _, v in (o.partition("=") for o in u.options)}
        if "upperdir" not in opts:
            raise errdefs.InvalidArgument(errdefs.subject("mount", u.source, "overlay without upperdir"))
        return write_diff(None, Path(opts["upperdir"]), out, compression=compression, level=level, overlay=True)
    lower_dir, _ = _lower_path(lower) if lower else (None, False)
    return write_diff(lower_dir, Path(u.source), out, compression=compression, level=level, overlay=False)
