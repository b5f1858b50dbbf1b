"""Build layer tars in memory for tests: files, dirs, links, devices, whiteouts, sparse entries.

Tests describe a layer as a list of ``Entry`` values; ``build_tar`` writes them with
the stdlib ``tarfile`` (PAX format), so malicious shapes (``../`` names, links to
outside, huge sparse maps) are as easy to make as well-formed ones.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, char, block, fifo
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime: int = 1_700_000_000
    major: int = 0
    minor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    size: int | None = None  # override the header's size (data is still ``data``)
    pax: dict[str, str] = field(default_factory=dict)


_TYPES = {
    "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
}


def build_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = _TYPES[e.kind]
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
            ti.linkname = e.linkname
            ti.devmajor, ti.devminor = e.major, e.minor
            pax = dict(e.pax)
            for k, v in e.xattrs.items():
                pax["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            if pax:
                ti.pax_headers = pax
            if e.kind == "file":
                ti.size = len(e.data) if e.size is None else e.size
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def sparse_entry(name: str, realsize: int, segments: list[tuple[int, bytes]]) -> Entry:
    """A PAX 1.0 GNU sparse file: ``segments`` of (offset, data); the rest are holes."""
    mapping = f"{len(segments)}\n" + "".join(f"{off}\n{len(d)}\n" for off, d in segments)
    raw = mapping.encode()
    raw += b"\0" * (-len(raw) % 512)
    for _, d in segments:
        raw += d
    return Entry(
        f"GNUSparseFile.0/{name}",
        data=raw,
        pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
             "GNU.sparse.realsize": str(realsize)},
    )


def tree_state(root: Path, *, mtimes: bool = True) -> dict[str, tuple]:
    """A comparable picture of a tree: type, mode, owner, content/target/device, xattrs, hardlink groups."""
    out: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            xs: tuple = ()
            try:
                xs = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                                  for n in os.listxattr(p, follow_symlinks=False)
                                  if not n.startswith("trusted.overlay.")))
            except OSError:
                pass
            if stat.S_ISREG(st.st_mode):
                link = inodes.setdefault((st.st_dev, st.st_ino), rel) if st.st_nlink > 1 else None
                body: object = (Path(p).read_bytes(), link)
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                body = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                body = None
            mt = int(st.st_mtime) if mtimes and not stat.S_ISLNK(st.st_mode) else 0
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body, xs, mt)
    return out
