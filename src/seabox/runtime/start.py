"""``start``: release a created container's init by opening its exec FIFO, then run poststart hooks.

Design reason: the FIFO is the handshake runc uses — the init blocks opening it for writing,
``start`` opens it for reading, reads the one byte the init writes and removes it; the FIFO's
absence is what makes the status "running" afterwards.  The FIFO is opened non-blocking (a
dead init never opens its end, and a blocking open would wait forever) and then read
blocking: a read returns at the init's byte and at EOF, which comes when the init's write end
closes — at its execve, or when it dies — so a dead init makes ``start`` fail instead of hang.
"""

from __future__ import annotations

import posix  # not os (see seabox.runtime.state)
import time

from seabox.errdefs import FailedPrecondition, subject
from seabox.runtime import state as st_mod

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]


def _read_until_eof(fd: int, pid: int) -> bytes:
    """Read the init's "0" and wait for EOF (its close-on-exec writer closes at execve)."""
    posix.set_blocking(fd, True)
    data = b""
    while True:
        chunk = posix.read(fd, 16)
        if chunk:
            data += chunk
            continue
        if data:
            return data
        # EOF with nothing read: the init died, or (just after ``create``) it has not
        # opened its end yet — a FIFO without writers reads as EOF
        if st_mod.process_start_time(pid) is None:
            raise FailedPrecondition(f"container init (pid {pid}) exited before start")
        time.sleep(0.001)


def start(state_root: StrPath, container_id: str) -> st_mod.ContainerState:
    st = st_mod.load_state(state_root, container_id)
    st_mod.require("start", container_id, st.status)
    fifo = st.state_dir + "/" + st_mod.EXEC_FIFO
    try:
        fd = posix.open(fifo, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except FileNotFoundError:
        raise FailedPrecondition(subject("container", container_id, "cannot start an already running container"))
    try:
        data = _read_until_eof(fd, st.pid)
        if not data.startswith(b"0"):
            raise FailedPrecondition(subject("container", container_id, "container init failed before start"))
    finally:
        posix.close(fd)
    try:
        posix.unlink(fifo)
    except FileNotFoundError:
        pass
    st.status = st_mod.RUNNING
    if (st.config.get("hooks") or {}).get("poststart"):
        from seabox.oci.runtime_spec import parse_spec
        from seabox.runtime.hooks import run_hooks

        run_hooks("poststart", parse_spec(st.config).hooks, st.hook_state())
    return st
