"""``cp``: tar archives of paths inside a container's root filesystem (GET/HEAD/PUT archive).

Design reason: the rootfs is reached through the container's snapshot mounts (the running
task's bundle rootfs when it is mounted, else a temporary mount of the snapshot), and every
path is resolved *inside* that root with symlinks evaluated as if the root were ``/``
(``containers._inside``), so neither a request path nor a symlink in the image can reach the
host.  Archives are made and unpacked with ``tarfile``; members of an uploaded archive are
checked the same way before anything is written (no absolute names, no ``..`` escapes, links
only to targets inside the destination).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat as statmod
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.engine.containers import _inside


@contextlib.contextmanager
def rootfs(engine: Any, ns: str, rec: dict[str, Any]) -> Iterator[Path]:
    cid = rec["Id"]
    bundle_root = Path(engine.tasks.bundles) / ns / cid / "rootfs"
    if rec["State"]["Running"] and os.path.ismount(bundle_root):
        yield bundle_root
        return
    from seabox.ctr import snapshots as ctrsnap

    sn = engine.deps.snapshotters["overlayfs"]
    mounts = sn.mounts(f"{ns}/{cid}")
    tmp = Path(engine.settings.state) / "engine" / "cp" / cid
    tmp.mkdir(parents=True, exist_ok=True)
    ctrsnap.mount_all(mounts, str(tmp))
    try:
        yield tmp
    finally:
        ctrsnap.unmount_all(str(tmp))
        with contextlib.suppress(OSError):
            tmp.rmdir()


def _stat_of(p: Path, name: str) -> dict[str, Any]:
    st = os.lstat(p)
    mode = statmod.S_IMODE(st.st_mode)
    gomode = mode | (1 << 31 if statmod.S_ISDIR(st.st_mode) else 0) | (1 << 27 if statmod.S_ISLNK(st.st_mode) else 0)
    import datetime

    return {"name": name, "size": st.st_size, "mode": gomode,
            "mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "linkTarget": os.readlink(p) if statmod.S_ISLNK(st.st_mode) else ""}


def _existing(root: Path, rec: dict[str, Any], path: str) -> Path:
    """``path`` inside the container's ``root``; NotFound (docker's message) when it is not there."""
    p = _inside(root, path)
    if not os.path.lexists(p):
        raise errdefs.NotFound(f"Could not find the file {path} in container {rec['Name'][1:]}")
    return p


def stat(engine: Any, ns: str, rec: dict[str, Any], path: str) -> dict[str, Any]:
    if not path:
        raise errdefs.InvalidArgument("path is required")
    with rootfs(engine, ns, rec) as root:
        return _stat_of(_existing(root, rec, path), os.path.basename(path.rstrip("/")) or "/")


def get(engine: Any, ns: str, rec: dict[str, Any], path: str) -> tuple[bytes, dict[str, Any]]:
    if not path:
        raise errdefs.InvalidArgument("path is required")
    with rootfs(engine, ns, rec) as root:
        p = _existing(root, rec, path)
        name = os.path.basename(path.rstrip("/")) or "."
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            t.add(str(p), arcname=name, recursive=True)
        return buf.getvalue(), _stat_of(p, name)


def put(engine: Any, ns: str, rec: dict[str, Any], path: str, data: bytes, *, no_overwrite_dir: bool = False) -> None:
    if not path:
        raise errdefs.InvalidArgument("path is required")
    if rec["HostConfig"].get("ReadonlyRootfs"):
        raise errdefs.FailedPrecondition("container rootfs is marked read-only")
    with rootfs(engine, ns, rec) as root:
        dest = _inside(root, path)
        if not dest.is_dir():
            raise errdefs.NotFound(f"Could not find the file {path} in container {rec['Name'][1:]}")
        try:
            t = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115
        except tarfile.TarError as e:
            raise errdefs.InvalidArgument(f"archive: {e}") from None
        with t:
            members = t.getmembers()
            for m in members:
                _check_member(dest, m)
                target = dest / m.name
                if no_overwrite_dir and target.is_dir() and not m.isdir():
                    raise errdefs.InvalidArgument(f"cannot overwrite directory {m.name} with non-directory")
            t.extractall(str(dest), members=members, numeric_owner=True)


def _check_member(dest: Path, m: tarfile.TarInfo) -> None:
    name = m.name
    if name.startswith("/") or any(part == ".." for part in name.split("/")):
        raise errdefs.InvalidArgument(f"archive member {name!r}: outside the destination")
    parent = _inside(dest, os.path.dirname(name)) if os.path.dirname(name) else dest
    if not str(parent).startswith(str(dest)):
        raise errdefs.InvalidArgument(f"archive member {name!r}: its directory leaves the destination")
    if m.islnk() and (m.linkname.startswith("/") or any(part == ".." for part in m.linkname.split("/"))):
        raise errdefs.InvalidArgument(f"archive member {name!r}: hard link outside the destination")
    if m.isdev() and not (m.ischr() or m.isblk() or m.isfifo()):
        raise errdefs.InvalidArgument(f"archive member {name!r}: unsupported type")


# -- export and diff (the whole filesystem, and what the container changed in it) -------------


def export(engine: Any, ns: str, rec: dict[str, Any]) -> Iterator[bytes]:
    """``docker export``: the container's root filesystem as one tar stream (made while it is
    read, so a large rootfs never sits in memory); the mount, if one was needed, lasts until the
    stream ends or the client goes."""
    cm = rootfs(engine, ns, rec)
    root = cm.__enter__()
    try:
        sink = _Sink()
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as t:  # type: ignore[call-overload]
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    path = os.path.join(dirpath, name)
                    t.add(path, arcname=os.path.relpath(path, root), recursive=False)
                    if sink.size >= 1 << 20:
                        yield sink.take()
        yield sink.take()
    finally:
        cm.__exit__(None, None, None)


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, b: bytes) -> int:
        self.parts.append(bytes(b))
        self.size += len(b)
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out


MODIFIED, ADDED, DELETED = 0, 1, 2


def _layers(engine: Any, ns: str, cid: str) -> tuple[Path, list[Path]]:
    """The container snapshot's upper dir and its lower dirs (nearest first)."""
    sn = engine.deps.snapshotters["overlayfs"]
    for m in sn.mounts(f"{ns}/{cid}"):
        opts = dict(o.partition("=")[::2] for o in getattr(m, "options", []))
        if getattr(m, "type", "") == "overlay":
            return Path(opts["upperdir"]), [Path(p) for p in opts.get("lowerdir", "").split(":") if p]
        return Path(m.source), []
    raise errdefs.NotFound(f"container {cid}: no filesystem")


def changes(engine: Any, ns: str, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """``docker diff``: every path of the container's writable layer — ``D`` for an overlay
    whiteout, ``C`` for a path the image already had (directories holding changes included),
    ``A`` for a new one — as the Engine API's ``{"Path", "Kind"}`` list, sorted by path."""
    upper, lowers = _layers(engine, ns, rec["Id"])
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(path, upper)
            st = os.lstat(path)
            if statmod.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = DELETED
            elif any(os.path.lexists(os.path.join(lo, rel[1:])) for lo in lowers):
                kind = MODIFIED
            else:
                kind = ADDED
            out.append({"Path": rel, "Kind": kind})
    return sorted(out, key=lambda c: c["Path"])
