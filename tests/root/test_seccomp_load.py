"""Seccomp filters loaded for real, each in a forked child that reports through its exit status."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from seabox.linux.seccomp import load_filter

pytestmark = pytest.mark.root

_libc = ctypes.CDLL(None, use_errno=True)


def _in_child(profile: dict, probe: Callable[[], int]) -> int:
    """Fork, load ``profile``, run ``probe``; return the raw wait status."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            load_filter(profile)
            code = probe()
        except BaseException:
            code = 98
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _personality(persona: int) -> int:
    """personality(2); the errno when it fails, 0 when it succeeds."""
    ctypes.set_errno(0)
    rc = _libc.personality(ctypes.c_ulong(persona))
    return ctypes.get_errno() if rc == -1 else 0


def test_errno_rule_returns_its_errno() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}],
    }

    def probe() -> int:
        try:
            os.mkdir("/tmp/sbt-seccomp-never")
        except OSError as e:
            return e.errno or 1
        os.rmdir("/tmp/sbt-seccomp-never")
        return 0

    status = _in_child(profile, probe)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == errno.ENOSYS


def test_errno_defaults_to_eperm() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}

    def probe() -> int:
        try:
            os.mkdir("/tmp/sbt-seccomp-never")
        except OSError as e:
            return e.errno or 1
        os.rmdir("/tmp/sbt-seccomp-never")
        return 0

    assert os.WEXITSTATUS(_in_child(profile, probe)) == errno.EPERM


def test_argument_filter_matches_only_its_value() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EL2HLT,  # 51: distinctive
                "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}],
            }
        ],
    }

    def probe() -> int:
        query = _personality(0xFFFFFFFF)  # matches: fails with 51
        other = _personality(0)  # does not match: succeeds
        return 100 + query if other == 0 else 2

    assert os.WEXITSTATUS(_in_child(profile, probe)) == 100 + errno.EL2HLT


def test_masked_eq() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EBADE,  # 52
                "args": [{"index": 0, "value": 0x0F00, "valueTwo": 0x0400, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        ],
    }

    def probe() -> int:
        hit = _personality(0x0400 | 0x0008)  # (arg & 0x0f00) == 0x0400
        miss = _personality(0x0200)  # (arg & 0x0f00) == 0x0200
        return 100 + hit if miss == 0 else 2

    assert os.WEXITSTATUS(_in_child(profile, probe)) == 100 + errno.EBADE


def test_same_index_conditions_are_ored() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EBADR,  # 53
                "args": [
                    {"index": 0, "value": 0x0001, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 0x0002, "op": "SCMP_CMP_EQ"},
                ],
            }
        ],
    }

    def probe() -> int:
        a, b, c = _personality(0x0001), _personality(0x0002), _personality(0)
        return 1 if (a, b, c) == (errno.EBADR, errno.EBADR, 0) else 2

    assert os.WEXITSTATUS(_in_child(profile, probe)) == 1


def test_kill_process_action() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    status = _in_child(profile, lambda: os.getppid() and 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_default_errno_with_allow_list_blocks_the_rest() -> None:
    # Everything Python needs to return from load_filter and _exit is allowed; uname is not.
    allowed = [
        "read", "write", "close", "exit", "exit_group", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn",
        "munmap", "mmap", "brk", "madvise", "futex", "getpid", "gettid", "newfstatat", "fstat", "lseek",
    ]  # fmt: skip
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOLINK,  # 67
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }

    def probe() -> int:
        try:
            os.uname()
        except OSError as e:
            return e.errno or 1
        return 0

    assert os.WEXITSTATUS(_in_child(profile, probe)) == errno.ENOLINK


def test_loads_after_the_root_changed(tmp_path: Path) -> None:
    """The init loads its filter after pivot_root: libseccomp must already be in memory."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 61}]}
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.chroot(str(tmp_path))  # an empty root: no /usr/lib, no libseccomp.so to dlopen
            os.chdir("/")
            load_filter(profile)
            try:
                os.getcwd()
                code = 0
            except OSError as e:
                code = e.errno or 1
        except BaseException:
            code = 98
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 61


def test_prepared_filter_loads_without_libseccomp_or_files(tmp_path: Path) -> None:
    """prepare() in the parent; the child only issues seccomp(2) after losing the host root."""
    from seabox.linux.seccomp import prepare

    flt = prepare(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 62}],
        }
    )
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.chroot(str(tmp_path))
            os.chdir("/")
            flt.load()
            try:
                os.getcwd()
                code = 0
            except OSError as e:
                code = e.errno or 1
        except BaseException:
            code = 98
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 62
