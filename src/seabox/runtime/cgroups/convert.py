"""Pure conversions between OCI (cgroup v1 shaped) resource values and cgroup v2 files.

The OCI runtime spec describes resources in v1 terms (cpu shares, blkio weight, memory
+swap totals); a v2 host needs them translated.  The formulas are the ones the OCI
runtimes agree on, so a container gets the same share of a v2 host under seabox as
under runc:

* cpu shares [2, 262144] → cpu.weight [1, 10000]: ``1 + (shares - 2) * 9999 // 262142``
* blkio weight [10, 1000] → io.weight [1, 10000]: ``1 + (weight - 10) * 9999 // 990``
* memory.swap.max is swap only, while OCI's ``swap`` is memory+swap.
"""

from __future__ import annotations

from seabox.errdefs import InvalidArgument, subject


def shares_to_weight(shares: int) -> int:
    """cpu.shares → cpu.weight; 0 means "not set" and maps to 0 (caller skips it)."""
    if shares == 0:
        return 0
    shares = max(2, min(shares, 262144))
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    if weight == 0:
        return 0
    weight = max(10, min(weight, 1000))
    return 1 + ((weight - 10) * 9999) // 990


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """The cpu.max line for OCI quota/period, None when neither is set."""
    if not quota and not period:
        return None
    text = str(quota) if quota is not None and quota > 0 else "max"
    if period:
        text += f" {period}"
    return text


def swap_v2(swap: int | None, memory: int | None) -> int | None:
    """OCI memory+swap → memory.swap.max (None: leave alone, -1: unlimited)."""
    swap = swap or 0
    memory = memory or 0
    if memory == -1 and swap == 0:
        # v1 compatibility: unlimited memory with swap unset means unlimited swap too.
        return -1
    if swap == -1:
        return -1
    if swap == 0:
        return None
    if memory in (0, -1):
        raise InvalidArgument(subject("memory.swap", str(swap), "cannot be set without a memory limit"))
    if memory < 0:
        raise InvalidArgument(subject("memory.limit", str(memory), "is negative"))
    if swap < memory:
        raise InvalidArgument(
            subject("memory.swap", str(swap), f"must be at least the memory limit ({memory}): it is memory+swap")
        )
    return swap - memory


def limit_text(value: int) -> str:
    """v2 writes "max" for unlimited (-1)."""
    return "max" if value < 0 else str(value)


def device_rule(rule: dict) -> tuple[str, str]:
    """Validate an OCI device rule; its (type, access) with the defaults ("a", "rwm") filled in."""
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise InvalidArgument(subject("device rule type", str(kind), "must be a, b or c"))
    access = rule.get("access") or "rwm"
    if set(access) - set("rwm"):
        raise InvalidArgument(subject("device rule access", access, "must be made of r, w and m"))
    return kind, access


def device_line(rule: dict) -> str:
    """An OCI device rule as a v1 devices.allow/deny line: ``c 1:3 rwm``."""
    kind, access = device_rule(rule)
    major = rule.get("major")
    minor = rule.get("minor")
    if kind == "a":
        return "a"
    maj = "*" if major is None or major == -1 else str(int(major))
    mnr = "*" if minor is None or minor == -1 else str(int(minor))
    return f"{kind} {maj}:{mnr} {access}"
