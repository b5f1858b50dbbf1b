"""Filesystem operations of COPY, ADD and WORKDIR on a mounted rootfs.

Every destination is resolved inside the root the way a chrooted process would:
symlinks are followed relative to the root and ``..`` stops at it, so a hostile
image (``/app -> /etc``, ``/x -> ../../..``) cannot make buildd write outside it.
Docker's COPY rules kept here: a destination ending in ``/`` (or several sources)
is a directory; a source directory's *contents* are copied; files get uid:gid 0:0
unless ``--chown``, their own mode unless ``--chmod``; ADD extracts a local tar
archive (tarfile's ``tar`` filter, no absolute paths or escapes) and downloads a URL
to a file with mode 0600.  User and group names are resolved from the rootfs's
/etc/passwd and /etc/group.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Callable

from seabox import errdefs

_MAX_LINKS = 40


def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path of ``path`` inside ``root``, following symlinks confined to ``root``."""
    from seabox.linux.paths import secure_join

    return secure_join(root, path, follow_last=follow_last, max_links=_MAX_LINKS)


def _lookup(path: str, name: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if fields and fields[0] == name:
                    return fields
    except OSError:
        return None
    return None


def resolve_user(root: str, user: str) -> tuple[int, int, list[int]]:
    """uid, gid and supplementary groups of ``user`` (``name``, ``uid``, ``name:group``...) in ``root``."""
    if not user:
        return 0, 0, []
    u, _, g = user.partition(":")
    passwd = resolve_in_root(root, "/etc/passwd")
    group = resolve_in_root(root, "/etc/group")
    if u.isdigit():
        uid = int(u)
        gid = 0
        # the primary group of a numeric uid still comes from passwd when there is an entry
        try:
            with open(passwd, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fs = line.split(":")
                    if len(fs) > 3 and fs[2] == u:
                        gid = int(fs[3])
                        u = fs[0]
                        break
        except OSError:
            pass
    else:
        ent = _lookup(passwd, u)
        if ent is None or len(ent) < 4:
            raise errdefs.NotFound(errdefs.subject("user", u, "not found in the image's /etc/passwd"))
        uid, gid = int(ent[2]), int(ent[3])
    if g:
        if g.isdigit():
            gid = int(g)
        else:
            gent = _lookup(group, g)
            if gent is None or len(gent) < 3:
                raise errdefs.NotFound(errdefs.subject("group", g, "not found in the image's /etc/group"))
            gid = int(gent[2])
    extra: list[int] = []
    try:
        with open(group, encoding="utf-8", errors="replace") as f:
            for line in f:
                fs = line.rstrip("\n").split(":")
                if len(fs) > 3 and u in fs[3].split(",") and fs[2].isdigit() and int(fs[2]) != gid:
                    extra.append(int(fs[2]))
    except OSError:
        pass
    return uid, gid, extra


def mkdir_p(root: str, path: str, uid: int = 0, gid: int = 0) -> str:
    """Create ``path`` (and parents) inside ``root``; new directories are owned by uid:gid."""
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    cur = "/"
    for p in parts:
        cur = posixpath.join(cur, p)
        host = resolve_in_root(root, cur)
        if not os.path.lexists(host):
            # a dangling link resolves to a path whose parents may not exist yet (all inside root)
            os.makedirs(host, 0o755, exist_ok=True)
            os.chown(host, uid, gid)
        elif not os.path.isdir(host):
            raise errdefs.FailedPrecondition(errdefs.subject("path", cur, "exists and is not a directory"))
    return resolve_in_root(root, path)


Meta = Callable[[str, os.stat_result], None]


def _apply_meta(path: str, st: os.stat_result, chown: tuple[int, int] | None, chmod: int | None,
                keep_owner: bool = False) -> None:
    uid, gid = chown if chown is not None else (st.st_uid, st.st_gid) if keep_owner else (0, 0)
    os.lchown(path, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_entry(src: str, dst: str, chown: tuple[int, int] | None, chmod: int | None,
                keep_owner: bool = False) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dst) and not os.path.isdir(dst):
            os.unlink(dst)
        if not os.path.isdir(dst):
            os.mkdir(dst, 0o755)
    else:
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            else:
                os.unlink(dst)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
        else:
            return  # devices, fifos, sockets are not copied from a build context
    _apply_meta(dst, st, chown, chmod, keep_owner)


def copy_tree(src: str, dst: str, *, chown: tuple[int, int] | None, chmod: int | None,
              allowed: Callable[[str], bool] | None = None, rel: str = "", keep_owner: bool = False) -> None:
    """Copy the contents of directory ``src`` into directory ``dst`` (``allowed`` filters relative paths)."""
    for name in sorted(os.listdir(src)):
        r = f"{rel}/{name}" if rel else name
        if allowed is not None and not allowed(r):
            continue
        s = os.path.join(src, name)
        d = os.path.join(dst, name)
        _copy_entry(s, d, chown, chmod, keep_owner)
        if os.path.isdir(s) and not os.path.islink(s):
            copy_tree(s, d, chown=chown, chmod=chmod, allowed=allowed, rel=r, keep_owner=keep_owner)


def expand_sources(src_root: str, sources: list[str], *, allowed: Callable[[str], bool] | None) -> list[str]:
    """Relative paths (inside ``src_root``) that the COPY sources name; globs expanded."""
    out: list[str] = []
    for s in sources:
        clean = posixpath.normpath("/" + s).lstrip("/") or "."
        if any(c in clean for c in "*?["):
            parent, pat = posixpath.split(clean)
            base = resolve_in_root(src_root, parent) if parent else src_root
            try:
                names = sorted(os.listdir(base))
            except OSError:
                names = []
            for n in names:
                r = posixpath.join(parent, n) if parent else n
                if fnmatch.fnmatchcase(n, pat) and (allowed is None or allowed(r)):
                    out.append(r)
            continue
        host = resolve_in_root(src_root, clean) if clean != "." else src_root
        if clean != "." and (not os.path.lexists(host) or (allowed is not None and not allowed(clean))):
            raise errdefs.NotFound(errdefs.subject("COPY source", s, "not found"))
        out.append(clean)
    return out


def copy_into(root: str, src_root: str, sources: list[str], dest: str, workdir: str, *,
              chown: tuple[int, int] | None, chmod: int | None, allowed: Callable[[str], bool] | None = None,
              extract_tars: bool = False, parents: bool = False) -> None:
    """COPY/ADD ``sources`` (relative to ``src_root``) to ``dest`` inside ``root``.

    ``parents`` (``COPY --parents``) keeps each source's relative path under ``dest``.
    """
    dest_path = posixpath.normpath(posixpath.join(workdir or "/", dest))
    rels = expand_sources(src_root, sources, allowed=allowed)
    if parents:
        for rel in rels:
            src = resolve_in_root(src_root, rel, follow_last=False) if rel != "." else src_root
            target_path = posixpath.join(dest_path, rel) if rel != "." else dest_path
            if os.path.isdir(src) and not os.path.islink(src):
                target = mkdir_p(root, target_path, *(chown or (0, 0)))
                sub_allowed = None if allowed is None else (
                    lambda r, rel=rel: allowed(r if rel == "." else f"{rel}/{r}"))
                copy_tree(src, target, chown=chown, chmod=chmod, allowed=sub_allowed)
            else:
                mkdir_p(root, posixpath.dirname(target_path))
                _copy_entry(src, resolve_in_root(root, target_path, follow_last=False), chown, chmod)
        return
    dir_dest = dest.endswith("/") or dest in (".", "./") or len(rels) > 1 or len(sources) > 1 \
        or any(c in "".join(sources) for c in "*?[")
    for rel in rels:
        src = resolve_in_root(src_root, rel, follow_last=False) if rel != "." else src_root
        if os.path.isdir(src) and not os.path.islink(src):
            target = mkdir_p(root, dest_path, *(chown or (0, 0)))
            sub_allowed = None if allowed is None else (lambda r, rel=rel: allowed(r if rel == "." else f"{rel}/{r}"))
            copy_tree(src, target, chown=chown, chmod=chmod, allowed=sub_allowed)
            continue
        if extract_tars and os.path.isfile(src) and _is_tar(src):
            target = mkdir_p(root, dest_path)
            extract_tar(src, target)
            continue
        host_dest = resolve_in_root(root, dest_path)
        if dir_dest or os.path.isdir(host_dest):
            d = mkdir_p(root, dest_path)
            out = os.path.join(d, posixpath.basename(rel))
        else:
            mkdir_p(root, posixpath.dirname(dest_path))
            out = resolve_in_root(root, dest_path, follow_last=False)
        _copy_entry(src, out, chown, chmod)


def _is_tar(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def extract_tar(path: str, dest: str) -> None:
    """ADD's auto-extraction: a (compressed) tar archive unpacked inside ``dest`` only."""
    with tarfile.open(path) as tf:
        extract_stream(tf, dest)


def extract_stream(tf: tarfile.TarFile, dest: str) -> None:
    """Unpack every member of ``tf`` inside ``dest``: names and link targets are resolved as
    inside a chroot at ``dest`` (``..`` and absolute symlinks cannot leave it); devices are skipped."""
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    for m in tf:
        name = posixpath.normpath("/" + m.name)
        if name == "/":
            continue
        parent = mkdir_p(dest, posixpath.dirname(name))
        out = os.path.join(parent, posixpath.basename(name))
        if m.isdir():
            if not os.path.isdir(out):
                if os.path.lexists(out):
                    os.unlink(out)
                os.mkdir(out, 0o755)
            dirs.append((out, m))
            continue
        if os.path.lexists(out):
            if os.path.isdir(out) and not os.path.islink(out):
                shutil.rmtree(out)
            else:
                os.unlink(out)
        if m.issym():
            os.symlink(m.linkname, out)
        elif m.islnk():
            os.link(resolve_in_root(dest, m.linkname), out)
        elif m.isfile():
            src = tf.extractfile(m)
            assert src is not None
            with open(out, "wb") as f:
                shutil.copyfileobj(src, f)
        else:
            continue
        os.lchown(out, m.uid, m.gid)
        if not m.issym():
            os.chmod(out, m.mode & 0o7777)
            os.utime(out, (m.mtime, m.mtime))
    for out, m in reversed(dirs):
        os.chown(out, m.uid, m.gid)
        os.chmod(out, m.mode & 0o7777)
        os.utime(out, (m.mtime, m.mtime))


def fetch_url(url: str, root: str, dest: str, workdir: str, *, chown: tuple[int, int] | None,
              chmod: int | None, timeout: float = 60.0, checksum: str | None = None) -> None:
    """ADD <url> <dest>: download to dest (a directory when it ends with ``/``), mode 0600;
    ``checksum`` (``ADD --checksum=sha256:...``) is verified before the file is kept."""
    dest_path = posixpath.normpath(posixpath.join(workdir or "/", dest))
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    if dest.endswith("/") or os.path.isdir(resolve_in_root(root, dest_path)):
        d = mkdir_p(root, dest_path)
        out = os.path.join(d, name)
    else:
        mkdir_p(root, posixpath.dirname(dest_path))
        out = resolve_in_root(root, dest_path, follow_last=False)
    import hashlib

    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(out, "wb") as f:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
    except OSError as e:
        raise errdefs.FailedPrecondition(errdefs.subject("ADD source", url, f"cannot be fetched: {e}")) from None
    if checksum and checksum != "sha256:" + h.hexdigest():
        os.unlink(out)
        raise errdefs.FailedPrecondition(errdefs.subject("ADD source", url, f"checksum mismatch: expected {checksum}, "
                                                         f"got sha256:{h.hexdigest()}"))
    uid, gid = chown or (0, 0)
    os.chown(out, uid, gid)
    os.chmod(out, chmod if chmod is not None else 0o600)
