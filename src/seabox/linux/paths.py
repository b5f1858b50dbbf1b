"""Resolve a path inside a root directory the way the container will see it, with no escape.

Design reason: mount destinations and the working directory come from the (untrusted) bundle
and image.  A symlink such as ``/etc -> /`` or ``a -> ../../..`` inside the rootfs must be
followed relative to the rootfs, never to the host, so each component is resolved by hand:
absolute link targets restart at the root and ``..`` never climbs above it.
"""

from __future__ import annotations

import os
import stat

from seabox.errdefs import InvalidArgument

MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str, *, follow_last: bool = True, max_links: int = MAX_SYMLINKS) -> str:
    """Return ``root`` joined with ``unsafe`` with every symlink resolved inside ``root``.

    Components that do not exist are appended literally (they will be created inside the root).
    ``follow_last=False`` leaves a symlink in the last component unresolved (lstat semantics).
    """
    root = os.path.abspath(root)
    pending = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        except NotADirectoryError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (pending or follow_last):
            links += 1
            if links > max_links:
                raise InvalidArgument(f"path {unsafe!r}: too many levels of symbolic links inside {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def within(root: str, path: str) -> bool:
    root = os.path.abspath(root)
    path = os.path.abspath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")
