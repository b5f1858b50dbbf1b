"""Reading and writing cgroupfs files, making and removing cgroup directories.

cgroupfs files are written with one ``write()`` of the whole value (the kernel parses
each write separately), and a failure names the file and the value, because "Invalid
argument" alone never tells a user which limit was wrong.
"""

from __future__ import annotations

import errno
import os
import time

from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound, SeaboxError, subject

TYPE_CHECKING = False  # collections.abc is not imported at run time; mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Callable


def _debug(msg: str) -> None:
    import logging  # lazily: the runtime's hot path should not pay for logging's import

    logging.getLogger("seabox.runtime.cgroups").debug(msg)


def warn(msg: str) -> None:
    import logging

    logging.getLogger("seabox.runtime.cgroups").warning(msg)


def debug(msg: str) -> None:
    _debug(msg)


def write(directory: str, name: str, value: str | int) -> None:
    path = os.path.join(directory, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as e:
        raise _error(path, value, e)
    try:
        os.write(fd, data)
    except OSError as e:
        raise _error(path, value, e)
    finally:
        os.close(fd)


def _error(path: str, value: str | int, e: OSError) -> SeaboxError:
    msg = f"cannot write {str(value)!r}: {e.strerror}"
    if e.errno in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW):
        return InvalidArgument(subject("cgroup file", path, msg))
    if e.errno == errno.ENOENT:
        return NotFound(subject("cgroup file", path, msg))
    return FailedPrecondition(subject("cgroup file", path, msg))


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def read_or(directory: str, name: str, default: str = "") -> str:
    try:
        return read(directory, name)
    except OSError:
        return default


def read_int(directory: str, name: str, default: int = 0) -> int:
    """An integer file; "max" (v2's unlimited) reads as ``default``."""
    text = read_or(directory, name, "")
    try:
        return int(text.split()[0]) if text else default
    except ValueError:
        return default


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file such as memory.stat or cpu.stat: ``key value`` lines."""
    out: dict[str, int] = {}
    for line in read_or(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def has(directory: str, name: str) -> bool:
    return os.path.exists(os.path.join(directory, name))


def make_dirs(mount: str, target: str, on_new: Callable[[str, str], None] | None = None) -> bool:
    """mkdir -p ``target`` below ``mount``; ``on_new(parent, child)`` runs for each new dir.

    True when every directory below ``mount`` was new.  Retries when a concurrent ``destroy``
    prunes an ancestor between two mkdirs.
    """
    rel = os.path.relpath(target, mount)
    parts = [] if rel == "." else rel.split(os.sep)
    for _attempt in range(5):
        current = mount
        all_new = bool(parts)
        try:
            for part in parts:
                child = os.path.join(current, part)
                try:
                    os.mkdir(child, 0o755)
                except FileExistsError:
                    all_new = False
                else:
                    if on_new is not None:
                        on_new(current, child)
                current = child
            return all_new
        except FileNotFoundError:
            continue
        except OSError as e:
            raise FailedPrecondition(subject("cgroup", target, f"cannot be created: {e.strerror}"))
    raise FailedPrecondition(subject("cgroup", target, "cannot be created: its parent keeps disappearing"))


def procs(directory: str) -> list[int]:
    """Every process in the cgroup and its descendants."""
    out: list[int] = []
    for dirpath, _dirnames, filenames in os.walk(directory):
        if "cgroup.procs" in filenames:
            for line in read_or(dirpath, "cgroup.procs").split():
                try:
                    out.append(int(line))
                except ValueError:
                    continue
    return out


def remove_tree(directory: str, *, attempts: int = 50, delay: float = 0.01) -> None:
    """rmdir ``directory`` and its child cgroups, retrying while processes leave (EBUSY)."""
    try:
        os.rmdir(directory)  # the usual case, an empty leaf: one syscall, no walk
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    if not os.path.isdir(directory):
        return
    last: OSError | None = None
    for i in range(attempts):
        last = None
        for dirpath, _dirnames, _files in sorted(os.walk(directory), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                continue
            except OSError as e:
                last = e
        if last is None or not os.path.isdir(directory):
            return
        time.sleep(min(delay * (1 + i), 0.1))
    raise FailedPrecondition(
        subject("cgroup", directory, f"cannot be removed: {last.strerror if last else 'busy'}")
    )


def prune_empty_parents(mount: str, directory: str) -> None:
    """Remove ancestors of ``directory`` (already gone) that are left empty, up to the mount.

    rmdir refuses (EBUSY/ENOTEMPTY) any cgroup holding processes or children, so this
    never removes a cgroup someone still uses; a racing ``make_dirs`` retries.
    """
    mount = os.path.normpath(mount)
    parent = os.path.dirname(os.path.normpath(directory))
    while parent != mount and parent.startswith(mount + os.sep):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)
