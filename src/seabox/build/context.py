"""Checksums of build-context files, the input half of a COPY/ADD cache key.

A COPY step's cache key must change exactly when what it copies changes: the
selected files' relative paths, types, modes, ownership, symlink targets and
content — and not when only their mtimes change (BuildKit ignores mtimes too, so
a fresh ``git clone`` still hits the cache).  ``ContextIndex`` scans a context
directory once, honouring ``.dockerignore`` strictly (COPY never sees excluded
files, even the Dockerfile), hashing file contents with streaming sha256, and then
answers checksum questions for any list of COPY sources.  ``reuse`` lets a caller
skip re-reading files whose (size, mtime, inode) did not change since a previous
index — that shortcut decides only whether to re-read, never what the key is.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from seabox import errdefs
from seabox.build import cachekey
from seabox.build.dockerfile import instructions as ins
from seabox.build.ignore import IgnoreRules, clean, compile_pattern, walk

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One context entry: ``kind`` is "file", "dir", "symlink" or "other"; ``digest`` is for files."""

    path: str
    kind: str
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    size: int = 0
    digest: str = ""
    target: str = ""
    stamp: tuple[int, int, int] = (0, 0, 0)  # (size, mtime_ns, inode): reuse hint only, never hashed


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _entry(context_dir: str, rel: str, reuse: Mapping[str, FileEntry]) -> FileEntry | None:
    try:
        return _read_entry(context_dir, rel, reuse)
    except FileNotFoundError:  # removed while we scan
        return None
    except OSError as e:
        raise errdefs.FailedPrecondition(errdefs.subject("build context path", rel,
                                                         f"cannot be read: {e.strerror or e}")) from None


def _read_entry(context_dir: str, rel: str, reuse: Mapping[str, FileEntry]) -> FileEntry:
    full = os.path.join(context_dir, rel)
    st = os.lstat(full)
    mode = stat.S_IMODE(st.st_mode)
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        return FileEntry(rel, "dir", mode, st.st_uid, st.st_gid, stamp=stamp)
    if stat.S_ISLNK(st.st_mode):
        return FileEntry(rel, "symlink", mode, st.st_uid, st.st_gid, target=os.readlink(full), stamp=stamp)
    if stat.S_ISREG(st.st_mode):
        old = reuse.get(rel)
        if old is not None and old.kind == "file" and old.stamp == stamp:
            digest = old.digest
        else:
            digest = file_digest(full)
        return FileEntry(rel, "file", mode, st.st_uid, st.st_gid, st.st_size, digest, stamp=stamp)
    return FileEntry(rel, "other", mode, st.st_uid, st.st_gid, stamp=stamp)


class ContextIndex:
    """Every included entry of a build context, with content digests."""

    def __init__(self, entries: Iterable[FileEntry]) -> None:
        self.entries: dict[str, FileEntry] = {e.path: e for e in entries}

    @classmethod
    def scan(
        cls, context_dir: str, rules: IgnoreRules | None = None, *, reuse: Mapping[str, FileEntry] | None = None
    ) -> ContextIndex:
        rules = rules or IgnoreRules()
        entries = (_entry(context_dir, rel, reuse or {}) for rel in walk(context_dir, rules, always=()))
        return cls(e for e in entries if e is not None)

    def select(self, source: str) -> list[FileEntry]:
        """The entries a COPY source names: matched paths (globs allowed) and everything below them.

        A missing plain path is NotFound; a wildcard matching nothing selects nothing, as in BuildKit.
        """
        src = clean("/" + source).lstrip("/") or "."
        if src == ".":
            return sorted(self.entries.values(), key=lambda e: e.path)
        if any(c in src for c in "*?["):  # a wildcard may match nothing (BuildKit allows empty wildcards)
            pat = compile_pattern(src)
            roots = [p for p in self.entries if pat.match_one(p)]
            if not roots:
                return []
        else:
            roots = [src] if src in self.entries else []
        if not roots:
            raise errdefs.NotFound(errdefs.subject("COPY source", source, "not found in build context "
                                                   "(or excluded by .dockerignore)"))
        out: dict[str, FileEntry] = {}
        for root in roots:
            out[root] = self.entries[root]
            if self.entries[root].kind == "dir":
                prefix = root + "/"
                for p, e in self.entries.items():
                    if p.startswith(prefix):
                        out[p] = e
        return [out[p] for p in sorted(out)]

    def checksum(
        self,
        sources: Iterable[str],
        *,
        chown: tuple[int, int] | None = None,
        chmod: int | None = None,
        excludes: Iterable[str] = (),
    ) -> str:
        """The tree checksum of what ``COPY <sources>`` would copy (after ``--chown``/``--chmod``).

        ``excludes`` are ``COPY --exclude`` patterns (``.dockerignore`` syntax, matched
        against context-relative paths).
        """
        ex = IgnoreRules.from_lines(excludes)
        parts = []
        for s in sources:
            sel = [e for e in self.select(s) if not ex.excluded(e.path)] if ex.patterns else self.select(s)
            parts.append((s, cachekey.tree_checksum(_as_items(sel), chown=chown, chmod=chmod)))
        return cachekey.digest_of({"sources": parts})


    def for_instruction(
        self, instruction: ins.Copy | ins.Add, *, chown: tuple[int, int] | None = None
    ) -> str | None:
        """The context checksum of a COPY/ADD step; None when it copies nothing from the context.

        ``COPY --from`` reads another stage or image (the engine passes that key as an input
        instead); ADD's URLs are not context files (the engine adds the fetched digest);
        heredoc bodies are already part of the instruction's key.
        """
        if isinstance(instruction, ins.Copy) and instruction.from_:
            return None
        local = [s for s in instruction.sources if not _is_remote(s)]
        if not local:
            return None
        return self.checksum(local, chown=chown, chmod=instruction.chmod, excludes=instruction.excludes)


    def for_run(self, run: ins.Run) -> dict[str, str]:
        """Inputs of a RUN step read from the context: its ``--mount=type=bind`` mounts without ``from``.

        Keyed ``mount:<target>`` for ``cachekey.step_key(..., inputs=...)``; a bind mount from a
        stage or image is the engine's to key (that stage's key or the image digest).
        """
        out = {}
        for m in run.mounts:
            if m.type == "bind" and not m.from_:
                out["mount:" + m.target] = self.checksum([m.source or "."])
        return out


def _is_remote(source: str) -> bool:
    """ADD's URLs and git sources are fetched, not read from the context."""
    return "://" in source or source.startswith("git@")


def _as_items(entries: Iterable[FileEntry]) -> list[cachekey.TreeItem]:
    return [cachekey.TreeItem(e.path, e.kind, e.mode, e.uid, e.gid, e.digest, e.target) for e in entries]
