"""Content digests: parsing, validation and streaming computation.

A digest is ``<algorithm>:<encoded>`` (OCI image-spec, descriptor.md).  seabox
stores and computes sha256 only, but parses the other registered algorithm
(sha512) so a descriptor carrying one is reported as unsupported rather than
malformed.  ``Digest`` is a ``str`` subclass: it can be used wherever a plain
string digest is expected (JSON, dict keys, comparisons) while guaranteeing it
was validated once, at construction.  Pure: no I/O beyond the reader helpers.
"""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from seabox import errdefs

SHA256 = "sha256"
SHA512 = "sha512"
CANONICAL = SHA256

_ALGORITHM_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*$")
_ENCODED = {
    SHA256: re.compile(r"^[a-f0-9]{64}$"),
    SHA512: re.compile(r"^[a-f0-9]{128}$"),
}

#: The digest of zero bytes, common as the config of artifacts and empty layers.
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Digest(str):
    """A validated ``algorithm:hex`` string.

    ``Digest("sha256:...")`` raises ``errdefs.InvalidArgument`` naming the input
    when it is malformed.  Only sha256 and sha512 are accepted.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        if isinstance(value, Digest):
            return value
        if not isinstance(value, str):
            raise errdefs.InvalidArgument(errdefs.subject("digest", repr(value), "not a string"))
        algorithm, sep, encoded = value.partition(":")
        if not sep or not algorithm or not encoded:
            raise errdefs.InvalidArgument(errdefs.subject("digest", value, "invalid format (want algorithm:hex)"))
        if not _ALGORITHM_RE.match(algorithm):
            raise errdefs.InvalidArgument(errdefs.subject("digest", value, "invalid algorithm"))
        pattern = _ENCODED.get(algorithm)
        if pattern is None:
            raise errdefs.InvalidArgument(errdefs.subject("digest", value, f"unsupported algorithm {algorithm!r}"))
        if not pattern.match(encoded):
            raise errdefs.InvalidArgument(errdefs.subject("digest", value, f"invalid {algorithm} encoding"))
        return super().__new__(cls, value)

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @property
    def encoded(self) -> str:
        return self.hex

    def short(self, n: int = 12) -> str:
        """The first ``n`` hex characters (docker's short IDs)."""
        return self.hex[:n]

    def __repr__(self) -> str:
        return f"Digest({str.__repr__(self)})"


def parse(value: str) -> Digest:
    """Validate ``value`` and return it as a ``Digest``."""
    return Digest(value)


def is_valid(value: object) -> bool:
    """True when ``value`` is a well-formed digest string."""
    if not isinstance(value, str):
        return False
    try:
        Digest(value)
    except errdefs.InvalidArgument:
        return False
    return True


def parse_sha256(value: str) -> Digest:
    """Like ``parse`` but refuse any algorithm other than sha256 (what the store keeps)."""
    d = Digest(value)
    if d.algorithm != SHA256:
        raise errdefs.InvalidArgument(errdefs.subject("digest", value, "only sha256 is supported here"))
    return d


def from_hex(hexstr: str, algorithm: str = SHA256) -> Digest:
    return Digest(f"{algorithm}:{hexstr}")


def from_bytes(data: bytes) -> Digest:
    """The sha256 digest of ``data``."""
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


class Digester:
    """Streaming digest computation: ``update()`` chunks, then ``digest()``.

    Also counts the bytes seen, since a digest is nearly always checked together
    with a size.
    """

    __slots__ = ("_h", "algorithm", "size")

    def __init__(self, algorithm: str = SHA256) -> None:
        if algorithm not in _ENCODED:
            raise errdefs.InvalidArgument(errdefs.subject("digest algorithm", algorithm, "unsupported"))
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(f"{self.algorithm}:{self._h.hexdigest()}")

    def copy(self) -> Digester:
        other = Digester.__new__(Digester)
        other.algorithm = self.algorithm
        other._h = self._h.copy()
        other.size = self.size
        return other


def from_reader(reader: BinaryIO, algorithm: str = SHA256, chunk: int = 1 << 20) -> tuple[Digest, int]:
    """Digest and size of everything ``reader`` yields until EOF."""
    d = Digester(algorithm)
    while True:
        b = reader.read(chunk)
        if not b:
            break
        d.update(b)
    return d.digest(), d.size


class VerifyingReader:
    """Wraps a reader; after EOF, ``verify()`` checks size and digest.

    ``verify()`` raises ``errdefs.FailedPrecondition`` naming the expected digest.
    Useful when streaming a blob straight into a consumer (unpack) while checking it.
    """

    def __init__(self, reader: BinaryIO, expected: str, size: int | None = None) -> None:
        self._r = reader
        self.expected = Digest(expected)
        self.expected_size = size
        self._d = Digester(self.expected.algorithm)

    def read(self, n: int = -1) -> bytes:
        b = self._r.read(n)
        if b:
            self._d.update(b)
        return b

    def readinto(self, buf: bytearray | memoryview) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def readable(self) -> bool:
        return True

    def verify(self) -> None:
        # drain anything left so the digest covers the whole blob
        while self.read(1 << 20):
            pass
        if self.expected_size is not None and self._d.size != self.expected_size:
            raise errdefs.FailedPrecondition(
                errdefs.subject("blob", self.expected, f"size mismatch: got {self._d.size}, want {self.expected_size}")
            )
        got = self._d.digest()
        if got != self.expected:
            raise errdefs.FailedPrecondition(errdefs.subject("blob", self.expected, f"digest mismatch: got {got}"))
