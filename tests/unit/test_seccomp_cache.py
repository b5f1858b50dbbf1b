"""Compiled seccomp programs cached by profile: the same program back, damaged entries rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

from seabox.linux import seccomp

PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["mkdir", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def test_cache_round_trip_and_repair(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "c"
    first = seccomp.prepare(PROFILE, cache_dir=str(cache))
    [entry] = os.listdir(cache)
    calls: list[int] = []
    real = seccomp._compile
    monkeypatch.setattr(seccomp, "_compile", lambda p: calls.append(1) or real(p))
    again = seccomp.prepare(dict(reversed(list(PROFILE.items()))), cache_dir=str(cache))  # key order is irrelevant
    assert (again.program, again.flags) == (first.program, first.flags) and calls == []
    (cache / entry).write_bytes(b"\x00\x00\x00\x00abc")  # damaged: not whole BPF instructions
    fixed = seccomp.prepare(PROFILE, cache_dir=str(cache))
    assert fixed.program == first.program and calls == [1]
    assert (cache / entry).read_bytes()[4:] == first.program
    other = seccomp.prepare({**PROFILE, "defaultAction": "SCMP_ACT_LOG"}, cache_dir=str(cache))
    assert other.program != first.program and len(os.listdir(cache)) == 2
