"""The cgroup v2 device filter program, run through the module's interpreter (no kernel)."""

from __future__ import annotations

import struct

import pytest

from seabox.errdefs import InvalidArgument
from seabox.runtime.cgroups import devicefilter as df

C, B = df.DEV_CHAR, df.DEV_BLOCK
R, W, M = df.ACC_READ, df.ACC_WRITE, df.ACC_MKNOD

RUNC_LIKE = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"},  # zero, no mknod
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # pts/*
    {"allow": True, "type": "c", "access": "m"},  # mknod of any char device
    {"allow": True, "type": "b", "access": "m"},
]


@pytest.mark.parametrize(
    ("dev", "access", "major", "minor", "verdict"),
    [
        (C, R | W, 1, 3, 1),
        (C, M, 1, 3, 1),
        (C, R, 1, 5, 1),
        (C, R | W, 1, 5, 1),
        (C, R, 1, 7, 0),  # /dev/full: not listed
        (C, R | W, 136, 4, 1),
        (C, R, 10, 200, 0),  # /dev/net/tun
        (C, M, 10, 200, 1),  # ... but it may be mknod'ed
        (B, M, 8, 0, 1),
        (B, R, 8, 0, 0),
    ],
)
def test_last_matching_rule_decides(dev: int, access: int, major: int, minor: int, verdict: int) -> None:
    assert df.run(df.compile_rules(RUNC_LIKE), dev, access, major, minor) == verdict


def test_deny_after_allow_all() -> None:
    prog = df.compile_rules(
        [{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}]
    )
    assert df.run(prog, C, W, 1, 5) == 0
    assert df.run(prog, C, R, 1, 5) == 1  # the deny covers only w: r falls to allow-all
    assert df.run(prog, B, R | W, 8, 0) == 1


def test_empty_rules_deny_everything() -> None:
    prog = df.compile_rules([])
    assert df.run(prog, C, R, 1, 3) == 0


def test_match_all_rule_ends_the_program() -> None:
    # the verifier refuses unreachable code: nothing may follow a rule without conditions
    prog = df.compile_rules([{"allow": True, "type": "c", "major": 1, "minor": 3}, {"allow": False, "access": "rwm"}])
    ops = [struct.unpack_from("<B", prog, i)[0] for i in range(0, len(prog), 8)]
    assert ops[-2:] == [df.MOV64_K, df.EXIT]
    assert ops.count(df.EXIT) == 1
    assert df.run(prog, C, R, 1, 3) == 0


def test_instruction_encoding() -> None:
    insn = df._insn(df.JNE_K, dst=4, off=3, imm=136)
    assert insn == bytes([0x55, 0x04, 3, 0, 136, 0, 0, 0])
    assert df._insn(df.LDX_MEM_W, dst=2, src=1, off=8) == bytes([0x61, 0x12, 8, 0, 0, 0, 0, 0])


def test_bad_rules() -> None:
    with pytest.raises(InvalidArgument, match="type"):
        df.compile_rules([{"allow": True, "type": "x"}])
    with pytest.raises(InvalidArgument, match="access"):
        df.compile_rules([{"allow": True, "type": "c", "access": "rx"}])
