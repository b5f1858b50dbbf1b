"""Tree helpers for snapshotters: a faithful copy, disk usage, removal.

``copy_tree`` is the native snapshotter's copy of a parent layer: owners, modes
(set after chown, which clears setuid), extended attributes, hardlinks (by
inode), symlinks, device nodes and fifos, and mtimes (directories last, since
creating entries in them changes theirs).  It never follows a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

_IS_ROOT = os.geteuid() == 0


def copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EPERM) and not (_IS_ROOT and e.errno == errno.EPERM):
                continue
            if e.errno == errno.EPERM and name.startswith("security."):
                continue
            raise


def _meta(src: str, dst: str, st: os.stat_result) -> None:
    if _IS_ROOT:
        os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        copy_xattrs(src, dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    else:
        copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy the tree ``src`` into the existing empty directory ``dst``."""
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = []

    def walk(s: str, d: str) -> None:
        with os.scandir(s) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            sp = os.path.join(s, e.name)
            dp = os.path.join(d, e.name)
            st = e.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(dp, 0o700)
                walk(sp, dp)
                dirs.append((sp, dp, st))
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(mode):
                first = links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(first, dp, follow_symlinks=False)
                    continue
                links[(st.st_dev, st.st_ino)] = dp
            if stat.S_ISREG(mode):
                shutil.copyfile(sp, dp, follow_symlinks=False)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(sp), dp)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                if stat.S_ISSOCK(mode):
                    continue  # sockets are not copied (as cp -a does not recreate them as usable)
                os.mknod(dp, mode, st.st_rdev)
            else:
                continue
            _meta(sp, dp, st)

    walk(str(src), str(dst))
    for sp, dp, st in dirs:  # children before parents (post-order)
        _meta(sp, dp, st)
    _meta(str(src), str(dst), os.lstat(src))


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes allocated, inodes) of the tree, counting each inode once."""
    seen: set[tuple[int, int]] = set()
    size = 0
    stack = [str(root)]
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return 0, 0
    seen.add((st.st_dev, st.st_ino))
    size += st.st_blocks * 512
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                k = (st.st_dev, st.st_ino)
                if k in seen:
                    continue
                seen.add(k)
                size += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return size, len(seen)


def remove_tree(path: Path) -> None:
    """Remove ``path`` even when it holds read-only directories."""
    def onerror(func: object, p: str, exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
        with contextlib.suppress(FileNotFoundError):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)

    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if path.exists():
        shutil.rmtree(path, onerror=onerror)
