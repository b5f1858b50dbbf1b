"""Platforms: the host's, parsing ``os/arch[/variant]``, normalisation and matching.

Image indexes list one manifest per platform, and names for the same machine
differ between tools (``x86_64`` vs ``amd64``, ``aarch64`` vs ``arm64``; arm64's
variant ``v8`` is implied when absent).  Every comparison goes through
``normalize`` so those spellings compare equal.  ``Matcher`` says whether a
platform can run on a target and ranks the candidates (the exact match first,
then older variants of the same architecture, then compatible architectures
such as arm/v7 on arm64 and 386 on amd64), which is what docker and containerd do.

Pure except ``host()``, which reads ``os.uname()`` once.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable

from seabox import errdefs
from seabox.oci.image import Platform

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "386": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "arm": "arm",
    "armv5l": "arm",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64le",
    "loong64": "loong64",
    "loongarch64": "loong64",
}
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """Canonical ``(architecture, variant)``: ``aarch64`` → ``arm64``/``v8``, ``armhf`` → ``arm``/``v7``."""
    a = arch.lower()
    v = variant.lower()
    if a in ("armv5l", "armel") and not v:
        v = "v5"
    elif a == "armv6l" and not v:
        v = "v6"
    elif a in ("armv7l", "armhf") and not v:
        v = "v7"
    elif a == "armv8l" and not v:
        v = "v8"
    a = _ARCH_ALIASES.get(a, a)
    if a == "arm64":
        if v in ("", "8", "v8", "v8.0"):
            v = "v8"
        elif v in ("9", "9.0", "v9.0"):
            v = "v9"
    elif a == "arm":
        if v in ("", "7"):
            v = "v7"
        elif v in ("5", "6", "8"):
            v = "v" + v
    elif a == "amd64":
        if v in ("", "1", "v1"):
            v = "v1"
        elif v in ("2", "3", "4"):
            v = "v" + v
    return a, v


def normalize(p: Platform) -> Platform:
    """``p`` with lowercase OS and canonical architecture and variant (arm64 → ``v8``)."""
    o = p.os.lower()
    if o == "macos":
        o = "darwin"
    a, v = normalize_arch(p.architecture, p.variant)
    return Platform(o, a, v, p.os_version, p.os_features)


def display(p: Platform) -> str:
    """``os/arch[/variant]`` with implied variants (amd64 v1) left out."""
    n = normalize(p)
    if (n.architecture, n.variant) == ("amd64", "v1"):
        return f"{n.os}/{n.architecture}"
    return str(n)


def parse(spec: str) -> Platform:
    """Parse ``os``, ``arch``, ``os/arch`` or ``os/arch/variant`` (docker's ``--platform``).

    A single component is an OS if it looks like one (``linux``), else an architecture on
    the host's OS.
    """
    parts = spec.split("/")
    if not spec or len(parts) > 3 or not all(_COMPONENT_RE.match(x) for x in parts):
        raise errdefs.InvalidArgument(errdefs.subject("platform", spec, "want os/arch[/variant]"))
    h = host()
    if len(parts) == 1:
        x = parts[0].lower()
        if x in ("linux", "windows", "darwin", "freebsd", "macos"):
            return normalize(Platform(x, h.architecture, h.variant))
        return normalize(Platform(h.os, x))
    if len(parts) == 2:
        return normalize(Platform(parts[0], parts[1]))
    return normalize(Platform(parts[0], parts[1], parts[2]))


@functools.cache
def host() -> Platform:
    """The platform of this machine (``linux/amd64``, ``linux/arm64/v8``, ...)."""
    u = os.uname()
    osname = u.sysname.lower()
    return normalize(Platform(osname, u.machine))


# variants of an architecture, oldest first: a host of variant N runs all variants <= N
_VARIANT_ORDER = {
    "amd64": ["v1", "v2", "v3", "v4"],
    "arm64": ["v8", "v9"],
    "arm": ["v5", "v6", "v7", "v8"],
}
# architectures a host can also run natively (32-bit modes)
_COMPATIBLE = {"amd64": [("386", "")], "arm64": [("arm", "v8"), ("arm", "v7"), ("arm", "v6"), ("arm", "v5")]}


class Matcher:
    """Which platforms can run on ``target``, and in what order of preference."""

    def __init__(self, target: Platform, *, strict: bool = False) -> None:
        self.target = normalize(target)
        # ordered list of acceptable (arch, variant) pairs, best first
        t = self.target
        ok: list[tuple[str, str]] = [(t.architecture, t.variant)]
        if not strict:
            order = _VARIANT_ORDER.get(t.architecture, [])
            if t.variant in order:
                ok += [(t.architecture, v) for v in reversed(order[: order.index(t.variant)])]
            ok += [c for c in _COMPATIBLE.get(t.architecture, []) if c not in ok]
        self._ranked = ok

    def rank(self, p: Platform) -> int | None:
        """Position of ``p`` in the preference order, or None when it does not match."""
        n = normalize(p)
        if n.os != self.target.os:
            return None
        try:
            return self._ranked.index((n.architecture, n.variant))
        except ValueError:
            return None

    def match(self, p: Platform) -> bool:
        return self.rank(p) is not None

    def best(self, candidates: Iterable[Platform]) -> Platform | None:
        best: tuple[int, Platform] | None = None
        for c in candidates:
            r = self.rank(c)
            if r is not None and (best is None or r < best[0]):
                best = (r, c)
        return best[1] if best else None


def only(target: Platform) -> Matcher:
    """Matches ``target`` and what it can run (older variants, 32-bit modes)."""
    return Matcher(target)


def exact(target: Platform) -> Matcher:
    """Matches ``target`` only (after normalisation)."""
    return Matcher(target, strict=True)
