"""Apply an uncompressed layer tar to a directory, safely.

The tar is read as a stream (``tarfile`` mode ``r|``), never extracted with
``extractall`` or the tar binary.  Every path is resolved by us, one component at
a time from a directory file descriptor of the target, with ``O_NOFOLLOW``, so
nothing can be created, changed or linked outside the target:

* names are cleaned lexically; a name that climbs above the root with ``..`` is
  refused.  An absolute name is taken relative to the root, as docker does
  (``/etc/passwd`` lands in ``<target>/etc/passwd``; ``/../x`` in ``<target>/x``).
* an entry whose parent path crosses a symlink is refused, whatever the link
  points to.  Layer diffs record physical paths, so well-formed layers never need
  this; it shuts out "symlink then a file under it" and symlinked parents
  pointing outside.  (docker and containerd resolve such parents inside the root
  instead; refusing is stricter and simpler to audit.)
* a hardlink target is resolved the same way and must already exist in the
  target; ``linkat`` without ``AT_SYMLINK_FOLLOW`` never follows a final symlink.
* a regular file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` after removing
  whatever was at that name, so an existing symlink is replaced, never written
  through.
* a declared size (or a sparse file's real size) above ``max_file_size`` is
  refused before anything is written; sparse files are written as sparse files
  (holes stay holes), so a map claiming terabytes cannot fill the disk.
* ``trusted.overlay.*`` xattrs from the tar are dropped: they would let a layer
  forge overlayfs metadata (opaque dirs, redirects).

Whiteouts (OCI image-spec layer.md): with ``overlay_whiteouts`` the target is an
overlay upper dir, ``.wh.<name>`` becomes a 0/0 character device and
``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr on its directory;
otherwise (native) the target is the full tree, ``.wh.<name>`` deletes the lower
file and ``.wh..wh..opq`` clears the directory of everything not added by this
layer.  Directory modes and mtimes are set last, deepest first.  The result
carries the layer's diff_id (sha256 of the uncompressed stream).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from seabox import errdefs
from seabox.oci.digest import Digest, Digester

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
DEFAULT_MAX_FILE_SIZE = 64 << 30  # 64 GiB
MAX_SPARSE_SEGMENTS = 1 << 16
_CHUNK = 1 << 20
_IS_ROOT = os.geteuid() == 0
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeEntry(errdefs.InvalidArgument):
    """A layer entry that would escape the target or is otherwise refused."""


class ApplyFailed(errdefs.FailedPrecondition):
    """The kernel refused an operation while applying an entry (no space, no permission, ...)."""


@dataclass
class ApplyResult:
    diff_id: Digest
    size: int
    entries: int = 0
    skipped: list[str] = field(default_factory=list)


def _refuse(name: str, why: str) -> UnsafeEntry:
    return UnsafeEntry(errdefs.subject("layer entry", name, why))


def clean_components(name: str) -> list[str]:
    """Path components of a tar name relative to the root, or ``UnsafeEntry``."""
    if "\x00" in name:
        raise _refuse(name, "NUL in name")
    rooted = name.startswith("/")
    parts: list[str] = []
    for c in name.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
            elif rooted:
                continue  # "/.." is "/", as filepath.Clean has it
            else:
                raise _refuse(name, "path escapes the root (..)")
        else:
            parts.append(c)
    return parts


MAX_HEADER_SIZE = 1 << 20  # a PAX or GNU long-name header this large is an attack, not metadata


class BoundedTarInfo(tarfile.TarInfo):
    """Refuses PAX and GNU long-name headers over ``MAX_HEADER_SIZE`` before tarfile reads them
    into memory (a header claiming gigabytes would otherwise be buffered whole)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                         tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE) and self.size > MAX_HEADER_SIZE:
            raise _refuse(self.name, f"extended header of {self.size} bytes (limit {MAX_HEADER_SIZE})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class _CountingReader:
    def __init__(self, r: BinaryIO) -> None:
        self._r = r
        self.digester = Digester()

    def read(self, n: int = -1) -> bytes:
        b = self._r.read(n)
        if b:
            self.digester.update(b)
        return b


class _Tree:
    """Directory fds of the target, opened component by component, never following symlinks."""

    def __init__(self, target: Path, lowers: Sequence[Path]) -> None:
        self.root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.lowers = [Path(p) for p in lowers]
        self.cache: dict[tuple[str, ...], int] = {(): self.root}
        self.spread, self.restore_flags = _spread_begin(self.root)

    def mkdir(self, dfd: int, name: str, mode: int) -> None:
        """``mkdirat``; a top-level directory gets a random name first (see ``_spread_begin``)."""
        if not self.spread or dfd != self.root:
            os.mkdir(name, mode, dir_fd=dfd)
            return
        tmp = f".seabox-mkdir-{secrets.token_hex(8)}"
        os.mkdir(tmp, mode, dir_fd=dfd)
        try:
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            os.rmdir(tmp, dir_fd=dfd)
            raise

    def close(self) -> None:
        if self.restore_flags is not None:
            _spread_end(self.root, self.restore_flags)
            self.restore_flags = None
        for fd in self.cache.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.cache = {}

    def forget(self, prefix: tuple[str, ...]) -> None:
        n = len(prefix)
        for k in [k for k in self.cache if k[:n] == prefix and k]:
            os.close(self.cache.pop(k))

    def dir_fd(self, parts: Sequence[str], entry: str, *, create: bool) -> int | None:
        """fd of the directory ``parts`` (creating missing ones if ``create``), or None if absent."""
        key = tuple(parts)
        fd = self.cache.get(key)
        if fd is not None:
            return fd
        if len(self.cache) > 256:
            root = self.cache.pop(())
            self.close()
            self.cache = {(): root}
        fd = self.root
        for i, c in enumerate(key):
            sub = key[: i + 1]
            cached = self.cache.get(sub)
            if cached is not None:
                fd = cached
                continue
            try:
                nfd = os.open(c, _O_DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    return None
                lower = self._lower_dir(sub, entry) if self.lowers else None
                self.mkdir(fd, c, 0o755)
                nfd = os.open(c, _O_DIR, dir_fd=fd)
                if lower is not None:
                    # an implied directory keeps the owner, mode and mtime it has below
                    if _IS_ROOT:
                        os.fchown(nfd, lower.st_uid, lower.st_gid)
                    os.fchmod(nfd, stat.S_IMODE(lower.st_mode))
                    os.utime(nfd, ns=(lower.st_atime_ns, lower.st_mtime_ns))
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    st = os.stat(c, dir_fd=fd, follow_symlinks=False)
                    what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                    raise _refuse(entry, f"parent {'/'.join(sub)!r} is {what}")
                raise
            self.cache[sub] = nfd
            fd = nfd
        return fd

    def _lower_dir(self, parts: tuple[str, ...], entry: str) -> os.stat_result | None:
        """What the lower layers show at an implied directory: its stat, or None if absent.

        A non-directory there (say ``bin -> usr/bin`` in a usrmerge base) is refused: a
        directory in the upper would hide it and everything it points to.
        """
        for lower in self.lowers:
            p = lower
            st = None
            for c in parts:
                p = p / c
                try:
                    st = os.lstat(p)
                except OSError:
                    st = None
                    break
                if not stat.S_ISDIR(st.st_mode):
                    break
            if st is None:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whited out: absent from here down
            if p != lower.joinpath(*parts):
                continue  # a prefix is not a directory in this layer; upper dirs hide it
            if not stat.S_ISDIR(st.st_mode):
                what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                raise _refuse(entry, f"parent {'/'.join(parts)!r} is {what} in a lower layer")
            return st
        return None

_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_TOPDIR_FL = 0x00020000


def _spread_begin(root: int) -> tuple[bool, int | None]:
    """Mark the target a "top directory" for the duration of the apply: (spreading, flags to restore).

    ext2/3/4's Orlov allocator places a new directory near its parent, and files in their
    directory's block group, unless the parent carries ``FS_TOPDIR_FL`` (``chattr +T``):
    then it picks the least-used group with above-average free inodes and blocks, searching
    from a hash of the directory's name.  A layer's top-level trees are unrelated to whatever
    else is in the store, so we ask for that spreading, with a random first name (renamed at
    once) so that the search starts somewhere new each time.  It matters most on ext4 without
    a journal: there the inode allocator skips inodes freed in the last ~30 s one by one, from
    the start of the group, for every new inode, so unpacking next to a just-removed tree costs
    time quadratic in its size (the store of a previous pull removed before the next one).
    Other filesystems refuse the ioctl and nothing changes.
    """
    import array
    import fcntl

    buf = array.array("i", [0])
    try:
        fcntl.ioctl(root, _FS_IOC_GETFLAGS, buf, True)
        old = buf[0]
        if old & _FS_TOPDIR_FL:
            return True, None  # set by someone else: keep it
        buf[0] = old | _FS_TOPDIR_FL
        fcntl.ioctl(root, _FS_IOC_SETFLAGS, buf, True)
    except OSError:
        return False, None
    return True, old


def _spread_end(root: int, old: int) -> None:
    import array
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.ioctl(root, _FS_IOC_SETFLAGS, array.array("i", [old]), True)


def _lstat_at(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _rmtree_at(dfd: int, name: str) -> None:
    st = _lstat_at(dfd, name)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dfd)
        return
    sub = os.open(name, _O_DIR, dir_fd=dfd)
    try:
        for child in os.listdir(sub):
            _rmtree_at(sub, child)
    finally:
        os.close(sub)
    os.rmdir(name, dir_fd=dfd)


def _xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    out = {}
    for k, v in member.pax_headers.items():
        if k.startswith("SCHILY.xattr."):
            name = k[len("SCHILY.xattr."):]
            if name.startswith("trusted.overlay."):
                continue
            out[name] = v.encode("utf-8", "surrogateescape")
    return out


def _set_xattrs(target: int | str, xattrs: dict[str, bytes], entry: str) -> None:
    for name, value in xattrs.items():
        try:
            if isinstance(target, int):
                os.setxattr(target, name, value)
            else:
                os.setxattr(target, name, value, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.ENOTSUP or (e.errno == errno.EPERM and not _IS_ROOT):
                continue
            raise errdefs.InvalidArgument(errdefs.subject("layer entry", entry, f"xattr {name}: {e.strerror}"))


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return round(float(member.mtime) * 1_000_000_000)


class _Applier:
    def __init__(self, tree: _Tree, overlay: bool, max_file_size: int) -> None:
        self.tree = tree
        self.overlay = overlay
        self.max_file_size = max_file_size
        self.added: set[tuple[str, ...]] = set()
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}
        self.skipped: list[str] = []

    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_components(m.name)
        if not parts:
            if not m.isdir():
                raise _refuse(m.name, "non-directory entry for the root")
            self.dirs[()] = m
            return
        name = parts[-1]
        if name.startswith(WHITEOUT_PREFIX):
            self.whiteout(parts, m)
            return
        if m.islnk():
            # resolve the link target before touching the destination
            lparts = clean_components(m.linkname)
            if not lparts:
                raise _refuse(m.name, f"hardlink to the root ({m.linkname!r})")
        dfd = self.tree.dir_fd(parts[:-1], m.name, create=True)
        assert dfd is not None
        if m.isreg() or m.issym():
            # the common case, a new name: create it (O_EXCL / symlinkat fail on anything there,
            # a symlink included, without following it); only then look at what is in the way
            try:
                self.create(tf, m, dfd, name)
            except FileExistsError:
                self.remove(dfd, name, tuple(parts))
                self.create(tf, m, dfd, name)
            self.added.add(tuple(parts))
            return
        existing = _lstat_at(dfd, name)
        if m.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                os.unlink(name, dir_fd=dfd)
                existing = None
            if existing is None:
                self.tree.mkdir(dfd, name, 0o700)
            fd = os.open(name, _O_DIR, dir_fd=dfd)
            try:
                if _IS_ROOT:
                    os.fchown(fd, m.uid, m.gid)
                _set_xattrs(fd, _xattrs(m), m.name)
            finally:
                os.close(fd)
            self.dirs[tuple(parts)] = m
            self.added.add(tuple(parts))
            return
        if existing is not None:
            self.remove(dfd, name, tuple(parts), existing)
        if m.islnk():
            self.hardlink(m, dfd, name)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            dev = os.makedev(m.devmajor, m.devminor) if not m.isfifo() else 0
            try:
                os.mknod(name, kind | 0o600, dev, dir_fd=dfd)
            except PermissionError:
                if _IS_ROOT:
                    raise
                self.skipped.append(m.name)  # unprivileged: devices cannot be created
                return
            self.meta_at(dfd, name, m)
        else:
            self.skipped.append(m.name)
            return
        self.added.add(tuple(parts))

    def create(self, tf: tarfile.TarFile, m: tarfile.TarInfo, dfd: int, name: str) -> None:
        """A regular file or symlink at a free name (``FileExistsError`` if it is not free)."""
        if m.isreg():
            self.regular(tf, m, dfd, name)
        else:
            os.symlink(m.linkname, name, dir_fd=dfd)
            self.meta_at(dfd, name, m, symlink=True)

    def remove(self, dfd: int, name: str, parts: tuple[str, ...], existing: os.stat_result | None = None) -> None:
        """Remove what is at ``name`` (a whole tree for a directory)."""
        if existing is None:
            existing = _lstat_at(dfd, name)
            if existing is None:
                return
        if stat.S_ISDIR(existing.st_mode):
            self.tree.forget(parts)
            _rmtree_at(dfd, name)
        else:
            os.unlink(name, dir_fd=dfd)

    def regular(self, tf: tarfile.TarFile, m: tarfile.TarInfo, dfd: int, name: str) -> None:
        if m.size > self.max_file_size:
            raise _refuse(m.name, f"size {m.size} exceeds the limit of {self.max_file_size} bytes")
        sparse: list[tuple[int, int]] | None = getattr(m, "sparse", None)
        if sparse is not None:
            self.check_sparse(m, sparse)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            if sparse is not None:
                raw = tf.fileobj
                assert raw is not None
                raw.seek(m.offset_data)
                for off, size in sparse:
                    pos = off
                    left = size
                    while left:
                        b = raw.read(min(_CHUNK, left))
                        if not b:
                            raise _refuse(m.name, "truncated sparse data")
                        os.pwrite(fd, b, pos)
                        pos += len(b)
                        left -= len(b)
                os.ftruncate(fd, m.size)
            else:
                # straight from the tar stream: tarfile.extractfile adds two buffered layers per file
                raw = tf.fileobj
                assert raw is not None
                raw.seek(m.offset_data)
                left = m.size
                while left:
                    b = raw.read(min(_CHUNK, left))
                    if not b:
                        raise tarfile.ReadError("unexpected end of data")
                    left -= len(b)
                    view = memoryview(b)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
            if _IS_ROOT:
                os.fchown(fd, m.uid, m.gid)
            _set_xattrs(fd, _xattrs(m), m.name)
            os.fchmod(fd, m.mode & 0o7777)
            ns = _mtime_ns(m)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def check_sparse(self, m: tarfile.TarInfo, sparse: list[tuple[int, int]]) -> None:
        if len(sparse) > MAX_SPARSE_SEGMENTS:
            raise _refuse(m.name, f"sparse map has {len(sparse)} segments")
        end = 0
        for off, size in sparse:
            if off < end or size < 0 or off + size > m.size:
                raise _refuse(m.name, "invalid sparse map")
            end = off + size

    def hardlink(self, m: tarfile.TarInfo, dfd: int, name: str) -> None:
        lparts = clean_components(m.linkname)
        ldfd = self.tree.dir_fd(lparts[:-1], m.name, create=False)
        if ldfd is None or _lstat_at(ldfd, lparts[-1]) is None:
            raise _refuse(m.name, f"hardlink target {m.linkname!r} not found in the layer root")
        st = _lstat_at(ldfd, lparts[-1])
        assert st is not None
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(m.name, f"hardlink target {m.linkname!r} is a directory")
        os.link(lparts[-1], name, src_dir_fd=ldfd, dst_dir_fd=dfd, follow_symlinks=False)

    def meta_at(self, dfd: int, name: str, m: tarfile.TarInfo, *, symlink: bool = False) -> None:
        if _IS_ROOT:
            os.chown(name, m.uid, m.gid, dir_fd=dfd, follow_symlinks=False)
        xattrs = _xattrs(m)
        if xattrs:
            _set_xattrs(f"/proc/self/fd/{dfd}/{name}", xattrs, m.name)
        if not symlink:
            os.chmod(name, m.mode & 0o7777, dir_fd=dfd)
        ns = _mtime_ns(m)
        os.utime(name, ns=(ns, ns), dir_fd=dfd, follow_symlinks=False)

    def whiteout(self, parts: list[str], m: tarfile.TarInfo) -> None:
        name = parts[-1]
        parent = parts[:-1]
        if name == OPAQUE:
            dfd = self.tree.dir_fd(parent, m.name, create=self.overlay)
            if dfd is None:
                return
            if self.overlay:
                os.setxattr(dfd, OVERLAY_OPAQUE_XATTR, b"y")
            else:
                for child in os.listdir(dfd):
                    if (*parent, child) not in self.added:
                        self.tree.forget((*parent, child))
                        _rmtree_at(dfd, child)
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata (.wh..wh.plnk etc.): nothing to do
        victim = name[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise _refuse(m.name, "invalid whiteout")
        dfd = self.tree.dir_fd(parent, m.name, create=self.overlay)
        if dfd is None:
            return
        self.tree.forget((*parent, victim))
        _rmtree_at(dfd, victim)
        if self.overlay:
            os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dfd)

    def finish(self) -> None:
        # deepest first, so setting a child's mtime does not disturb its parent's
        for parts in sorted(self.dirs, key=len, reverse=True):
            m = self.dirs[parts]
            if not parts:
                fd = self.tree.root
                if _IS_ROOT:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, m.mode & 0o7777)
                ns = _mtime_ns(m)
                os.utime(fd, ns=(ns, ns))
                continue
            dfd = self.tree.dir_fd(parts[:-1], m.name, create=False)
            if dfd is None:
                continue  # removed later in the same layer
            st = _lstat_at(dfd, parts[-1])
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            os.chmod(parts[-1], m.mode & 0o7777, dir_fd=dfd)
            ns = _mtime_ns(m)
            os.utime(parts[-1], ns=(ns, ns), dir_fd=dfd, follow_symlinks=False)


def apply_layer(
    stream: BinaryIO,
    target: Path,
    *,
    overlay_whiteouts: bool,
    parents: Sequence[Path] = (),
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> ApplyResult:
    """Apply the uncompressed tar ``stream`` onto ``target`` (see the module docstring).

    ``parents`` are the lower layers (nearest first) of an overlay upper dir: a
    directory the tar implies but does not list is created with their metadata.
    """
    reader = _CountingReader(stream)
    tree = _Tree(Path(target), parents)
    applier = _Applier(tree, overlay_whiteouts, max_file_size)
    count = 0
    try:
        try:
            with tarfile.open(fileobj=reader, mode="r|", errors="surrogateescape",  # type: ignore[call-overload]
                              tarinfo=BoundedTarInfo) as tf:
                for member in tf:
                    try:
                        applier.entry(tf, member)
                    except OSError as e:
                        raise ApplyFailed(errdefs.subject("layer entry", member.name, e.strerror or str(e))) from e
                    count += 1
        except (tarfile.TarError, EOFError) as e:
            raise errdefs.InvalidArgument(errdefs.subject("layer", str(target), f"invalid tar: {e}"))
        applier.finish()
    finally:
        tree.close()
    while reader.read(_CHUNK):  # the digest covers the trailing padding too
        pass
    return ApplyResult(reader.digester.digest(), reader.digester.size, count, applier.skipped)


def apply_to_mounts(mounts: Sequence[Any], stream: BinaryIO, **kw: Any) -> ApplyResult:
    """Apply a layer to what a snapshotter's ``prepare`` returned, without mounting it.

    An overlay mount is applied to its ``upperdir`` with overlay whiteouts (its
    ``lowerdir`` list supplies implied directories' metadata); a bind mount to its
    source, natively.  (containerd's differ does the same for overlay.)
    """
    if len(mounts) != 1:
        raise errdefs.InvalidArgument(errdefs.subject("mounts", str(len(mounts)), "expected exactly one mount"))
    m = mounts[0]
    if m.type == "overlay":
        opts = {k: v for k, _, v in (o.partition("=") for o in m.options)}
        if "upperdir" not in opts:
            raise errdefs.InvalidArgument(errdefs.subject("mount", m.source, "overlay without upperdir is read-only"))
        lowers = [Path(p) for p in opts.get("lowerdir", "").split(":") if p]
        return apply_layer(stream, Path(opts["upperdir"]), overlay_whiteouts=True, parents=lowers, **kw)
    if m.type == "bind" or "bind" in m.options or "rbind" in m.options:
        if "ro" in m.options:
            raise errdefs.InvalidArgument(errdefs.subject("mount", m.source, "read-only"))
        return apply_layer(stream, Path(m.source), overlay_whiteouts=False, **kw)
    raise errdefs.InvalidArgument(errdefs.subject("mount", m.source, f"cannot apply to a {m.type!r} mount"))
