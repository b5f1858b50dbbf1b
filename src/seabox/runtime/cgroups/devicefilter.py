"""Device access rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program per container.

cgroup v2 has no devices.allow/deny files; the kernel asks an eBPF program attached to
the cgroup (attach type BPF_CGROUP_DEVICE) about every open/mknod of a device node.
``compile_rules`` turns the OCI rule list into such a program — a straight line of
checks, one block per rule, last rule first so that the last matching rule decides
(the OCI and v1 meaning), falling through to "deny" — and ``attach`` loads it with
bpf(2) and attaches it to the cgroup directory.  Attaching without BPF_F_ALLOW_MULTI
replaces a program seabox attached before, so ``update`` needs no detach step.

The program reads ``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor}``
where access_type is ``(access << 16) | type`` (type 1 block, 2 char; access bits
1 mknod, 2 read, 4 write), and returns 1 to allow or 0 to deny.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from seabox.errdefs import FailedPrecondition, subject
from seabox.runtime.cgroups.convert import device_rule

# instruction opcodes (class | op | source)
LDX_MEM_W = 0x61  # dst = *(u32 *)(src + off)
ALU32_AND_K = 0x54  # dst &= imm (32-bit)
ALU32_RSH_K = 0x74  # dst >>= imm (32-bit)
MOV64_K = 0xB7  # dst = imm
JNE_K = 0x55  # if dst != imm: pc += off
JSET_K = 0x45  # if dst & imm: pc += off
EXIT = 0x95

DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _access_bits(access: str) -> int:
    bits = 0
    for ch in access:
        bits |= {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}[ch]
    return bits


def _rule_block(rule: dict) -> list[tuple[int, int, int]]:
    """The checks of one rule, each (jump op, register, immediate): a jump means "no match"."""
    kind, access = device_rule(rule)
    major = rule.get("major")
    minor = rule.get("minor")
    checks: list[tuple[int, int, int]] = []
    if kind != "a":
        checks.append((JNE_K, 2, DEV_BLOCK if kind == "b" else DEV_CHAR))
    bits = _access_bits(access)
    if bits != 7:
        checks.append((JSET_K, 3, ~bits & 7))  # any access outside the rule's: no match
    if kind != "a" and major is not None and major != -1:
        checks.append((JNE_K, 4, int(major)))
    if kind != "a" and minor is not None and minor != -1:
        checks.append((JNE_K, 5, int(minor)))
    return checks


def compile_rules(rules: list[dict]) -> bytes:
    """The eBPF program (raw instructions) for an OCI ``linux.resources.devices`` list.

    Rules are emitted last to first and each returns its verdict when it matches; a rule
    with no condition (``a``, all access) ends the program.  No match: deny.
    """
    prog = [
        _insn(LDX_MEM_W, dst=2, src=1, off=0),  # r2 = access_type
        _insn(ALU32_AND_K, dst=2, imm=0xFFFF),  # r2 = type
        _insn(LDX_MEM_W, dst=3, src=1, off=0),
        _insn(ALU32_RSH_K, dst=3, imm=16),  # r3 = access
        _insn(LDX_MEM_W, dst=4, src=1, off=4),  # r4 = major
        _insn(LDX_MEM_W, dst=5, src=1, off=8),  # r5 = minor
    ]
    for rule in reversed(rules or []):
        checks = _rule_block(rule)
        n = len(checks)
        for i, (op, dst, imm) in enumerate(checks):
            # jump over the remaining checks and the two verdict instructions
            prog.append(_insn(op, dst=dst, off=(n - i - 1) + 2, imm=imm))
        prog.append(_insn(MOV64_K, dst=0, imm=1 if rule.get("allow") else 0))
        prog.append(_insn(EXIT))
        if not checks:
            # matches every request: earlier rules can never decide (and the verifier
            # refuses unreachable instructions)
            return b"".join(prog)
    prog.append(_insn(MOV64_K, dst=0, imm=0))  # nothing matched: deny
    prog.append(_insn(EXIT))
    return b"".join(prog)


def run(program: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Interpret ``program`` for one request (tests; the kernel runs the real thing)."""
    mem = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    for _ in range(10_000):
        op, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == LDX_MEM_W:
            if src != 1:
                raise ValueError("loads read the context (r1) only")
            regs[dst] = struct.unpack_from("<I", mem, off)[0]
        elif op == ALU32_AND_K:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif op == ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == MOV64_K:
            regs[dst] = imm
        elif op == JNE_K:
            if regs[dst] != imm & 0xFFFFFFFFFFFFFFFF:
                pc += off
        elif op == JSET_K:
            if regs[dst] & imm:
                pc += off
        elif op == EXIT:
            return regs[0]
        else:
            raise ValueError(f"opcode {op:#x} not interpreted")
    raise RuntimeError("program did not exit")


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise FailedPrecondition(subject("device filter", os.uname().machine, "bpf(2) number unknown"))
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(rc)


def attach(cgroup_dir: str, program: bytes) -> None:
    """Load ``program`` and attach it to a cgroup v2 directory (replacing ours from before)."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(4096)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8, ctypes.addressof(insns),
        ctypes.addressof(license_), 1, len(log), ctypes.addressof(log),
    )  # fmt: skip
    struct.pack_into("<16s", attr, 48, b"seabox_devices")
    struct.pack_into("<I", attr, 68, BPF_CGROUP_DEVICE)  # expected_attach_type
    try:
        prog_fd = _bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        lines = log.value.decode(errors="replace").strip().splitlines()
        detail = [ln for ln in lines if not ln.startswith("processed ")][-1:] or [""]
        raise FailedPrecondition(
            subject("cgroup", cgroup_dir, f"device filter rejected by the kernel: {e.strerror} {detail[0]}".strip())
        )
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            at = ctypes.create_string_buffer(20)
            struct.pack_into("<IIII", at, 0, cg_fd, prog_fd, BPF_CGROUP_DEVICE, 0)
            try:
                _bpf(BPF_PROG_ATTACH, at)
            except OSError as e:
                hint = " (an ancestor's program forbids it)" if e.errno == errno.EPERM else ""
                raise FailedPrecondition(
                    subject("cgroup", cgroup_dir, f"cannot attach the device filter: {e.strerror}{hint}")
                )
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)  # the attachment keeps the program alive with the cgroup
