"""containerd's ``Mount`` and mounting a list of them, via mount(2) (never the mount binary).

A snapshotter answers with ``Mount`` values rather than mounting itself, so the
caller (the runtime, the differ, a test) decides where and in which namespace
they are mounted.  ``mount_all`` turns the option strings into mount(2) flags and
data.  overlayfs' mount data is limited to one page: when the ``lowerdir`` list
would not fit, the paths are rewritten relative to their common parent directory
and the mount(2) call is made from a forked child that has changed into that
directory (the working directory is per process, so the parent's threads are not
disturbed).  Snapshot directories are short numeric ids, so a chain of hundreds of
layers fits.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seabox.linux import syscalls as sc

PAGE_LIMIT = os.sysconf("SC_PAGESIZE") - 1  # mount data is copied into one page, NUL-terminated

_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID),
    "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV),
    "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC),
    "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC),
    "noatime": (False, sc.MS_NOATIME),
    "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME),
    "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME),
    "bind": (False, sc.MS_BIND),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "remount": (False, sc.MS_REMOUNT),
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


@dataclass
class Mount:
    """One mount: ``type`` (overlay, bind, ...), ``source`` and fstab-style ``options``."""

    type: str
    source: str
    options: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Mount:
        opts = d.get("options") or []
        assert isinstance(opts, list)
        return cls(str(d["type"]), str(d["source"]), [str(o) for o in opts])


def parse_options(options: Sequence[str]) -> tuple[int, int, list[str]]:
    """Split fstab-style options into (mount flags, propagation flags, filesystem data)."""
    flags = 0
    prop = 0
    data: list[str] = []
    for o in options:
        if o in _FLAGS:
            clear, bit = _FLAGS[o]
            flags = flags & ~bit if clear else flags | bit
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        else:
            data.append(o)
    return flags, prop, data


def _common_dir(paths: list[str]) -> str:
    return os.path.commonpath([os.path.dirname(p.rstrip("/")) for p in paths])


def compact_overlay_data(data: list[str]) -> tuple[str | None, list[str]]:
    """Rewrite lowerdir/upperdir/workdir relative to their common directory.

    Returns (directory to mount from, rewritten data) or (None, data) when nothing
    could be shortened.
    """
    keys = ("lowerdir=", "upperdir=", "workdir=")
    paths: list[str] = []
    for d in data:
        for k in keys:
            if d.startswith(k):
                paths.extend(d[len(k):].split(":") if k == "lowerdir=" else [d[len(k):]])
    if not paths or not all(os.path.isabs(p) for p in paths):
        return None, data
    common = _common_dir(paths)
    if common in ("", "/"):
        return None, data
    out = []
    for d in data:
        for k in keys:
            if d.startswith(k):
                parts = d[len(k):].split(":") if k == "lowerdir=" else [d[len(k):]]
                d = k + ":".join(os.path.relpath(p, common) for p in parts)
                break
        out.append(d)
    return common, out


def _mount_from(cwd: str, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """mount(2) from a forked child whose working directory is ``cwd``."""
    target = os.path.abspath(target)
    s = sc.LinuxSyscalls()  # loaded before fork: the child only chdirs and calls mount(2)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(r)
            os.chdir(cwd)
            s.mount(source, target, fstype, flags, data)
        except OSError as e:
            code = e.errno or errno.EIO
        except BaseException:
            code = errno.EIO
        os.write(w, str(code).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        res = f.read()
    os.waitpid(pid, 0)
    code = int(res or b"5")
    if code:
        raise OSError(code, f"mount {fstype} on {target} (from {cwd}): {os.strerror(code)}")


def mount(m: Mount, target: str | os.PathLike[str]) -> None:
    """Mount one ``Mount`` on ``target``."""
    tgt = os.fspath(target)
    flags, prop, data = parse_options(m.options)
    s = sc.LinuxSyscalls()
    fstype = "none" if m.type == "bind" else m.type
    if m.type == "overlay" and len(",".join(data)) > PAGE_LIMIT:
        cwd, data = compact_overlay_data(data)
        joined = ",".join(data)
        if cwd is None or len(joined) > PAGE_LIMIT:
            raise OSError(errno.E2BIG, f"overlay mount data for {tgt} is {len(joined)} bytes, over one page")
        _mount_from(cwd, m.source, tgt, fstype, flags, joined)
    else:
        s.mount(m.source, tgt, fstype, flags, ",".join(data) or None)
    if flags & sc.MS_BIND and flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC):
        # a bind mount ignores these flags until it is remounted with them
        s.mount(None, tgt, None, flags | sc.MS_REMOUNT, None)
    if prop:
        s.mount(None, tgt, None, prop, None)


def mount_all(mounts: Sequence[Mount], target: str | os.PathLike[str]) -> None:
    """Mount each of ``mounts`` on ``target`` in order; on failure undo the ones made."""
    done = 0
    try:
        for m in mounts:
            mount(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            with contextlib.suppress(OSError):
                sc.LinuxSyscalls().umount2(os.fspath(target), sc.MNT_DETACH)
        raise


def unmount(target: str | os.PathLike[str], *, detach: bool = False) -> None:
    """Unmount everything stacked on ``target`` (not an error if nothing is mounted)."""
    tgt = os.fspath(target)
    s = sc.LinuxSyscalls()
    for _ in range(64):
        try:
            s.umount2(tgt, (sc.MNT_DETACH if detach else 0) | sc.UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise


def is_mountpoint(path: str | os.PathLike[str]) -> bool:
    p = os.path.realpath(os.fspath(path))
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == p:
                return True
    return False


def with_mounts_dir(mounts: Sequence[Mount]) -> Path | None:
    """The directory holding the tree when the mounts are a single bind (no mount needed to read it)."""
    if len(mounts) == 1 and mounts[0].type == "bind":
        return Path(mounts[0].source)
    return None
