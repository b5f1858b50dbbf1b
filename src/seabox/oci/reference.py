"""Image references: parsing, docker's normalisation, and the familiar form.

A reference names a repository in a registry and, optionally, a tag and/or a
digest: ``[domain[:port]/]path[:tag][@digest]``.  The grammar is the one the
distribution project publishes (path components of lowercase alphanumerics joined
by ``.``, ``_``, ``__`` or runs of ``-``; tags ``[\\w][\\w.-]{0,127}``; digests
``algorithm:hex``).  Normalisation follows docker: a first component that has no
``.`` or ``:`` and is not ``localhost`` is not a domain, so ``nginx`` means
``docker.io/library/nginx`` and ``user/app`` means ``docker.io/user/app``; a
bare name gets the tag ``latest``.  ``familiar()`` undoes this for display.

Pure: no I/O.  Errors are ``errdefs.InvalidArgument`` naming the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seabox import errdefs

DOCKER_DOMAIN = "docker.io"
LEGACY_DOCKER_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def _bad(ref: str, why: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(errdefs.subject("reference", ref, why))


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Repository name with its domain: ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def repository(self) -> str:
        """Alias of ``path`` (the part after the domain), as registries call it."""
        return self.path

    @property
    def object(self) -> str:
        """What the registry is asked for: the digest if present, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def familiar(self) -> str:
        """Docker's short display form: ``nginx:1.26``, ``user/app``, ``host:5000/x:t``."""
        s = familiar_name(self.name)
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def with_tag(self, tag: str) -> Reference:
        if not _TAG_RE.match(tag):
            raise _bad(f"{self.name}:{tag}", f"invalid tag {tag!r}")
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        _check_digest(str(self), digest)
        return Reference(self.domain, self.path, self.tag, digest)

    def tagged_or_latest(self) -> Reference:
        """Docker's ``TagNameOnly``: add ``latest`` when there is neither tag nor digest."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG, None)


def familiar_name(name: str) -> str:
    """``docker.io/library/nginx`` → ``nginx``; ``docker.io/user/app`` → ``user/app``."""
    if name.startswith(DOCKER_DOMAIN + "/"):
        rest = name[len(DOCKER_DOMAIN) + 1 :]
        if rest.startswith(OFFICIAL_REPO_PREFIX) and "/" not in rest[len(OFFICIAL_REPO_PREFIX) :]:
            rest = rest[len(OFFICIAL_REPO_PREFIX) :]
        return rest
    return name


def _check_digest(ref: str, digest: str) -> None:
    if not _DIGEST_RE.match(digest):
        raise _bad(ref, f"invalid digest {digest!r}")
    algorithm, _, encoded = digest.partition(":")
    want = _DIGEST_LENGTHS.get(algorithm)
    if want is None:
        raise _bad(ref, f"unsupported digest algorithm {algorithm!r}")
    if len(encoded) != want or encoded != encoded.lower():
        raise _bad(ref, f"invalid {algorithm} digest {digest!r}")


def _split_domain(ref: str, name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DOCKER_DOMAIN, name
    else:
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise _bad(ref, f"invalid domain {domain!r}")
    if domain == LEGACY_DOCKER_DOMAIN:
        domain = DOCKER_DOMAIN
    if domain == DOCKER_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def parse(ref: str, *, default_tag: bool = False) -> Reference:
    """Parse and normalise a reference the way ``docker pull`` does.

    ``default_tag=True`` adds ``latest`` when neither tag nor digest is given.
    Raises ``errdefs.InvalidArgument`` naming ``ref`` when it is malformed.
    """
    if not isinstance(ref, str) or not ref:
        raise _bad(str(ref), "empty reference")
    if ref != ref.strip() or any(c.isspace() for c in ref):
        raise _bad(ref, "contains whitespace")
    if _HEX64_RE.match(ref):
        raise _bad(ref, "cannot specify a 64-byte hexadecimal string as a repository name")
    remainder, at, digest = ref.partition("@")
    if at:
        if not digest:
            raise _bad(ref, "empty digest")
        _check_digest(ref, digest)
    # a tag is after the last ':' that follows the last '/'
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    tag: str | None = None
    name = remainder
    if colon > slash:
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise _bad(ref, f"invalid tag {tag!r}")
    if not name:
        raise _bad(ref, "missing repository name")
    domain, path = _split_domain(ref, name)
    if not _PATH_RE.match(path):
        if path.lower() != path and _PATH_RE.match(path.lower()):
            raise _bad(ref, "repository name must be lowercase")
        raise _bad(ref, "invalid reference format")
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _bad(ref, f"repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")
    r = Reference(domain, path, tag, digest or None)
    return r.tagged_or_latest() if default_tag else r


def parse_with_default_tag(ref: str) -> Reference:
    """``parse(ref, default_tag=True)``: what pull and push use."""
    return parse(ref, default_tag=True)


def is_valid(ref: str) -> bool:
    try:
        parse(ref)
    except errdefs.InvalidArgument:
        return False
    return True
