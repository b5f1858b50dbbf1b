"""The cgroup v2 eBPF device filter, attached for real to a cgroup in this host's unified hierarchy.

On this hybrid host the v1 devices controller is what the runtime uses, but the kernel
consults BPF_CGROUP_DEVICE programs of the cgroup2 hierarchy as well, so the v2 filter
can be exercised here by putting a process only in a unified cgroup.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator

import pytest

from seabox.runtime.cgroups import devicefilter as df
from seabox.runtime.cgroups.layout import detect

pytestmark = pytest.mark.root


@pytest.fixture
def unified_cgroup() -> Iterator[str]:
    layout = detect("/sys/fs/cgroup")
    if layout.unified is None:
        pytest.fail("no cgroup2 hierarchy on this host")
    path = os.path.join(layout.unified, f"sbt-{secrets.token_hex(4)}")
    os.mkdir(path)
    try:
        yield path
    finally:
        for _ in range(100):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)


def _opens(cgroup: str, dev: str) -> bool:
    """Whether a child process in ``cgroup`` may open ``dev`` read-write."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            try:
                os.close(os.open(dev, os.O_RDWR))
                code = 1
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 1), status
    return os.WEXITSTATUS(status) == 1


def test_allow_list_enforced(unified_cgroup: str) -> None:
    df.attach(
        unified_cgroup,
        df.compile_rules(
            [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
        ),
    )
    assert _opens(unified_cgroup, "/dev/null")
    assert not _opens(unified_cgroup, "/dev/zero")


def test_reattach_replaces(unified_cgroup: str) -> None:
    df.attach(unified_cgroup, df.compile_rules([{"allow": False, "access": "rwm"}]))
    assert not _opens(unified_cgroup, "/dev/null")
    df.attach(
        unified_cgroup,
        df.compile_rules(
            [{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]
        ),
    )
    assert _opens(unified_cgroup, "/dev/null")
    assert not _opens(unified_cgroup, "/dev/zero")


def test_attach_to_a_missing_cgroup_names_it() -> None:
    with pytest.raises(Exception, match="sbt-missing"):
        df.attach("/sys/fs/cgroup/unified/sbt-missing", df.compile_rules([]))
