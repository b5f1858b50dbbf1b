"""Seccomp profile parsing and compilation through libseccomp, without loading a filter."""

from __future__ import annotations

import errno

import pytest

from seabox.errdefs import InvalidArgument
from seabox.linux import seccomp


def _profile(**kw: object) -> dict:
    p: dict = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]}
    p.update(kw)
    return p


def test_actions_and_errno() -> None:
    p = seccomp.parse(
        _profile(
            syscalls=[
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL"},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_TRAP"},
                {"names": ["bpf"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
                {"names": ["uname"], "action": "SCMP_ACT_LOG"},
            ]
        )
    )
    assert p.default_action == seccomp.ACT_ALLOW
    assert [r.action for r in p.rules] == [
        seccomp.ACT_ERRNO | 38,
        seccomp.ACT_ERRNO | errno.EPERM,
        seccomp.ACT_KILL_THREAD,
        seccomp.ACT_KILL_PROCESS,
        seccomp.ACT_TRAP,
        seccomp.ACT_TRACE | 5,
        seccomp.ACT_LOG,
    ]
    assert p.architectures == ["x86_64", "x86"]


def test_default_errno() -> None:
    p = seccomp.parse({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1})
    assert p.default_action == seccomp.ACT_ERRNO | 1


def test_args_masked_eq() -> None:
    p = seccomp.parse(
        _profile(
            syscalls=[
                {
                    "names": ["clone"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
                }
            ]
        )
    )
    a = p.rules[0].args[0]
    assert (a.index, a.op, a.value, a.value_two) == (0, 7, 2114060288, 0)


@pytest.mark.parametrize(
    ("profile", "match"),
    [
        ({"defaultAction": "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "SCMP_ARCH_Z80"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}, "SECCOMP_FILTER_FLAG_NOPE"),
        ({"architectures": []}, "defaultAction"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_FOO"}]},
            "SCMP_ACT_FOO",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}
                ],
            },
            "index",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}
                ],
            },
            "SCMP_CMP_XX",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}, "syscall names"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -3}, "errnoRet"),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "not supported"),
    ],
)
def test_invalid(profile: dict, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        seccomp.compile_check(profile)


def test_arg_groups_or_on_same_index() -> None:
    a = seccomp.ArgCmp(0, 4, 1)
    b = seccomp.ArgCmp(0, 4, 2)
    c = seccomp.ArgCmp(1, 4, 3)
    assert seccomp._arg_groups([a, c]) == [[a, c]]
    assert seccomp._arg_groups([a, b]) == [[a], [b]]
    assert seccomp._arg_groups([]) == [[]]


def test_compile_check_builds_with_unknown_names_skipped() -> None:
    seccomp.compile_check(
        _profile(
            architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            flags=["SECCOMP_FILTER_FLAG_LOG"],
            syscalls=[
                {"names": ["mkdir", "no_such_syscall_xyz", "socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},  # same as default: skipped, not an error
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                    ],
                },
            ],
        )
    )


def test_compile_check_docker_like_allowlist() -> None:
    names = ["read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk", "futex", "clone3"]
    seccomp.compile_check(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
        }
    )


def test_prepare_exports_bpf_and_flags() -> None:
    flt = seccomp.prepare(
        _profile(
            flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
            syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
        )
    )
    assert flt.flags == 1 | 2
    assert len(flt.program) >= 8 * 4 and len(flt.program) % 8 == 0  # struct sock_filter is 8 bytes
    # the errno action (SECCOMP_RET_ERRNO | 38) is a return value inside the program
    assert (0x00050000 | 38).to_bytes(4, "little") in flt.program


def test_prepare_rejects_like_compile_check() -> None:
    with pytest.raises(InvalidArgument, match="SCMP_ACT_NOPE"):
        seccomp.prepare({"defaultAction": "SCMP_ACT_NOPE"})
